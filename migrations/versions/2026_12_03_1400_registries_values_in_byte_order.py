"""registries values in byte order

The searchable text values of registry records compare byte by byte ("C") on PostgreSQL, as SQLite
compares them. A prefix search ("starts with") is then a range of the values' index whatever locale
the cluster was made with: under a language's collation (and C.UTF-8 counts as one for PostgreSQL 15)
the index could not answer it, so a search read every value of the field. Sorting by a searchable
field follows code points on both databases. Changing the type rebuilds the values' text index.

Revision ID: 5e1d8b3a7c20
Revises: c4d2a7e91f35
Create Date: 2026-12-03 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e1d8b3a7c20'
down_revision: str | Sequence[str] | None = 'c4d2a7e91f35'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite already compares text byte by byte
    op.alter_column('registries_field_value', 'value_text', existing_type=sa.String(length=200),
                    type_=sa.String(length=200, collation='C'), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.alter_column('registries_field_value', 'value_text', existing_type=sa.String(length=200, collation='C'),
                    type_=sa.String(length=200), existing_nullable=True)
