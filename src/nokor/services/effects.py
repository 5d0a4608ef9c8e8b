"""What an approval produces, per kind of service: a certified copy of a birth certificate from the civil
register, a business in the SME registry with its signed registration certificate, or a change-of-address
event handed to the civil registrars.

Effects run as the platform itself (the deciding officer need not hold civil or registry permissions:
the service's rules already allowed the decision) and return what the application keeps as its result.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF
from sqlalchemy.orm import Session

from nokor import civil, registries, trust
from nokor.kit.actor import Actor
from nokor.kit.blobs import BlobStore
from nokor.kit.errors import Conflict, NotFound
from nokor.kit.i18n import gettext as _
from nokor.kit.time import utcnow
from nokor.services.schemas import ApplicationRead, ServiceRead

FONT = Path(str(files("nokor.trust").joinpath("fonts", "NokorStampSans-Regular.ttf")))
SME_REGISTRY = "sme"
NIN_DIGITS = 12  # a national ID number (civil register); an old identity card has 9
PROVINCES: dict[str, tuple[str, str]] = {
    "01": ("បន្ទាយមានជ័យ", "Banteay Meanchey"), "02": ("បាត់ដំបង", "Battambang"), "03": ("កំពង់ចាម", "Kampong Cham"),
    "04": ("កំពង់ឆ្នាំង", "Kampong Chhnang"), "05": ("កំពង់ស្ពឺ", "Kampong Speu"), "06": ("កំពង់ធំ", "Kampong Thom"),
    "07": ("កំពត", "Kampot"), "08": ("កណ្ដាល", "Kandal"), "09": ("កោះកុង", "Koh Kong"), "10": ("ក្រចេះ", "Kratie"),
    "11": ("មណ្ឌលគិរី", "Mondulkiri"), "12": ("ភ្នំពេញ", "Phnom Penh"), "13": ("ព្រះវិហារ", "Preah Vihear"),
    "14": ("ព្រៃវែង", "Prey Veng"), "15": ("ពោធិ៍សាត់", "Pursat"), "16": ("រតនគិរី", "Ratanakiri"),
    "17": ("សៀមរាប", "Siem Reap"), "18": ("ព្រះសីហនុ", "Preah Sihanouk"), "19": ("ស្ទឹងត្រែង", "Stung Treng"),
    "20": ("ស្វាយរៀង", "Svay Rieng"), "21": ("តាកែវ", "Takeo"), "22": ("ឧត្ដរមានជ័យ", "Oddar Meanchey"),
    "23": ("កែប", "Kep"), "24": ("ប៉ៃលិន", "Pailin"), "25": ("ត្បូងឃ្មុំ", "Tboung Khmum"),
}
EffectRunner = Callable[[Session, ApplicationRead, ServiceRead], dict[str, Any]]


def _platform(application: ApplicationRead) -> Actor:
    return Actor.system(f"services:{application.number}")


def _resident(session: Session, actor: Actor, nin: str, field: str) -> civil.ResidentRead:
    try:
        return civil.find_resident_by_nin(session, actor, nin=nin, purpose="e-service result")
    except NotFound as exc:
        raise Conflict(_("No resident holds the national ID number given in “%(field)s”.", field=field)) from exc


def birth_certificate_copy(ring: trust.KeyRing, store: BlobStore) -> EffectRunner:
    """A new certified copy of the person's birth certificate (the first one is issued if there is none)."""

    def run(session: Session, application: ApplicationRead, service: ServiceRead) -> dict[str, Any]:
        actor = _platform(application)
        resident = _resident(session, actor, str(application.data.get("national_id", "")), "national_id")
        births = [e for e in civil.list_events(session, actor, subject_id=resident.id)
                  if e.kind == "birth" and e.state in ("registered", "certified")]
        if not births:
            raise Conflict(_("The civil register holds no registered birth of this person."))
        existing = civil.list_certificates(session, actor, event_id=births[0].id)
        issued = (civil.reissue_certificate(session, actor, ring=ring, serial=existing[0].serial) if existing
                  else civil.issue_certificate(session, actor, ring=ring, event_id=births[0].id))
        blob = store.put(issued.pdf)
        return {"pdf_blob": blob.key, "filename": f"{issued.certificate.serial}.pdf",
                "serial": issued.certificate.serial, "signature_record": str(issued.certificate.pdf_record_id)}

    return run


def _certificate_pdf(*, number: str, name: str, name_km: str, sector: str, province: tuple[str, str],
                     owner: str, registered_on: date, verify_hint: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Business registration certificate {number}")
    pdf.set_author("Kingdom of Cambodia")
    pdf.add_font("nokor", fname=str(FONT))
    pdf.set_text_shaping(True)
    pdf.add_page()
    pdf.set_font("nokor", size=12)
    pdf.cell(0, 8, "ព្រះរាជាណាចក្រកម្ពុជា", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, "ជាតិ សាសនា ព្រះមហាក្សត្រ", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, "Kingdom of Cambodia · Nation Religion King", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("nokor", size=18)
    pdf.cell(0, 11, "វិញ្ញាបនបត្រចុះបញ្ជីសហគ្រាសធុនតូចនិងមធ្យម", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("nokor", size=15)
    pdf.cell(0, 9, "Certificate of Registration of a Small or Medium Enterprise", align="C",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    top = pdf.get_y()
    qr = io.BytesIO()
    segno.make(verify_hint, error="m").save(qr, kind="png", scale=4, border=2)
    qr.seek(0)
    pdf.image(qr, x=pdf.w - pdf.r_margin - 45, y=top, w=45)
    pdf.set_xy(pdf.l_margin, top)
    lines = [("លេខចុះបញ្ជី / Registration number", number), ("ឈ្មោះ / Name", name),
             ("ឈ្មោះជាភាសាខ្មែរ / Name in Khmer", name_km or "—"), ("វិស័យ / Sector", sector),
             ("ខេត្ត / Province", f"{province[0]} / {province[1]}"), ("ម្ចាស់ / Owner", owner),
             ("ថ្ងៃចុះបញ្ជី / Registered on", registered_on.isoformat())]
    for label, value in lines:
        pdf.set_font("nokor", size=9)
        pdf.cell(125, 6, label, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("nokor", size=13)
        pdf.multi_cell(125, 7, value, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    pdf.ln(4)
    pdf.set_font("nokor", size=10)
    pdf.multi_cell(125, 6, "ឯកសារនេះមានហត្ថលេខាឌីជីថល។ This document is digitally sealed; its record is in the "
                           "SME register.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def sme_registration(ring: trust.KeyRing, store: BlobStore) -> EffectRunner:
    """A new record in the SME registry and a sealed registration certificate naming its number."""

    def run(session: Session, application: ApplicationRead, service: ServiceRead) -> dict[str, Any]:
        actor = _platform(application)
        data = application.data
        owner_id = str(data["owner_national_id"])
        if len(owner_id) == NIN_DIGITS:  # a national ID number must be a resident's; an old card cannot be checked
            _resident(session, actor, owner_id, "owner_national_id")
        code = str(data.get("province_code", ""))
        province = PROVINCES.get(code, ("", code))
        for _attempt in range(20):
            number = f"{secrets.randbelow(10**8):08d}"
            if not registries.record_exists(session, actor, name=SME_REGISTRY,
                                            query={"registration_number": number}):
                break
        today = utcnow().date()
        record: dict[str, Any] = {"registration_number": number, "name": str(data["business_name"]),
                  "sector": str(data["sector"]), "province": province[1], "province_code": code,
                  "employees": int(data.get("employees") or 0), "women_owned": bool(data.get("women_owned")),
                  "registered_on": today.isoformat(), "owner_name": application.applicant_name,
                  "owner_national_id": owner_id}
        if data.get("business_name_km"):
            record["name_km"] = str(data["business_name_km"])
        created = registries.create_record(session, actor, name=SME_REGISTRY, data=record,
                                           reason=f"e-service application {application.number}")
        pdf = _certificate_pdf(number=number, name=str(record["name"]), name_km=str(data.get("business_name_km") or ""),
                               sector=str(record["sector"]), province=province, owner=application.applicant_name,
                               registered_on=today,
                               verify_hint=f"{ring.publication.base_url.rstrip('/')}/registries/{SME_REGISTRY}")
        sealed = trust.sign_pdf(session, actor, ring=ring, data=pdf, document_name=f"SME-{number}.pdf",
                                reason=f"SME registration {number}", language="km")
        blob = store.put(sealed.pdf)
        return {"pdf_blob": blob.key, "filename": f"SME-{number}.pdf", "registration_number": number,
                "registry_record": str(created.id), "signature_record": str(sealed.record.id)}

    return run


def change_of_address(ring: trust.KeyRing, store: BlobStore) -> EffectRunner:
    """A change-of-address event declared in the civil register, for a registrar to validate and register."""

    def run(session: Session, application: ApplicationRead, service: ServiceRead) -> dict[str, Any]:
        actor = _platform(application)
        data = application.data
        resident = _resident(session, actor, str(data.get("national_id", "")), "national_id")
        event = civil.create_event(session, actor, data=civil.EventCreate(
            kind="change_of_address", subject_id=resident.id, occurred_on=date.fromisoformat(str(data["moved_on"])),
            new_address_code=str(data["new_address_code"]),
            new_address_text=str(data.get("new_address_text") or "") or None))
        declared = civil.declare_event(session, actor, event_id=event.id)
        return {"civil_event": str(declared.id), "civil_event_state": declared.state}

    return run


def make_effects(ring: trust.KeyRing, store: BlobStore) -> dict[str, EffectRunner]:
    """Every effect a service may name, bound to the key ring that seals and the store that keeps results."""
    return {"birth_certificate_copy": birth_certificate_copy(ring, store),
            "sme_registration": sme_registration(ring, store),
            "change_of_address": change_of_address(ring, store)}
