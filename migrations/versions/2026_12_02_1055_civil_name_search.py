"""civil name search: the folded words of every form of a resident's names, with a trigram index

Revision ID: 3d0be8b5319a
Revises: 14cce7f92e7a
Create Date: 2026-12-02 09:38:29.512255+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3d0be8b5319a'
down_revision: str | Sequence[str] | None = '14cce7f92e7a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from nokor.civil.matching import block_key, search_text

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.batch_alter_table('civil_resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_name', sa.String(length=400), nullable=True))
    # Residents entered before: their search words and (if missing) their name key.
    resident = sa.table("civil_resident", sa.column("id"), sa.column("given_name"), sa.column("family_name"),
                        sa.column("given_name_latin"), sa.column("family_name_latin"), sa.column("name_key"),
                        sa.column("search_name"))
    rows = bind.execute(sa.select(resident.c.id, resident.c.given_name, resident.c.family_name,
                                  resident.c.given_name_latin, resident.c.family_name_latin)).all()
    for row in rows:
        bind.execute(resident.update().where(resident.c.id == row.id).values(
            search_name=search_text(row.given_name, row.family_name, row.given_name_latin, row.family_name_latin),
            name_key=block_key(row.given_name_latin, row.family_name_latin)))
    with op.batch_alter_table('civil_resident', schema=None) as batch_op:
        batch_op.create_index('ix_civil_resident_search_name', ['search_name'], unique=False,
                              postgresql_using='gin', postgresql_ops={'search_name': 'gin_trgm_ops'})


def downgrade() -> None:
    with op.batch_alter_table('civil_resident', schema=None) as batch_op:
        batch_op.drop_index('ix_civil_resident_search_name', postgresql_using='gin',
                            postgresql_ops={'search_name': 'gin_trgm_ops'})
        batch_op.drop_column('search_name')
