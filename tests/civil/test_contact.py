"""Residents' contact details: where one-time sign-in codes and notices go."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.civil.factories import SYSTEM, make_resident
from tests.conftest import csrf_from, issue_key, make_officer, make_role, sign_in

from nokor import civil
from nokor.kit.errors import ValidationFailed

HTML = {"accept": "text/html"}


class TestUpdateContact:
    def test_contact_details_are_kept_with_their_history(self, db: Session) -> None:
        resident = make_resident(db, phone="+85512345678")
        assert resident.phone == "+85512345678" and resident.email is None
        changed = civil.update_contact(db, SYSTEM, resident_id=resident.id, reason="asked at the counter",
                                       data=civil.ContactDetails(phone="+85598765432", email="Dara@Example.org"))
        assert (changed.phone, changed.email) == ("+85598765432", "dara@example.org")
        latest = civil.resident_history(db, SYSTEM, resident_id=resident.id, purpose="test")[0]
        assert latest.action == "contact.update" and latest.reason == "asked at the counter"
        assert latest.before and latest.before["phone"] == "+85512345678"
        assert latest.after["phone"] == "+85598765432"

    def test_a_reason_is_needed(self, db: Session) -> None:
        resident = make_resident(db)
        with pytest.raises(ValidationFailed):
            civil.update_contact(db, SYSTEM, resident_id=resident.id, reason=" ",
                                 data=civil.ContactDetails(phone="+85512345678"))


class TestContactApi:
    def test_bad_number_is_422_with_a_pointer_and_good_one_is_saved(self, client: TestClient, db: Session) -> None:
        resident = make_resident(db)
        key = issue_key(db, permissions=["civil.register"])
        db.commit()
        url, auth = f"/api/v1/civil/residents/{resident.id}/contact", {"authorization": f"Bearer {key}"}
        bad = client.put(url, json={"phone": "012 345 678", "reason": "counter"}, headers=auth)
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert any(e["pointer"] == "/body/phone" for e in bad.json()["errors"])
        good = client.put(url, json={"phone": "+85512345678", "email": "a@b.kh", "reason": "counter"}, headers=auth)
        assert good.status_code == 200, good.text
        assert good.json()["phone"] == "+85512345678"
        reader = issue_key(db, permissions=["civil.read"])
        db.commit()
        assert client.put(url, json={"phone": None, "reason": "counter"},
                          headers={"authorization": f"Bearer {reader}"}).status_code == 403


class TestContactPage:
    def test_officer_changes_contact_details_and_sees_errors_beside_fields(self, client: TestClient,
                                                                           db: Session) -> None:
        resident = make_resident(db)
        officer = make_officer(db, roles=[make_role(db, permissions=["civil.read", "civil.register"]).code])
        db.commit()
        sign_in(client, officer.username)
        record = client.get(f"/civil/residents/{resident.id}", headers=HTML)
        assert f"/civil/residents/{resident.id}/contact" in record.text
        form = client.get(f"/civil/residents/{resident.id}/contact", headers=HTML)
        token = csrf_from(form.text)
        bad = client.post(f"/civil/residents/{resident.id}/contact", headers=HTML,
                          data={"csrf_token": token, "phone": "12345", "email": "", "reason": "counter"})
        assert bad.status_code == 422
        assert "international form" in bad.text
        ok = client.post(f"/civil/residents/{resident.id}/contact", headers=HTML, follow_redirects=False,
                         data={"csrf_token": token, "phone": "+855 12 345 678", "email": "dara@example.org",
                               "reason": "counter"})
        assert ok.status_code == 303
        page = client.get(f"/civil/residents/{resident.id}", headers=HTML)
        assert "+85512345678" in page.text and "dara@example.org" in page.text
