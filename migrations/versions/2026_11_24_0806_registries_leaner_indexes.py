"""registries leaner indexes

Partial indexes on the field-value table (text or number, never both) and no separate index on
registries_record.registry_id, which the (registry_id, subject_id) index already serves: a bulk
import then maintains fewer B-trees per record.

Revision ID: 5a1c0e7d9b21
Revises: 6d31ee8eb73b
Create Date: 2026-11-24 08:06:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5a1c0e7d9b21'
down_revision: str | Sequence[str] | None = '6d31ee8eb73b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('registries_field_value', schema=None) as batch_op:
        batch_op.drop_index('ix_registries_field_value_text')
        batch_op.drop_index('ix_registries_field_value_num')
        batch_op.create_index('ix_registries_field_value_text', ['registry_id', 'field', 'value_text', 'record_id'],
                              unique=False, postgresql_where=sa.text('value_text IS NOT NULL'),
                              sqlite_where=sa.text('value_text IS NOT NULL'))
        batch_op.create_index('ix_registries_field_value_num', ['registry_id', 'field', 'value_num', 'record_id'],
                              unique=False, postgresql_where=sa.text('value_num IS NOT NULL'),
                              sqlite_where=sa.text('value_num IS NOT NULL'))
    with op.batch_alter_table('registries_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registries_record_registry_id'))


def downgrade() -> None:
    with op.batch_alter_table('registries_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registries_record_registry_id'), ['registry_id'], unique=False)
    with op.batch_alter_table('registries_field_value', schema=None) as batch_op:
        batch_op.drop_index('ix_registries_field_value_num')
        batch_op.drop_index('ix_registries_field_value_text')
        batch_op.create_index('ix_registries_field_value_text', ['registry_id', 'field', 'value_text', 'record_id'],
                              unique=False)
        batch_op.create_index('ix_registries_field_value_num', ['registry_id', 'field', 'value_num', 'record_id'],
                              unique=False)
