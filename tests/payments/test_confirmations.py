"""Provider callbacks taken in together: a batch gives each callback the outcome it would get alone, writes
what it would write alone (verbatim notification, paid bill, balanced ledger, chained audit trail, outbox),
the batcher answers only what is committed and lets a failing callback fail alone, and the callback
route's lean path answers like the route with the platform's headers and problems."""

from __future__ import annotations

import json
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tests.conftest import SYSTEM
from tests.payments.factories import make_fee

from nokor import audit, payments
from nokor.kit.outbox import OutboxMessage
from nokor.payments import service
from nokor.payments.confirmations import CallbackBatcher
from nokor.payments.models import Bill, ProviderNotification

SECRET = "test-webhook-secret"
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _bills(db: Session, tag: str) -> list[payments.BillRead]:
    fee = make_fee(db, code=f"FEE-{tag.upper()}", amount="50000")
    return [payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name=f"Payer {i}"),
                                now=NOW) for i in range(5)]


def _callbacks(bills: list[payments.BillRead], tag: str) -> list[payments.Callback]:
    """Every kind of callback, in an order that makes the earlier ones matter to the later ones."""
    first, second, third, fourth, fifth = bills

    def body(bill: payments.BillRead | None, event: str, ref: str, *, amount: str = "50000", status: str = "SUCCESS",
             paid_at: datetime = NOW, md5: bool = True) -> dict[str, object]:
        fields: dict[str, object] = {"event_id": f"{tag}-{event}", "transaction_ref": f"{tag}-{ref}",
                                     "status": status, "amount": amount, "currency": "KHR",
                                     "paid_at": paid_at.isoformat()}
        if bill is not None:
            fields["bill_number"] = bill.number
            if md5:
                fields["md5"] = bill.qr_md5
        return fields

    events = [
        body(second, "e2", "R2", paid_at=NOW + timedelta(minutes=5)),   # paid before the earlier payment's callback
        body(first, "e1", "R1", status="PENDING"),                        # a status that pays nothing
        body(first, "e1b", "R1"),                                          # pays the first bill
        body(first, "e1b", "R1"),                                          # the same event again
        body(first, "e1c", "R1"),                                          # the same transaction, another event
        body(first, "e1d", "R9"),                                          # another payment of a paid bill
        body(third, "e3", "R3", amount="49900"),                           # short: held
        body(third, "e3b", "R3b", md5=False),                              # found by number alone: pays
        body(None, "e4", "R4"),                                            # names no bill: held
        {"event_id": f"{tag}-e5", "transaction_ref": f"{tag}-R5", "status": "SUCCESS", "md5": "0" * 32,
         "amount": "50000", "currency": "KHR"},                            # an unknown bill: held
        body(fourth, "e6", "R6", amount="fifty"),                          # unreadable amount: rejected
    ]
    out = [payments.Callback(provider="sandbox", body=json.dumps(e).encode(),
                             headers={"X-Provider-Signature": payments.sign_body(SECRET, json.dumps(e).encode()),
                                      "Authorization": "Bearer secret", "X-Trace": tag}) for e in events]
    forged = json.dumps(body(fifth, "e7", "R7")).encode()
    out.append(payments.Callback(provider="sandbox", body=forged,
                                 headers={"X-Provider-Signature": payments.sign_body("forged", forged)}))
    out.append(payments.Callback(provider="sandbox", body=b"{not json",
                                 headers={"X-Provider-Signature": payments.sign_body(SECRET, b"{not json")}))
    return out


def _shape(outcome: payments.PaymentOutcome) -> tuple[str, str | None, str | None]:
    detail = outcome.detail.split(" seen before")[0].rsplit("-", 1)[-1] if outcome.detail else None
    return outcome.outcome, detail, outcome.bill_status


class TestABatchIsLikeEachAlone:
    def test_mixed_callbacks_get_the_outcome_and_records_they_get_one_by_one(self, db: Session) -> None:
        alone_bills, batch_bills = _bills(db, "alone"), _bills(db, "batch")
        db.commit()
        alone = [payments.receive_notification(db, provider=c.provider, body=c.body, headers=c.headers,
                                               secret=SECRET) for c in _callbacks(alone_bills, "alone")]
        db.commit()
        batch = payments.receive_notifications(db, callbacks=_callbacks(batch_bills, "batch"), secret=SECRET)
        db.commit()

        assert [_shape(o) for o in batch] == [_shape(o) for o in alone]
        assert [o.outcome for o in batch] == ["applied", "ignored", "applied", "duplicate", "duplicate", "held",
                                              "held", "applied", "held", "held", "rejected", "rejected", "rejected"]
        assert [o.bill_number for o in batch] == [
            batch_bills[1].number, *[batch_bills[0].number] * 2, None, *[batch_bills[0].number] * 2,
            *[batch_bills[2].number] * 2, None, None, None, None, None]

        def state(bills: list[payments.BillRead]) -> list[tuple[str, int | None, str | None]]:
            return [(b.status, b.paid_minor, (b.provider_ref or "").split("-", 1)[-1] or None)
                    for b in (payments.get_bill(db, SYSTEM, number=x.number) for x in bills)]

        assert state(batch_bills) == state(alone_bills) == [
            ("paid", 5_000_000, "R1"), ("paid", 5_000_000, "R2"), ("paid", 5_000_000, "R3b"), ("open", None, None),
            ("open", None, None)]
        check = payments.check_ledger(db, SYSTEM)
        assert check.ok and check.transactions == 6 and check.entries == 12

        # Every callback kept verbatim, the same way, minus the credentials.
        notes = {n.id: n for n in db.scalars(select(ProviderNotification))}
        for outcome, callback in zip(batch, _callbacks(batch_bills, "batch"), strict=True):
            note = notes[outcome.notification_id]
            assert note.body == callback.body.decode() and note.outcome == outcome.outcome
            assert "authorization" not in note.headers
            assert note.headers.get("x-provider-signature") == callback.headers["X-Provider-Signature"]
        assert len(notes) == 2 * 13

        # The audit trail and the outbox have one entry per paid bill, and the chain verifies once sealed.
        paid_ids = {str(b.id) for b in db.scalars(select(Bill).where(Bill.status == "paid"))}
        entries = [e for e in audit.list_entries(db, SYSTEM, subject_type="payments_bill", limit=200).items
                   if e.action == "bill.pay"]
        assert sorted(e.subject_id for e in entries) == sorted(paid_ids)
        assert all(e.actor_name == "provider:sandbox" and e.after and e.after["status"] == "paid" for e in entries)
        keys = set(db.scalars(select(OutboxMessage.idempotency_key)))
        assert {f"bill-paid:{i}" for i in paid_ids} <= keys
        audit.seal_entries(db)
        db.commit()
        assert audit.verify_chain(db).ok

    def test_a_bill_the_session_holds_is_seen_paid_after_the_batch(self, db: Session) -> None:
        made = _bills(db, "held")[0]
        db.commit()
        held = db.scalar(select(Bill).where(Bill.number == made.number))
        assert held is not None and held.status == "open"
        body = json.dumps({"event_id": "h1", "transaction_ref": "H1", "status": "SUCCESS", "md5": made.qr_md5,
                           "amount": "50000", "currency": "KHR"}).encode()
        [outcome] = payments.receive_notifications(db, callbacks=[payments.Callback(
            provider="sandbox", body=body, headers={"X-Provider-Signature": payments.sign_body(SECRET, body)})],
            secret=SECRET)
        assert outcome.outcome == "applied"
        assert payments.get_bill(db, SYSTEM, number=made.number).status == "paid"
        assert held.status == "paid" and held.provider_ref == "H1"


class TestTheCallbackRoute:
    def _post(self, client: TestClient, body: bytes, *, secret: str = SECRET, provider: str = "sandbox",
              **headers: str):  # type: ignore[no-untyped-def]
        return client.post(f"/api/v1/payments/callbacks/{provider}", content=body,
                           headers={"X-Provider-Signature": payments.sign_body(secret, body), **headers})

    def test_a_callback_is_answered_with_its_outcome_and_the_platform_headers(
            self, db: Session, client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
        from pydantic import SecretStr

        settings.payments_webhook_secret = SecretStr(SECRET)
        made = _bills(db, "route")[0]
        db.commit()
        body = json.dumps({"event_id": "r1", "transaction_ref": "RT1", "status": "SUCCESS", "md5": made.qr_md5,
                           "amount": "50000", "currency": "KHR"}).encode()
        answer = self._post(client, body, **{"X-Request-Id": "req-payments-1"})
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert answer.json()["outcome"] == "applied" and answer.json()["bill_status"] == "paid"
        assert answer.headers["x-request-id"] == "req-payments-1"
        assert answer.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in answer.headers
        again = self._post(client, body)
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
        metrics = client.get("/metrics").text
        assert 'route="/api/v1/payments/callbacks/{provider}"' in metrics

    def test_bad_input_is_a_problem(self, db: Session, client: TestClient,
                                    settings) -> None:  # type: ignore[no-untyped-def]
        from pydantic import SecretStr

        settings.payments_webhook_secret = SecretStr(SECRET)
        forged = self._post(client, b'{"event_id":"f"}', secret="wrong")
        assert forged.status_code == 401
        assert forged.headers["content-type"] == "application/problem+json"
        assert forged.json()["instance"] == "/api/v1/payments/callbacks/sandbox" and "x-request-id" in forged.headers
        unreadable = self._post(client, b"{not json")
        assert unreadable.status_code == 400 and unreadable.json()["outcome"] == "rejected"
        big = self._post(client, b"{" + b" " * (70 * 1024) + b"}")
        assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"
        long_name = self._post(client, b"{}", provider="p" * 40)
        assert long_name.status_code == 413
        assert client.get("/api/v1/payments/callbacks/sandbox").status_code == 405
        recorded = payments.list_notifications(db, SYSTEM, limit=10).items
        assert sorted(n.outcome for n in recorded) == ["rejected", "rejected"]


def _signed(bill: payments.BillRead, event: str, *, amount: str = "50000") -> payments.Callback:
    body = json.dumps({"event_id": event, "transaction_ref": f"T-{event}", "status": "SUCCESS", "md5": bill.qr_md5,
                       "amount": amount, "currency": "KHR"}).encode()
    return payments.Callback(provider="sandbox", body=body,
                             headers={"X-Provider-Signature": payments.sign_body(SECRET, body)})


class TestTheBatcher:
    def test_an_answer_comes_once_its_payment_is_committed(
            self, db: Session, session_factory: sessionmaker[Session]) -> None:
        bills = _bills(db, "answer")
        db.commit()
        batcher = CallbackBatcher(session_factory, SECRET, idle_seconds=0.1)
        futures = [batcher.submit(_signed(bill, f"a{i}")) for i, bill in enumerate(bills[:3])]
        futures.append(batcher.submit(_signed(bills[0], "a0")))
        outcomes = [future.result(timeout=30) for future in futures]
        assert [o.outcome for o in outcomes] == ["applied", "applied", "applied", "duplicate"]
        with session_factory() as other:  # what each answer says is in the database, for any reader
            for outcome in outcomes:
                assert other.get(ProviderNotification, outcome.notification_id) is not None
            assert [payments.get_bill(other, SYSTEM, number=b.number).status for b in bills[:4]] == [
                "paid", "paid", "paid", "open"]
            check = payments.check_ledger(other, SYSTEM)
            assert check.ok and check.entries == 6

    def test_values_the_database_cannot_hold_are_rejected_not_failed(
            self, db: Session, session_factory: sessionmaker[Session]) -> None:
        bills = _bills(db, "unholdable")
        db.commit()
        batcher = CallbackBatcher(session_factory, SECRET)
        # An amount no bigint holds, an event id longer than its column (a typed array on PostgreSQL would
        # cut it short, so two such events could collide), a NUL: each is refused as unreadable, on its own.
        callbacks = [_signed(bills[0], "u0"), _signed(bills[1], "u1", amount="9" * 25),
                     _signed(bills[2], "u" * 129), _signed(bills[3], "u\x003"), _signed(bills[4], "u4")]
        items: list[tuple[payments.Callback, Future[payments.PaymentOutcome]]] = [(c, Future()) for c in callbacks]
        batcher._apply(items)
        outcomes = [future.result(timeout=0) for _callback, future in items]
        assert [o.outcome for o in outcomes] == ["applied", "rejected", "rejected", "rejected", "applied"]
        assert {o.detail for o in outcomes[1:4]} == {"unreadable body"}
        with session_factory() as other:
            assert [payments.get_bill(other, SYSTEM, number=b.number).status for b in bills] == [
                "paid", "open", "open", "open", "paid"]
            assert payments.check_ledger(other, SYSTEM).ok
        batcher._drop_session()

    def test_a_callback_that_fails_in_a_batch_fails_alone(
            self, db: Session, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
        bills = _bills(db, "alone")
        db.commit()
        batcher = CallbackBatcher(session_factory, SECRET)
        # The database fails on one callback (here: it went away while that one was written): the whole batch
        # is rolled back, then the callbacks are applied one by one and only that one fails.
        real_batch, real_one = service.receive_notifications, service.receive_notification

        def failing(body: bytes) -> None:
            if b'"f1"' in body:
                raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))

        def batch(session: Session, *, callbacks: list[payments.Callback], secret: str) -> Any:
            for callback in callbacks:
                failing(callback.body)
            return real_batch(session, callbacks=callbacks, secret=secret)

        def one(session: Session, **kwargs: Any) -> payments.PaymentOutcome:
            failing(kwargs["body"])
            return real_one(session, **kwargs)

        monkeypatch.setattr(service, "receive_notifications", batch)
        monkeypatch.setattr(service, "receive_notification", one)
        callbacks = [_signed(bills[0], "f0"), _signed(bills[1], "f1"), _signed(bills[2], "f2")]
        items: list[tuple[payments.Callback, Future[payments.PaymentOutcome]]] = [(c, Future()) for c in callbacks]
        batcher._apply(items)
        assert items[0][1].result(timeout=0).outcome == "applied"
        assert items[2][1].result(timeout=0).outcome == "applied"
        assert items[1][1].exception(timeout=0) is not None
        # The next batch goes on as usual, on a new connection.
        [(_callback, future)] = again = [(_signed(bills[3], "f3"), Future())]
        batcher._apply(again)
        assert future.result(timeout=0).outcome == "applied"
        with session_factory() as other:
            assert [payments.get_bill(other, SYSTEM, number=b.number).status for b in bills] == [
                "paid", "open", "paid", "paid", "open"]
            recorded = {n.event_id for n in other.scalars(select(ProviderNotification))}
            assert recorded == {"f0", "f2", "f3"}
            check = payments.check_ledger(other, SYSTEM)
            assert check.ok and check.entries == 6
        batcher._drop_session()
