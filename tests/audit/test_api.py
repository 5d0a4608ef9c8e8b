"""The audit API."""

from __future__ import annotations

from tests.conftest import SYSTEM, issue_key

from nokor import audit


def test_verify_reports_the_chain(client, db):
    key = issue_key(db, permissions=["audit.read"])
    audit.record_change(db, SYSTEM, action="x.update", subject_type="x", subject_id="1")
    db.commit()
    answer = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    assert answer.json()["ok"] is True and answer.json()["count"] == 2  # the client's creation + the change


def test_entries_filter_by_category(client, db):
    key = issue_key(db, permissions=["audit.read"])
    audit.record_access(db, SYSTEM, subject_type="resident", subject_id="R1", purpose="e-KYC check")
    db.commit()
    answer = client.get("/api/v1/audit/entries?category=access", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [i["subject_id"] for i in items] == ["R1"] and items[0]["reason"] == "e-KYC check"


def test_entries_need_the_permission(client, db):
    key = issue_key(db, permissions=[])
    db.commit()
    answer = client.get("/api/v1/audit/entries", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403


def test_api_calls_carry_the_request_id_into_the_trail(client, db):
    admin_key = issue_key(db, permissions=["accounts.manage", "audit.read"])
    db.commit()
    answer = client.post("/api/v1/clients", headers={"Authorization": f"Bearer {admin_key}",
                                                     "X-Request-ID": "trace-abc-123"},
                         json={"name": "Post", "identity": "KH/GOV/MPTC/parcels"})
    assert answer.status_code == 201 and answer.headers["x-request-id"] == "trace-abc-123"
    entries = client.get("/api/v1/audit/entries?subject_type=api_client",
                         headers={"Authorization": f"Bearer {admin_key}"}).json()["items"]
    assert entries[0]["request_id"] == "trace-abc-123"
