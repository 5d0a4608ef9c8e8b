"""The demo country's trust services: the CA hierarchy, a seal for the General Department of
Identification, and the certificate officer's role for the demo administrator."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor import accounts
from nokor.config import get_settings
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem
from nokor.trust import repository, service
from nokor.trust.keyring import key_ring

SEAL_UNIT = "MOI-GDI"
ROLE = ("certificate_officer", {"km": "មន្ត្រីទទួលបន្ទុកវិញ្ញាបនបត្រឌីជីថល", "en": "Certificate officer",
                                "ar": "مسؤول الشهادات الرقمية", "de": "Zertifikatsbeauftragter"},
        [service.TRUST_MANAGE, service.TRUST_SIGN])
ROLE_HOLDER = ("admin", "KH-GOV")


def load_demo(session: Session) -> list[str]:
    """Create what is missing: the hierarchy (key files under the data dir), the seal of the demo
    identification department and the certificate officer role; one line to print when anything was made."""
    actor = Actor.system("demo")
    try:
        with session.begin_nested():  # all of it or none of it
            made = _hierarchy_and_seal(session, actor)
    except Problem as exc:
        # Keys of an existing hierarchy that are not in this data dir: say so, load the rest of the demo.
        return [f"trust services: not loaded: {exc}"]
    if accounts.demo_role_for(session, actor, role=ROLE, holder=ROLE_HOLDER):
        made.append(f"officer {ROLE_HOLDER[0]} is a {ROLE[0]} (/admin/trust/certificates)")
    return [f"trust services: {'; '.join(made)}"] if made else []


def _hierarchy_and_seal(session: Session, actor: Actor) -> list[str]:
    ring = key_ring(get_settings())
    made: list[str] = []
    if not repository.certificates_of_kind(session, "root_ca"):
        hierarchy = service.init_hierarchy(session, actor, ring=ring)
        made.append(f"hierarchy made under root CA {hierarchy.root.serial[:16]}")
    unit = next((u for u in accounts.list_org_units(session, actor) if u.code == SEAL_UNIT), None)
    if unit is not None and repository.active_certificate(session, kind="seal", org_unit_id=unit.id) is None:
        seal = service.issue_seal_certificate(session, actor, ring=ring, org_unit_id=unit.id,
                                              organisation_name=unit.name.get("en") or unit.code)
        made.append(f"seal of {SEAL_UNIT} issued ({seal.serial[:16]})")
    return made
