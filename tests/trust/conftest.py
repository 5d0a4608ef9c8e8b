"""Fixtures of the trust tests: a key ring in the test's data dir and a freshly made hierarchy."""

from __future__ import annotations

import pytest

from nokor import trust
from nokor.config import Settings
from nokor.kit.actor import Actor
from nokor.trust.pdf import simple_pdf

SYSTEM = Actor.system("tests")


def birth_certificate_pdf(name: str = "Sok Dara") -> bytes:
    return simple_pdf(["Certificate of birth", f"Name: {name}", "Born: 2024-03-01, Phnom Penh"],
                      title="Kingdom of Cambodia")


@pytest.fixture
def ring(settings: Settings) -> trust.KeyRing:
    return trust.key_ring(settings)


@pytest.fixture
def hierarchy(db, ring) -> trust.HierarchyRead:  # type: ignore[no-untyped-def]
    made = trust.init_hierarchy(db, SYSTEM, ring=ring)
    db.commit()
    return made
