"""The payer's bill page and the officers' payment pages, as people use them in a browser."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM, csrf_from, make_officer, make_org_unit, make_role, sign_in
from tests.payments.factories import make_fee

from nokor import payments

HTML = {"accept": "text/html"}


def open_bill(db: Session, amount: str = "50000", org_unit: str | None = None) -> payments.BillRead:
    fee = make_fee(db, amount=amount, org_unit=org_unit)
    bill = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name="Chan Sophea"))
    db.commit()
    return bill


def pay(db: Session, bill: payments.BillRead, ref: str = "R1") -> None:
    body = json.dumps({"event_id": ref, "transaction_ref": ref, "status": "SUCCESS", "md5": bill.qr_md5,
                       "amount": payments.money_text(bill.amount_minor, bill.currency),
                       "currency": bill.currency}).encode()
    payments.receive_notification(db, provider="sandbox", body=body, secret="s",
                                  headers={"X-Provider-Signature": payments.sign_body("s", body)})
    db.commit()


def officer_with(db: Session, unit: str, permissions: list[str], username: str) -> None:
    role = make_role(db, permissions=permissions)
    make_officer(db, username=username, org_unit=unit, roles=[role.code])
    db.commit()


class TestPayerPage:
    def test_shows_amount_qr_image_and_polling_status_without_the_payers_name(self, client: TestClient,
                                                                            db: Session) -> None:
        bill = open_bill(db)
        page = client.get(f"/pay/{bill.number}", headers=HTML)
        assert page.status_code == 200
        assert "50,000" in page.text or "50.000" in page.text
        assert f'src="/api/v1/payments/bills/{bill.number}/qr.svg"' in page.text
        assert f'hx-get="/pay/{bill.number}/status"' in page.text and 'hx-trigger="every 3s"' in page.text
        assert f'href="/pay/{bill.number}"' in page.text  # the reload link when JavaScript is off
        assert "Chan Sophea" not in page.text
        assert "<script>" not in page.text and "style=" not in page.text

    def test_the_status_block_turns_to_paid_and_stops_polling(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        pay(db, bill)
        fragment = client.get(f"/pay/{bill.number}/status", headers=HTML)
        assert "Paid" in fragment.text and "hx-trigger" not in fragment.text
        page = client.get(f"/pay/{bill.number}", headers=HTML)
        assert "qr.svg" not in page.text

    def test_find_by_number_and_unknown_number(self, client: TestClient, db: Session) -> None:
        bill = open_bill(db)
        found = client.get(f"/pay?number={bill.number}", headers=HTML, follow_redirects=False)
        assert found.headers["location"] == f"/pay/{bill.number}"
        assert client.get("/pay/1234567890123", headers=HTML).status_code == 404

    @pytest.mark.parametrize("lang", ["km", "ar", "de"])
    def test_the_page_speaks_the_readers_language(self, client: TestClient, db: Session, lang: str) -> None:
        bill = open_bill(db)
        client.get(f"/language/{lang}")
        page = client.get(f"/pay/{bill.number}", headers=HTML)
        assert "Scan to pay with your bank app" not in page.text
        assert 'dir="rtl"' in page.text if lang == "ar" else True


class TestOfficerPages:
    def test_issue_a_bill_from_the_page(self, client: TestClient, db: Session) -> None:
        unit = make_org_unit(db, code="GDI").code
        make_fee(db, org_unit=unit, code="ID-CARD", amount="4000")
        officer_with(db, unit, ["payments.manage", "payments.read"], "cashier")
        sign_in(client, "cashier")
        page = client.get("/admin/payments", headers=HTML)
        answer = client.post("/admin/payments/bills", data={"fee_code": "ID-CARD", "payer_name": "Sok Dara",
                                                            "csrf_token": csrf_from(page.text)},
                             headers=HTML, follow_redirects=False)
        assert answer.status_code == 303
        detail = client.get(answer.headers["location"], headers=HTML)
        assert "Sok Dara" in detail.text and "4,000" in detail.text

    def test_a_large_refund_waits_for_a_second_officer(self, client: TestClient, db: Session) -> None:
        unit = make_org_unit(db, code="GDI").code
        bill = open_bill(db, amount="500000", org_unit=unit)
        pay(db, bill)
        officer_with(db, unit, ["payments.refund", "payments.read", "payments.approve_refund"], "clerk")
        officer_with(db, unit, ["payments.approve_refund", "payments.read"], "chief")
        sign_in(client, "clerk")
        detail = client.get(f"/admin/payments/bills/{bill.number}", headers=HTML)
        client.post(f"/admin/payments/bills/{bill.number}/refund",
                    data={"reason": "service not delivered", "csrf_token": csrf_from(detail.text)}, headers=HTML)
        refunds = client.get("/admin/payments/refunds", headers=HTML)
        refund_id = re.search(r"/admin/payments/refunds/([0-9a-f-]+)/approve", refunds.text)
        assert refund_id is not None
        own = client.post(f"/admin/payments/refunds/{refund_id.group(1)}/approve",
                          data={"csrf_token": csrf_from(refunds.text)}, headers=HTML)
        assert own.status_code == 403
        client.post("/logout", data={"csrf_token": csrf_from(refunds.text)}, headers=HTML)
        client.cookies.clear()
        sign_in(client, "chief")
        refunds = client.get("/admin/payments/refunds", headers=HTML)
        done = client.post(f"/admin/payments/refunds/{refund_id.group(1)}/approve",
                           data={"csrf_token": csrf_from(refunds.text)}, headers=HTML, follow_redirects=False)
        assert done.status_code == 303
        assert payments.bill_status(db, number=bill.number).status == "refunded"

    def test_ledger_and_reconciliation_pages(self, client: TestClient, db: Session) -> None:
        import io

        unit = make_org_unit(db, code="GDI").code
        bill = open_bill(db, org_unit=unit)
        pay(db, bill, ref="REF1")
        report = payments.reconcile_settlement(db, SYSTEM, provider="sandbox", filename="day.csv",
                                               lines=io.StringIO("transaction_ref,amount,currency\nREF2,1,KHR\n"))
        db.commit()
        officer_with(db, unit, ["payments.read"], "auditor2")
        sign_in(client, "auditor2")
        ledger = client.get("/admin/payments/ledger", headers=HTML)
        assert "clearing:sandbox" in ledger.text and "All 2 transactions balance" not in ledger.text
        assert "transactions balance" in ledger.text
        detail = client.get(f"/admin/payments/reconciliations/{report.id}", headers=HTML)
        assert "REF2" in detail.text and "REF1" in detail.text
        assert "day.csv" in client.get("/admin/payments/reconciliations", headers=HTML).text


def pay_short(db: Session, bill: payments.BillRead, ref: str = "SHORT1") -> None:
    body = json.dumps({"event_id": ref, "transaction_ref": ref, "status": "SUCCESS", "md5": bill.qr_md5,
                       "amount": payments.money_text(bill.amount_minor - 10_000, bill.currency),
                       "currency": bill.currency}).encode()
    held = payments.receive_notification(db, provider="sandbox", body=body, secret="s",
                                         headers={"X-Provider-Signature": payments.sign_body("s", body)})
    assert held.outcome == "held"
    db.commit()


class TestHeldPaymentsPage:
    def test_a_large_short_payment_is_accepted_by_two_officers(self, client: TestClient, db: Session) -> None:
        unit = make_org_unit(db, code="GDI").code
        bill = open_bill(db, amount="500000", org_unit=unit)
        pay_short(db, bill)
        officer_with(db, unit, ["payments.review", "payments.read"], "reviewer")
        officer_with(db, unit, ["payments.review", "payments.read"], "supervisor")
        sign_in(client, "reviewer")
        page = client.get("/admin/payments/held", headers=HTML)
        assert page.status_code == 200 and "The amount differs from the bill" in page.text
        assert bill.number in page.text and "Accept the payment" in page.text
        action = re.search(r'action="(/admin/payments/held/[0-9a-f-]+)"', page.text)
        assert action is not None
        missing = client.post(action.group(1), data={"decision": "accept", "reason": "",
                                                     "csrf_token": csrf_from(page.text)}, headers=HTML)
        assert missing.status_code == 422 and 'id="error-reason"' in missing.text
        proposed = client.post(action.group(1), data={"decision": "accept", "reason": "bank fee kept",
                                                      "csrf_token": csrf_from(page.text)}, headers=HTML,
                               follow_redirects=False)
        assert proposed.status_code == 303
        page = client.get("/admin/payments/held", headers=HTML)
        assert "Waiting for a second officer" in page.text and "bank fee kept" in page.text
        confirm = re.search(r'action="(/admin/payments/reviews/[0-9a-f-]+/confirm)"', page.text)
        assert confirm is not None
        own = client.post(confirm.group(1), data={"csrf_token": csrf_from(page.text)}, headers=HTML)
        assert own.status_code == 403
        client.post("/logout", data={"csrf_token": csrf_from(page.text)}, headers=HTML)
        client.cookies.clear()
        sign_in(client, "supervisor")
        page = client.get("/admin/payments/held", headers=HTML)
        done = client.post(confirm.group(1), data={"csrf_token": csrf_from(page.text)}, headers=HTML,
                           follow_redirects=False)
        assert done.status_code == 303
        assert "No payments are held." in client.get("/admin/payments/held", headers=HTML).text
        assert payments.bill_status(db, number=bill.number).status == "paid"

    def test_a_small_payment_is_returned_at_once(self, client: TestClient, db: Session) -> None:
        unit = make_org_unit(db, code="GDI").code
        bill = open_bill(db, amount="50000", org_unit=unit)
        pay_short(db, bill)
        officer_with(db, unit, ["payments.review", "payments.read"], "reviewer")
        sign_in(client, "reviewer")
        page = client.get("/admin/payments/held", headers=HTML)
        action = re.search(r'action="(/admin/payments/held/[0-9a-f-]+)"', page.text)
        assert action is not None
        done = client.post(action.group(1), data={"decision": "return", "reason": "payer asked",
                                                  "csrf_token": csrf_from(page.text)}, headers=HTML,
                           follow_redirects=False)
        assert done.status_code == 303
        ledger = client.get("/admin/payments/ledger", headers=HTML)
        assert "returns:sandbox" in ledger.text
        assert payments.bill_status(db, number=bill.number).status == "open"

    @pytest.mark.parametrize("lang", ["km", "ar", "de"])
    def test_the_review_page_speaks_the_readers_language(self, client: TestClient, db: Session, lang: str) -> None:
        unit = make_org_unit(db, code="GDI").code
        bill = open_bill(db, amount="50000", org_unit=unit)
        pay_short(db, bill)
        officer_with(db, unit, ["payments.review", "payments.read"], "reviewer")
        sign_in(client, "reviewer")
        client.get(f"/language/{lang}")
        page = client.get("/admin/payments/held", headers=HTML)
        for english in ("The amount differs from the bill", "Accept the payment", "Return it to the payer",
                        "Reason for your decision"):
            assert english not in page.text
