"""The services tests run in a small demo country: administration, fees, the three demo services, the
trust hierarchy, a few villages and residents with registered births."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import column, table, update
from sqlalchemy.orm import Session
from tests.civil.factories import birth, load_places, make_resident, registered
from tests.conftest import make_officer

from nokor import accounts, civil, payments, registries, services, trust
from nokor.accounts import demo as accounts_demo
from nokor.config import Settings
from nokor.kit.actor import Actor
from nokor.kit.blobs import BlobStore, blob_store
from nokor.payments import demo as payments_demo
from nokor.registries import demo as registries_demo
from nokor.services import demo as services_demo

SYSTEM = Actor.system("tests")
OrgUnitTable = table("accounts_org_unit", column("parent_id"))


@dataclass
class Country:
    ring: trust.KeyRing
    store: BlobStore
    mother: civil.ResidentRead
    child: civil.ResidentRead
    mother_nin: str
    child_nin: str
    officer: Actor
    second: Actor
    counter: Actor


def officer_actor(session: Session, username: str) -> Actor:
    """The actor of a test officer (made by ``make_officer``), as a signed-in session would give it."""
    outcome = accounts.sign_in(session, username=username, password="Correct-Horse-Battery-42",
                               client_ip="127.0.0.1", user_agent="tests", policy=accounts.LoginPolicy())
    assert outcome.opened is not None
    found = accounts.resolve_session(session, token=outcome.opened.token)
    assert found is not None
    return found[0]


def load_country(db: Session) -> None:
    """The demo administration, fees, SME registry and services, without the demo officers (whose
    password hashing would make every test slow)."""
    for code, kind, parent, name in accounts_demo.ORG_UNITS:
        accounts.create_org_unit(db, SYSTEM, data=accounts.OrgUnitCreate(
            code=code, kind=kind, name=accounts.LocalizedName(**name), parent_code=parent))
    for code, unit, amount, currency, account, name in payments_demo.FEES:
        payments.create_fee(db, SYSTEM, data=payments.FeeCreate(code=code, name=name, amount=amount, currency=currency,
                                                               org_unit_code=unit, bakong_account_id=account))
    registries.create_registry(db, SYSTEM, data=registries.RegistryCreate(
        name="sme", title=registries.LocalizedText(en="SMEs"), owner_org_unit_code="MEF",
        json_schema=registries_demo.SME_SCHEMA))
    registries.publish_version(db, SYSTEM, name="sme")
    registries_demo.add_sme_version_2(db, SYSTEM)
    for data in services_demo.SERVICES:
        services.create_service(db, SYSTEM, data=data)
    for code, role_name, permissions in services_demo.ROLES:
        accounts.create_role(db, SYSTEM, data=accounts.RoleCreate(
            code=code, name=accounts.LocalizedName(**role_name), permissions=permissions))
    services.create_consultation(db, SYSTEM, data=services_demo.CONSULTATION)


@pytest.fixture
def country(db: Session, settings: Settings) -> Iterator[Country]:
    load_country(db)
    load_places(db)
    ring = trust.key_ring(settings)
    trust.init_hierarchy(db, SYSTEM, ring=ring)
    mother = make_resident(db)
    event = registered(db, birth(mother, given_name="ដារា", family_name="ចាន់", given_name_latin="Dara",
                                family_name_latin="Chan"))
    child = civil.get_resident(db, SYSTEM, resident_id=event.subject_id, purpose="tests")  # type: ignore[arg-type]
    make_officer(db, username="t.reviewer", org_unit="MOI-PNH", roles=["service_officer"])
    make_officer(db, username="t.chief", org_unit="MOI-PNH", roles=["service_supervisor"])
    make_officer(db, username="t.mef", org_unit="MEF", roles=["service_officer"])
    make_officer(db, username="t.mefchief", org_unit="MEF", roles=["service_supervisor"])
    db.commit()
    made = Country(ring=ring, store=blob_store(settings.data_dir), mother=mother, child=child,
                   mother_nin=mother.nin or "", child_nin=child.nin or "",
                   officer=officer_actor(db, "t.reviewer"), second=officer_actor(db, "t.chief"),
                   counter=officer_actor(db, "t.reviewer"))
    db.commit()
    yield made
    db.rollback()
    # The tables are emptied after each test in one sweep; SQLite checks the units' RESTRICT link to
    # their parent row by row, so the tree is flattened first.
    with db.get_bind().connect() as conn:
        conn.execute(update(OrgUnitTable).values(parent_id=None))
        conn.commit()
