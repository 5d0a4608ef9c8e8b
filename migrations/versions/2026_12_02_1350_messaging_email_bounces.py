"""messaging email bounces

Revision ID: 8a3f6b2c9d11
Revises: 5c1e7a9d2f40
Create Date: 2026-12-02 13:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nokor.db

revision: str = '8a3f6b2c9d11'
down_revision: str | Sequence[str] | None = '5c1e7a9d2f40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messaging_notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_by_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('bounced_at', nokor.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('bounce_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messaging_notification', schema=None) as batch_op:
        batch_op.drop_column('bounce_reason')
        batch_op.drop_column('bounced_at')
        batch_op.drop_column('sent_by_id')
