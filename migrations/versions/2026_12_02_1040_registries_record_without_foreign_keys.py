"""registries record without foreign keys

A record's registry and schema version are resolved by the service before every write, and neither
is ever deleted (registries and versions are archived, not removed). The two foreign keys on
registries_record therefore guarded nothing, yet cost a lookup per row of every bulk import (about
a third of the time PostgreSQL spent on COPY into the table), as the field-value table already
decided.

Revision ID: 3c7e51a0b8d4
Revises: f0b5e245b431
Create Date: 2026-12-02 10:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '3c7e51a0b8d4'
down_revision: str | Sequence[str] | None = 'f0b5e245b431'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _version_key() -> str:
    # PostgreSQL cut the conventional name to 63 characters when it made the key; SQLite kept it whole.
    if op.get_bind().dialect.name == 'postgresql':
        return 'fk_registries_record_schema_version_id_registries_schem_3759'
    return 'fk_registries_record_schema_version_id_registries_schema_version'


def upgrade() -> None:
    with op.batch_alter_table('registries_record', schema=None) as batch_op:
        batch_op.drop_constraint('fk_registries_record_registry_id_registries_registry', type_='foreignkey')
        batch_op.drop_constraint(_version_key(), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('registries_record', schema=None) as batch_op:
        batch_op.create_foreign_key(_version_key(), 'registries_schema_version', ['schema_version_id'], ['id'])
        batch_op.create_foreign_key('fk_registries_record_registry_id_registries_registry', 'registries_registry',
                                    ['registry_id'], ['id'], ondelete='CASCADE')
