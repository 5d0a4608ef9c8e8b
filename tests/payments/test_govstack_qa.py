"""GovStack Payments, QA branch: the P2G transactions API (GSMA Mobile Money style) beside the released one."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM, issue_key
from tests.payments.factories import make_fee

from nokor import payments

QA = "/govstack/payments/qa"


def open_bill(db: Session) -> payments.BillRead:
    fee = make_fee(db, amount="50000")
    bill = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name="Sok Dara"))
    db.commit()
    return bill


def headers(key: str, correlation: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-CorrelationID": correlation, "Content-Type": "application/json"}


def billpay(bill_number: str, amount: str = "50000", ref: str = "WALLET-1") -> str:
    return json.dumps({"amount": amount, "currency": "KHR", "requestingOrganisationTransactionReference": ref,
                       "debitParty": [{"key": "msisdn", "value": "+85512345678"}],
                       "creditParty": [{"key": "billid", "value": bill_number}]})


class TestTransactions:
    def test_a_billpay_pays_the_bill_once_and_can_be_viewed(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify", "payments.read"])
        db.commit()
        made = client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number),
                           headers=headers(key, "corr-1"))
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["transactionStatus"] == "completed" and body["amount"] == "50000.00"
        assert body["creditParty"] == [{"key": "billid", "value": bill.number}] and made.headers["X-Date"]
        assert payments.bill_status(db, number=bill.number).status == "paid"
        db.rollback()
        again = client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number),
                            headers=headers(key, "corr-1"))
        assert again.status_code == 400 and again.json()["errorCode"] == "duplicateRequest"
        viewed = client.get(f"{QA}/transactions/{body['transactionReference']}", headers=headers(key, "corr-2"))
        assert viewed.status_code == 200 and viewed.json()["transactionStatus"] == "completed"
        assert viewed.json()["requestingOrganisationTransactionReference"] == "WALLET-1"
        check = client.get("/api/v1/payments/ledger/check", headers=headers(key, "c")).json()
        assert check["transactions"] == 1 and not check["unbalanced"]

    def test_a_short_payment_is_pending_for_review_not_taken(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        made = client.post(f"{QA}/transactions/type/merchantpay", content=billpay(bill.number, amount="49900"),
                           headers=headers(key, "corr-short"))
        assert made.status_code == 201 and made.json()["transactionStatus"] == "pending"
        assert payments.bill_status(db, number=bill.number).status == "open"
        assert [h.notification.amount_minor for h in payments.list_held_payments(db, SYSTEM)] == [4_990_000]

    def test_bad_requests_get_the_specs_error_object(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        wrong_type = client.post(f"{QA}/transactions/type/disbursement", content=billpay(bill.number),
                                 headers=headers(key, "c1"))
        assert wrong_type.status_code == 400 and wrong_type.json()["errorCode"] == "transactionTypeError"
        no_bill = client.post(f"{QA}/transactions/type/billpay", content=json.dumps({"amount": "1", "currency": "KHR"}),
                              headers=headers(key, "c2"))
        assert no_bill.status_code == 400 and no_bill.json()["errorCode"] == "mandatoryValueNotSupplied"
        unknown = client.post(f"{QA}/transactions/type/billpay", content=billpay("2026000000000"),
                              headers=headers(key, "c3"))
        assert unknown.status_code == 404 and unknown.json()["errorCategory"] == "identification"
        assert client.get(f"{QA}/transactions/not-a-reference", headers=headers(key, "c4")).status_code == 404

    def test_a_caller_without_the_permission_is_refused(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.read"])
        db.commit()
        answer = client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number),
                             headers=headers(key, "c5"))
        assert answer.status_code == 403
        assert payments.bill_status(db, number=bill.number).status == "open"


class TestAccountsAndHeartbeat:
    def test_the_agency_account_balance_comes_from_the_ledger(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify", "payments.read"])
        db.commit()
        client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number), headers=headers(key, "b1"))
        answer = client.get(f"{QA}/accounts/{bill.agency_code}/balance", headers=headers(key, "b2"))
        assert answer.status_code == 200
        assert answer.json()["availableBalance"] == "50000.00" and answer.json()["currency"] == "KHR"
        assert client.get(f"{QA}/accounts/NOBODY/balance", headers=headers(key, "b3")).status_code == 404

    def test_heartbeat(self, client: TestClient) -> None:
        answer = client.get(f"{QA}/heartbeat")
        assert answer.status_code == 200 and answer.json() == {"serviceStatus": "available"}


class TestAmounts:
    def test_a_zero_or_negative_amount_is_refused(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        for amount in ("0", "-50000", "lots"):
            answer = client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number, amount=amount),
                                 headers=headers(key, f"neg{amount}"))
            assert answer.status_code == 400 and answer.json()["errorCategory"] == "validation", answer.text
        assert payments.bill_status(db, number=bill.number).status == "open"
