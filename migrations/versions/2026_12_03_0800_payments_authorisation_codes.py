"""payments authorisation codes

Revision ID: c4d2a7e91f35
Revises: 8a3f6b2c9d11
Create Date: 2026-12-03 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nokor.db

revision: str = 'c4d2a7e91f35'
down_revision: str | Sequence[str] | None = '8a3f6b2c9d11'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payments_authorisation_code',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=True),
    sa.Column('account', sa.String(length=256), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('amount_type', sa.String(length=8), nullable=False),
    sa.Column('lifetime_seconds', sa.Integer(), nullable=False),
    sa.Column('transaction_types', nokor.db.JSONType, nullable=False),
    sa.Column('details', nokor.db.JSONType, nullable=False),
    sa.Column('client_correlation_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('expires_at', nokor.db.UTCDateTime(), nullable=False),
    sa.Column('redeemed_at', nokor.db.UTCDateTime(), nullable=True),
    sa.Column('redeemed_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', nokor.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', nokor.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['redeemed_by'], ['payments_notification.id'],
                            name=op.f('fk_payments_authorisation_code_redeemed_by_payments_notification')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments_authorisation_code')),
    sa.UniqueConstraint('code', name=op.f('uq_payments_authorisation_code_code'))
    )
    op.create_index('ix_payments_authorisation_code_client_account', 'payments_authorisation_code',
                    ['client_id', 'account'], unique=False)
    op.create_index(op.f('ix_payments_authorisation_code_client_correlation_id'), 'payments_authorisation_code',
                    ['client_correlation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_payments_authorisation_code_client_correlation_id'),
                  table_name='payments_authorisation_code')
    op.drop_index('ix_payments_authorisation_code_client_account', table_name='payments_authorisation_code')
    op.drop_table('payments_authorisation_code')
