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


def callback(bill: payments.BillRead, *, event: str, ref: str, amount: str | None = None, secret: str = SECRET,
             body: bytes | None = None) -> payments.Callback:
    body = body if body is not None else json.dumps({
        "event_id": event, "transaction_ref": ref, "status": "SUCCESS", "md5": bill.qr_md5,
        "bill_number": bill.number, "amount": amount or payments.money_text(bill.amount_minor, bill.currency),
        "currency": bill.currency, "paid_at": NOW.isoformat()}).encode()
    return payments.Callback(provider="sandbox", body=body,
                             headers={"X-Provider-Signature": payments.sign_body(secret, body)})


class TestReceiveNotificationsInABatch:
    def test_each_callback_gets_the_outcome_it_would_get_alone(self, db: Session) -> None:
        first, second, third, fourth = (make_bill(db, code=f"FEE{i}") for i in range(4))
        notify(db, fourth, event="before", ref="SBX-0")
        db.commit()
        batch = [
            callback(first, event="e1", ref="SBX-1"),                       # pays the first bill
            callback(first, event="e1", ref="SBX-1"),                       # the same event again
            callback(first, event="e2", ref="SBX-1"),                       # the same transaction again
            callback(first, event="e3", ref="SBX-9"),                       # another payment of a paid bill
            callback(second, event="e4", ref="SBX-2", amount="399900"),    # short by 100 riel
            callback(third, event="e5", ref="SBX-3", secret="forged"),     # bad signature
            callback(third, event="e6", ref="SBX-3", body=b"{not json"),   # unreadable
            callback(third, event="e7", ref="SBX-3"),                       # pays the third bill
            callback(fourth, event="before", ref="SBX-0"),                  # seen in an earlier transaction
        ]
        outcomes = payments.receive_notifications(db, callbacks=batch, secret=SECRET)
        db.commit()
        assert [o.outcome for o in outcomes] == ["applied", "duplicate", "duplicate", "held", "held", "rejected",
                                                 "rejected", "applied", "duplicate"]
        assert outcomes[3].detail == "the bill is paid" and outcomes[4].detail == "the amount differs from the bill"
        assert [payments.bill_status(db, number=b.number).status for b in (first, second, third, fourth)] == \
            ["paid", "open", "paid", "paid"]
        check = payments.check_ledger(db, SYSTEM)
        assert check.ok and check.transactions == 3
        recorded = payments.list_notifications(db, SYSTEM, limit=50).items
        assert len(recorded) == 10 and {o.notification_id for o in outcomes} <= {n.id for n in recorded}

    def test_a_batch_pays_many_bills_once_each_with_the_audit_trail(self, db: Session) -> None:
        from nokor import audit

        bills = [make_bill(db, code=f"MANY{i}") for i in range(20)]
        db.commit()
        batch = [callback(b, event=f"m{i}", ref=f"SBX-M{i}") for i, b in enumerate(bills)]
        outcomes = payments.receive_notifications(db, callbacks=batch + batch[:5], secret=SECRET)
        db.commit()
        assert [o.outcome for o in outcomes] == ["applied"] * 20 + ["duplicate"] * 5
        assert all(payments.bill_status(db, number=b.number).status == "paid" for b in bills)
        assert payments.check_ledger(db, SYSTEM).transactions == 20
        paid = audit.list_entries(db, SYSTEM, subject_type="payments_bill", limit=200).items
        assert sum(1 for e in paid if e.action == "bill.pay") == 20
        assert audit.verify_chain(db).ok


class TestHeldPayments:
    LIMITS = {"KHR": 10_000_000, "USD": 10_000}

    def _officer(self, db: Session, unit: str, permissions: list[str], name: str) -> Actor:
        role = make_role(db, permissions=permissions)
        officer = make_officer(db, org_unit=unit, roles=[role.code], username=name)
        unit_id = next(u.id for u in accounts.list_org_units(db, SYSTEM) if u.code == unit)
        return Actor(kind="officer", id=officer.id, name=officer.username,
                     grants={p: frozenset({unit_id}) for p in permissions})

    def _short_payment(self, db: Session, **fee: str) -> tuple[payments.BillRead, payments.PaymentOutcome]:
        bill = make_bill(db, **fee)
        short = payments.money_text(bill.amount_minor - 10_000, bill.currency)
        outcome = notify(db, bill, ref="SBX-SHORT", amount=short)
        assert outcome.outcome == "held"
        return bill, outcome

    def test_accepting_a_short_payment_pays_the_bill_with_what_was_paid(self, db: Session) -> None:
        bill, held = self._short_payment(db, amount="50000")
        queue = payments.list_held_payments(db, SYSTEM)
        assert [h.notification.id for h in queue] == [held.notification_id]
        assert queue[0].bill_number == bill.number and queue[0].bill_amount_minor == 5_000_000
        review = payments.review_held_payment(db, SYSTEM, notification_id=held.notification_id, decision="accept",
                                              reason="the bank kept 100 riel as its fee", four_eyes_above=self.LIMITS)
        assert review.status == "done" and review.bill_number == bill.number
        assert payments.bill_status(db, number=bill.number).status == "paid"
        balances = {b.account: b.balance_minor for b in payments.ledger_balances(db, SYSTEM)}
        assert balances["clearing:sandbox"] == 4_990_000 and payments.check_ledger(db, SYSTEM).ok
        assert payments.list_held_payments(db, SYSTEM) == []
        notes = {n.id: n for n in payments.list_notifications(db, SYSTEM).items}
        assert notes[held.notification_id].outcome == "accepted" and notes[held.notification_id].resolved_at

    def test_returning_a_payment_posts_it_in_and_out_and_asks_the_provider(self, db: Session) -> None:
        from sqlalchemy import select

        from nokor.kit.outbox import OutboxMessage

        bill, held = self._short_payment(db, amount="50000")
        review = payments.review_held_payment(db, SYSTEM, notification_id=held.notification_id, decision="return",
                                              reason="payer asked for the money back", four_eyes_above=self.LIMITS,
                                              refund_url="http://bank.test/v1/refunds")
        assert review.status == "done"
        assert payments.bill_status(db, number=bill.number).status == "open"
        lines = payments.ledger_lines(db, SYSTEM, account="returns:sandbox").items
        assert sorted(line.amount_minor for line in lines) == [-4_990_000, 4_990_000]
        assert {b.account: b.balance_minor for b in payments.ledger_balances(db, SYSTEM)}["clearing:sandbox"] == 0
        message = db.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == f"return:{review.id}"))
        assert message is not None and message.payload["transaction_ref"] == "SBX-SHORT"
        assert message.payload["amount"] == "49900.00"

    def test_a_large_decision_waits_for_a_second_officer(self, db: Session) -> None:
        from nokor import audit

        unit = make_org_unit(db, code="GDI3").code
        bill, held = self._short_payment(db, org_unit=unit)
        clerk = self._officer(db, unit, ["payments.review", "payments.read"], "clerk.review")
        chief = self._officer(db, unit, ["payments.review", "payments.read"], "chief.review")
        review = payments.review_held_payment(db, clerk, notification_id=held.notification_id, decision="accept",
                                              reason="short by the bank fee", four_eyes_above=self.LIMITS)
        assert review.status == "pending" and payments.bill_status(db, number=bill.number).status == "open"
        assert payments.list_held_payments(db, clerk)[0].pending.id == review.id
        with pytest.raises(Conflict):
            payments.review_held_payment(db, chief, notification_id=held.notification_id, decision="return",
                                         reason="no", four_eyes_above=self.LIMITS)
        with pytest.raises(Forbidden):
            payments.confirm_review(db, clerk, review_id=review.id)
        done = payments.confirm_review(db, chief, review_id=review.id)
        assert done.status == "done" and done.decided_by_name == "chief.review"
        assert payments.bill_status(db, number=bill.number).status == "paid"
        with pytest.raises(Conflict):
            payments.confirm_review(db, chief, review_id=review.id)
        trail = audit.list_entries(db, SYSTEM, subject_type="payments_notification",
                                   subject_id=str(held.notification_id)).items
        assert [(e.action, e.actor_name) for e in reversed(trail)] == [
            ("payment.accept.propose", "clerk.review"), ("payment.accept", "chief.review")]

    def test_a_declined_decision_leaves_the_payment_held_with_its_history(self, db: Session) -> None:
        unit = make_org_unit(db, code="GDI4").code
        _bill, held = self._short_payment(db, org_unit=unit)
        clerk = self._officer(db, unit, ["payments.review", "payments.read"], "clerk.decline")
        chief = self._officer(db, unit, ["payments.review", "payments.read"], "chief.decline")
        review = payments.review_held_payment(db, clerk, notification_id=held.notification_id, decision="return",
                                              reason="looks wrong", four_eyes_above=self.LIMITS)
        with pytest.raises(ValidationFailed):
            payments.decline_review(db, chief, review_id=review.id, reason=" ")
        declined = payments.decline_review(db, chief, review_id=review.id, reason="the payer confirmed the amount")
        assert declined.status == "declined"
        queue = payments.list_held_payments(db, chief)
        assert queue[0].pending is None and [r.status for r in queue[0].history] == ["declined"]
        assert queue[0].history[0].decline_reason == "the payer confirmed the amount"

    def test_a_reason_is_required_and_only_held_payments_can_be_decided(self, db: Session) -> None:
        _bill, held = self._short_payment(db, amount="50000")
        with pytest.raises(ValidationFailed) as error:
            payments.review_held_payment(db, SYSTEM, notification_id=held.notification_id, decision="accept",
                                         reason="  ", four_eyes_above=self.LIMITS)
        assert error.value.errors[0]["pointer"] == "/reason"
        applied = notify(db, make_bill(db, code="OTHER"), ref="SBX-OK")
        with pytest.raises(Conflict):
            payments.review_held_payment(db, SYSTEM, notification_id=applied.notification_id, decision="return",
                                         reason="why not", four_eyes_above=self.LIMITS)

    def test_a_payment_for_no_bill_is_accepted_for_the_bill_the_officer_names(self, db: Session) -> None:
        bill = make_bill(db, amount="50000")
        body = json.dumps({"event_id": "lost", "transaction_ref": "SBX-LOST", "status": "SUCCESS",
                           "amount": "50000", "currency": "KHR"}).encode()
        held = payments.receive_notification(db, provider="sandbox", body=body, secret=SECRET,
                                             headers={"X-Provider-Signature": payments.sign_body(SECRET, body)})
        assert held.outcome == "held"
        with pytest.raises(ValidationFailed):
            payments.review_held_payment(db, SYSTEM, notification_id=held.notification_id, decision="accept",
                                         reason="payer sent the receipt", four_eyes_above=self.LIMITS)
        review = payments.review_held_payment(db, SYSTEM, notification_id=held.notification_id, decision="accept",
                                              reason="payer sent the receipt", bill_number=bill.number,
                                              four_eyes_above=self.LIMITS)
        assert review.status == "done" and payments.bill_status(db, number=bill.number).status == "paid"

    def test_a_paid_bill_cannot_take_a_second_payment(self, db: Session) -> None:
        bill = make_bill(db, amount="50000")
        notify(db, bill, ref="SBX-A")
        second = notify(db, bill, ref="SBX-B")
        assert second.outcome == "held"
        with pytest.raises(Conflict):
            payments.review_held_payment(db, SYSTEM, notification_id=second.notification_id, decision="accept",
                                         reason="paid twice", four_eyes_above=self.LIMITS)
        review = payments.review_held_payment(db, SYSTEM, notification_id=second.notification_id,
                                              decision="return", reason="paid twice", four_eyes_above=self.LIMITS)
        assert review.status == "done"


class TestCallbacksWithOddValues:
    def test_a_currency_that_is_no_iso_code_is_refused_and_spoils_nothing(self, db: Session) -> None:
        bill = make_bill(db, code="ODD")
        db.commit()
        odd = json.dumps({"event_id": "odd", "transaction_ref": "SBX-ODD", "status": "SUCCESS", "md5": bill.qr_md5,
                          "amount": "400000", "currency": "KHRX"}).encode()
        outcomes = payments.receive_notifications(db, callbacks=[
            payments.Callback(provider="sandbox", body=odd,
                              headers={"X-Provider-Signature": payments.sign_body(SECRET, odd)}),
            callback(bill, event="fine", ref="SBX-FINE")], secret=SECRET)
        db.commit()
        assert [o.outcome for o in outcomes] == ["rejected", "applied"]
