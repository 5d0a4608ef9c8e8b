"""Typed factories of the civil register, going through the public services."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from nokor import civil
from nokor.kit.actor import Actor

SYSTEM = Actor.system("tests")
VILLAGE = "12010101"


def make_resident(session: Session, **overrides: Any) -> civil.ResidentRead:
    data: dict[str, Any] = {"given_name": "ដារា", "family_name": "សុខ", "sex": "F",
                            "birth_date": date(1990, 5, 17), "birth_place_code": VILLAGE, "address_code": VILLAGE}
    data.update(overrides)
    return civil.create_resident(session, SYSTEM, data=civil.ResidentCreate(**data))


def birth(mother: civil.ResidentRead | None = None, *, occurred_on: date | None = None,
          **child: Any) -> civil.EventCreate:
    details: dict[str, Any] = {"given_name": "សុភា", "family_name": "ចាន់", "sex": "M"}
    if mother is not None:
        details["mother_id"] = mother.id
    details.update(child)
    return civil.EventCreate(kind="birth", occurred_on=occurred_on or date.today(), place_code=VILLAGE,
                             child=civil.PersonDetails(**details))


def registered(session: Session, data: civil.EventCreate, actor: Actor = SYSTEM) -> civil.EventRead:
    """Take an event through draft, declared, validated and registered."""
    event = civil.create_event(session, actor, data=data)
    civil.declare_event(session, actor, event_id=event.id)
    civil.validate_event(session, actor, event_id=event.id)
    return civil.register_event(session, actor, event_id=event.id)
