"""GovStack Payments, QA branch: the P2G transactions API (GSMA Mobile Money style) beside the released one."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM, issue_key
from tests.payments.factories import make_fee

from nokor import audit, payments
from nokor.payments.models import AuthorisationCode

QA = "/govstack/payments/qa"


def open_bill(db: Session, amount: str = "50000") -> payments.BillRead:
    fee = make_fee(db, code=f"FEE{amount}", amount=amount) if amount != "50000" else make_fee(db, amount=amount)
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
        assert body["transactionStatus"] == "completed" and body["amount"] == "50000"
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

    def test_the_error_text_is_in_the_callers_language(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        answer = client.post(f"{QA}/transactions/type/billpay", content=billpay("2026000000000"),
                             headers=headers(key, "de") | {"Accept-Language": "de"})
        assert answer.status_code == 404
        assert answer.json()["errordescription"] == "Es gibt keine Rechnung mit dieser Nummer."
        wrong = client.post(f"{QA}/transactions/type/gift", content=billpay("2026000000000"),
                            headers=headers(key, "km") | {"Accept-Language": "km"})
        assert wrong.json()["errordescription"].startswith("ថ្លៃសេវារដ្ឋាភិបាល")

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
        assert answer.json()["availableBalance"] == "50000" and answer.json()["currency"] == "KHR"
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


def paid_bill(client: TestClient, db: Session, amount: str = "50000") -> tuple[payments.BillRead, str]:
    """A bill paid through the QA API, and the payment's transaction reference."""
    bill = open_bill(db, amount)
    key = issue_key(db, permissions=["payments.notify"])
    db.commit()
    made = client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number, amount=amount,
                                                                          ref=f"W-{bill.number}"),
                       headers=headers(key, f"pay-{bill.number}"))
    assert made.status_code == 201 and made.json()["transactionStatus"] == "completed", made.text
    return bill, made.json()["transactionReference"]


def reversal(description: str = "paid twice by mistake", **extra: Any) -> str:
    return json.dumps({"type": "reversal", "descriptionText": description,
                       "requestingOrganisationTransactionReference": "REV-1"} | extra)


def ledger_check(client: TestClient, key: str) -> dict[str, Any]:
    check: dict[str, Any] = client.get("/api/v1/payments/ledger/check", headers=headers(key, "check")).json()
    return check


class TestReversals:
    def test_a_reversal_refunds_the_bill_and_balances_the_ledger(self, client: TestClient, db: Session) -> None:
        bill, reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.refund", "payments.read"])
        db.commit()
        made = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                           headers=headers(key, "rev-1"))
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["transactionStatus"] == "completed" and body["type"] == "reversal"
        assert body["originalTransactionReference"] == reference and body["amount"] == "50000"
        assert body["debitParty"] == [{"key": "billid", "value": bill.number}]
        assert body["requestingOrganisationTransactionReference"] == "REV-1" and made.headers["X-CorrelationID"]
        db.rollback()
        assert payments.bill_status(db, number=bill.number).status == "refunded"
        db.rollback()
        check = ledger_check(client, key)
        assert check["transactions"] == 2 and not check["unbalanced"]
        balance = client.get(f"{QA}/accounts/{bill.agency_code}/balance", headers=headers(key, "b"))
        assert balance.json()["availableBalance"] == "0"
        viewed = client.get(f"{QA}/transactions/{body['transactionReference']}", headers=headers(key, "v"))
        assert viewed.status_code == 200 and viewed.json()["type"] == "reversal"
        assert viewed.json()["originalTransactionReference"] == reference
        refund = payments.list_refunds(db, SYSTEM)[0]
        assert "paid twice by mistake" in refund.reason and reference in refund.reason
        changes = [e.action for e in audit.list_entries(db, SYSTEM, subject_id=str(bill.id)).items]
        assert "bill.refund" in changes

    def test_a_transaction_reversed_twice_is_refused(self, client: TestClient, db: Session) -> None:
        _bill, reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.refund", "payments.read"])
        db.commit()
        assert client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                           headers=headers(key, "r1")).status_code == 201
        again = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                            headers=headers(key, "r2"))
        assert again.status_code == 400, again.text
        error = again.json()
        assert error["errorCategory"] == "businessRule" and error["errorCode"] == "incorrectState"
        assert error["errordescription"] == "This transaction was already reversed."
        check = ledger_check(client, key)
        assert check["transactions"] == 2 and not check["unbalanced"]

    def test_a_part_of_a_payment_can_be_reversed(self, client: TestClient, db: Session) -> None:
        bill, reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.refund", "payments.read"])
        db.commit()
        made = client.post(f"{QA}/transactions/{reference}/reversals",
                           content=reversal(amount="20000", currency="KHR"), headers=headers(key, "part"))
        assert made.status_code == 201 and made.json()["amount"] == "20000", made.text
        balance = client.get(f"{QA}/accounts/{bill.agency_code}/balance", headers=headers(key, "b"))
        assert balance.json()["availableBalance"] == "30000"
        assert not ledger_check(client, key)["unbalanced"]

    def test_above_the_four_eyes_amount_it_waits_for_a_second_officer(self, client: TestClient,
                                                                       db: Session) -> None:
        bill, reference = paid_bill(client, db, amount="500000")
        key = issue_key(db, permissions=["payments.refund", "payments.read"])
        db.commit()
        made = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                           headers=headers(key, "big"))
        assert made.status_code == 202, made.text
        state = made.json()
        assert state["status"] == "pending" and state["notificationMethod"] == "polling"
        assert "second officer" in state["pendingReason"]
        db.rollback()
        assert payments.bill_status(db, number=bill.number).status == "paid"
        db.rollback()
        polled = client.get(f"{QA}/requeststates/{state['serverCorrelationId']}", headers=headers(key, "p1"))
        assert polled.status_code == 200 and polled.json()["status"] == "pending"
        again = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                            headers=headers(key, "big2"))
        assert again.status_code == 400 and again.json()["errorCode"] == "incorrectState"
        payments.approve_refund(db, SYSTEM, refund_id=payments.list_refunds(db, SYSTEM)[0].id)
        db.commit()
        done = client.get(f"{QA}/requeststates/{state['serverCorrelationId']}", headers=headers(key, "p2")).json()
        assert done["status"] == "completed" and done["objectReference"] == state["serverCorrelationId"]
        assert payments.bill_status(db, number=bill.number).status == "refunded"
        db.rollback()
        check = ledger_check(client, key)
        assert check["transactions"] == 2 and not check["unbalanced"]

    def test_a_reversal_turned_down_is_a_failed_request(self, client: TestClient, db: Session) -> None:
        bill, reference = paid_bill(client, db, amount="500000")
        key = issue_key(db, permissions=["payments.refund"])
        db.commit()
        state = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                            headers=headers(key, "big")).json()
        payments.reject_refund(db, SYSTEM, refund_id=payments.list_refunds(db, SYSTEM)[0].id, reason="not proven")
        db.commit()
        polled = client.get(f"{QA}/requeststates/{state['serverCorrelationId']}", headers=headers(key, "p")).json()
        assert polled["status"] == "failed" and polled["error"]["errorCode"] == "requestDeclined"
        assert payments.bill_status(db, number=bill.number).status == "paid"

    def test_only_a_completed_payment_can_be_reversed(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        notify = issue_key(db, permissions=["payments.notify"])
        key = issue_key(db, permissions=["payments.refund", "payments.read"])
        db.commit()
        short = client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number, amount="100"),
                            headers=headers(notify, "short")).json()
        assert short["transactionStatus"] == "pending"
        held = client.post(f"{QA}/transactions/{short['transactionReference']}/reversals", content=reversal(),
                           headers=headers(key, "h"))
        assert held.status_code == 400 and held.json()["errorCode"] == "incorrectState"
        assert held.json()["errordescription"] == "Only a completed payment can be reversed."
        for missing in ("00000000-0000-0000-0000-000000000000", "not-a-reference"):
            answer = client.post(f"{QA}/transactions/{missing}/reversals", content=reversal(),
                                 headers=headers(key, "m"))
            assert answer.status_code == 404 and answer.json()["errorCategory"] == "identification"
        assert ledger_check(client, key)["transactions"] == 0

    def test_bad_requests_get_the_specs_error_object(self, client: TestClient, db: Session) -> None:
        bill, reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.refund"])
        db.commit()
        cases = [("[]", "formatError"), (json.dumps({"amount": "1"}), "mandatoryValueNotSupplied"),
                 (json.dumps({"type": "transfer"}), "transactionTypeError"),
                 (reversal(amount="-5"), "formatError"), (reversal(amount="1e9"), "formatError"),
                 (reversal(amount="60000", currency="KHR"), "formatError"),
                 (reversal(currency="USD"), "formatError"), (reversal(description="nul \x00"), "formatError")]
        for content, code in cases:
            answer = client.post(f"{QA}/transactions/{reference}/reversals", content=content,
                                 headers=headers(key, "bad"))
            assert answer.status_code == 400 and answer.json()["errorCode"] == code, (content, answer.text)
        assert payments.bill_status(db, number=bill.number).status == "paid"

    def test_the_error_text_is_in_the_callers_language(self, client: TestClient, db: Session) -> None:
        _bill, reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.refund"])
        db.commit()
        client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(), headers=headers(key, "1"))
        texts = {lang: client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                                   headers=headers(key, "2") | {"Accept-Language": lang}).json()["errordescription"]
                 for lang in ("km", "en", "ar", "de")}
        assert len(set(texts.values())) == 4, texts

    def test_a_caller_without_the_refund_permission_is_refused(self, client: TestClient, db: Session) -> None:
        bill, reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.notify", "payments.read"])
        db.commit()
        answer = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                             headers=headers(key, "np"))
        assert answer.status_code == 403
        assert payments.bill_status(db, number=bill.number).status == "paid"

    def test_a_reversal_waiting_is_seen_only_by_its_requester_or_a_reader(self, client: TestClient,
                                                                           db: Session) -> None:
        _bill, reference = paid_bill(client, db, amount="500000")
        key = issue_key(db, permissions=["payments.refund"])
        other = issue_key(db, permissions=["payments.refund"])
        db.commit()
        state = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                            headers=headers(key, "big")).json()
        assert client.get(f"{QA}/requeststates/{state['serverCorrelationId']}",
                          headers=headers(other, "o")).status_code == 403
        assert client.get(f"{QA}/requeststates/not-an-id", headers=headers(key, "o")).status_code == 404


class TestAccountStatements:
    def test_balance_by_identifier_type_and_of_the_calling_client(self, client: TestClient, db: Session) -> None:
        bill, _reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.read"])
        own = issue_key(db, permissions=["payments.read"], org_unit=bill.agency_code)
        db.commit()
        for path in (f"accountid/{bill.agency_code}/balance", f"organisationid/{bill.agency_code}/balance",
                     f"accountid@{bill.agency_code}/balance"):
            answer = client.get(f"{QA}/accounts/{path}", headers=headers(key, "b"))
            assert answer.status_code == 200 and answer.json()["availableBalance"] == "50000", (path, answer.text)
        mine = client.get(f"{QA}/accounts/balance", headers=headers(own, "b"))
        assert mine.status_code == 200 and mine.json()["currentBalance"] == "50000"
        assert client.get(f"{QA}/accounts/balance", headers=headers(key, "b")).status_code == 404
        assert client.get(f"{QA}/accounts/msisdn/+85512345678/balance", headers=headers(key, "b")).status_code == 404
        unknown_type = client.get(f"{QA}/accounts/shoesize/42/balance", headers=headers(key, "b"))
        assert unknown_type.status_code == 400 and unknown_type.json()["errorCategory"] == "validation"

    def test_an_agency_that_has_collected_nothing_yet_has_a_zero_balance(self, client: TestClient,
                                                                          db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.read"])
        db.commit()
        answer = client.get(f"{QA}/accounts/{bill.agency_code}/balance", headers=headers(key, "b"))
        assert answer.status_code == 200 and answer.json()["availableBalance"] == "0"

    def test_transactions_come_from_the_ledger_newest_first_in_pages(self, client: TestClient,
                                                                     db: Session) -> None:
        bill, reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.refund", "payments.read"])
        db.commit()
        reversed_ = client.post(f"{QA}/transactions/{reference}/reversals", content=reversal(),
                                headers=headers(key, "r")).json()
        listed = client.get(f"{QA}/accounts/{bill.agency_code}/transactions", headers=headers(key, "t"))
        assert listed.status_code == 200, listed.text
        assert listed.headers["X-Records-Available-Count"] == "2" and listed.headers["X-Records-Returned-Count"] == "2"
        first, second = listed.json()
        assert (first["type"], first["transactionReference"]) == ("reversal", reversed_["transactionReference"])
        assert first["originalTransactionReference"] == reference
        assert (second["type"], second["transactionReference"]) == ("billpay", reference)
        assert second["creditParty"] == [{"key": "accountid", "value": f"agency:{bill.agency_code}"}]
        assert first["debitParty"] == second["creditParty"] and first["amount"] == second["amount"] == "50000"
        page = client.get(f"{QA}/accounts/accountid/{bill.agency_code}/transactions?offset=1&limit=1",
                          headers=headers(key, "t"))
        assert page.headers["X-Records-Available-Count"] == "2" and page.headers["X-Records-Returned-Count"] == "1"
        assert [t["transactionReference"] for t in page.json()] == [reference]
        only = client.get(f"{QA}/accounts/{bill.agency_code}/transactions?transactionType=reversal",
                          headers=headers(key, "t"))
        assert [t["type"] for t in only.json()] == ["reversal"]
        pending = client.get(f"{QA}/accounts/{bill.agency_code}/transactions?transactionStatus=pending",
                             headers=headers(key, "t"))
        assert pending.json() == [] and pending.headers["X-Records-Available-Count"] == "0"
        later = client.get(f"{QA}/accounts/{bill.agency_code}/transactions?fromDateTime=2999-01-01T00:00:00Z",
                           headers=headers(key, "t"))
        assert later.json() == []

    def test_bad_paging_and_filters_get_the_specs_error_object(self, client: TestClient, db: Session) -> None:
        bill, _reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.read"])
        db.commit()
        base = f"{QA}/accounts/{bill.agency_code}/transactions"
        for query, code in (("offset=-1", "invalidOffset"), ("offset=99999999999999999999", "invalidOffset"),
                            ("limit=0", "formatError"), ("limit=100000", "formatError"),
                            ("fromDateTime=yesterday", "formatError"),
                            ("transactionType=gift", "transactionTypeError")):
            answer = client.get(f"{base}?{query}", headers=headers(key, "q"))
            assert answer.status_code == 400 and answer.json()["errorCode"] == code, (query, answer.text)
        assert client.get(f"{QA}/accounts/NOBODY/transactions", headers=headers(key, "q")).status_code == 404

    def test_statements_need_the_read_permission(self, client: TestClient, db: Session) -> None:
        bill, _reference = paid_bill(client, db)
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        assert client.get(f"{QA}/accounts/{bill.agency_code}/transactions",
                          headers=headers(key, "q")).status_code == 403
        assert client.get(f"{QA}/accounts/accountid/{bill.agency_code}/balance",
                          headers=headers(key, "q")).status_code == 403


PAYER = "msisdn@+85512345678"


def new_code(client: TestClient, key: str, account: str = PAYER, correlation: str = "code-1",
             **fields: Any) -> Any:
    return client.post(f"{QA}/accounts/{account}/authorisationcodes",
                       content=json.dumps({"amount": "50000", "currency": "KHR"} | fields),
                       headers=headers(key, correlation))


def coded_billpay(bill_number: str, code: str, amount: str = "50000", msisdn: str = "+85512345678") -> str:
    return json.dumps({"amount": amount, "currency": "KHR", "oneTimeCode": code,
                       "debitParty": [{"key": "msisdn", "value": msisdn}],
                       "creditParty": [{"key": "billid", "value": bill_number}]})


class TestAuthorisationCodes:
    def test_a_code_pays_one_transaction_only(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        other = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code="PASSPORT", payer_name="Chan Dara"))
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        made = new_code(client, key, amountType="maximum", codeLifetime=300)
        assert made.status_code == 201, made.text
        code = made.json()
        assert code["codeState"] == "active" and code["amount"] == "50000" and code["codeLifetime"] == 300
        assert code["authorisationCode"].isdigit() and code["holdFundsIndicator"] is False
        paid = client.post(f"{QA}/transactions/type/billpay", content=coded_billpay(bill.number,
                                                                                    code["authorisationCode"]),
                           headers=headers(key, "coded-1"))
        assert paid.status_code == 201 and paid.json()["transactionStatus"] == "completed", paid.text
        again = client.post(f"{QA}/transactions/type/billpay", content=coded_billpay(other.number,
                                                                                     code["authorisationCode"]),
                            headers=headers(key, "coded-2"))
        assert again.status_code == 400 and again.json()["errorCode"] == "incorrectState", again.text
        assert payments.bill_status(db, number=other.number).status == "open"
        db.rollback()
        viewed = client.get(f"{QA}/accounts/msisdn/+85512345678/authorisationcodes/{code['authorisationCode']}",
                            headers=headers(key, "v")).json()
        assert viewed["codeState"] == "expired"
        assert {"key": "redemptionTransactionReference", "value": paid.json()["transactionReference"]} \
            in viewed["metadata"]
        repeat = client.post(f"{QA}/transactions/type/billpay", content=coded_billpay(bill.number,
                                                                                     code["authorisationCode"]),
                             headers=headers(key, "coded-1"))
        assert repeat.status_code == 400 and repeat.json()["errorCode"] == "duplicateRequest"

    def test_the_code_limits_amount_account_and_type(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        small = new_code(client, key, correlation="c1", amount="10000").json()["authorisationCode"]
        exact = new_code(client, key, correlation="c2", amount="60000", amountType="exact").json()
        typed = new_code(client, key, correlation="c3", redemptionTransactionTypes=[
            {"transactionType": "merchantpay"}]).json()["authorisationCode"]
        cases = [(coded_billpay(bill.number, small), "greaterThanTransactionMaxValue"),
                 (coded_billpay(bill.number, exact["authorisationCode"]), "underPaymentNotAllowed"),
                 (coded_billpay(bill.number, typed), "transactionTypeError"),
                 (coded_billpay(bill.number, typed, msisdn="+85599999999"), "incorrectState")]
        for content, code in cases:
            answer = client.post(f"{QA}/transactions/type/billpay", content=content, headers=headers(key, code))
            assert answer.status_code == 400 and answer.json()["errorCode"] == code, (code, answer.text)
        unknown = client.post(f"{QA}/transactions/type/billpay", content=coded_billpay(bill.number, "123"),
                              headers=headers(key, "u"))
        assert unknown.status_code == 404 and unknown.json()["errorCategory"] == "identification"
        assert payments.bill_status(db, number=bill.number).status == "open"

    def test_an_expired_code_pays_nothing(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        code = new_code(client, key).json()["authorisationCode"]
        codes = db.scalars(select(AuthorisationCode)).all()
        codes[0].expires_at = codes[0].created_at
        db.commit()
        answer = client.post(f"{QA}/transactions/type/billpay", content=coded_billpay(bill.number, code),
                             headers=headers(key, "late"))
        assert answer.status_code == 400 and answer.json()["errorCode"] == "incorrectState"
        listed = client.get(f"{QA}/accounts/{PAYER}/authorisationcodes?codeState=expired", headers=headers(key, "l"))
        assert [c["authorisationCode"] for c in listed.json()] == [code]
        assert client.get(f"{QA}/accounts/{PAYER}/authorisationcodes?codeState=active",
                          headers=headers(key, "l")).json() == []

    def test_codes_are_listed_in_pages_for_their_creator_only(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=["payments.notify"])
        other = issue_key(db, permissions=["payments.notify"])
        db.commit()
        made = [new_code(client, key, correlation=f"c{i}").json()["authorisationCode"] for i in range(3)]
        new_code(client, key, account="msisdn@+85511111111", correlation="elsewhere")
        listed = client.get(f"{QA}/accounts/msisdn/+85512345678/authorisationcodes?codeState=active&limit=2",
                            headers=headers(key, "l"))
        assert listed.status_code == 200, listed.text
        assert listed.headers["X-Records-Available-Count"] == "3" and listed.headers["X-Records-Returned-Count"] == "2"
        rest = client.get(f"{QA}/accounts/{PAYER}/authorisationcodes?codeState=active&offset=2",
                          headers=headers(key, "l")).json()
        assert sorted([c["authorisationCode"] for c in listed.json() + rest]) == sorted(made)
        assert client.get(f"{QA}/accounts/{PAYER}/authorisationcodes?codeState=active",
                          headers=headers(other, "o")).json() == []
        assert client.get(f"{QA}/accounts/{PAYER}/authorisationcodes/{made[0]}",
                          headers=headers(other, "o")).status_code == 404
        no_state = client.get(f"{QA}/accounts/{PAYER}/authorisationcodes", headers=headers(key, "l"))
        assert no_state.status_code == 400 and no_state.json()["errorCode"] == "mandatoryValueNotSupplied"

    def test_bad_requests_get_the_specs_error_object(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        for account, fields in (("+85512345678", {}), ("shoesize@42", {}), (PAYER, {"amount": "-1"}),
                                (PAYER, {"amount": "10", "currency": None}), (PAYER, {"codeLifetime": 0}),
                                (PAYER, {"codeLifetime": 10**9}), (PAYER, {"amountType": "some"}),
                                (PAYER, {"redemptionTransactionTypes": [{"transactionType": "gift"}]}),
                                (PAYER, {"currency": "XYZ"}), (PAYER, {"amount": "10.5", "currency": "KHR"}),
                                (PAYER, {"metadata": [{"key": "note", "value": "nul \x00"}]})):
            answer = new_code(client, key, account=account, **fields)
            assert answer.status_code == 400 and answer.json()["errorCategory"] == "validation", (fields, answer.text)
        for lifetime in ("Infinity", "NaN", "1.5", "true"):  # Python's JSON reader takes Infinity and NaN
            answer = client.post(f"{QA}/accounts/{PAYER}/authorisationcodes",
                                 content='{"codeLifetime": ' + lifetime + "}", headers=headers(key, "life"))
            assert answer.status_code == 400 and answer.json()["errorCode"] == "formatError", (lifetime, answer.text)
        assert db.scalars(select(AuthorisationCode)).all() == []

    def test_creating_a_code_needs_the_notify_permission_and_is_audited(self, client: TestClient,
                                                                         db: Session) -> None:
        reader = issue_key(db, permissions=["payments.read"])
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        assert new_code(client, reader).status_code == 403
        made = new_code(client, key)
        assert made.status_code == 201
        row = db.scalars(select(AuthorisationCode)).one()
        entries = audit.list_entries(db, SYSTEM, subject_id=str(row.id)).items
        assert [e.action for e in entries] == ["authorisation_code.create"]
        assert entries[0].after is not None and entries[0].after["account"] == PAYER


class TestResponses:
    def test_a_client_finds_what_its_request_created(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        key = issue_key(db, permissions=["payments.notify"])
        db.commit()
        correlation = "0b5f3c2e-7f45-4d8e-9a51-2f1d3c4b5a69"
        paid = client.post(f"{QA}/transactions/type/billpay", content=billpay(bill.number),
                           headers=headers(key, correlation)).json()
        found = client.get(f"{QA}/responses/{correlation}", headers=headers(key, "r"))
        assert found.status_code == 200
        assert found.json()["link"] == f"{QA}/transactions/{paid['transactionReference']}"
        assert client.get(found.json()["link"], headers=headers(key, "r")).status_code == 200
        coded = "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
        code = new_code(client, key, correlation=coded).json()["authorisationCode"]
        link = client.get(f"{QA}/responses/{coded}", headers=headers(key, "r")).json()["link"]
        assert link.endswith(f"/authorisationcodes/{code}")
        assert client.get(link, headers=headers(key, "r")).json()["authorisationCode"] == code
        missing = client.get(f"{QA}/responses/7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", headers=headers(key, "r"))
        assert missing.status_code == 404 and missing.json()["errorCategory"] == "identification"

    def test_a_client_without_payments_permissions_is_refused(self, client: TestClient, db: Session) -> None:
        key = issue_key(db, permissions=["payments.refund"])
        db.commit()
        answer = client.get(f"{QA}/responses/7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", headers=headers(key, "r"))
        assert answer.status_code == 403
        assert client.get(f"{QA}/responses/7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d").status_code == 401
        assert client.get(f"{QA}/accounts/{PAYER}/authorisationcodes?codeState=active",
                          headers=headers(key, "r")).status_code == 403
