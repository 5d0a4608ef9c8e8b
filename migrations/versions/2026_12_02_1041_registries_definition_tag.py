"""registries definition tag

A tag on each registry that changes with its schema versions and access grants, so every process
can keep them in memory and know, with one small query, whether its copy is still current.

Revision ID: 8f2d4b6a1c90
Revises: 3c7e51a0b8d4
Create Date: 2026-12-02 10:41:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8f2d4b6a1c90'
down_revision: str | Sequence[str] | None = '3c7e51a0b8d4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('registries_registry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('definition_tag', sa.String(length=32), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('registries_registry', schema=None) as batch_op:
        batch_op.drop_column('definition_tag')
