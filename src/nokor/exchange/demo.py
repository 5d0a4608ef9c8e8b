"""The demo country's data exchange: the demo agency systems as subsystems, the registries' GovStack
read API published through the gateway for the hospital system, and the civil register's event room."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor.config import get_settings
from nokor.exchange import pubsub, service
from nokor.exchange.schemas import AccessRightCreate
from nokor.kit.actor import Actor

CLIENTS = (("KH/GOV/MOH/hospital-registry", "Hospital birth notifications"),
           ("KH/GOV/NAO/audit-reader", "National audit office"))
REGISTRY_READS = [{"method": "GET", "path": "/data/**"}, {"method": "GET", "path": "/databases"},
                  {"method": "GET", "path": "/database/*"}]


def load_demo(session: Session) -> list[str]:
    """Create what is missing; one line to print when anything was made."""
    settings = get_settings()
    actor = Actor.system("demo")
    made: list[str] = []
    for identifier, name in CLIENTS:
        if service.get_subsystem(session, identifier) is None:
            service.ensure_subsystem(session, actor, identifier=identifier, name=name)
            made.append(identifier)
    provider = f"{settings.exchange_instance}/GOV/NOKOR/registries"
    if not any(s.code == "registries" for s in service.list_services(session, subsystem=provider)):
        published = service.publish_internal_service(session, actor, subsystem=provider, code="registries",
                                                     title="Registry reads (GovStack Digital Registries)",
                                                     path_prefix="/govstack/registries", endpoints=REGISTRY_READS)
        for endpoint in REGISTRY_READS:
            service.grant_access(session, actor, data=AccessRightCreate(
                service=f"{provider}/registries", subject=CLIENTS[0][0], method=endpoint["method"],
                path=endpoint["path"]))
        made.append(f"service {published.subsystem}/{published.code} (open to {CLIENTS[0][0]})")
    if service.get_subsystem(session, settings.civil_room) is None:
        made.append(f"room {pubsub.ensure_civil_room(session, settings)}")
    return [f"data exchange: {', '.join(made)} (gateway at /r1/...)"] if made else []
