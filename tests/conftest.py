"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when NOKOR_DATABASE_URL says so),
emptied after every test, the app on top of it, and typed factories that go through the services."""

from __future__ import annotations

import os
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from nokor import accounts
from nokor.config import Settings
from nokor.db import Base, make_engine, make_session_factory
from nokor.kit.actor import Actor

# `nokor demo load` adds 50,000 synthetic residents by default; the tests that need some ask for them.
os.environ.setdefault("NOKOR_CIVIL_DEMO_RESIDENTS", "0")

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Correct-Horse-Battery-42"


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def _admin_url(url: str) -> str:
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def create_scratch_database(base_url: str, label: str) -> str:
    """A new empty PostgreSQL database beside the configured one; returns its URL."""
    import psycopg

    name = f"nokor_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_url(_admin_url(base_url))
    dsn = (f"host={admin.host or '127.0.0.1'} port={admin.port or 5432} "
           f"user={admin.username or 'postgres'} dbname=postgres")
    if admin.password:
        dsn += f" password={admin.password}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(url: str) -> None:
    import psycopg

    parsed = make_url(url)
    name = parsed.database
    assert name and re.match(r"^nokor_[a-z0-9_]+$", name)
    dsn = (f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} "
           f"user={parsed.username or 'postgres'} dbname=postgres")
    if parsed.password:
        dsn += f" password={parsed.password}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for the whole test run (one scratch database on PostgreSQL)."""
    configured = os.environ.get("NOKOR_DATABASE_URL", "")
    if configured.startswith("postgresql"):
        url = create_scratch_database(configured, "test")
        command.upgrade(alembic_config(url), "head")
        yield url
        drop_scratch_database(url)
        return
    path = tmp_path_factory.mktemp("db") / "nokor.db"
    url = f"sqlite:///{path}"
    command.upgrade(alembic_config(url), "head")
    yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield make_session_factory(engine)
    _empty_all_tables(engine)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and checking; commit to make rows visible to the app."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "var",
        database_url=database_url,
        secret_key="test-secret-key-" + "x" * 32,  # type: ignore[arg-type]
        log_json=True,
        log_level="WARNING",
        default_locale="en",
    )


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    from nokor.app import create_app

    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


# --- factories (through the public services, like CKAN's) -----------------------------------------

SYSTEM = Actor.system("tests")


def make_org_unit(session: Session, *, code: str | None = None, parent: str | None = None,
                  kind: str = "ministry", name: str | None = None) -> accounts.OrgUnitRead:
    code = code or f"U{uuid.uuid4().hex[:6].upper()}"
    return accounts.create_org_unit(session, SYSTEM, data=accounts.OrgUnitCreate(
        code=code, kind=kind, name=accounts.LocalizedName(en=name or f"Unit {code}"), parent_code=parent))  # type: ignore[arg-type]


def make_role(session: Session, *, code: str | None = None, permissions: list[str] | None = None) -> accounts.RoleRead:
    code = code or f"role_{uuid.uuid4().hex[:6]}"
    return accounts.create_role(session, SYSTEM, data=accounts.RoleCreate(
        code=code, name=accounts.LocalizedName(en=code.replace("_", " ").title()), permissions=permissions or []))


def make_officer(session: Session, *, username: str | None = None, org_unit: str | None = None,
                 roles: list[str] | None = None, password: str = PASSWORD, locale: str = "en",
                 full_name: str = "Sok Dara") -> accounts.OfficerRead:
    if org_unit is None:
        org_unit = make_org_unit(session).code
    officer = accounts.create_officer(session, SYSTEM, data=accounts.OfficerCreate(
        username=username or f"officer.{uuid.uuid4().hex[:6]}", full_name=full_name, password=password,
        locale=locale, org_unit_code=org_unit))  # type: ignore[arg-type]
    for role in roles or []:
        accounts.grant_role(session, SYSTEM, officer_id=officer.id, role_code=role, org_unit_code=org_unit)
    return officer


def make_admin(session: Session, *, org_unit: str | None = None, username: str = "admin.test") -> accounts.OfficerRead:
    """An officer holding every permission of the platform within ``org_unit``."""
    from nokor.kit.actor import PERMISSIONS

    role = make_role(session, permissions=sorted(PERMISSIONS))
    return make_officer(session, username=username, org_unit=org_unit, roles=[role.code])


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    page = client.get("/login", headers={"accept": "text/html"})
    response = client.post("/login", data={"username": username, "password": password, "next": "/",
                                           "csrf_token": csrf_from(page.text)},
                           headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303, response.text


def issue_key(session: Session, *, permissions: list[str], identity: str | None = None,
              org_unit: str | None = None) -> str:
    identity = identity or f"KH/GOV/TEST/sys-{uuid.uuid4().hex[:6]}"
    issued = accounts.create_api_client(session, SYSTEM, data=accounts.ApiClientCreate(
        name="Test system", identity=identity, permissions=permissions, org_unit_code=org_unit))
    return issued.api_key
