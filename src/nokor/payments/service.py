"""The rules of payments: fee schedule, bills with a KHQR each, provider notifications, ledger, refunds."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nokor import accounts, audit, trust
from nokor.db import new_id
from nokor.kit import i18n
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.ids import damm_digit, damm_valid
from nokor.kit.money import Money
from nokor.kit.outbox import Outgoing, enqueue, enqueue_many
from nokor.kit.pagination import DEFAULT_LIMIT, Page, paginate
from nokor.kit.time import utcnow
from nokor.payments import emvqr, repository
from nokor.payments.models import (
    Bill,
    Fee,
    LedgerEntry,
    PaymentReview,
    ProviderNotification,
    Receipt,
    Reconciliation,
    Refund,
    RequestToPay,
)
from nokor.payments.providers import PaymentProvider
from nokor.payments.receipt_pdf import ReceiptLine, receipt_pdf
from nokor.payments.reconciliation import Expected, Outcome, SettlementFileError, reconcile
from nokor.payments.schemas import (
    Balance,
    BillCreate,
    BillRead,
    BillStatusRead,
    FeeCreate,
    FeeRead,
    HeldPaymentRead,
    LedgerCheck,
    LedgerLine,
    NotificationRead,
    PaymentOutcome,
    ReconciliationItemRead,
    ReconciliationRead,
    RefundRead,
    ReviewRead,
    RtpRead,
)

log = structlog.get_logger("nokor.payments")

PAYMENTS_MANAGE = declare_permission("payments.manage", _l("Manage the fee schedule and issue or cancel bills"))
PAYMENTS_READ = declare_permission("payments.read", _l("See bills, payments, the ledger and reconciliations"))
PAYMENTS_REFUND = declare_permission("payments.refund", _l("Request refunds of paid bills"))
PAYMENTS_NOTIFY = declare_permission(
    "payments.notify", _l("Notify payments of bills (the systems of payer banks)"))
PAYMENTS_APPROVE_REFUND = declare_permission(
    "payments.approve_refund", _l("Approve refunds above the four-eyes amount (as the second officer)"))
PAYMENTS_REVIEW = declare_permission(
    "payments.review", _l("Accept or return payments held for review, or confirm another officer's decision"))

TREASURY = "treasury"
SIGNATURE_HEADER = "x-provider-signature"
BILL_FIELDS = ("number", "status", "amount_minor", "currency", "paid_minor", "paid_at", "provider_ref")


def returns_account(provider: str) -> str:
    return f"returns:{provider}"


def agency_account(code: str) -> str:
    return f"agency:{code}"


def clearing_account(provider: str) -> str:
    return f"clearing:{provider}"


def _snapshot(bill: Bill | _BillState) -> dict[str, Any]:
    """The bill's audited fields, from its ORM object or from the plain row a batch of callbacks works on."""
    out: dict[str, Any] = {}
    for name in BILL_FIELDS:
        value = getattr(bill, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _parse_amount(text: str, currency: str, field: str) -> int:
    try:
        minor = Money.parse(text, currency).minor
    except ValueError as exc:
        raise ValidationFailed(errors=[field_error([field], _("This is not an amount in %(currency)s.",
                                                              currency=currency), "invalid_amount")]) from exc
    if minor <= 0:
        raise ValidationFailed(errors=[field_error([field], _("The amount must be more than zero."),
                                                   "invalid_amount")])
    if currency == "KHR" and minor % 100:
        raise ValidationFailed(errors=[field_error([field], _("Riel amounts are whole riel."), "invalid_amount")])
    return minor


# --- fee schedule ---------------------------------------------------------------------------------


def create_fee(session: Session, actor: Actor, *, data: FeeCreate) -> FeeRead:
    """Add a service's fee to the schedule, collected into the agency's Bakong account."""
    unit = next((u for u in accounts.list_org_units(session, actor) if u.code == data.org_unit_code), None)
    if unit is None:
        raise ValidationFailed(errors=[field_error(["org_unit_code"], _("There is no organisation unit with this "
                                                                        "code."), "unknown_org_unit")])
    actor.require(PAYMENTS_MANAGE, unit.id)
    if repository.fee_by_code(session, data.code) is not None:
        raise Conflict(_("A fee with this code already exists."))
    name = {k: v.strip() for k, v in data.name.items() if k in ("km", "en", "ar", "de") and v.strip()}
    if not name:
        raise ValidationFailed(errors=[field_error(["name"], _("Give at least one name."), "name_required")])
    fee = Fee(code=data.code, name=name, amount_minor=_parse_amount(data.amount, data.currency, "amount"),
              currency=data.currency, org_unit_id=unit.id, agency_code=unit.code,
              bakong_account_id=data.bakong_account_id, is_active=True)
    session.add(fee)
    session.flush()
    audit.record_change(session, actor, action="fee.create", subject_type="payments_fee", subject_id=fee.id,
                        after={"code": fee.code, "amount_minor": fee.amount_minor, "currency": fee.currency,
                               "agency": fee.agency_code, "account": fee.bakong_account_id})
    return FeeRead.model_validate(fee)


def list_fees(session: Session, actor: Actor) -> list[FeeRead]:
    """The fee schedule (public prices of government services)."""
    return [FeeRead.model_validate(f) for f in repository.all_fees(session)]


# --- bills ----------------------------------------------------------------------------------------


def _new_bill_number(session: Session, now: datetime) -> str:
    """Year, eight random digits and a Damm check digit: 13 digits, never reused (the column is unique)."""
    for _attempt in range(20):
        body = f"{now.year:04d}{secrets.randbelow(10**8):08d}"
        number = body + damm_digit(body)
        if repository.bill_by_number(session, number) is None:
            return number
    raise Conflict(_("No free bill number was found; try again."))


def issue_bill(session: Session, actor: Actor, *, data: BillCreate, now: datetime | None = None,
               qr_minutes: int = 1440, bill_days: int = 30) -> BillRead:
    """Issue a bill for a fee of the schedule, with its own dynamic KHQR that expires after ``qr_minutes``."""
    fee = repository.fee_by_code(session, data.fee_code)
    if fee is None or not fee.is_active:
        raise ValidationFailed(errors=[field_error(["fee_code"], _("There is no such fee in the schedule."),
                                                   "unknown_fee")])
    actor.require(PAYMENTS_MANAGE, fee.org_unit_id)
    now = now or utcnow()
    number = _new_bill_number(session, now)
    expires = now + timedelta(minutes=qr_minutes)
    payload = emvqr.encode_khqr(emvqr.KhqrRequest(
        bakong_account_id=fee.bakong_account_id, merchant_name=fee.name.get("en") or fee.code,
        currency=fee.currency, amount_minor=fee.amount_minor, bill_number=number, store_label=fee.agency_code[:25],
        purpose=fee.code[:25], created_at=now, expires_at=expires))
    bill = Bill(number=number, fee_id=fee.id, org_unit_id=fee.org_unit_id, agency_code=fee.agency_code,
                subject_type=data.subject_type, subject_id=data.subject_id, payer_name=data.payer_name.strip(),
                amount_minor=fee.amount_minor, currency=fee.currency, status="open",
                due_at=now + timedelta(days=bill_days), qr_payload=payload, qr_md5=emvqr.payload_md5(payload),
                qr_expires_at=expires)
    session.add(bill)
    session.flush()
    audit.record_change(session, actor, action="bill.issue", subject_type="payments_bill", subject_id=bill.id,
                        after=_snapshot(bill) | {"fee": fee.code, "payer_name": bill.payer_name})
    return BillRead.model_validate(bill)


def _bill(session: Session, number: str, *, lock: bool = False) -> Bill:
    bill = repository.bill_by_number(session, number.strip(), lock=lock) if damm_valid(number.strip()) else None
    if bill is None:
        raise NotFound(_("There is no bill with this number."))
    return bill


def get_bill(session: Session, actor: Actor, *, number: str) -> BillRead:
    """A bill with the payer's name, for officers (the read is logged)."""
    bill = _bill(session, number)
    actor.require(PAYMENTS_READ, bill.org_unit_id)
    audit.record_access(session, actor, subject_type="payments_bill", subject_id=bill.id, purpose="bill.view",
                        fields=["payer_name"])
    return BillRead.model_validate(bill)


def bill_for_payer(session: Session, *, number: str) -> BillRead:
    """A bill as its payer sees it from the bill number alone; pages must not show the payer's name."""
    return BillRead.model_validate(_bill(session, number))


def bill_status(session: Session, *, number: str) -> BillStatusRead:
    """Only the state of a bill, for the live status of the payer's page."""
    bill = _bill(session, number)
    return BillStatusRead(number=bill.number, status=bill.status, paid_at=bill.paid_at)


def list_bills(session: Session, actor: Actor, *, status: str | None = None, cursor: str | None = None,
               limit: int = DEFAULT_LIMIT) -> Page[BillRead]:
    """Bills of the units where the actor may read payments, newest first."""
    actor.require(PAYMENTS_READ)
    units = actor.grants.get(PAYMENTS_READ) if actor.kind != "system" else None
    stmt = repository.bills_query(status=status, org_unit_ids=units)
    rows, next_cursor = paginate(session, stmt, Bill.id, cursor=cursor, limit=limit, newest_first=True)
    return Page[BillRead](items=[BillRead.model_validate(r) for r in rows], next_cursor=next_cursor)


def cancel_bill(session: Session, actor: Actor, *, number: str, reason: str) -> BillRead:
    """Cancel an open bill (issued by mistake); its QR can no longer be paid."""
    bill = _bill(session, number, lock=True)
    actor.require(PAYMENTS_MANAGE, bill.org_unit_id)
    if bill.status != "open":
        raise Conflict(_("Only an open bill can be cancelled."))
    before = _snapshot(bill)
    bill.status = "cancelled"
    session.flush()
    audit.record_change(session, actor, action="bill.cancel", subject_type="payments_bill", subject_id=bill.id,
                        before=before, after=_snapshot(bill), reason=reason)
    return BillRead.model_validate(bill)


def expire_bills(session: Session, actor: Actor, *, now: datetime | None = None) -> int:
    """Mark open bills past their due date as expired; returns how many."""
    actor.require_everywhere(PAYMENTS_MANAGE)
    count = 0
    for bill in repository.overdue_bills(session, now or utcnow()):
        before = _snapshot(bill)
        bill.status = "expired"
        audit.record_change(session, actor, action="bill.expire", subject_type="payments_bill", subject_id=bill.id,
                            before=before, after=_snapshot(bill))
        count += 1
    session.flush()
    return count


# --- ledger ---------------------------------------------------------------------------------------


def post_transaction(session: Session, *, kind: str, currency: str, lines: Iterable[tuple[str, int]],
                     bill_id: uuid.UUID | None = None, memo: str | None = None,
                     at: datetime | None = None, flush: bool = True) -> uuid.UUID:
    """Append one balanced transaction (debits positive, credits negative); refuses one that does not balance."""
    lines = [(account, amount) for account, amount in lines if amount]
    if len(lines) < 2 or sum(amount for _account, amount in lines) != 0:
        raise ValueError("a ledger transaction has at least two lines that sum to zero")
    transaction_id = uuid.uuid4()
    at = at or utcnow()
    session.add_all([LedgerEntry(id=new_id(), transaction_id=transaction_id, kind=kind, account=account,
                                 currency=currency, amount_minor=amount, bill_id=bill_id, memo=memo, posted_at=at)
                     for account, amount in lines])
    if flush:
        session.flush()
    return transaction_id


def ledger_balances(session: Session, actor: Actor) -> list[Balance]:
    """The balance of every account and currency, derived from the entries."""
    actor.require(PAYMENTS_READ)
    return [Balance(account=a, currency=c, balance_minor=int(b)) for a, c, b in repository.balances(session)]


def check_ledger(session: Session, actor: Actor) -> LedgerCheck:
    """Prove that every transaction balances in each currency; lists those that do not."""
    actor.require(PAYMENTS_READ)
    transactions, entries, unbalanced = repository.ledger_check(session)
    return LedgerCheck(transactions=transactions, entries=entries, unbalanced=unbalanced)


def ledger_lines(session: Session, actor: Actor, *, account: str | None = None, cursor: str | None = None,
                 limit: int = DEFAULT_LIMIT) -> Page[LedgerLine]:
    """Ledger entries, newest first, optionally of one account."""
    actor.require(PAYMENTS_READ)
    rows, next_cursor = paginate(session, repository.entries_query(account), LedgerEntry.id, cursor=cursor,
                                 limit=limit, newest_first=True)
    return Page[LedgerLine](items=[LedgerLine.model_validate(r) for r in rows], next_cursor=next_cursor)


# --- provider notifications -----------------------------------------------------------------------


def sign_body(secret: str, body: bytes) -> str:
    """The signature header value of a provider callback: ``sha256=`` and the HMAC of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_secret(configured: str | None, secret_key: str) -> str:
    """The callback secret: the configured one, or one derived from the platform's secret key."""
    if configured:
        return configured
    return hashlib.sha256(b"nokor-payments-webhook:" + secret_key.encode()).hexdigest()


def _record(session: Session, provider: str, body: bytes, headers: Mapping[str, str], *, flush: bool = True,
            **fields: Any) -> ProviderNotification:
    note = ProviderNotification(id=new_id(), provider=provider, body=body.decode("utf-8", errors="replace"),
                                headers={k.lower(): v for k, v in headers.items()
                                         if k.lower() not in ("authorization", "cookie")},
                                received_at=utcnow(), **fields)
    session.add(note)
    if flush:
        session.flush()
    return note


def receive_notification(session: Session, *, provider: str, body: bytes, headers: Mapping[str, str],
                         secret: str) -> PaymentOutcome:
    """Take in a provider's payment notification: authenticate, record verbatim, and pay the bill once.

    A bad signature is recorded and refused; a notification seen before (same event, or the same
    transaction already applied) changes nothing; an amount, currency or bill state that does not fit
    is held for an officer to review, never silently accepted.
    """
    sent = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(sent, sign_body(secret, body)):
        return _refuse_signature(session, provider, body, headers)
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    return _take_event(session, provider=provider, body=body, headers=headers, event=event)


def _refuse_signature(session: Session, provider: str, body: bytes, headers: Mapping[str, str], *,
                      flush: bool = True) -> PaymentOutcome:
    note = _record(session, provider, body, headers, flush=flush, signature_valid=False, outcome="rejected",
                   detail="bad signature")
    log.warning("payment callback with a bad signature", provider=provider, notification=str(note.id))
    return PaymentOutcome(notification_id=note.id, outcome="rejected", detail="bad signature")


class _Event:
    """The fields of a readable payment notification."""

    __slots__ = ("amount", "currency", "event_id", "md5", "number", "paid_at", "ref", "status")

    def __init__(self, event: Any) -> None:
        self.event_id, self.ref, self.status = (_short_text(event, name) for name in
                                                ("event_id", "transaction_ref", "status"))
        self.currency = str(event["currency"])
        if len(self.currency) != 3 or not self.currency.isascii() or not self.currency.isupper():
            raise ValueError(f"currency {self.currency[:8]!r} is not an ISO 4217 code")
        self.amount = Money.parse(str(event["amount"]), self.currency).minor
        if not 0 <= self.amount <= _MAX_MINOR:
            raise ValueError("amount out of range")
        self.md5 = _short_text(event, "md5") if event.get("md5") is not None else None
        self.number = _short_text(event, "bill_number") if event.get("bill_number") is not None else None
        self.paid_at = _when(event.get("paid_at"))


_MAX_MINOR = 2**63 - 1  # the ledger's and the notification's BIGINT
_MAX_TEXT = 128  # the notification's event_id and transaction_ref columns


def _short_text(event: Any, name: str) -> str:
    """A text field of a notification as stored: at most 128 characters (a longer one was cut short by the
    batch's typed arrays on PostgreSQL, so two events could collide) and no NUL (PostgreSQL stores none)."""
    value = str(event[name])
    if len(value) > _MAX_TEXT or "\x00" in value:
        raise ValueError(f"{name} is longer than {_MAX_TEXT} characters or holds a NUL")
    return value


def _read_event(session: Session, provider: str, body: bytes, headers: Mapping[str, str], event: Any, *,
                flush: bool = True) -> _Event | PaymentOutcome:
    try:
        return _Event(event)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        note = _record(session, provider, body, headers, flush=flush, signature_valid=True, outcome="rejected",
                       detail=f"unreadable: {exc}"[:400])
        return PaymentOutcome(notification_id=note.id, outcome="rejected", detail="unreadable body")


def _take_event(session: Session, *, provider: str, body: bytes, headers: Mapping[str, str],
                event: Any) -> PaymentOutcome:
    read = _read_event(session, provider, body, headers, event)
    if isinstance(read, PaymentOutcome):
        return read
    seen = repository.notification_by_event(session, provider, read.event_id)
    if seen is None:
        try:
            with session.begin_nested():
                note = _record(session, provider, body, headers, signature_valid=True, outcome="received",
                               event_id=read.event_id, transaction_ref=read.ref, amount_minor=read.amount,
                               currency=read.currency)
        except IntegrityError:
            seen = repository.notification_by_event(session, provider, read.event_id)
    if seen is not None:
        return _duplicate_event(session, provider, body, headers, read, seen.bill_id)
    bill = repository.bill_for_payment(session, md5=read.md5, number=read.number)
    return _apply_event(session, note, bill, provider=provider, read=read)


def _duplicate_event(session: Session, provider: str, body: bytes, headers: Mapping[str, str], read: _Event,
                     bill_id: uuid.UUID | None, *, flush: bool = True) -> PaymentOutcome:
    duplicate = _record(session, provider, body, headers, flush=flush, signature_valid=True, outcome="duplicate",
                        detail=f"event {read.event_id} seen before", transaction_ref=read.ref, bill_id=bill_id,
                        amount_minor=read.amount, currency=read.currency)
    return PaymentOutcome(notification_id=duplicate.id, outcome="duplicate", detail=duplicate.detail)


def _decide(bill: Bill | _BillState | None, read: _Event) -> tuple[str, str | None, datetime | None]:
    """What a new, readable notification does to its bill: the outcome, its detail, and when the bill is paid
    (only for "applied"). The same rules for one notification or a batch."""
    if read.status.upper() != "SUCCESS":
        return "ignored", f"status {read.status}", None
    if bill is None:
        return "held", "no bill matches this payment", None
    if bill.status == "paid" and bill.provider_ref == read.ref:
        return "duplicate", "this transaction already paid the bill", None
    paid_at = read.paid_at or utcnow()
    late_but_valid = bill.status == "expired" and paid_at <= bill.qr_expires_at
    if bill.status != "open" and not late_but_valid:
        return "held", f"the bill is {bill.status}", None
    if read.amount != bill.amount_minor or read.currency != bill.currency:
        return "held", "the amount differs from the bill", None
    return "applied", None, paid_at


def _apply_event(session: Session, note: ProviderNotification, bill: Bill | None, *, provider: str, read: _Event,
                 flush: bool = True) -> PaymentOutcome:
    """Decide what a new, readable notification does to its bill, and do it."""
    if bill is not None:
        note.bill_id = bill.id
    outcome, detail, paid_at = _decide(bill, read)
    if outcome == "applied" and bill is not None and paid_at is not None:
        _pay(session, bill, provider=provider, ref=read.ref, amount=read.amount, paid_at=paid_at, flush=flush)
    return _settle_note(note, bill, outcome, detail)


@dataclass(frozen=True)
class Callback:
    """One provider callback as it arrived: the provider named in its URL, the raw body, the headers."""

    provider: str
    body: bytes
    headers: Mapping[str, str]


class _BillState:
    """A bill as a batch of callbacks sees it: read (and locked) once, changed as the batch pays it."""

    __slots__ = ("agency_code", "amount_minor", "currency", "id", "number", "paid_at", "paid_minor", "provider",
                 "provider_ref", "qr_expires_at", "status", "subject_id", "subject_type")

    def __init__(self, row: Any) -> None:
        self.id: uuid.UUID = row.id
        self.number: str = row.number
        self.status: str = row.status
        self.amount_minor: int = row.amount_minor
        self.currency: str = row.currency
        self.paid_minor: int | None = row.paid_minor
        self.paid_at: datetime | None = row.paid_at
        self.provider: str | None = row.provider
        self.provider_ref: str | None = row.provider_ref
        self.qr_expires_at: datetime = row.qr_expires_at
        self.agency_code: str = row.agency_code
        self.subject_type: str | None = row.subject_type
        self.subject_id: str | None = row.subject_id


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}


class _BatchWrites:
    """Everything a batch of callbacks writes, gathered as rows and sent in one statement per table."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self.paid: list[_BillState] = []
        self.ledger: list[dict[str, Any]] = []
        self.changes: list[audit.Change] = []
        self.messages: list[Outgoing] = []
        self.actors: dict[str, Actor] = {}

    def note(self, callback: Callback, headers: dict[str, str], *, signature_valid: bool, outcome: str,
             detail: str | None, read: _Event | None = None, event_id: str | None = None,
             bill_id: uuid.UUID | None = None) -> uuid.UUID:
        note_id = new_id()
        self.notes.append({
            "id": note_id, "provider": callback.provider, "event_id": event_id,
            "transaction_ref": read.ref if read else None,
            "body": callback.body.decode("utf-8", errors="replace"), "headers": headers,
            "signature_valid": signature_valid, "outcome": outcome, "detail": detail, "bill_id": bill_id,
            "amount_minor": read.amount if read else None, "currency": read.currency if read else None,
            "resolved_at": None, "received_at": utcnow()})
        return note_id

    def pay(self, bill: _BillState, *, provider: str, ref: str, amount: int, paid_at: datetime) -> None:
        """What ``_pay`` does to one bill, as rows: the bill's new state, the ledger, the audit trail, the outbox."""
        before = _snapshot(bill)
        bill.status, bill.paid_minor, bill.paid_at, bill.provider, bill.provider_ref = \
            "paid", amount, paid_at, provider, ref
        self.paid.append(bill)
        transaction_id, at = uuid.uuid4(), utcnow()
        for account, minor in ((clearing_account(provider), amount), (agency_account(bill.agency_code), -amount)):
            self.ledger.append({"id": new_id(), "transaction_id": transaction_id, "kind": "payment",
                                "account": account, "currency": bill.currency, "amount_minor": minor,
                                "bill_id": bill.id, "memo": ref, "posted_at": at})
        actor = self.actors.get(provider)
        if actor is None:
            actor = self.actors[provider] = Actor.system(f"provider:{provider}")
        self.changes.append(audit.Change(actor=actor, action="bill.pay", subject_type="payments_bill",
                                         subject_id=bill.id, before=before, after=_snapshot(bill)))
        self.messages.append(Outgoing(
            destination="payments.bill.paid", idempotency_key=f"bill-paid:{bill.id}",
            payload={"bill_number": bill.number, "subject_type": bill.subject_type, "subject_id": bill.subject_id,
                     "amount_minor": amount, "currency": bill.currency, "paid_at": paid_at.isoformat()}))

    def write(self, session: Session) -> None:
        repository.insert_notifications(session, self.notes)
        if self.paid:
            now = utcnow()
            repository.mark_bills_paid(session, [
                {"id": b.id, "status": b.status, "paid_minor": b.paid_minor, "paid_at": b.paid_at,
                 "provider": b.provider, "provider_ref": b.provider_ref, "updated_at": now} for b in self.paid])
            repository.insert_ledger_entries(session, self.ledger)
            audit.record_changes(session, self.changes)
            enqueue_many(session, channel="pubsub", messages=self.messages)
            # A bill this session already holds is read again from the database next time it is used.
            paid = {b.id for b in self.paid}
            for held in list(session.identity_map.values()):
                if isinstance(held, Bill) and held.id in paid:
                    session.expire(held)


def receive_notifications(session: Session, *, callbacks: Sequence[Callback], secret: str) -> list[PaymentOutcome]:
    """Take in many provider callbacks in one transaction, each exactly as ``receive_notification`` would.

    The events seen before and the bills concerned are read (and locked) in two statements for the whole
    batch (one round trip on PostgreSQL); the decisions are made on those rows in memory, in the order the
    callbacks came (so a repeat inside the batch is a duplicate like any other, and a second payment of a
    bill the batch paid is held); and everything written goes to the database as rows, one batched statement per table
    (notifications, bills, ledger entries, audit entries, outbox messages), without an ORM object each.
    Inside ``kit.bulk.writes_then_commit`` those writes go to PostgreSQL with the commit, in one round trip.
    If another process records one of the same events at the same moment, a statement fails with an
    integrity error: the caller rolls back and takes the callbacks one by one.
    """
    if session.new or session.dirty or session.deleted:
        session.flush()
    writes = _BatchWrites()
    outcomes: list[PaymentOutcome | None] = [None] * len(callbacks)
    readable: list[tuple[int, Callback, dict[str, str], _Event]] = []
    for index, callback in enumerate(callbacks):
        headers = _kept_headers(callback.headers)
        sent = {k.lower(): v for k, v in callback.headers.items()}.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(sent, sign_body(secret, callback.body)):
            note_id = writes.note(callback, headers, signature_valid=False, outcome="rejected",
                                  detail="bad signature")
            log.warning("payment callback with a bad signature", provider=callback.provider,
                        notification=str(note_id))
            outcomes[index] = PaymentOutcome(notification_id=note_id, outcome="rejected", detail="bad signature")
            continue
        try:
            event = json.loads(callback.body)
        except ValueError:
            event = None
        try:
            read = _Event(event)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            note_id = writes.note(callback, headers, signature_valid=True, outcome="rejected",
                                  detail=f"unreadable: {exc}"[:400])
            outcomes[index] = PaymentOutcome(notification_id=note_id, outcome="rejected", detail="unreadable body")
            continue
        readable.append((index, callback, headers, read))
    seen, bill_rows = repository.payment_lookups(
        session, events={(c.provider, r.event_id) for _i, c, _h, r in readable},
        md5s={r.md5.lower() for _i, _c, _h, r in readable if isinstance(r.md5, str) and r.md5},
        numbers={r.number for _i, _c, _h, r in readable if isinstance(r.number, str) and r.number})
    by_md5: dict[str, _BillState] = {}
    by_number: dict[str, _BillState] = {}
    for row in bill_rows:
        state = _BillState(row)
        by_md5[row.qr_md5] = by_number[state.number] = state
    for index, callback, headers, read in readable:
        key = (callback.provider, read.event_id)
        if key in seen:
            again = f"event {read.event_id} seen before"
            note_id = writes.note(callback, headers, signature_valid=True, outcome="duplicate", detail=again,
                                  read=read, bill_id=seen[key])
            outcomes[index] = PaymentOutcome(notification_id=note_id, outcome="duplicate", detail=again)
            continue
        bill = by_md5.get(read.md5.lower()) if isinstance(read.md5, str) and read.md5 else None
        if bill is None and isinstance(read.number, str):
            bill = by_number.get(read.number)
        outcome, detail, paid_at = _decide(bill, read)
        if outcome == "applied" and bill is not None and paid_at is not None:
            writes.pay(bill, provider=callback.provider, ref=read.ref, amount=read.amount, paid_at=paid_at)
        bill_id = bill.id if bill is not None else None
        note_id = writes.note(callback, headers, signature_valid=True, outcome=outcome, detail=detail, read=read,
                              event_id=read.event_id, bill_id=bill_id)
        if outcome == "held":
            log.warning("payment held for review", notification=str(note_id), detail=detail)
        outcomes[index] = PaymentOutcome(notification_id=note_id, outcome=outcome, detail=detail,
                                         bill_number=bill.number if bill else None,
                                         bill_status=bill.status if bill else None)
        seen[key] = bill_id
    writes.write(session)
    return [outcome for outcome in outcomes if outcome is not None]


def notify_bill_payment(session: Session, actor: Actor, *, payer_fi: str, request_id: str, bill_number: str,
                        payment_ref: str, body: bytes, headers: Mapping[str, str]) -> PaymentOutcome:
    """A payer bank's system says it paid a bill in full (GovStack bill payment notification).

    The bank is an authenticated API client; its notification is recorded verbatim and applied like a
    provider callback, so a repeated request id or payment reference never pays twice.
    """
    actor.require(PAYMENTS_NOTIFY)
    bill = repository.bill_by_number(session, bill_number)
    event = {"event_id": request_id, "transaction_ref": payment_ref, "status": "SUCCESS", "bill_number": bill_number,
             "amount": money_text(bill.amount_minor, bill.currency) if bill else "0",
             "currency": bill.currency if bill else "KHR"}
    return _take_event(session, provider=f"fi:{payer_fi}"[:32], body=body, headers=headers, event=event)


def record_wallet_payment(session: Session, actor: Actor, *, provider: str, event_id: str, transaction_ref: str,
                          bill_number: str, amount: str, currency: str, body: bytes,
                          headers: Mapping[str, str]) -> PaymentOutcome:
    """A payer's provider reports a payment it made for a bill, with the amount it moved (GovStack's
    QA-branch P2G transactions API, after the GSMA Mobile Money API).

    The provider is an authenticated API client; its report is recorded verbatim and applied like a
    callback: a repeated event never pays twice, and an amount that differs from the bill is held.
    """
    actor.require(PAYMENTS_NOTIFY)
    if len(currency) == 3 and currency.isalpha():
        _parse_amount(amount, currency, "amount")  # a positive amount in the currency's units, or a 422
    event = {"event_id": event_id, "transaction_ref": transaction_ref, "status": "SUCCESS",
             "bill_number": bill_number, "amount": amount, "currency": currency}
    return _take_event(session, provider=provider[:32], body=body, headers=headers, event=event)


def get_notification(session: Session, actor: Actor, *, notification_id: uuid.UUID) -> tuple[NotificationRead,
                                                                                              str | None]:
    """A payment notification as recorded, and the number of the bill it concerns (for its sender or a reader)."""
    if not (actor.can(PAYMENTS_NOTIFY) or actor.can(PAYMENTS_READ)):
        actor.require(PAYMENTS_READ)
    note = repository.notification(session, notification_id)
    if note is None:
        raise NotFound(_("There is no such payment notification."))
    bill = session.get(Bill, note.bill_id) if note.bill_id else None
    return NotificationRead.model_validate(note), bill.number if bill else None


def _settle_note(note: ProviderNotification, bill: Bill | None, outcome: str, detail: str | None) -> PaymentOutcome:
    note.outcome = outcome
    note.detail = detail
    if outcome == "held":
        log.warning("payment held for review", notification=str(note.id), detail=detail)
    return PaymentOutcome(notification_id=note.id, outcome=outcome, detail=detail,
                          bill_number=bill.number if bill else None, bill_status=bill.status if bill else None)


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _pay(session: Session, bill: Bill, *, provider: str, ref: str, amount: int, paid_at: datetime,
         flush: bool = True) -> None:
    before = _snapshot(bill)
    bill.status = "paid"
    bill.paid_minor = amount
    bill.paid_at = paid_at
    bill.provider = provider
    bill.provider_ref = ref
    post_transaction(session, kind="payment", currency=bill.currency, bill_id=bill.id, memo=ref, flush=flush,
                     lines=[(clearing_account(provider), amount), (agency_account(bill.agency_code), -amount)])
    audit.record_change(session, Actor.system(f"provider:{provider}"), action="bill.pay",
                        subject_type="payments_bill", subject_id=bill.id, before=before, after=_snapshot(bill))
    enqueue(session, channel="pubsub", destination="payments.bill.paid", idempotency_key=f"bill-paid:{bill.id}",
            flush=flush,
            payload={"bill_number": bill.number, "subject_type": bill.subject_type, "subject_id": bill.subject_id,
                     "amount_minor": amount, "currency": bill.currency, "paid_at": paid_at.isoformat()})


def list_notifications(session: Session, actor: Actor, *, outcome: str | None = None, cursor: str | None = None,
                       limit: int = DEFAULT_LIMIT) -> Page[NotificationRead]:
    """Provider notifications as received, newest first (``outcome="held"``: the review queue)."""
    actor.require(PAYMENTS_READ)
    rows, next_cursor = paginate(session, repository.notifications_query(outcome), ProviderNotification.id,
                                 cursor=cursor, limit=limit, newest_first=True)
    return Page[NotificationRead](items=[NotificationRead.model_validate(r) for r in rows], next_cursor=next_cursor)


# --- payments held for review ---------------------------------------------------------------------


def _review_read(session: Session, review: PaymentReview) -> ReviewRead:
    read = ReviewRead.model_validate(review)
    if review.bill_id is not None:
        bill = session.get(Bill, review.bill_id)
        read.bill_number = bill.number if bill else None
    return read


def _held_note(session: Session, notification_id: uuid.UUID) -> ProviderNotification:
    note = repository.notification(session, notification_id, lock=True)
    if note is None:
        raise NotFound(_("There is no such payment notification."))
    return note


def _require_review(actor: Actor, bill_id: uuid.UUID | None, session: Session) -> None:
    bill = session.get(Bill, bill_id) if bill_id else None
    if bill is None:
        actor.require_everywhere(PAYMENTS_REVIEW)  # a payment that names no bill belongs to no one unit
    else:
        actor.require(PAYMENTS_REVIEW, bill.org_unit_id)


def review_held_payment(session: Session, actor: Actor, *, notification_id: uuid.UUID, decision: str,
                        reason: str, bill_number: str | None = None, four_eyes_above: Mapping[str, int],
                        refund_url: str | None = None) -> ReviewRead:
    """Decide on a payment held for review: ``accept`` pays the bill with what was paid (the bill it
    names, or ``bill_number`` when it named none), ``return`` sends the money back to the payer.

    The reason is required and kept. Above the four-eyes amount the decision waits for a second
    officer (``confirm_review``); below it, it is carried out at once, with its ledger postings.
    """
    if decision not in ("accept", "return"):
        raise ValidationFailed(errors=[field_error(["decision"], _("Choose one of the options."),
                                                   "unknown_decision")])
    note = _held_note(session, notification_id)
    bill: Bill | None = None
    if decision == "accept" and bill_number and bill_number.strip():
        bill = repository.bill_by_number(session, bill_number.strip(), lock=True) \
            if damm_valid(bill_number.strip()) else None
        if bill is None:
            raise ValidationFailed(errors=[field_error(["bill_number"], _("There is no bill with this number."),
                                                       "unknown_bill")])
    elif note.bill_id is not None:
        bill = session.get(Bill, note.bill_id, with_for_update=True)
    _require_review(actor, bill.id if bill else None, session)
    if note.outcome != "held":
        raise Conflict(_("This payment is not held for review."))
    if repository.pending_review(session, note.id) is not None:
        raise Conflict(_("A decision on this payment already waits for a second officer."))
    if not reason.strip():
        raise ValidationFailed(errors=[field_error(["reason"], _("Give the reason for your decision."),
                                                   "reason_required")])
    if note.amount_minor is None or note.currency is None:
        raise Conflict(_("This notification names no amount; it can only be rejected."))
    if decision == "accept":
        _check_acceptable(note, bill)
    review = PaymentReview(id=new_id(), notification_id=note.id, decision=decision,
                           bill_id=bill.id if bill and decision == "accept" else note.bill_id,
                           amount_minor=note.amount_minor, currency=note.currency, reason=reason.strip()[:400],
                           status="pending", proposed_by=actor.id, proposed_by_name=actor.name,
                           created_at=utcnow())
    session.add(review)
    session.flush()
    audit.record_change(session, actor, action=f"payment.{decision}.propose", subject_type="payments_notification",
                        subject_id=note.id, reason=review.reason,
                        after={"decision": decision, "bill": bill.number if bill else None,
                               "amount_minor": review.amount_minor, "currency": review.currency})
    limit = four_eyes_above.get(note.currency)
    if limit is None or note.amount_minor > limit:
        return _review_read(session, review)
    return _carry_out(session, actor, review, note, refund_url)


def _check_acceptable(note: ProviderNotification, bill: Bill | None) -> None:
    if bill is None:
        raise ValidationFailed(errors=[field_error(["bill_number"], _("Name the bill this payment is for."),
                                                   "bill_required")])
    if bill.status not in ("open", "expired"):
        raise Conflict(_("This bill cannot take a payment any more (it is %(status)s); return the payment instead.",
                         status=bill.status))
    if bill.currency != note.currency:
        raise Conflict(_("The payment is in another currency than the bill; return it instead."))


def confirm_review(session: Session, actor: Actor, *, review_id: uuid.UUID,
                   refund_url: str | None = None) -> ReviewRead:
    """A second officer confirms a decision on a held payment, which is then carried out."""
    review = repository.review(session, review_id, lock=True)
    if review is None:
        raise NotFound(_("There is no such decision."))
    _require_review(actor, review.bill_id, session)
    if review.status != "pending":
        raise Conflict(_("This decision was already confirmed or declined."))
    if review.proposed_by is not None and review.proposed_by == actor.id:
        raise Forbidden(_("A second officer must confirm a decision you proposed."))
    note = _held_note(session, review.notification_id)
    if review.decision == "accept":
        _check_acceptable(note, session.get(Bill, review.bill_id, with_for_update=True) if review.bill_id else None)
    return _carry_out(session, actor, review, note, refund_url)


def decline_review(session: Session, actor: Actor, *, review_id: uuid.UUID, reason: str) -> ReviewRead:
    """Turn down a proposed decision (a second officer, or the proposer withdrawing it); the payment stays held."""
    review = repository.review(session, review_id, lock=True)
    if review is None:
        raise NotFound(_("There is no such decision."))
    _require_review(actor, review.bill_id, session)
    if review.status != "pending":
        raise Conflict(_("This decision was already confirmed or declined."))
    if not reason.strip():
        raise ValidationFailed(errors=[field_error(["reason"], _("Give the reason for your decision."),
                                                   "reason_required")])
    review.status = "declined"
    review.decided_by, review.decided_by_name, review.decided_at = actor.id, actor.name, utcnow()
    review.decline_reason = reason.strip()[:400]
    session.flush()
    audit.record_change(session, actor, action=f"payment.{review.decision}.decline",
                        subject_type="payments_notification", subject_id=review.notification_id,
                        reason=review.decline_reason, before={"status": "pending"}, after={"status": "declined"})
    return _review_read(session, review)


def _carry_out(session: Session, actor: Actor, review: PaymentReview, note: ProviderNotification,
               refund_url: str | None) -> ReviewRead:
    before = {"outcome": note.outcome, "detail": note.detail, "bill_id": str(note.bill_id) if note.bill_id else None}
    provider = note.provider
    ref = note.transaction_ref or str(note.id)
    if review.decision == "accept":
        bill = session.get(Bill, review.bill_id, with_for_update=True)
        assert bill is not None
        paid_at = _when(_event_field(note.body, "paid_at")) or note.received_at
        _pay(session, bill, provider=provider, ref=ref, amount=review.amount_minor, paid_at=paid_at)
        note.bill_id = bill.id
        note.outcome = "accepted"
    else:
        # The money reached the provider for us and goes back to the payer: in, then out again.
        lines = [(clearing_account(provider), review.amount_minor), (returns_account(provider), -review.amount_minor)]
        post_transaction(session, kind="held_receipt", currency=review.currency, bill_id=note.bill_id, memo=ref,
                         lines=lines)
        post_transaction(session, kind="return", currency=review.currency, bill_id=note.bill_id, memo=ref,
                         lines=[(account, -amount) for account, amount in lines])
        if refund_url:
            enqueue(session, channel="webhook", destination=refund_url, idempotency_key=f"return:{review.id}",
                    payload={"transaction_ref": note.transaction_ref, "amount": money_text(review.amount_minor,
                                                                                           review.currency),
                             "currency": review.currency, "return_id": str(review.id), "reason": review.reason})
        note.outcome = "returned"
    note.resolved_at = utcnow()
    review.status = "done"
    review.decided_by, review.decided_by_name, review.decided_at = actor.id, actor.name, note.resolved_at
    session.flush()
    audit.record_change(session, actor, action=f"payment.{review.decision}", subject_type="payments_notification",
                        subject_id=note.id, reason=review.reason, before=before,
                        after={"outcome": note.outcome, "bill_id": str(note.bill_id) if note.bill_id else None,
                               "proposed_by": review.proposed_by_name, "amount_minor": review.amount_minor})
    return _review_read(session, review)


def _event_field(body: str, name: str) -> Any:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    return event.get(name) if isinstance(event, dict) else None


def list_held_payments(session: Session, actor: Actor, *, limit: int = 100) -> list[HeldPaymentRead]:
    """The review queue: payments held for review, oldest first, with their bill and any decision waiting."""
    actor.require(PAYMENTS_READ)
    held = []
    for note in repository.held_notifications(session, limit):
        bill = session.get(Bill, note.bill_id) if note.bill_id else None
        history = [_review_read(session, r) for r in repository.reviews_of(session, note.id)]
        held.append(HeldPaymentRead(
            notification=NotificationRead.model_validate(note), bill_number=bill.number if bill else None,
            bill_amount_minor=bill.amount_minor if bill else None, bill_currency=bill.currency if bill else None,
            bill_status=bill.status if bill else None,
            pending=next((r for r in history if r.status == "pending"), None), history=history))
    return held


def list_reviews(session: Session, actor: Actor, *, status: str | None = None, limit: int = 100) -> list[ReviewRead]:
    """Decisions on held payments, newest first (``status="pending"``: those waiting for a second officer)."""
    actor.require(PAYMENTS_READ)
    return [_review_read(session, r) for r in repository.reviews(session, status, limit)]


# --- receipts -------------------------------------------------------------------------------------


def payment_receipt(session: Session, *, number: str, ring: trust.KeyRing, language: str) -> bytes:
    """The receipt of a paid bill as a PDF in ``language``, sealed through the trust services.

    Anyone holding the bill number may fetch it, like the bill page; it names no payer. The first
    request in a language seals and keeps the receipt, later ones get the very same document.
    """
    if language not in i18n.LOCALES:
        raise ValidationFailed(errors=[field_error(["lang"], _("Choose one of the options."), "unknown_language")])
    bill = _bill(session, number)
    if bill.status != "paid" or bill.paid_minor is None or bill.paid_at is None:
        raise Conflict(_("Only a paid bill has a receipt."), code="not_paid")
    kept = repository.receipt(session, bill.id, language)
    if kept is not None:
        return kept.pdf
    token = i18n.locale_var.set(language)
    try:
        pdf = _receipt_document(session, bill, language)
    finally:
        i18n.locale_var.reset(token)
    actor = Actor.system("payments")
    sealed = trust.sign_pdf(session, actor, ring=ring, data=pdf, document_name=f"receipt-{bill.number}-{language}.pdf",
                            reason=f"payment receipt {bill.number}", language=language)
    try:
        with session.begin_nested():
            session.add(Receipt(id=new_id(), bill_id=bill.id, language=language, pdf=sealed.pdf,
                                signature_record_id=sealed.record.id, created_at=utcnow()))
            session.flush()
    except IntegrityError:  # sealed at the same moment by another request: serve that one
        kept = repository.receipt(session, bill.id, language)
        assert kept is not None
        return kept.pdf
    audit.record_change(session, actor, action="receipt.issue", subject_type="payments_bill", subject_id=bill.id,
                        after={"language": language, "signature_record": str(sealed.record.id)})
    return sealed.pdf


def _receipt_document(session: Session, bill: Bill, language: str) -> bytes:
    fee = session.get(Fee, bill.fee_id)
    fee_name = (fee.name.get(language) or fee.name.get("en") or next(iter(fee.name.values()), fee.code)) \
        if fee else ""
    assert bill.paid_minor is not None and bill.paid_at is not None
    lines = [
        ReceiptLine(_("Bill number"), bill.number, ltr_value=True),
        ReceiptLine(_("Fee"), fee_name),
        ReceiptLine(_("Collecting agency"), bill.agency_code, ltr_value=True),
        ReceiptLine(_("Amount paid"), i18n.format_money(bill.paid_minor, bill.currency)),
        ReceiptLine(_("Paid on"), i18n.format_datetime(bill.paid_at, "long")),
        ReceiptLine(_("Paid through"), bill.provider or "—", ltr_value=True),
        ReceiptLine(_("Transaction reference"), bill.provider_ref or "—", ltr_value=True),
        ReceiptLine(_("Receipt issued"), i18n.format_datetime(utcnow(), "long")),
    ]
    return receipt_pdf(title=_("Receipt of payment"), heading=_("Government fee paid by KHQR"), lines=lines,
                       note=_("This receipt is sealed electronically. Scan the code on the seal to check it "
                              "on the government's verification page."),
                       rtl=i18n.is_rtl(language), language=language,
                       document_title=_("Receipt of payment") + f" {bill.number}")


# --- refunds --------------------------------------------------------------------------------------


def four_eyes_limits(text: str) -> dict[str, int]:
    """Parse ``"KHR 400000, USD 100"`` into minor units per currency."""
    limits: dict[str, int] = {}
    for part in text.split(","):
        if part.strip():
            currency, amount = part.split()
            limits[currency.upper()] = Money.parse(amount, currency.upper()).minor
    return limits


def request_refund(session: Session, actor: Actor, *, number: str, reason: str, amount: str | None = None,
                   four_eyes_above: Mapping[str, int], refund_url: str | None = None) -> RefundRead:
    """Refund a paid bill (all of it unless ``amount`` says less); above the limit it waits for a second officer."""
    bill = _bill(session, number, lock=True)
    actor.require(PAYMENTS_REFUND, bill.org_unit_id)
    if bill.status != "paid" or bill.paid_minor is None:
        raise Conflict(_("Only a paid bill can be refunded."))
    if repository.pending_refund(session, bill.id) is not None:
        raise Conflict(_("A refund of this bill is already waiting for approval."))
    if not reason.strip():
        raise ValidationFailed(errors=[field_error(["reason"], _("Say why the money is returned."),
                                                   "reason_required")])
    minor = bill.paid_minor if not amount else _parse_amount(amount, bill.currency, "amount")
    if minor > bill.paid_minor:
        raise ValidationFailed(errors=[field_error(["amount"], _("A refund cannot exceed what was paid."),
                                                   "refund_too_large")])
    refund = Refund(bill_id=bill.id, amount_minor=minor, currency=bill.currency, reason=reason.strip(),
                    status="pending", requested_by=actor.id)
    session.add(refund)
    session.flush()
    audit.record_change(session, actor, action="refund.request", subject_type="payments_refund",
                        subject_id=refund.id, after={"bill": bill.number, "amount_minor": minor}, reason=reason)
    limit = four_eyes_above.get(bill.currency)
    if limit is None or minor > limit:
        return RefundRead.model_validate(refund)
    return _complete_refund(session, actor, refund, bill, refund_url)


def approve_refund(session: Session, actor: Actor, *, refund_id: uuid.UUID,
                   refund_url: str | None = None) -> RefundRead:
    """The second officer approves a refund above the limit; the requester cannot approve their own."""
    refund = repository.refund(session, refund_id, lock=True)
    if refund is None:
        raise NotFound(_("There is no such refund."))
    bill = session.get(Bill, refund.bill_id, with_for_update=True)
    assert bill is not None
    actor.require(PAYMENTS_APPROVE_REFUND, bill.org_unit_id)
    if refund.status != "pending":
        raise Conflict(_("This refund was already decided."))
    if refund.requested_by is not None and refund.requested_by == actor.id:
        raise Forbidden(_("A second officer must approve a refund you requested."))
    if bill.status != "paid":
        raise Conflict(_("Only a paid bill can be refunded."))
    return _complete_refund(session, actor, refund, bill, refund_url)


def reject_refund(session: Session, actor: Actor, *, refund_id: uuid.UUID, reason: str) -> RefundRead:
    """The second officer turns a refund down."""
    refund = repository.refund(session, refund_id, lock=True)
    if refund is None:
        raise NotFound(_("There is no such refund."))
    bill = session.get(Bill, refund.bill_id)
    assert bill is not None
    actor.require(PAYMENTS_APPROVE_REFUND, bill.org_unit_id)
    if refund.status != "pending":
        raise Conflict(_("This refund was already decided."))
    refund.status = "rejected"
    refund.decided_by = actor.id
    refund.decided_at = utcnow()
    session.flush()
    audit.record_change(session, actor, action="refund.reject", subject_type="payments_refund",
                        subject_id=refund.id, after={"status": "rejected"}, reason=reason)
    return RefundRead.model_validate(refund)


def _complete_refund(session: Session, actor: Actor, refund: Refund, bill: Bill,
                     refund_url: str | None) -> RefundRead:
    before = _snapshot(bill)
    refund.status = "completed"
    refund.decided_by = actor.id
    refund.decided_at = utcnow()
    provider = bill.provider or "unknown"
    post_transaction(session, kind="refund", currency=bill.currency, bill_id=bill.id, memo=str(refund.id),
                     lines=[(agency_account(bill.agency_code), refund.amount_minor),
                            (clearing_account(provider), -refund.amount_minor)])
    bill.status = "refunded"
    session.flush()
    audit.record_change(session, actor, action="bill.refund", subject_type="payments_bill", subject_id=bill.id,
                        before=before, after=_snapshot(bill), reason=refund.reason)
    if refund_url:  # the provider returns the money to the payer's account
        enqueue(session, channel="webhook", destination=refund_url, idempotency_key=f"refund:{refund.id}",
                payload={"transaction_ref": bill.provider_ref, "amount": str(Money(refund.amount_minor,
                                                                               bill.currency).decimal()),
                     "currency": bill.currency, "refund_id": str(refund.id)})
    return RefundRead.model_validate(refund)


def list_refunds(session: Session, actor: Actor, *, status: str | None = None) -> list[RefundRead]:
    """Refunds, newest first (``status="pending"``: those waiting for a second officer)."""
    actor.require(PAYMENTS_READ)
    return [RefundRead.model_validate(r) for r in repository.refunds(session, status)]


def money_text(minor: int, currency: str) -> str:
    """An amount as a plain decimal string (``41000``, ``12.50``), as providers send it."""
    return format(Money(minor, currency).decimal().quantize(Decimal(1).scaleb(-2)), "f")


# --- request to pay (GovStack) --------------------------------------------------------------------


def _rtp_read(rtp: RequestToPay, bill: Bill) -> RtpRead:
    status = {"paid": "PAID", "open": "PENDING", "refunded": "REFUNDED"}.get(bill.status, "REJECTED")
    return RtpRead(id=rtp.id, biller_id=rtp.biller_id, rtp_id=rtp.rtp_id, txn_id=rtp.txn_id, bill_number=bill.number,
                   amount_minor=bill.amount_minor, currency=bill.currency, bill_status=bill.status, status=status)


def request_to_pay(session: Session, actor: Actor, *, biller_id: str, rtp_id: str, txn_id: str, bill_number: str,
                   amount: str | None, payer_bank_url: str | None) -> RtpRead:
    """Ask the payer's bank to present a bill to its customer (request to pay), through the outbox."""
    bill = _bill(session, bill_number)
    actor.require(PAYMENTS_MANAGE, bill.org_unit_id)
    if bill.status != "open":
        raise Conflict(_("Only an open bill can be requested for payment."))
    if amount is not None and _parse_amount(amount, bill.currency, "billDetails/Amount") != bill.amount_minor:
        raise ValidationFailed(errors=[field_error(["billDetails", "Amount"], _("The amount differs from the bill."),
                                                   "amount_mismatch")])
    rtp = RequestToPay(biller_id=biller_id, rtp_id=rtp_id, txn_id=txn_id, bill_id=bill.id)
    try:
        with session.begin_nested():
            session.add(rtp)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(_("This request to pay was already sent.")) from exc
    if payer_bank_url:
        enqueue(session, channel="webhook", destination=payer_bank_url, idempotency_key=f"rtp:{rtp.id}",
                payload={"TxnID": txn_id, "rTPID": rtp_id, "billDetails": {
                    "Bill ID": bill.number, "Biller Name": biller_id, "Amount": money_text(bill.amount_minor,
                                                                                            bill.currency),
                    "Currency": bill.currency, "KHQR": bill.qr_payload}})
    audit.record_change(session, actor, action="rtp.send", subject_type="payments_bill", subject_id=bill.id,
                        after={"rtp_id": rtp_id, "txn_id": txn_id, "biller_id": biller_id})
    return _rtp_read(rtp, bill)


def transfer_request_status(session: Session, actor: Actor, *, rtp_id: str) -> RtpRead:
    """Where a request to pay stands: pending until its bill is paid."""
    actor.require(PAYMENTS_READ)
    found = repository.rtp_by_id(session, rtp_id)
    if found is None:
        raise NotFound(_("There is no such request to pay."))
    bill = session.get(Bill, found.bill_id)
    assert bill is not None
    return _rtp_read(found, bill)


# --- reconciliation -------------------------------------------------------------------------------


def reconcile_settlement(session: Session, actor: Actor, *, provider: str, filename: str, lines: Iterable[str],
                         file_sha256: str | None = None, progress: Callable[[int], None] | None = None,
                         ) -> ReconciliationRead:
    """Match a provider's settlement file against its recorded payments and keep the report.

    Matched payments are settled into the treasury (one balanced ledger transaction per currency);
    the same file (by its SHA-256) is never imported twice, so nothing is settled twice.
    """
    actor.require_everywhere(PAYMENTS_MANAGE)
    if file_sha256 and repository.reconciliation_by_sha256(session, file_sha256) is not None:
        raise Conflict(_("This settlement file was already reconciled."))
    expected = {ref: Expected(number, minor, currency)
                for ref, number, minor, currency in repository.paid_payments(session, provider)}
    outcome = Outcome()
    report = Reconciliation(provider=provider, filename=filename[:400], file_sha256=file_sha256, lines=0, counts={})
    session.add(report)
    session.flush()
    batch: list[dict[str, Any]] = []
    try:
        for item in reconcile(lines, expected, outcome, progress):
            batch.append({"id": uuid.uuid4(), "reconciliation_id": report.id, "kind": item.kind,
                          "transaction_ref": item.transaction_ref, "bill_number": item.bill_number,
                          "line_no": item.line_no, "expected_minor": item.expected_minor,
                          "settled_minor": item.settled_minor, "currency": item.currency})
            if len(batch) >= 5000:
                repository.add_reconciliation_items(session, batch)
                batch = []
    except SettlementFileError as exc:
        raise ValidationFailed(errors=[field_error(["file"], _("The settlement file must be CSV with the columns "
                                                               "transaction_ref, amount and currency."),
                                                   "bad_settlement_file")]) from exc
    repository.add_reconciliation_items(session, batch)
    report.lines = outcome.lines
    report.counts = {kind: outcome.counts.get(kind, 0) for kind in ("matched", "missing", "unexpected",
                                                                    "amount_mismatch", "duplicate", "unreadable")}
    report.counts["settled_minor"] = dict(outcome.matched_minor)
    for currency, total in outcome.matched_minor.items():
        post_transaction(session, kind="settlement", currency=currency, memo=f"reconciliation {report.id}",
                         lines=[(TREASURY, total), (clearing_account(provider), -total)])
    session.flush()
    audit.record_change(session, actor, action="reconciliation.import", subject_type="payments_reconciliation",
                        subject_id=report.id, after={"filename": report.filename, "counts": report.counts})
    return ReconciliationRead.model_validate(report)


def list_reconciliations(session: Session, actor: Actor) -> list[ReconciliationRead]:
    """Reconciliation reports, newest first."""
    actor.require(PAYMENTS_READ)
    return [ReconciliationRead.model_validate(r) for r in repository.reconciliations(session)]


def reconciliation_items(session: Session, actor: Actor, *, reconciliation_id: uuid.UUID,
                         limit: int = 500) -> list[ReconciliationItemRead]:
    """The discrepancies of one reconciliation (the first ``limit`` of them, by kind)."""
    actor.require(PAYMENTS_READ)
    if session.get(Reconciliation, reconciliation_id) is None:
        raise NotFound(_("There is no such reconciliation."))
    return [ReconciliationItemRead.model_validate(i)
            for i in repository.reconciliation_items(session, reconciliation_id, limit)]


# --- status checks --------------------------------------------------------------------------------


def check_open_bills(session: Session, actor: Actor, *, provider: PaymentProvider, limit: int = 500,
                     now: datetime | None = None) -> list[PaymentOutcome]:
    """Ask a provider (by MD5, in batches) about open bills whose QR is still payable; apply what it paid.

    For callbacks that never came: each payment found goes through the same idempotent path as a
    callback, so one that arrives later is recognised as a duplicate.
    """
    actor.require_everywhere(PAYMENTS_MANAGE)
    bills = repository.open_bills_with_live_qr(session, now or utcnow(), limit)
    outcomes = []
    for found in provider.check_by_md5_list([b.qr_md5 for b in bills]):
        if not found.found or not found.transaction_ref:
            continue
        event = {"event_id": f"status:{found.transaction_ref}", "transaction_ref": found.transaction_ref,
                 "status": "SUCCESS", "md5": found.md5, "amount": found.amount, "currency": found.currency,
                 "paid_at": found.acknowledged_at.isoformat() if found.acknowledged_at else None}
        body = json.dumps(event, separators=(",", ":")).encode()
        outcomes.append(_take_event(session, provider=provider.name, body=body, headers={}, event=event))
    return outcomes
