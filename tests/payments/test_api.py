"""The payments JSON API and the GovStack Payments endpoints, as agency and bank systems call them."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM, issue_key
from tests.payments.factories import make_fee

from nokor import payments
from nokor.kit.outbox import list_messages

GS = {"X-CorrelationID": "corr-1", "Platform-TenantId": "KH", "PayerFI-Id": "ABA"}
GS_X = {"X-CorrelationID": "corr-2", "X-Platform-TenantId": "KH", "X-PayerFI-Id": "ABA"}


def bill(db: Session) -> payments.BillRead:
    fee = make_fee(db, amount="50000")
    made = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name="Chan Sophea"))
    db.commit()
    return made


def auth(key: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **(extra or {})}


class TestBillsApi:
    def test_issue_then_read_a_bill(self, client: TestClient, db: Session) -> None:
        fee = make_fee(db, amount="12000")
        key = issue_key(db, permissions=["payments.manage", "payments.read"])
        db.commit()
        made = client.post("/api/v1/payments/bills", json={"fee_code": fee.code, "payer_name": "Sok"},
                           headers=auth(key))
        assert made.status_code == 201, made.text
        number = made.json()["number"]
        read = client.get(f"/api/v1/payments/bills/{number}", headers=auth(key))
        assert read.json()["payer_name"] == "Sok" and read.json()["status"] == "open"

    def test_without_a_key_the_bill_is_not_shown_but_its_status_and_qr_are(self, client: TestClient,
                                                                          db: Session) -> None:
        made = bill(db)
        assert client.get(f"/api/v1/payments/bills/{made.number}").status_code == 401
        assert client.get(f"/api/v1/payments/bills/{made.number}/status").json()["status"] == "open"
        svg = client.get(f"/api/v1/payments/bills/{made.number}/qr.svg")
        assert svg.headers["content-type"] == "image/svg+xml" and "<path" in svg.text and "style=" not in svg.text
        assert client.get(f"/api/v1/payments/bills/{made.number}/qr.png").content[:4] == b"\x89PNG"

    def test_an_unknown_fee_is_a_422_problem(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=["payments.manage"])
        db.commit()
        answer = client.post("/api/v1/payments/bills", json={"fee_code": "NOPE", "payer_name": "X"},
                             headers=auth(key))
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "unknown_fee"

    def test_ledger_check_over_http(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=["payments.read"])
        db.commit()
        assert client.get("/api/v1/payments/ledger/check", headers=auth(key)).json()["unbalanced"] == []


class TestGovStack:
    def test_bill_inquiry_with_either_header_spelling(self, client: TestClient, db: Session) -> None:
        made = bill(db)
        key = issue_key(db, permissions=["payments.read"])
        db.commit()
        for headers in (GS, GS_X):
            answer = client.get(f"/govstack/payments/bills/{made.number}?fields=inquiry",
                                headers=auth(key, headers))
            assert answer.status_code == 202, answer.text
            assert answer.json()["responseCode"] == "00"
            assert answer.json()["billDetails"]["amountonDueDate"] == made.amount_minor
            assert answer.headers["X-CorrelationID"] == headers["X-CorrelationID"]

    def test_bill_inquiry_needs_the_tenant_and_bank_headers(self, client: TestClient, db: Session) -> None:
        made = bill(db)
        key = issue_key(db, permissions=["payments.read"])
        db.commit()
        answer = client.get(f"/govstack/payments/bills/{made.number}", headers=auth(key, {"X-CorrelationID": "c"}))
        assert answer.status_code == 400 and answer.json()["responseCode"] == "01"

    def test_bill_payment_notification_pays_once(self, client: TestClient, db: Session) -> None:
        made = bill(db)
        key = issue_key(db, permissions=["payments.notify", "payments.read"])
        db.commit()
        body = {"requestId": "r1", "billInquiryRequestId": "q1", "billId": made.number, "paymentReferenceID": "P-9"}
        first = client.post("/govstack/payments/billTransferRequests", content=json.dumps(body),
                            headers=auth(key, GS_X))
        assert first.status_code == 202 and first.json()["status"] == "ACK"
        again = client.post("/govstack/payments/billTransferRequests", content=json.dumps(body),
                            headers=auth(key, GS_X))
        assert again.json()["status"] == "RJC" and again.json()["rejectReason"] == "Dup"
        assert client.get(f"/api/v1/payments/bills/{made.number}/status").json()["status"] == "paid"

    def test_a_bank_without_the_permission_cannot_notify(self, client: TestClient, db: Session) -> None:
        made = bill(db)
        key = issue_key(db, permissions=["payments.read"])
        db.commit()
        body = {"requestId": "r1", "billInquiryRequestId": "q1", "billId": made.number, "paymentReferenceID": "P-9"}
        answer = client.post("/govstack/payments/billTransferRequests", content=json.dumps(body),
                             headers=auth(key, GS_X))
        assert answer.status_code == 403

    def test_request_to_pay_goes_through_the_outbox_and_reports_status(self, client: TestClient,
                                                                       db: Session) -> None:
        made = bill(db)
        key = issue_key(db, permissions=["payments.manage", "payments.read", "payments.notify"])
        db.commit()
        headers = {"X-CorrelationID": "c3", "X-Platform-TenantId": "KH", "X-billerId": "GDI"}
        body = {"TxnID": "T1", "rTPID": 77, "billDetails": {"Bill ID": made.number, "Biller Name": "GDI",
                                                            "Amount": 50000}}
        sent = client.post("/govstack/payments/rtpRequest", json=body, headers=auth(key, headers))
        assert sent.status_code == 200 and sent.json()["responseCode"] == "00", sent.text
        status = client.get("/govstack/payments/transferRequests/77", headers=auth(key, headers))
        assert status.json()["rtpStatus"] == "PENDING"
        paid = {"requestId": "r1", "billInquiryRequestId": "q1", "billId": made.number, "paymentReferenceID": "P"}
        client.post("/govstack/payments/billTransferRequests", json=paid, headers=auth(key, GS_X))
        by_id = client.get(f"/govstack/payments/transferRequests/{sent.json()['transferRequestId']}",
                           headers=auth(key, headers))
        assert by_id.json()["rtpStatus"] == "PAID"
        db.rollback()
        sent_out = [m for m in list_messages(db, limit=200).items if m.destination.endswith("/v1/rtp")]
        assert [m.payload["billDetails"]["Bill ID"] for m in sent_out] == [made.number]

    def test_request_to_pay_with_a_wrong_amount_is_refused(self, client: TestClient, db: Session) -> None:
        made = bill(db)
        key = issue_key(db, permissions=["payments.manage"])
        db.commit()
        headers = {"X-CorrelationID": "c4", "X-Platform-TenantId": "KH", "X-billerId": "GDI"}
        body = {"TxnID": "T1", "rTPID": 78, "billDetails": {"Bill ID": made.number, "Amount": 1}}
        answer = client.post("/govstack/payments/rtpRequest", json=body, headers=auth(key, headers))
        assert answer.status_code == 400 and answer.json()["responseCode"] == "01"
