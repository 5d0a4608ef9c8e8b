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
    provider = f"{settings.exchange_instance}/GOV/NOKOR/identity"
    if not any(s.code == "verify" for s in service.list_services(session, subsystem=provider)):
        # e-KYC is not published: its caller signs in with the relying party's HTTP Basic credentials,
        # the header the gateway authenticates the agency system with.
        published = service.publish_internal_service(session, actor, subsystem=provider, code="verify",
                                                     title="Identity verification (yes/no)",
                                                     path_prefix="/api/v1/identity", endpoints=IDENTITY_CALLS)
        for endpoint in IDENTITY_CALLS:
            service.grant_access(session, actor, data=AccessRightCreate(
                service=f"{provider}/verify", subject=CLIENTS[2][0], method=endpoint["method"],
                path=endpoint["path"]))
        made.append(f"service {published.subsystem}/{published.code} (open to {CLIENTS[2][0]})")
    if service.get_subsystem(session, settings.civil_room) is None:
        made.append(f"room {pubsub.ensure_civil_room(session, settings)}")
    code, role_name, permissions = ROLE
    if code not in {r.code for r in accounts.list_roles(session, actor)}:
        accounts.create_role(session, actor, data=accounts.RoleCreate(
            code=code, name=accounts.LocalizedName(**role_name), permissions=permissions))
    username, unit_code = ROLE_HOLDER
    holder = next((o for o in accounts.list_officers(session, actor, search=username).items
                   if o.username == username), None)
    if holder is not None and not any(g.role_code == code for g in
                                      accounts.grants_of_officer(session, actor, officer_id=holder.id)):
        accounts.grant_role(session, actor, officer_id=holder.id, role_code=code, org_unit_code=unit_code)
        made.append(f"officer {username} manages the exchange (/admin/exchange)")
    return [f"data exchange: {', '.join(made)} (gateway at /r1/...)"] if made else []
