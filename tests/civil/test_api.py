"""The civil register's JSON API."""

from __future__ import annotations

import uuid
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.civil.factories import VILLAGE, make_resident
from tests.conftest import issue_key

from nokor import civil
from nokor.civil.models import LifeEvent

ALL = ["civil.read", "civil.declare", "civil.validate", "civil.register", "civil.certify"]


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


class TestCheckNin:
    def test_valid_and_wrong_check_digit(self, client: TestClient) -> None:
        good = civil.generate_nin()
        assert client.get(f"/api/v1/civil/nin/{good}/check").json()["valid"] is True
        bad = good[:-1] + str((int(good[-1]) + 1) % 10)
        response = client.get(f"/api/v1/civil/nin/{bad}/check")
        assert response.status_code == 422
        assert "check digit" in response.json()["detail"]


class TestEvents:
    def test_birth_through_the_api(self, client: TestClient, db: Session) -> None:
        mother = make_resident(db)
        key = issue_key(db, permissions=ALL)
        db.commit()
        body = {"kind": "birth", "occurred_on": date.today().isoformat(), "place_code": VILLAGE,
                "child": {"given_name": "សុភា", "family_name": "ចាន់", "sex": "M", "mother_id": str(mother.id)}}
        created = client.post("/api/v1/civil/events", json=body, headers=auth(key))
        assert created.status_code == 201, created.text
        event_id = created.json()["id"]
        for step in ("declare", "validate", "register"):
            answer = client.post(f"/api/v1/civil/events/{event_id}/{step}", headers=auth(key))
            assert answer.status_code == 200, answer.text
        child_id = answer.json()["subject_id"]
        child = client.get(f"/api/v1/civil/residents/{child_id}", params={"purpose": "test"}, headers=auth(key))
        nin = child.json()["nin"]
        found = client.get(f"/api/v1/civil/residents/by-nin/{nin}", params={"purpose": "test"}, headers=auth(key))
        assert found.json()["id"] == child_id and found.json()["given_name_latin"] == "Sopha"

    def test_missing_permission_is_403_and_bad_event_is_422(self, client: TestClient, db: Session) -> None:
        reader = issue_key(db, permissions=["civil.read"])
        writer = issue_key(db, permissions=["civil.declare"])
        db.commit()
        body = {"kind": "birth", "occurred_on": "2999-01-01", "child": {"given_name": "A", "family_name": "B",
                                                                        "sex": "F"}}
        assert client.post("/api/v1/civil/events", json=body, headers=auth(reader)).status_code == 403
        refused = client.post("/api/v1/civil/events", json=body, headers=auth(writer))
        assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "future_date"

    def test_an_unknown_village_is_422_naming_the_field(self, client: TestClient, db: Session) -> None:
        writer = issue_key(db, permissions=["civil.declare"])
        db.commit()
        body = {"kind": "birth", "occurred_on": date.today().isoformat(), "place_code": "12999999",
                "child": {"given_name": "A", "family_name": "B", "sex": "F"}}
        refused = client.post("/api/v1/civil/events", json=body, headers=auth(writer))
        assert refused.status_code == 422
        assert refused.json()["errors"][0] | {"detail": ""} == {"pointer": "/place_code", "code": "unknown_place",
                                                                "detail": ""}
        assert "12999999" in refused.json()["errors"][0]["detail"]

    def test_a_partner_on_a_birth_is_422_not_a_foreign_key_error(self, client: TestClient, db: Session) -> None:
        writer = issue_key(db, permissions=["civil.declare"])
        db.commit()
        body = {"kind": "birth", "occurred_on": date.today().isoformat(), "partner_id": str(uuid.uuid4()),
                "child": {"given_name": "A", "family_name": "B", "sex": "F"}}
        refused = client.post("/api/v1/civil/events", json=body, headers=auth(writer))
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["pointer"] == "/partner_id"
        assert refused.json()["errors"][0]["code"] == "partner_not_allowed"
        assert db.scalar(select(func.count()).select_from(LifeEvent)) == 0

    def test_a_correction_with_a_bad_value_is_422_not_500(self, client: TestClient, db: Session) -> None:
        person = make_resident(db)
        key = issue_key(db, permissions=["civil.correct"])
        db.commit()
        body = {"changes": {"birth_date": "the fifth of May"}, "reason": "Typing error", "evidence": "Certificate"}
        answer = client.post(f"/api/v1/civil/residents/{person.id}/corrections", json=body, headers=auth(key))
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["pointer"] == "/changes/birth_date"


class TestSearchResidents:
    def test_a_birth_date_that_is_not_yyyy_mm_dd_is_422_not_1970(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=["civil.read"])
        db.commit()
        for typed in ("000", "0", "1990", "05/06/1990"):
            answer = client.get("/api/v1/civil/residents", params={"birth_date": typed, "purpose": "test"},
                                headers=auth(key))
            assert answer.status_code == 422, (typed, answer.text)
            assert answer.json()["errors"][0]["pointer"].endswith("birth_date")

    def test_an_iso_birth_date_finds_the_resident(self, client: TestClient, db: Session) -> None:
        resident = make_resident(db)
        key = issue_key(db, permissions=["civil.read"])
        db.commit()
        answer = client.get("/api/v1/civil/residents", headers=auth(key),
                            params={"birth_date": resident.birth_date.isoformat(), "purpose": "test"})
        assert answer.status_code == 200
        assert str(resident.id) in {row["id"] for row in answer.json()}


class TestDuplicates:
    def test_check_hold_and_decide_through_the_api(self, client: TestClient, db: Session) -> None:
        known = make_resident(db, given_name="محمد", family_name="علي", given_name_latin="Mohamed",
                              family_name_latin="Ali", sex="M", birth_date=date(1980, 5, 6))
        key = issue_key(db, permissions=ALL)
        db.commit()
        check = client.post("/api/v1/civil/duplicates/check", params={"purpose": "counter check"},
                            json={"given_name": "Mohammed", "family_name": "Aly", "birth_date": "1980-06-05"},
                            headers=auth(key))
        assert check.status_code == 200, check.text
        assert check.json()[0]["resident"]["nin"] == known.nin and check.json()[0]["score"] >= 0.8
        created = client.post("/api/v1/civil/residents", json={
            "given_name": "Muhammad", "family_name": "Ali", "sex": "M", "birth_date": "1980-05-06"},
            headers=auth(key))
        assert created.status_code == 201 and created.json()["status"] == "held"
        cases = client.get("/api/v1/civil/duplicates", params={"resident_id": created.json()["id"]},
                           headers=auth(key)).json()
        view = client.get(f"/api/v1/civil/duplicates/{cases[0]['id']}", params={"purpose": "review"},
                          headers=auth(key)).json()
        assert view["candidate"]["nin"] == known.nin and view["new"]["given_name"] == "Muhammad"
        bad = client.post(f"/api/v1/civil/duplicates/{cases[0]['id']}/decision", json={"duplicate": True},
                          headers=auth(key))
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/body/reason"
        done = client.post(f"/api/v1/civil/duplicates/{cases[0]['id']}/decision",
                           json={"duplicate": True, "reason": "Same passport number"}, headers=auth(key))
        assert done.status_code == 200 and done.json()["state"] == "duplicate"
        again = client.get(f"/api/v1/civil/residents/{created.json()['id']}", params={"purpose": "check"},
                           headers=auth(key))
        assert again.json()["status"] == "duplicate" and again.json()["nin"] is None


class TestDuplicateCheck:
    def test_a_birth_date_given_as_a_number_is_422(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=ALL)
        db.commit()
        body = {"given_name": "សុភា", "family_name": "ចាន់", "sex": "M", "birth_date": 0, "place_code": VILLAGE}
        answer = client.post("/api/v1/civil/duplicates/check", params={"purpose": "test"}, json=body,
                             headers=auth(key))
        assert answer.status_code == 422, answer.text
        assert any(e["pointer"].endswith("birth_date") for e in answer.json()["errors"])
