"""The migration stream: one head, a clean way down and up again, and no drift from the models.

Runs on a fresh SQLite file always, and on a scratch PostgreSQL database as well when
NOKOR_DATABASE_URL names one (as `make test-pg` and CI do).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from tests.conftest import alembic_config, create_scratch_database, drop_scratch_database

from nokor.db import make_engine
from nokor.models import metadata

CONFIGURED = os.environ.get("NOKOR_DATABASE_URL", "")
DIALECTS = ["sqlite"] + (["postgresql"] if CONFIGURED.startswith("postgresql") else [])


@pytest.fixture(params=DIALECTS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables at all."""
    if request.param == "postgresql":
        url = create_scratch_database(CONFIGURED, "migrations")
        yield url
        drop_scratch_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


class TestMigrationStream:
    def test_has_exactly_one_head(self) -> None:
        heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
        assert len(heads) == 1, f"the migration stream has {len(heads)} heads: {heads}; merge them"

    def test_upgrade_downgrade_and_upgrade_again(self, empty_database: str) -> None:
        cfg = alembic_config(empty_database)
        head = ScriptDirectory.from_config(cfg).get_current_head()
        model_tables = set(metadata.tables)

        command.upgrade(cfg, "head")
        assert current_revision(empty_database) == head
        assert model_tables <= table_names(empty_database)

        command.downgrade(cfg, "base")
        assert current_revision(empty_database) is None
        assert table_names(empty_database) - {"alembic_version"} == set()

        command.upgrade(cfg, "head")
        assert current_revision(empty_database) == head
        assert model_tables <= table_names(empty_database)

    def test_models_and_migrations_agree(self, empty_database: str) -> None:
        command.upgrade(alembic_config(empty_database), "head")
        engine = make_engine(empty_database)
        try:
            with engine.connect() as conn:
                # The same comparison options as migrations/env.py uses for autogenerate.
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                differences = compare_metadata(context, metadata)
        finally:
            engine.dispose()
        assert differences == [], (
            "the models differ from the migrations; write a migration "
            "(.venv/bin/alembic revision --autogenerate -m '<domain> <what>'):\n"
            + "\n".join(map(str, differences))
        )
