"""The `nokor` command as an operator runs it: a real process on a SQLite file of its own."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nokor.config import Settings

NOKOR = Path(sys.executable).with_name("nokor")
KEY_RE = re.compile(r"^nk_[A-Za-z0-9]+_[A-Za-z0-9_-]+$")
COUNT_ACCOUNTS = ("SELECT (SELECT count(*) FROM accounts_officer), (SELECT count(*) FROM accounts_api_client), "
                  "(SELECT count(*) FROM accounts_org_unit)")

pytestmark = pytest.mark.slow


class Nokor:
    """Runs `nokor` with its data dir and database in one folder, away from any .env or NOKOR_ setting."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.database = folder / "var" / "nokor.db"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
        self.env.update({
            "NOKOR_DATA_DIR": str(folder / "var"),
            "NOKOR_DATABASE_URL": f"sqlite:///{self.database}",
            "NOKOR_LOG_LEVEL": "WARNING",
            "COLUMNS": "250",  # Rich folds table cells at 80 columns; keep every value on one line
        })

    def __call__(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        # The time-out only stops a command that hangs; `demo load` alone takes minutes on a busy machine.
        done = subprocess.run([str(NOKOR), *args], cwd=self.folder, env={**self.env, **env},
                              capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
        if check:
            assert done.returncode == 0, f"nokor {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.database) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def nokor(tmp_path: Path) -> Nokor:
    return Nokor(tmp_path)


@pytest.fixture
def loaded(nokor: Nokor) -> Nokor:
    """A database brought up to date and holding the demo country."""
    nokor("db", "upgrade")
    nokor("demo", "load")
    return nokor


class TestDbUpgrade:
    def test_creates_the_database_file_with_every_table(self, nokor: Nokor) -> None:
        done = nokor("db", "upgrade")
        assert "head" in done.stdout
        assert nokor.database.exists()
        tables = {name for (name,) in nokor.rows("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"alembic_version", "accounts_officer", "audit_entry"} <= tables

    def test_running_it_again_changes_nothing(self, nokor: Nokor) -> None:
        nokor("db", "upgrade")
        before = nokor.rows("SELECT version_num FROM alembic_version")
        nokor("db", "upgrade")
        assert nokor.rows("SELECT version_num FROM alembic_version") == before


class TestDemoLoad:
    def test_prints_the_demo_passwords_once_and_is_safe_to_run_twice(self, nokor: Nokor) -> None:
        nokor("db", "upgrade")
        first = nokor("demo", "load")
        assert "admin" in first.stdout and "Tonle-Sap-2026-demo" in first.stdout
        counts = nokor.rows(COUNT_ACCOUNTS)

        second = nokor("demo", "load")
        assert "Tonle-Sap-2026-demo" not in second.stdout
        assert "0 new accounts" in second.stdout
        assert nokor.rows(COUNT_ACCOUNTS) == counts


class TestConfigShow:
    def test_masks_the_secret_key_and_the_database_password(self, nokor: Nokor) -> None:
        done = nokor("config", "show", NOKOR_SECRET_KEY="kept-out-of-sight-7f3a9c",
                     NOKOR_DATABASE_URL="postgresql+psycopg://nokor:Db-Pass-w0rd-91@db.internal/nokor")
        assert "kept-out-of-sight-7f3a9c" not in done.stdout + done.stderr
        assert "Db-Pass-w0rd-91" not in done.stdout + done.stderr
        assert "postgresql+psycopg://nokor:********@db.internal/nokor" in done.stdout
        assert re.search(r"NOKOR_SECRET_KEY\s+│\s+\*{8}\s", done.stdout)

    def test_lists_every_option_with_its_meaning(self, nokor: Nokor) -> None:
        done = nokor("config", "show")
        for name in Settings.model_fields:
            assert f"NOKOR_{name.upper()}" in done.stdout


class TestCreateClient:
    def test_prints_the_key_alone_on_the_last_line_and_the_key_opens_the_api(self, loaded: Nokor) -> None:
        done = loaded("accounts", "create-client", "Civil registry", "--identity", "KH/GOV/MOI/test",
                      "--grant", "audit.read")
        key = done.stdout.rstrip("\n").splitlines()[-1]
        assert KEY_RE.match(key), f"the last line is not a key alone: {key!r}"

        settings = Settings(environment="test", data_dir=loaded.folder / "var",
                            database_url=f"sqlite:///{loaded.database}", log_level="WARNING")
        from nokor.app import create_app

        app = create_app(settings)
        try:
            with TestClient(app) as client:
                bearer = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {key}"})
                assert bearer.status_code == 200, bearer.text
                assert bearer.json()["ok"] is True
                # GovStack's form: the bare key, and the caller's identity in the mediator header.
                govstack = client.get("/api/v1/audit/verify", headers={
                    "Authorization": key, "Information-Mediator-Client": "KH/GOV/MOI/test"})
                assert govstack.status_code == 200, govstack.text
                assert client.get("/api/v1/audit/verify").status_code == 401
        finally:
            app.state.engine.dispose()

    def test_refuses_an_unknown_permission(self, loaded: Nokor) -> None:
        done = loaded("accounts", "create-client", "Rogue", "--identity", "KH/GOV/MOI/rogue",
                      "--grant", "everything.all", check=False)
        assert done.returncode != 0
        assert not KEY_RE.match((done.stdout.strip().splitlines() or [""])[-1])


class TestAuditVerify:
    def test_a_whole_chain_holds(self, loaded: Nokor) -> None:
        done = loaded("audit", "verify")
        count = loaded.rows("SELECT count(*) FROM audit_entry")[0][0]
        assert count >= 3
        assert f"{count} entries verified" in done.stdout
        assert loaded.rows("SELECT count(*) FROM audit_entry WHERE seq IS NULL")[0][0] == 0

    def test_seal_puts_written_entries_into_the_chain(self, loaded: Nokor) -> None:
        waiting = loaded.rows("SELECT count(*) FROM audit_entry WHERE seq IS NULL")[0][0]
        assert waiting >= 3
        done = loaded("audit", "seal")
        assert f"{waiting} entries sealed" in done.stdout
        assert loaded.rows("SELECT max(seq) FROM audit_entry")[0][0] == waiting

    def test_an_edited_entry_breaks_the_chain_and_is_named(self, loaded: Nokor) -> None:
        loaded("audit", "seal")
        loaded.rows("UPDATE audit_entry SET actor_name='mallory' WHERE seq=3")
        done = loaded("audit", "verify", check=False)
        assert done.returncode != 0
        assert re.search(r"\bentry 3\b", done.stdout + done.stderr), done.stdout + done.stderr

    def test_an_entry_edited_before_it_was_sealed_is_named(self, loaded: Nokor) -> None:
        target = loaded.rows("SELECT id FROM audit_entry ORDER BY id LIMIT 1")[0][0]
        loaded.rows(f"UPDATE audit_entry SET reason='nothing happened' WHERE id='{target}'")
        done = loaded("audit", "verify", "--no-seal", check=False)
        assert done.returncode != 0
        assert "not yet sealed" in done.stdout and "edited" in done.stdout, done.stdout
