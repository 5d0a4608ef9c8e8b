"""The JSON API and GovStack Registration: catalogue, applications by an agency system, tasks,
statistics at /data/statistics and /data/statistics/1.0, 409 and 404 as problem+json."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.civil.factories import VILLAGE
from tests.conftest import issue_key
from tests.services.conftest import Country

from nokor import services

PDF = b"%PDF-1.4\n%%EOF\n"


def _key(db: Session, unit: str = "MOI-PNH") -> dict[str, str]:
    key = issue_key(db, permissions=["services.process", "services.counter"], org_unit=unit,
                    identity="KH/GOV/MPTC/post-office-counter")
    db.commit()
    return {"Authorization": key, "Information-Mediator-Client": "KH/GOV/MPTC/post-office-counter"}


def test_an_agency_system_applies_and_completes_the_task(client: TestClient, db: Session, country: Country) -> None:
    headers = _key(db)
    listed = client.get("/govstack/registration/services").json()
    address = next(s for s in listed if s["serviceBody"][0]["value"] == "change-of-address")
    forms = client.get(f"/govstack/registration/services/{address['id']}/eForms").json()
    assert forms[0]["latest"] is True
    form = client.get(f"/govstack/registration/eForms/{forms[0]['eFormId']}").json()
    assert "new_address_code" in form["schema"]["properties"]
    bad = client.post(f"/govstack/registration/services/{address['id']}/applications", headers=headers,
                      json={"applicantId": country.mother_nin, "formData": {"data": {"national_id": "1"}}})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert {e["pointer"] for e in bad.json()["errors"]} >= {"/data/national_id", "/data/moved_on"}
    made = client.post(f"/govstack/registration/services/{address['id']}/applications", headers=headers, json={
        "applicantId": country.mother_nin, "applicationName": "Sok Sreyneang", "formData": {"data": {
            "national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"}}})
    assert made.status_code == 200, made.text
    file_id = made.json()["fileId"]
    assert made.json()["status"]["code"] == "PENDING"
    tasks = client.get("/govstack/registration/tasks", headers=headers).json()
    assert [t["taskId"] for t in tasks] == [file_id]
    done = client.post(f"/govstack/registration/tasks/{file_id}/complete", headers=headers,
                       json={"data": {"decision": "APPROVED", "reason": "Checked at the post office."}})
    assert done.status_code == 200, done.text
    assert done.json()["status"]["code"] == "APPROVED"
    assert done.json()["variables"]["result"]["data"]["civil_event_state"] == "declared"
    again = client.post(f"/govstack/registration/tasks/{file_id}/complete", headers=headers,
                        json={"data": {"decision": "REJECTED", "reason": "x"}})
    assert again.status_code == 409
    for path in ("/data/statistics", "/data/statistics/1.0", "/govstack/registration/data/statistics"):
        stats = client.get(path, params={"registrationName": "change-of-address"},
                           headers={"Information-Mediator-Client": "eGovStack/GOV/90000009/eregistrations-dev"})
        assert stats.status_code == 200
        assert stats.json()[0]["approved"] == 1 and stats.json()[0]["processed"] == 1
    weekly = client.get("/data/statistics", params={"timeframe": "day", "startDate": "2026-01-01",
                                                    "endDate": "2026-01-03"}).json()
    assert [w["references"]["startDate"] for w in weekly] == ["2026-01-01", "2026-01-02", "2026-01-03"]


def test_documents_and_the_json_api(client: TestClient, db: Session, country: Country) -> None:
    headers = _key(db)
    started = client.post("/api/v1/services/birth-certificate-copy/applications", headers=headers, json={
        "applicant": {"national_id": country.mother_nin, "name": "Sok Sreyneang"},
        "data": {"national_id": country.child_nin, "relation": "child"}})
    assert started.status_code == 201, started.text
    number = started.json()["number"]
    assert started.json()["channel"] == "counter"
    refused = client.post(f"/api/v1/services/applications/{number}/submit", headers=headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/documents/id_card"
    wrong = client.post("/govstack/registration/documents", headers=headers,
                        data={"fileId": number, "documentType": "id_card"},
                        files={"file": ("id.png", PDF, "image/png")})
    assert wrong.status_code == 422
    stored = client.post("/govstack/registration/documents", headers=headers,
                         data={"fileId": number, "documentType": "id_card"},
                         files={"file": ("id.pdf", PDF, "application/pdf")})
    assert stored.status_code == 200 and stored.json()["type"] == "application/pdf"
    submitted = client.post(f"/api/v1/services/applications/{number}/submit", headers=headers).json()
    assert submitted["state"] == "submitted" and submitted["bill_number"]
    other = _key_of_other_unit(db)
    assert client.get(f"/api/v1/services/applications/{number}", headers=other).status_code == 404
    assert client.get("/api/v1/services", params={"q": "Geburtsurkunde"}).json()[0]["code"] == "birth-certificate-copy"


def _key_of_other_unit(db: Session) -> dict[str, str]:
    key = issue_key(db, permissions=["services.process"], org_unit="MEF", identity="KH/GOV/MEF/sme-desk")
    db.commit()
    return {"Authorization": key}


def test_statistics_refuse_a_backwards_period(client: TestClient, country: Country) -> None:
    answer = client.get("/data/statistics", params={"startDate": "2026-02-01", "endDate": "2026-01-01"})
    assert answer.status_code == 422


def test_service_list_json_is_public(client: TestClient, country: Country) -> None:
    assert {s["code"] for s in client.get("/api/v1/services").json()} == {
        "birth-certificate-copy", "sme-registration", "change-of-address"}
    assert services.QUEUE_VIEWS[0] == "unassigned"


def test_statistics_refuse_a_date_typed_as_a_number(client: TestClient, country: Country) -> None:
    # Pydantic would otherwise read startDate=0 as the Unix epoch and answer for 1970.
    for path in ("/data/statistics", "/govstack/registration/data/statistics/1.0"):
        answer = client.get(path, params={"startDate": "0"})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_tasks_refuse_an_offset_no_database_can_skip(client: TestClient, db: Session, country: Country) -> None:
    key = issue_key(db, permissions=["services.process"], org_unit="MEF", identity="KH/GOV/MEF/big-offset")
    db.commit()
    answer = client.get("/govstack/registration/tasks", params={"firstResult": str(10**26)},
                        headers={"Authorization": key})
    assert answer.status_code == 422, answer.text
