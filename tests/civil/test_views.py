"""Officers' pages of the civil register."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.civil.factories import VILLAGE, make_resident
from tests.conftest import csrf_from, make_officer, make_role, sign_in

HTML = {"accept": "text/html"}
REGISTRAR = ["civil.read", "civil.declare", "civil.validate", "civil.register"]


class TestOfficerPages:
    def test_declare_validate_register_and_find_a_birth(self, client: TestClient, db: Session) -> None:
        mother = make_resident(db)
        role = make_role(db, permissions=REGISTRAR)
        officer = make_officer(db, roles=[role.code])
        db.commit()
        sign_in(client, officer.username)
        form = client.get("/civil/births/new", headers=HTML)
        assert form.status_code == 200
        token = csrf_from(form.text)
        data = {"csrf_token": token, "given_name": "សុភា", "family_name": "ចាន់", "sex": "M",
                "occurred_on": date.today().isoformat(), "place_code": VILLAGE, "mother_nin": mother.nin or ""}
        posted = client.post("/civil/births/new", data=data, headers=HTML, follow_redirects=False)
        assert posted.status_code == 303, posted.text
        event_url = posted.headers["location"]
        for step in ("validate", "register"):
            page = client.get(event_url, headers=HTML)
            assert f"{event_url}/{step}" in page.text
            client.post(f"{event_url}/{step}", data={"csrf_token": token}, headers=HTML)
        page = client.get(event_url, headers=HTML)
        assert "Registered" in page.text
        found = client.get("/civil/search", params={"name": "Sopha"}, headers=HTML)
        assert "សុភា" in found.text and 'class="table-scroll"' in found.text
        assert 'href="/civil"' in client.get("/", headers=HTML).text

    def test_bad_declaration_shows_the_rule(self, client: TestClient, db: Session) -> None:
        role = make_role(db, permissions=REGISTRAR)
        officer = make_officer(db, roles=[role.code])
        db.commit()
        sign_in(client, officer.username)
        token = csrf_from(client.get("/civil/births/new", headers=HTML).text)
        data = {"csrf_token": token, "given_name": "A", "family_name": "B", "sex": "F", "occurred_on": "2999-01-01"}
        answer = client.post("/civil/births/new", data=data, headers=HTML)
        assert answer.status_code == 422 and "future" in answer.text

    def test_without_permission_no_link_and_403(self, client: TestClient, db: Session) -> None:
        officer = make_officer(db)
        db.commit()
        sign_in(client, officer.username)
        assert 'href="/civil"' not in client.get("/", headers=HTML).text
        assert client.get("/civil", headers=HTML).status_code == 403
