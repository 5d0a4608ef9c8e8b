"""audit entries are written unchained and sealed into the chain afterwards

Writers no longer take the chain head's lock: an entry is inserted with the hash of its own content
and no place in the chain (``seq``, ``prev_hash`` and ``entry_hash`` empty); the sealer fills them in.
The entry's id becomes its primary key. Entries sealed before keep their place and hashes, which are
computed the same way as before, so an existing chain still verifies.

Revision ID: 3f0c2a9d7b41
Revises: 79c43af5ae88
Create Date: 2026-12-02 08:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3f0c2a9d7b41'
down_revision: str | Sequence[str] | None = '79c43af5ae88'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_constraint('pk_audit_entry', type_='primary')
        batch_op.drop_constraint('uq_audit_entry_id', type_='unique')
        batch_op.alter_column('seq', existing_type=SEQ, nullable=True)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('entry_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        batch_op.create_primary_key('pk_audit_entry', ['id'])
        batch_op.create_unique_constraint(batch_op.f('uq_audit_entry_seq'), ['seq'])


def downgrade() -> None:
    unsealed = op.get_bind().execute(sa.text('SELECT count(*) FROM audit_entry WHERE seq IS NULL')).scalar()
    if unsealed:
        raise RuntimeError(f'{unsealed} audit entries are not sealed yet: run `nokor audit seal` first')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_entry_seq'), type_='unique')
        batch_op.drop_constraint('pk_audit_entry', type_='primary')
        batch_op.drop_column('content_hash')
        batch_op.alter_column('entry_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('seq', existing_type=SEQ, nullable=False)
        batch_op.create_primary_key('pk_audit_entry', ['seq'])
        batch_op.create_unique_constraint(batch_op.f('uq_audit_entry_id'), ['id'])
