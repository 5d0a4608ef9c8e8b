"""services deadline clock pause

Revision ID: 5c1e7a9d2f40
Revises: b7e9ced4d075
Create Date: 2026-12-02 13:40:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nokor.db

revision: str = '5c1e7a9d2f40'
down_revision: str | Sequence[str] | None = 'b7e9ced4d075'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('services_application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clock_paused_at', nokor.db.UTCDateTime(), nullable=True))
    # Applications already waiting for their applicant stop their clock from the moment they were sent back.
    op.execute("""
        UPDATE services_application SET clock_paused_at = (
            SELECT MAX(e.at) FROM services_application_event e
            WHERE e.application_id = services_application.id AND e.action = 'request_information')
        WHERE state = 'needs_information'
    """)


def downgrade() -> None:
    with op.batch_alter_table('services_application', schema=None) as batch_op:
        batch_op.drop_column('clock_paused_at')
