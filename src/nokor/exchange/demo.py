"""The demo country's data exchange: the demo agency systems as subsystems, the registries' GovStack
read API published through the gateway for the hospital system, identity verification published for the
demo bank, and the civil register's event room."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor import accounts
from nokor.config import get_settings
from nokor.exchange import pubsub, service
from nokor.exchange.schemas import AccessRightCreate
from nokor.kit.actor import Actor

CLIENTS = (("KH/GOV/MOH/hospital-registry", "Hospital birth notifications"),
           ("KH/GOV/NAO/audit-reader", "National audit office"),
           # The identity demo's bank system (its API client holds identity.verify).
           ("KH/BANK/TONLE/kyc", "Tonle Bank (know your customer)"))
ROLE = ("exchange_manager", {"km": "អ្នកគ្រប់គ្រងការផ្លាស់ប្តូរទិន្នន័យ", "en": "Data exchange manager",
                            "ar": "مدير تبادل البيانات", "de": "Verwaltung des Datenaustauschs"},
        [service.EXCHANGE_MANAGE, service.EXCHANGE_MONITOR])
ROLE_HOLDER = ("admin", "KH-GOV")
REGISTRY_READS = [{"method": "GET", "path": "/data/**"}, {"method": "POST", "path": "/data/*/*/read"},
                  {"method": "POST", "path": "/data/*/*/exists"}, {"method": "GET", "path": "/databases"},
                  {"method": "GET", "path": "/database/*"}]
IDENTITY_CALLS = [{"method": "POST", "path": "/verify"}]


def load_demo(session: Session) -> list[str]:
    """Create what is missing; one line to print when anything was made."""
    settings = get_settings()
    actor = Actor.system("demo")
    made: list[str] = []
    for identifier, title in CLIENTS:
        if service.get_subsystem(session, identifier) is None:
            service.ensure_subsystem(session, actor, identifier=identifier, name=title)
            made.append(identifier)
    instance = settings.exchange_instance
    made += _publish(session, actor, provider=f"{instance}/GOV/NOKOR/registries", code="registries",
                     title="Registry reads (GovStack Digital Registries)", path_prefix="/govstack/registries",
                     endpoints=REGISTRY_READS, subject=CLIENTS[0][0])
    # e-KYC is not published: its caller signs in with the relying party's HTTP Basic credentials,
    # the header the gateway authenticates the agency system with.
    made += _publish(session, actor, provider=f"{instance}/GOV/NOKOR/identity", code="verify",
                     title="Identity verification (yes/no)", path_prefix="/api/v1/identity",
                     endpoints=IDENTITY_CALLS, subject=CLIENTS[2][0])
    if service.get_subsystem(session, settings.civil_room) is None:
        made.append(f"room {pubsub.ensure_civil_room(session, settings)}")
    if accounts.demo_role_for(session, actor, role=ROLE, holder=ROLE_HOLDER):
        made.append(f"officer {ROLE_HOLDER[0]} manages the exchange (/admin/exchange)")
    return [f"data exchange: {', '.join(made)} (gateway at /r1/...)"] if made else []


def _publish(session: Session, actor: Actor, *, provider: str, code: str, title: str, path_prefix: str,
             endpoints: list[dict[str, str]], subject: str) -> list[str]:
    """Publish one of Nokor's own APIs through the gateway, open to one client, once."""
    if any(s.code == code for s in service.list_services(session, subsystem=provider)):
        return []
    published = service.publish_internal_service(session, actor, subsystem=provider, code=code, title=title,
                                                 path_prefix=path_prefix, endpoints=endpoints)
    for endpoint in endpoints:
        service.grant_access(session, actor, data=AccessRightCreate(
            service=f"{provider}/{code}", subject=subject, method=endpoint["method"], path=endpoint["path"]))
    return [f"service {published.subsystem}/{published.code} (open to {subject})"]
