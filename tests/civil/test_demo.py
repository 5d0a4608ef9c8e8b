"""``nokor demo load``'s civil register step."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor import accounts, civil
from nokor.kit.actor import Actor

READER = Actor.system("tests")


def test_demo_adds_officers_births_and_a_death_once(db: Session) -> None:
    accounts.load_demo(db)
    lines = civil.load_demo(db)
    assert any("registrar.pnh" in line and "password" in line for line in lines)
    assert any("supervisor.pnh" in line for line in lines)
    registered = civil.list_events(db, READER, state="registered")
    assert sorted(e.kind for e in registered) == ["birth", "birth", "birth", "death"]
    dara = civil.search_residents(db, READER, purpose="test", name="Dara Chan")
    assert [(r.given_name, r.family_name, r.status) for r in dara] == [("ដារា", "ចាន់", "alive")]
    assert dara[0].mother_id is not None and dara[0].nin
    assert dara[0].birth_place_code == "12010101"  # a real village: the places are loaded
    saron = civil.search_residents(db, READER, purpose="test", name="Saron")
    assert [r.status for r in saron] == ["deceased"]
    officers = {o.username: o for o in accounts.list_officers(db, READER, limit=200).items}
    assert {"registrar.pnh", "supervisor.pnh"} <= set(officers)
    assert civil.load_demo(db) == []
    assert len(civil.list_events(db, READER)) == 4


def test_demo_adds_a_synthetic_population_of_the_configured_size_once(db: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NOKOR_CIVIL_DEMO_RESIDENTS", "150")
    accounts.load_demo(db)
    lines = civil.load_demo(db)
    assert any("synthetic residents" in line for line in lines)
    assert civil.count_residents(db, READER) >= 150
    families = civil.search_residents(db, READER, purpose="test", name="Sok")
    assert families and all(r.nin for r in families if r.status == "alive")
    assert not any("synthetic" in line for line in civil.load_demo(db))
