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
