"""Bills, provider notifications, the ledger and refunds, through the public services."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM, make_officer, make_org_unit, make_role
from tests.payments.factories import make_fee

from nokor import accounts, payments
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from nokor.kit.ids import damm_valid

SECRET = "test-webhook-secret"
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def make_bill(session: Session, **fee: str) -> payments.BillRead:
    made = make_fee(session, **fee)
    return payments.issue_bill(session, SYSTEM, data=payments.BillCreate(
        fee_code=made.code, payer_name="Sok Dara", subject_type="application", subject_id="A-1"), now=NOW)


def notify(session: Session, bill: payments.BillRead, *, event: str | None = None, ref: str = "SBX-1",
           amount: str | None = None, status: str = "SUCCESS", secret: str = SECRET,
           paid_at: datetime = NOW) -> payments.PaymentOutcome:
    body = json.dumps({"event_id": event or uuid.uuid4().hex, "transaction_ref": ref, "status": status,
                       "md5": bill.qr_md5, "bill_number": bill.number,
                       "amount": amount or payments.money_text(bill.amount_minor, bill.currency),
                       "currency": bill.currency, "paid_at": paid_at.isoformat()}).encode()
    return payments.receive_notification(session, provider="sandbox", body=body, secret=SECRET,
                                         headers={"X-Provider-Signature": payments.sign_body(secret, body)})


class TestIssueBill:
    def test_a_bill_has_a_checked_number_and_a_valid_khqr_for_its_amount(self, db: Session) -> None:
        bill = make_bill(db)
        assert damm_valid(bill.number) and bill.status == "open" and bill.amount_minor == 40_000_000
        qr = payments.decode(bill.qr_payload)
        assert payments.validate(qr, at=NOW) == []
        assert qr.get("54") == "400000" and qr.md5 == bill.qr_md5
        assert qr.object("62") is not None and qr.object("62").child("01") == bill.number  # type: ignore[union-attr]

    def test_fractional_riel_fee_is_refused(self, db: Session) -> None:
        with pytest.raises(ValidationFailed):
            make_fee(db, amount="10.50")

    def test_an_officer_without_the_permission_cannot_issue(self, db: Session) -> None:
        fee = make_fee(db)
        officer = make_officer(db)
        actor = Actor(kind="officer", id=officer.id, name="x", grants={})
        with pytest.raises(Forbidden):
            payments.issue_bill(db, actor, data=payments.BillCreate(fee_code=fee.code, payer_name="X"))

    def test_a_mistyped_number_is_not_found(self, db: Session) -> None:
        bill = make_bill(db)
        wrong = bill.number[:-1] + str((int(bill.number[-1]) + 1) % 10)
        with pytest.raises(NotFound):
            payments.bill_status(db, number=wrong)


class TestReceiveNotification:
    def test_a_signed_success_pays_the_bill_and_posts_the_ledger(self, db: Session) -> None:
        bill = make_bill(db)
        outcome = notify(db, bill)
        assert outcome.outcome == "applied" and outcome.bill_status == "paid"
        assert payments.bill_status(db, number=bill.number).status == "paid"
        balances = {(b.account, b.currency): b.balance_minor for b in payments.ledger_balances(db, SYSTEM)}
        assert balances[("clearing:sandbox", "KHR")] == 40_000_000
        assert balances[(f"agency:{bill.agency_code}", "KHR")] == -40_000_000
        assert payments.check_ledger(db, SYSTEM).ok

    def test_the_same_event_twice_pays_once(self, db: Session) -> None:
        bill = make_bill(db)
        assert notify(db, bill, event="e1").outcome == "applied"
        assert notify(db, bill, event="e1").outcome == "duplicate"
        assert notify(db, bill, event="e2", ref="SBX-1").outcome == "duplicate"
        assert payments.check_ledger(db, SYSTEM).entries == 2

    def test_pending_after_success_changes_nothing(self, db: Session) -> None:
        bill = make_bill(db)
        assert notify(db, bill, status="SUCCESS").outcome == "applied"
        assert notify(db, bill, status="PENDING").outcome == "ignored"
        assert payments.bill_status(db, number=bill.number).status == "paid"

    def test_bad_signature_is_recorded_and_refused(self, db: Session) -> None:
        bill = make_bill(db)
        outcome = notify(db, bill, secret="forged")
        assert outcome.outcome == "rejected"
        assert payments.bill_status(db, number=bill.number).status == "open"
        page = payments.list_notifications(db, SYSTEM, outcome="rejected")
        assert page.items[0].signature_valid is False and bill.qr_md5 in page.items[0].body

    def test_a_different_amount_is_held_for_review(self, db: Session) -> None:
        bill = make_bill(db)
        outcome = notify(db, bill, amount="399000")
        assert outcome.outcome == "held" and outcome.bill_status == "open"
        assert payments.check_ledger(db, SYSTEM).entries == 0
        held = payments.list_notifications(db, SYSTEM, outcome="held").items
        assert [n.id for n in held] == [outcome.notification_id]

    def test_a_second_payment_of_a_paid_bill_is_held(self, db: Session) -> None:
        bill = make_bill(db)
        notify(db, bill, ref="SBX-1")
        assert notify(db, bill, ref="SBX-2").outcome == "held"

    def test_a_cancelled_bill_is_not_paid(self, db: Session) -> None:
        bill = make_bill(db)
        payments.cancel_bill(db, SYSTEM, number=bill.number, reason="issued twice")
        assert notify(db, bill).outcome == "held"


class TestLedger:
    def test_an_unbalanced_transaction_is_refused(self, db: Session) -> None:
        with pytest.raises(ValueError):
            payments.post_transaction(db, kind="payment", currency="KHR", lines=[("a", 100), ("b", -99)])

    def test_the_check_finds_an_entry_written_behind_its_back(self, db: Session) -> None:
        from nokor.payments.models import LedgerEntry

        tid = payments.post_transaction(db, kind="payment", currency="KHR", lines=[("a", 100), ("b", -100)])
        db.add(LedgerEntry(transaction_id=tid, kind="payment", account="c", currency="KHR", amount_minor=5))
        db.flush()
        assert payments.check_ledger(db, SYSTEM).unbalanced == [tid]


class TestRefunds:
    LIMITS = {"KHR": 10_000_000, "USD": 10_000}

    def _officer(self, db: Session, unit: str, permissions: list[str]) -> Actor:
        role = make_role(db, permissions=permissions)
        officer = make_officer(db, org_unit=unit, roles=[role.code])
        unit_id = next(u.id for u in accounts.list_org_units(db, SYSTEM) if u.code == unit)
        return Actor(kind="officer", id=officer.id, name=officer.username,
                              grants={p: frozenset({unit_id}) for p in permissions})

    def test_a_small_refund_completes_at_once(self, db: Session) -> None:
        bill = make_bill(db, amount="50000")
        notify(db, bill)
        refund = payments.request_refund(db, SYSTEM, number=bill.number, reason="paid twice at the counter",
                                         four_eyes_above=self.LIMITS)
        assert refund.status == "completed"
        assert payments.bill_status(db, number=bill.number).status == "refunded"
        balances = {b.account: b.balance_minor for b in payments.ledger_balances(db, SYSTEM)}
        assert balances["clearing:sandbox"] == 0 and payments.check_ledger(db, SYSTEM).ok

    def test_a_large_refund_needs_a_second_officer(self, db: Session) -> None:
        unit = make_org_unit(db, code="GDI2").code
        bill = make_bill(db, org_unit=unit)
        notify(db, bill)
        clerk = self._officer(db, unit, ["payments.refund", "payments.approve_refund", "payments.read"])
        chief = self._officer(db, unit, ["payments.approve_refund"])
        refund = payments.request_refund(db, clerk, number=bill.number, reason="service not delivered",
                                         four_eyes_above=self.LIMITS)
        assert refund.status == "pending"
        with pytest.raises(Forbidden):
            payments.approve_refund(db, clerk, refund_id=refund.id)
        assert payments.approve_refund(db, chief, refund_id=refund.id).status == "completed"
        with pytest.raises(Conflict):
            payments.approve_refund(db, chief, refund_id=refund.id)
        assert payments.bill_status(db, number=bill.number).status == "refunded"


class TestDemo:
    def test_demo_load_is_safe_to_run_twice(self, db: Session) -> None:
        accounts.load_demo(db)
        first = payments.load_demo(db)
        assert sum(line.startswith("bill ") for line in first) == 3
        assert payments.load_demo(db) == []
        assert {f.code for f in payments.list_fees(db, SYSTEM)} >= {"PASSPORT-ORD", "NID-REPLACE", "BIRTH-COPY"}
        bill = payments.list_bills(db, SYSTEM).items[0]
        assert payments.validate(bill.qr_payload) == []


class TestExpireBills:
    def test_only_open_bills_past_their_due_date_expire(self, db: Session) -> None:
        overdue, paid = make_bill(db, code="FEE-A"), make_bill(db, code="FEE-B")
        notify(db, paid)
        assert payments.expire_bills(db, SYSTEM, now=NOW + timedelta(days=31)) == 1
        assert payments.bill_status(db, number=overdue.number).status == "expired"
        assert payments.bill_status(db, number=paid.number).status == "paid"
