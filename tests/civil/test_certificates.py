"""Certificates: bilingual PDFs sealed through the trust services, a signed QR payload, a register of serials."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.civil.factories import SYSTEM, VILLAGE, birth, make_resident, registered
from tests.conftest import csrf_from, issue_key, make_officer, make_role, sign_in

from nokor import civil, trust
from nokor.config import Settings
from nokor.kit.errors import Conflict

HTML = {"accept": "text/html"}


@pytest.fixture
def ring(settings: Settings, db: Session) -> trust.KeyRing:
    keys = trust.key_ring(settings)
    trust.init_hierarchy(db, SYSTEM, ring=keys)
    db.commit()
    return keys


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout
    return " ".join(text.split())


def test_a_birth_certificate_is_sealed_bilingual_and_its_qr_payload_verifies(
        db: Session, ring: trust.KeyRing, tmp_path: Path) -> None:
    mother = make_resident(db)
    event = registered(db, birth(mother, given_name="ដារា", family_name="ចាន់", given_name_latin="Dara",
                                family_name_latin="Chan"))
    issued = civil.issue_certificate(db, SYSTEM, ring=ring, event_id=event.id)
    report = trust.verify_pdf(db, data=issued.pdf)
    assert report.holds, report.summary
    text = pdf_text(issued.pdf, tmp_path)
    assert "ដារា ចាន់" in text and "Birth Certificate" in text and issued.certificate.serial in text
    assert "Phnom Penh" in text and "Dara Chan" in text
    link, jws = issued.qr.split("#", 1)
    assert link.endswith(f"/trust/verify/{issued.certificate.qr_record_id}") and jws == issued.payload_jws
    checked = trust.verify_jws(db, token=jws)
    assert checked.holds
    payload = json.loads(checked.payload or "{}")
    assert payload["s"] == issued.certificate.serial and payload["k"] == "birth" and payload["n"] == "Dara Chan"
    assert civil.get_event(db, SYSTEM, event_id=event.id).state == "certified"


def test_each_copy_has_its_own_serial_in_the_register(db: Session, ring: trust.KeyRing, tmp_path: Path) -> None:
    event = registered(db, birth(make_resident(db)))
    first = civil.issue_certificate(db, SYSTEM, ring=ring, event_id=event.id).certificate
    copy = civil.reissue_certificate(db, SYSTEM, ring=ring, serial=first.serial)
    again = civil.reissue_certificate(db, SYSTEM, ring=ring, serial=copy.certificate.serial)
    register = civil.list_certificates(db, SYSTEM, event_id=event.id)
    assert [(c.copy_of, c.copy_number) for c in register] == [(None, 0), (first.serial, 1), (first.serial, 2)]
    assert len({c.serial for c in register}) == 3
    assert f"copy 2 of {first.serial}" in pdf_text(again.pdf, tmp_path)


def test_no_certificate_before_registration_nor_for_a_change_of_address(db: Session, ring: trust.KeyRing) -> None:
    mother = make_resident(db)
    draft = civil.create_event(db, SYSTEM, data=birth(mother))
    with pytest.raises(Conflict):
        civil.issue_certificate(db, SYSTEM, ring=ring, event_id=draft.id)


def test_an_officer_issues_and_reissues_from_the_event_page(client: TestClient, db: Session,
                                                            ring: trust.KeyRing) -> None:
    event = registered(db, birth(make_resident(db)))
    role = make_role(db, permissions=["civil.read", "civil.certify", "trust.sign"])
    officer = make_officer(db, roles=[role.code])
    db.commit()
    sign_in(client, officer.username)
    page = client.get(f"/civil/events/{event.id}", headers=HTML)
    assert f"/civil/events/{event.id}/certificate" in page.text
    token = csrf_from(page.text)
    first = client.post(f"/civil/events/{event.id}/certificate", data={"csrf_token": token}, headers=HTML)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert trust.verify_pdf(db, data=first.content).holds
    serial = civil.list_certificates(db, SYSTEM, event_id=event.id)[0].serial
    db.rollback()
    page = client.get(f"/civil/events/{event.id}", headers=HTML)
    assert serial in page.text and 'class="table-scroll"' in page.text
    # The register is shown once, in the page, and the browser tab says only what the page is.
    assert page.text.count("<table") == 1
    title = page.text.split("<title>")[1].split("</title>")[0]
    assert "<" not in title and serial not in title
    copy = client.post(f"/civil/events/{event.id}/certificates/{serial}/copy", data={"csrf_token": token},
                       headers=HTML)
    assert copy.status_code == 200 and copy.content.startswith(b"%PDF-")
    assert f"Copy 1 of {serial}" in client.get(f"/civil/events/{event.id}", headers=HTML).text


def test_the_api_answers_the_pdf_and_403_without_permission(client: TestClient, db: Session,
                                                            ring: trust.KeyRing) -> None:
    event = registered(db, birth(make_resident(db)))
    writer = issue_key(db, permissions=["civil.read", "civil.certify", "trust.sign"])
    reader = issue_key(db, permissions=["civil.read"])
    db.commit()
    url, body = "/api/v1/civil/certificates", {"event_id": str(event.id)}
    refused = client.post(url, json=body, headers={"authorization": f"Bearer {reader}"})
    assert refused.status_code == 403, refused.text
    answer = client.post(url, json=body, headers={"authorization": f"Bearer {writer}"})
    assert answer.status_code == 200, answer.text
    serial = answer.headers["x-certificate-serial"]
    listed = client.get(f"/api/v1/civil/events/{event.id}/certificates",
                        headers={"authorization": f"Bearer {reader}"}).json()
    assert [c["serial"] for c in listed] == [serial]


def test_a_death_certificate(db: Session, ring: trust.KeyRing, tmp_path: Path) -> None:
    person = make_resident(db)
    event = registered(db, civil.EventCreate(kind="death", occurred_on=date.today(), subject_id=person.id,
                                             place_code=VILLAGE))
    issued = civil.issue_certificate(db, SYSTEM, ring=ring, event_id=event.id)
    text = pdf_text(issued.pdf, tmp_path)
    assert "Death Certificate" in text and "1990-05-17" in text and trust.verify_pdf(db, data=issued.pdf).holds


def test_a_qr_payload_too_long_keeps_the_verification_link() -> None:
    from nokor.civil.certificate_pdf import Line, certificate_pdf

    data = certificate_pdf(kind="marriage", lines=[Line("ឈ្មោះ", "Name", "A B")], serial="MC-2026-000000000",
                           qr_content="https://nokor.example/trust/verify/x#" + "a" * 5000, note_en="", note_km="")
    assert data.startswith(b"%PDF-")
