"""The demo country's registries: small businesses (SMEs) and health facilities across Cambodia's provinces."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from nokor import accounts
from nokor.kit.actor import Actor
from nokor.registries import repository, service
from nokor.registries.schemas import LocalizedText, RegistryCreate

# The 24 provinces and the capital, with the codes of the General Department of Identification.
PROVINCES: list[tuple[str, str, str]] = [
    ("01", "បន្ទាយមានជ័យ", "Banteay Meanchey"), ("02", "បាត់ដំបង", "Battambang"),
    ("03", "កំពង់ចាម", "Kampong Cham"), ("04", "កំពង់ឆ្នាំង", "Kampong Chhnang"),
    ("05", "កំពង់ស្ពឺ", "Kampong Speu"), ("06", "កំពង់ធំ", "Kampong Thom"), ("07", "កំពត", "Kampot"),
    ("08", "កណ្ដាល", "Kandal"), ("09", "កោះកុង", "Koh Kong"), ("10", "ក្រចេះ", "Kratie"),
    ("11", "មណ្ឌលគិរី", "Mondulkiri"), ("12", "ភ្នំពេញ", "Phnom Penh"), ("13", "ព្រះវិហារ", "Preah Vihear"),
    ("14", "ព្រៃវែង", "Prey Veng"), ("15", "ពោធិ៍សាត់", "Pursat"), ("16", "រតនគិរី", "Ratanakiri"),
    ("17", "សៀមរាប", "Siem Reap"), ("18", "ព្រះសីហនុ", "Preah Sihanouk"), ("19", "ស្ទឹងត្រែង", "Stung Treng"),
    ("20", "ស្វាយរៀង", "Svay Rieng"), ("21", "តាកែវ", "Takeo"), ("22", "ឧត្ដរមានជ័យ", "Oddar Meanchey"),
    ("23", "កែប", "Kep"), ("24", "ប៉ៃលិន", "Pailin"), ("25", "ត្បូងឃ្មុំ", "Tboung Khmum"),
]

SME_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Small and medium enterprise",
    "type": "object",
    "additionalProperties": False,
    "required": ["registration_number", "name", "sector", "province", "employees", "registered_on"],
    "properties": {
        "registration_number": {"type": "string", "pattern": "^[0-9]{8}$", "x-key": True,
                                "x-label": {"en": "Registration number", "km": "លេខចុះបញ្ជី",
                                            "ar": "رقم التسجيل", "de": "Registernummer"}},
        "name": {"type": "string", "minLength": 2, "maxLength": 200, "x-searchable": True,
                 "x-label": {"en": "Business name", "km": "ឈ្មោះអាជីវកម្ម", "ar": "الاسم التجاري",
                             "de": "Firmenname"}},
        "name_km": {"type": "string", "maxLength": 200,
                    "x-label": {"en": "Name in Khmer", "km": "ឈ្មោះជាភាសាខ្មែរ", "ar": "الاسم بالخميرية",
                                "de": "Name auf Khmer"}},
        "sector": {"type": "string", "enum": ["agriculture", "food processing", "garments", "handicrafts",
                                              "retail", "tourism", "construction", "ict"],
                   "x-searchable": True, "x-label": {"en": "Sector", "km": "វិស័យ", "ar": "القطاع", "de": "Branche"}},
        "province": {"type": "string", "x-searchable": True,
                     "x-label": {"en": "Province", "km": "ខេត្ត", "ar": "المقاطعة", "de": "Provinz"}},
        "province_code": {"type": "string", "pattern": "^[0-9]{2}$"},
        "employees": {"type": "integer", "minimum": 0, "maximum": 250, "x-searchable": True,
                      "x-label": {"en": "Employees", "km": "ចំនួនបុគ្គលិក", "ar": "عدد الموظفين",
                                  "de": "Beschäftigte"}},
        "women_owned": {"type": "boolean", "x-label": {"en": "Owned by a woman", "km": "ម្ចាស់ជាស្ត្រី",
                                                      "ar": "تملكها امرأة", "de": "In Frauenbesitz"}},
        "annual_turnover_usd": {"type": "number", "minimum": 0},
        "registered_on": {"type": "string", "format": "date", "x-label": {
            "en": "Registered on", "km": "ថ្ងៃចុះបញ្ជី", "ar": "تاريخ التسجيل", "de": "Eingetragen am"}},
        "owner_name": {"type": "string", "x-personal": True, "x-label": {
            "en": "Owner", "km": "ម្ចាស់អាជីវកម្ម", "ar": "المالك", "de": "Inhaber"}},
        "owner_national_id": {"type": "string", "pattern": "^[0-9]{9}$", "x-subject": True, "x-label": {
            "en": "Owner's national ID number", "km": "លេខអត្តសញ្ញាណប័ណ្ណម្ចាស់", "ar": "الرقم الوطني للمالك",
            "de": "Ausweisnummer des Inhabers"}},
    },
}

# Version 2.0 of the SME register: the owner is named by the 12-digit national ID number (civil register) or,
# for owners still on the old card, its 9 digits. Version 1.0 (9 digits only) stays as published, with the
# records written under it.
SME_SCHEMA_2: dict[str, Any] = {
    **SME_SCHEMA,
    "properties": {
        **SME_SCHEMA["properties"],
        "owner_national_id": {
            "type": "string", "pattern": "^([0-9]{12}|[0-9]{9})$", "x-subject": True, "x-label": {
                "en": "Owner's national ID number", "km": "លេខអត្តសញ្ញាណប័ណ្ណម្ចាស់", "ar": "الرقم الوطني للمالك",
                "de": "Ausweisnummer des Inhabers"},
            "description": "The 12-digit national ID number, or the 9 digits of an old identity card."},
    },
}

HEALTH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Health facility",
    "type": "object",
    "additionalProperties": False,
    "required": ["facility_code", "name", "level", "province", "operator"],
    "properties": {
        "facility_code": {"type": "string", "pattern": "^HF-[0-9]{2}-[0-9]{3}$", "x-key": True,
                          "x-label": {"en": "Facility code", "km": "លេខកូដមូលដ្ឋានសុខាភិបាល",
                                      "ar": "رمز المنشأة", "de": "Einrichtungscode"}},
        "name": {"type": "string", "minLength": 2, "x-searchable": True,
                 "x-label": {"en": "Name", "km": "ឈ្មោះ", "ar": "الاسم", "de": "Name"}},
        "name_km": {"type": "string"},
        "level": {"type": "string", "enum": ["national hospital", "provincial referral hospital",
                                             "referral hospital", "health centre", "health post"],
                  "x-searchable": True, "x-label": {"en": "Level", "km": "កម្រិត", "ar": "المستوى", "de": "Ebene"}},
        "province": {"type": "string", "x-searchable": True,
                     "x-label": {"en": "Province", "km": "ខេត្ត", "ar": "المقاطعة", "de": "Provinz"}},
        "province_code": {"type": "string", "pattern": "^[0-9]{2}$"},
        "operator": {"type": "string", "enum": ["public", "private", "ngo"], "x-searchable": True},
        "beds": {"type": "integer", "minimum": 0, "x-searchable": True,
                 "x-label": {"en": "Beds", "km": "គ្រែ", "ar": "الأسرّة", "de": "Betten"}},
        "opened_year": {"type": "integer", "minimum": 1900, "maximum": 2100},
        "latitude": {"type": "number", "minimum": 9.5, "maximum": 15},
        "longitude": {"type": "number", "minimum": 102, "maximum": 108},
        "phone": {"type": "string", "pattern": "^0[0-9]{8,9}$"},
        "director_name": {"type": "string", "x-personal": True, "x-label": {
            "en": "Director", "km": "នាយក", "ar": "المدير", "de": "Leitung"}},
    },
}

# Approximate centres of the provinces, for plausible coordinates.
CENTRES = {"01": (13.59, 102.97), "02": (13.10, 103.20), "03": (12.00, 105.46), "04": (12.25, 104.67),
           "05": (11.45, 104.52), "06": (12.71, 104.89), "07": (10.61, 104.18), "08": (11.48, 104.95),
           "09": (11.62, 102.98), "10": (12.49, 106.02), "11": (12.45, 107.19), "12": (11.56, 104.92),
           "13": (13.80, 104.98), "14": (11.48, 105.33), "15": (12.54, 103.92), "16": (13.74, 106.98),
           "17": (13.36, 103.86), "18": (10.63, 103.52), "19": (13.52, 105.97), "20": (11.09, 105.80),
           "21": (10.99, 104.78), "22": (14.18, 103.52), "23": (10.48, 104.32), "24": (12.85, 102.61),
           "25": (11.90, 105.65)}
GIVEN = ["Sokha", "Dara", "Sreymom", "Vuthy", "Channary", "Piseth", "Bopha", "Rithy", "Sophal", "Kanha",
         "Vannak", "Sokunthea", "Chenda", "Makara", "Leakhena", "Sovann"]
FAMILY = ["Chan", "Sok", "Kim", "Heng", "Meas", "Ouk", "Prak", "Ros", "Seng", "Touch", "Vong", "Yim"]
TRADES = {"agriculture": ("Rice Farm", "កសិដ្ឋានស្រូវ"), "food processing": ("Palm Sugar Works", "រោងចក្រស្ករត្នោត"),
          "garments": ("Tailoring", "ហាងកាត់ដេរ"), "handicrafts": ("Silk Weaving", "ត្បាញសូត្រ"),
          "retail": ("Mini Mart", "ហាងលក់រាយ"), "tourism": ("Guesthouse", "ផ្ទះសំណាក់"),
          "construction": ("Builders", "សំណង់"), "ict": ("Digital Services", "សេវាឌីជីថល")}


def _registry_exists(session: Session, name: str) -> bool:
    return repository.registry_by_name(session, name) is not None


def _unit(session: Session, actor: Actor, code: str) -> str | None:
    return code if any(u.code == code for u in accounts.list_org_units(session, actor)) else None


def smes(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Plausible small businesses spread over the provinces."""
    out = []
    for n in range(1, count + 1):
        code, province_km, province = PROVINCES[(n * 7) % len(PROVINCES)]
        sector = sorted(TRADES)[n % len(TRADES)]
        trade, trade_km = TRADES[sector]
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        out.append({
            "registration_number": f"{20240000 + n:08d}", "name": f"{family} {trade} {province}",
            "name_km": f"{trade_km} {province_km}", "sector": sector, "province": province,
            "province_code": code, "employees": rng.randint(1, 120), "women_owned": rng.random() < 0.6,
            "annual_turnover_usd": round(rng.uniform(8_000, 900_000), 2),
            "registered_on": (date(2015, 1, 1) + timedelta(days=rng.randint(0, 3600))).isoformat(),
            "owner_name": f"{family} {given}", "owner_national_id": f"{rng.randint(10**8, 10**9 - 1)}",
        })
    return out


def health_facilities(rng: random.Random) -> list[dict[str, Any]]:
    """A provincial referral hospital and two health centres in every province, plus the national hospitals."""
    out: list[dict[str, Any]] = []
    for code, province_km, province in PROVINCES:
        lat, lon = CENTRES[code]
        facilities = [("provincial referral hospital", f"{province} Provincial Referral Hospital",
                       f"មន្ទីរពេទ្យបង្អែកខេត្ត{province_km}", rng.randint(80, 300)),
                      ("health centre", f"{province} Town Health Centre", f"មណ្ឌលសុខភាពក្រុង{province_km}",
                       rng.randint(4, 20)),
                      ("health post", f"{province} Rural Health Post", f"ប៉ុស្តិ៍សុខភាព{province_km}", 2)]
        if code == "12":
            facilities += [("national hospital", "Calmette Hospital", "មន្ទីរពេទ្យកាល់ម៉ែត", 550),
                           ("national hospital", "Khmer-Soviet Friendship Hospital",
                            "មន្ទីរពេទ្យមិត្តភាពខ្មែរ-សូវៀត", 600)]
        for index, (level, name, name_km, beds) in enumerate(facilities, start=1):
            out.append({
                "facility_code": f"HF-{code}-{index:03d}", "name": name, "name_km": name_km, "level": level,
                "province": province, "province_code": code,
                "operator": "public" if level != "health post" or rng.random() < 0.8 else "ngo",
                "beds": beds, "opened_year": rng.randint(1960, 2022),
                "latitude": round(lat + rng.uniform(-0.1, 0.1), 5),
                "longitude": round(lon + rng.uniform(-0.1, 0.1), 5),
                "phone": f"0{rng.randint(10, 99)}{rng.randint(100000, 999999)}",
                "director_name": f"Dr. {rng.choice(FAMILY)} {rng.choice(GIVEN)}",
            })
    return out


def add_sme_version_2(session: Session, actor: Actor) -> bool:
    """Publish version 2.0 of the SME register where it has only 1.0; True when it was added."""
    if not _registry_exists(session, "sme"):
        return False
    if [v.version for v in service.get_registry(session, actor, name="sme").versions] != ["1.0"]:
        return False
    service.save_schema_draft(session, actor, name="sme", json_schema=SME_SCHEMA_2)
    service.publish_version(session, actor, name="sme")
    return True


def load_demo(session: Session) -> list[str]:
    """Create the SME and health-facility registries with their records where missing; returns lines to print."""
    actor = Actor.system("demo")
    rng = random.Random(2026)  # noqa: S311 - demo data, not secrets
    lines: list[str] = []
    plans = [("sme", SME_SCHEMA, {"en": "Small and medium enterprises", "km": "សហគ្រាសធុនតូចនិងមធ្យម",
                                  "ar": "المنشآت الصغيرة والمتوسطة", "de": "Kleine und mittlere Unternehmen"},
              "MEF", smes(rng, 60)),
             ("health-facilities", HEALTH_SCHEMA, {"en": "Health facilities", "km": "មូលដ្ឋានសុខាភិបាល",
                                                   "ar": "المرافق الصحية", "de": "Gesundheitseinrichtungen"},
              "MOH", health_facilities(rng))]
    for name, schema, title, owner, records in plans:
        if _registry_exists(session, name):
            continue
        service.create_registry(session, actor, data=RegistryCreate(
            name=name, title=LocalizedText(**title), owner_org_unit_code=_unit(session, actor, owner),
            json_schema=schema))
        service.publish_version(session, actor, name=name)
        service.create_records(session, actor, name=name, items=records, reason="demo country")
        lines.append(f"registry {name}: {len(records)} records")
    if add_sme_version_2(session, actor):
        lines.append("registry sme: version 2.0 (owners by their 12-digit national ID number)")
    if _unit(session, actor, "KH-GOV") and not any(r.code == "registry_analyst"
                                                   for r in accounts.list_roles(session, actor)):
        accounts.create_role(session, actor, data=accounts.RoleCreate(
            code="registry_analyst", name=accounts.LocalizedName(
                en="Registry analyst", km="អ្នកវិភាគបញ្ជី", ar="محلل السجلات", de="Registeranalyst"),
            permissions=[service.REGISTRIES_MANAGE, service.REGISTRIES_READ, service.REGISTRIES_WRITE]))
        for officer in accounts.list_officers(session, actor, search="admin").items:
            if officer.username == "admin":
                accounts.grant_role(session, actor, officer_id=officer.id, role_code="registry_analyst",
                                    org_unit_code="KH-GOV")
                lines.append("officer admin may now manage registries (role registry_analyst)")
    return lines
