"""The demo country's administration: ministries, provincial offices, officers and agency systems."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nokor.accounts import repository, service
from nokor.accounts.schemas import ApiClientCreate, LocalizedName, OfficerCreate, OrgUnitCreate, RoleCreate
from nokor.kit.actor import Actor

ORG_UNITS: list[tuple[str, str, str | None, dict[str, str]]] = [
    ("KH-GOV", "government", None, {"km": "រាជរដ្ឋាភិបាលកម្ពុជា", "en": "Royal Government of Cambodia",
                                    "ar": "الحكومة الملكية الكمبودية", "de": "Königliche Regierung Kambodschas"}),
    ("MOI", "ministry", "KH-GOV", {"km": "ក្រសួងមហាផ្ទៃ", "en": "Ministry of Interior", "ar": "وزارة الداخلية",
                                   "de": "Innenministerium"}),
    ("MOI-GDI", "department", "MOI", {"km": "អគ្គនាយកដ្ឋានអត្តសញ្ញាណកម្ម",
                                      "en": "General Department of Identification",
                                      "ar": "الإدارة العامة لتحديد الهوية",
                                      "de": "Generaldirektion für Identifizierung"}),
    ("MOI-PNH", "provincial_office", "MOI", {"km": "មន្ទីរមហាផ្ទៃរាជធានីភ្នំពេញ", "en": "Phnom Penh Interior Office",
                                             "ar": "مكتب الداخلية في بنوم بنه", "de": "Innenamt Phnom Penh"}),
    ("MOI-SRP", "provincial_office", "MOI", {"km": "មន្ទីរមហាផ្ទៃខេត្តសៀមរាប", "en": "Siem Reap Interior Office",
                                             "ar": "مكتب الداخلية في سيام ريب", "de": "Innenamt Siem Reap"}),
    ("MOI-BTB", "provincial_office", "MOI", {"km": "មន្ទីរមហាផ្ទៃខេត្តបាត់ដំបង", "en": "Battambang Interior Office",
                                             "ar": "مكتب الداخلية في باتامبانغ", "de": "Innenamt Battambang"}),
    ("MEF", "ministry", "KH-GOV", {"km": "ក្រសួងសេដ្ឋកិច្ចនិងហិរញ្ញវត្ថុ", "en": "Ministry of Economy and Finance",
                                   "ar": "وزارة الاقتصاد والمالية", "de": "Ministerium für Wirtschaft und Finanzen"}),
    ("MPTC", "ministry", "KH-GOV", {"km": "ក្រសួងប្រៃសណីយ៍និងទូរគមនាគមន៍",
                                    "en": "Ministry of Posts and Telecommunications",
                                    "ar": "وزارة البريد والاتصالات",
                                    "de": "Ministerium für Post und Telekommunikation"}),
    ("MOH", "ministry", "KH-GOV", {"km": "ក្រសួងសុខាភិបាល", "en": "Ministry of Health", "ar": "وزارة الصحة",
                                   "de": "Gesundheitsministerium"}),
]

ROLES: list[tuple[str, dict[str, str], list[str]]] = [
    ("administrator", {"km": "អ្នកគ្រប់គ្រងប្រព័ន្ធ", "en": "Administrator", "ar": "مسؤول النظام", "de": "Administrator"},
     ["accounts.manage", "audit.read", "outbox.manage"]),
    ("auditor", {"km": "សវនករ", "en": "Auditor", "ar": "مدقق", "de": "Prüfer"}, ["audit.read"]),
]

# (username, full name, office, role or None, locale, password) — demo passwords, printed by `demo load`.
OFFICERS: list[tuple[str, str, str, str | None, str, str]] = [
    ("admin", "សុខ ចាន់ថា", "KH-GOV", "administrator", "km", "Tonle-Sap-2026-demo"),
    ("auditor", "Layla Haddad", "KH-GOV", "auditor", "ar", "Mekong-River-2026-demo"),
    ("clerk.pnh", "ចាន់ សុភា", "MOI-PNH", None, "km", "Bayon-Temple-2026-demo"),
]

CLIENTS: list[tuple[str, str, list[str], str | None]] = [
    ("Hospital birth notifications", "KH/GOV/MOH/hospital-registry", [], "MOH"),
    ("National audit office", "KH/GOV/NAO/audit-reader", ["audit.read"], None),
]


def load_demo(session: Session) -> list[str]:
    """Create the demo administration where it is missing; returns lines to print (credentials, keys)."""
    actor = Actor.system("demo")
    lines: list[str] = []
    for code, kind, parent, name in ORG_UNITS:
        if repository.org_unit_by_code(session, code) is None:
            service.create_org_unit(session, actor, data=OrgUnitCreate(
                code=code, kind=kind, name=LocalizedName(**name), parent_code=parent))
    for code, role_name, permissions in ROLES:
        if repository.role_by_code(session, code) is None:
            service.create_role(session, actor, data=RoleCreate(
                code=code, name=LocalizedName(**role_name), permissions=permissions))
    for username, full_name, unit, role, locale, password in OFFICERS:
        if repository.officer_by_username(session, username) is not None:
            continue
        officer = service.create_officer(session, actor, data=OfficerCreate(
            username=username, full_name=full_name, password=password, locale=locale,
            org_unit_code=unit))
        if role:
            service.grant_role(session, actor, officer_id=officer.id, role_code=role, org_unit_code=unit)
        lines.append(f"officer {username} ({role or 'no role'}) password: {password}")
    for client_name, identity, permissions, client_unit in CLIENTS:
        if repository.api_client_by_identity(session, identity) is not None:
            continue
        issued = service.create_api_client(session, actor, data=ApiClientCreate(
            name=client_name, identity=identity, permissions=permissions, org_unit_code=client_unit))
        lines.append(f"API client {identity} key: {issued.api_key}")
    return lines


def demo_staff(session: Session, actor: Actor, *, roles: list[tuple[str, dict[str, str], list[str]]],
               officers: list[tuple[str, str, str, str, str]]) -> list[str]:
    """A domain's demo roles and officers, each created once: roles ``(code, names, permissions)``,
    officers ``(username, full name, office, role, password)`` granted their role in their office.
    An officer whose office does not exist is left out. Returns the lines to print (the passwords)."""
    lines: list[str] = []
    units = {u.code for u in service.list_org_units(session, actor)}
    known = {r.code for r in service.list_roles(session, actor)}
    for code, role_name, permissions in roles:
        if code not in known:
            service.create_role(session, actor, data=RoleCreate(
                code=code, name=LocalizedName(**role_name), permissions=permissions))
    existing = {o.username for o in service.list_officers(session, actor, limit=200).items}
    for username, full_name, unit, role, password in officers:
        if username in existing or unit not in units:
            continue
        officer = service.create_officer(session, actor, data=OfficerCreate(
            username=username, full_name=full_name, password=password, locale="km", org_unit_code=unit))
        service.grant_role(session, actor, officer_id=officer.id, role_code=role, org_unit_code=unit)
        lines.append(f"officer {username} ({role}) password: {password}")
    return lines


def demo_role_for(session: Session, actor: Actor, *, role: tuple[str, dict[str, str], list[str]],
                  holder: tuple[str, str]) -> bool:
    """A domain's demo role ``(code, names, permissions)``, created once, granted once to an existing officer
    ``(username, office)`` in that office. True when the grant was made now (so the caller can say so)."""
    code, role_name, permissions = role
    if code not in {r.code for r in service.list_roles(session, actor)}:
        service.create_role(session, actor, data=RoleCreate(
            code=code, name=LocalizedName(**role_name), permissions=permissions))
    username, unit_code = holder
    officer = next((o for o in service.list_officers(session, actor, search=username).items
                    if o.username == username), None)
    if officer is None or any(g.role_code == code for g in service.grants_of_officer(session, actor,
                                                                                     officer_id=officer.id)):
        return False
    service.grant_role(session, actor, officer_id=officer.id, role_code=code, org_unit_code=unit_code)
    return True
