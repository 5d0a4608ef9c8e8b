"""Typed factories for registry tests, through the public services."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nokor import registries
from nokor.kit.actor import Actor

SYSTEM = Actor.system("tests")

SME_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["registration_number", "name", "province"],
    "additionalProperties": False,
    "properties": {
        "registration_number": {"type": "string", "pattern": "^[0-9]{8}$", "x-key": True},
        "name": {"type": "string", "minLength": 1, "x-searchable": True, "x-label": {"en": "Business name",
                                                                                      "km": "ឈ្មោះអាជីវកម្ម"}},
        "province": {"type": "string", "x-searchable": True},
        "employees": {"type": "integer", "minimum": 0, "x-searchable": True},
        "owner_name": {"type": "string", "x-personal": True},
        "owner_national_id": {"type": "string", "x-subject": True},
        "registered_on": {"type": "string", "format": "date"},
        "sector": {"type": "string", "enum": ["retail", "manufacturing", "services", "agriculture"]},
        "active": {"type": "boolean"},
    },
}


def make_registry(session: Session, *, name: str = "sme", schema: dict[str, Any] | None = None,
                  publish: bool = True, owner: str | None = None) -> registries.RegistryRead:
    created = registries.create_registry(session, SYSTEM, data=registries.RegistryCreate(
        name=name, title=registries.LocalizedText(en=f"Registry {name}"), owner_org_unit_code=owner,
        json_schema=schema or SME_SCHEMA))
    if publish:
        registries.publish_version(session, SYSTEM, name=name)
    return created


def business(number: int = 1, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "registration_number": f"{number:08d}", "name": f"Angkor Rice Mill {number}", "province": "Siem Reap",
        "employees": 10 + number, "owner_name": "Sok Dara", "owner_national_id": f"KH{number:09d}",
        "registered_on": "2024-03-15", "sector": "manufacturing", "active": True,
    }
    data.update(overrides)
    return data
