"""Every query of the payments domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, Select, Table, func, insert, or_, select
from sqlalchemy.orm import Session

from nokor.kit.bulk import in_values, insert_rows, is_postgresql, read_together, update_rows
from nokor.payments.models import (
    Bill,
    Fee,
    LedgerEntry,
    PaymentReview,
    ProviderNotification,
    Receipt,
    Reconciliation,
    ReconciliationItem,
    Refund,
    RequestToPay,
)


def fee_by_code(session: Session, code: str) -> Fee | None:
    return session.scalar(select(Fee).where(Fee.code == code))


def all_fees(session: Session) -> Sequence[Fee]:
    return session.scalars(select(Fee).order_by(Fee.code)).all()


def bill_by_number(session: Session, number: str, *, lock: bool = False) -> Bill | None:
    stmt = select(Bill).where(Bill.number == number)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def bill_for_payment(session: Session, *, md5: Any, number: Any) -> Bill | None:
    """The bill a payment is for: by the MD5 of its QR, else by the bill number; locked for update."""
    if isinstance(md5, str) and md5:
        bill = session.scalar(select(Bill).where(Bill.qr_md5 == md5.lower()).with_for_update())
        if bill is not None:
            return bill
    if isinstance(number, str) and number:
        return bill_by_number(session, number, lock=True)
    return None


class BillRow(NamedTuple):
    """What paying a bill in a batch needs of it (the columns of ``_BILL_STATE``)."""

    id: uuid.UUID
    number: str
    status: str
    amount_minor: int
    currency: str
    paid_minor: int | None
    paid_at: datetime | None
    provider: str | None
    provider_ref: str | None
    qr_md5: str
    qr_expires_at: datetime
    agency_code: str
    subject_type: str | None
    subject_id: str | None


_BILL_STATE = BillRow._fields


def bill_rows_for_payments(session: Session, *, md5s: set[str], numbers: set[str]) -> Sequence[Row[Any]]:
    """The bills of a batch of payments by QR MD5 or number, as rows of what paying them needs; locked in id
    order (no deadlocks)."""
    if not md5s and not numbers:
        return []
    columns = [getattr(Bill, name) for name in _BILL_STATE]
    stmt = select(*columns).where(or_(in_values(session, Bill.qr_md5, md5s), in_values(session, Bill.number, numbers)))
    return session.execute(stmt.order_by(Bill.id).with_for_update()).all()


_SEEN_SQL = (
    "SELECT n.provider, n.event_id, n.bill_id FROM payments_notification AS n"
    " JOIN unnest(CAST(%b AS varchar[]), CAST(%b AS varchar[])) AS k(provider, event_id)"
    " ON n.provider = k.provider AND n.event_id = k.event_id")
_BILLS_SQL = (
    f"SELECT {', '.join(_BILL_STATE)} FROM payments_bill"  # noqa: S608 (the names of the bill's columns)
    " WHERE qr_md5 = ANY(CAST(%b AS varchar[])) OR number = ANY(CAST(%b AS varchar[])) ORDER BY id FOR UPDATE")


def payment_lookups(session: Session, *, events: set[tuple[str, str]], md5s: set[str], numbers: set[str]
                    ) -> tuple[dict[tuple[str, str], uuid.UUID | None], Sequence[BillRow | Row[Any]]]:
    """What a batch of payments reads: which (provider, event id) were recorded before (and the bill each
    concerned), and the bills by QR MD5 or number, locked in id order (``bill_rows_for_payments``).

    On PostgreSQL both go in one round trip."""
    if not is_postgresql(session):
        return (notifications_by_events(session, events),
                bill_rows_for_payments(session, md5s=md5s, numbers=numbers))
    ordered = sorted(events)
    seen_rows, bill_rows = read_together(session, [
        (_SEEN_SQL, [[p for p, _e in ordered], [e for _p, e in ordered]]),
        (_BILLS_SQL, [sorted(md5s), sorted(numbers)])])
    bills = [BillRow._make((*row[:6], row[6].astimezone(UTC) if row[6] else None, *row[7:10],
                            row[10].astimezone(UTC), *row[11:])) for row in bill_rows]
    return {(provider, event): bill for provider, event, bill in seen_rows}, bills


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def insert_notifications(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record notifications (every column given) in one batched statement."""
    insert_rows(session, _table(ProviderNotification), rows)


def insert_ledger_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append ledger entries (every column given) in one batched statement."""
    insert_rows(session, _table(LedgerEntry), rows)


def mark_bills_paid(session: Session, changes: list[dict[str, Any]]) -> None:
    """Set bills paid (``id``, ``status``, ``paid_minor``, ``paid_at``, ``provider``, ``provider_ref``,
    ``updated_at``) in one statement."""
    update_rows(session, _table(Bill), "id", changes)


def notifications_by_events(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str],
                                                                                     uuid.UUID | None]:
    """Which of these (provider, event id) were recorded before, and the bill each concerned."""
    if not keys:
        return {}
    found: dict[tuple[str, str], uuid.UUID | None] = {}
    for provider in {p for p, _e in keys}:
        events = sorted(e for p, e in keys if p == provider)
        rows = session.execute(select(ProviderNotification.event_id, ProviderNotification.bill_id).where(
            ProviderNotification.provider == provider,
            in_values(session, ProviderNotification.event_id, events))).all()
        found.update({(provider, str(event)): bill for event, bill in rows})
    return found


def bills_query(*, status: str | None, org_unit_ids: Iterable[uuid.UUID] | None) -> Select[Bill]:
    stmt = select(Bill)
    if status:
        stmt = stmt.where(Bill.status == status)
    if org_unit_ids is not None:
        stmt = stmt.where(Bill.org_unit_id.in_(list(org_unit_ids)))
    return stmt


def overdue_bills(session: Session, now: datetime) -> Sequence[Bill]:
    return session.scalars(select(Bill).where(Bill.status == "open", Bill.due_at < now).with_for_update()).all()


def notification_by_event(session: Session, provider: str, event_id: str) -> ProviderNotification | None:
    return session.scalar(select(ProviderNotification).where(
        ProviderNotification.provider == provider, ProviderNotification.event_id == event_id))


def notifications_query(outcome: str | None) -> Select[ProviderNotification]:
    stmt = select(ProviderNotification)
    if outcome:
        stmt = stmt.where(ProviderNotification.outcome == outcome)
    return stmt


def balances(session: Session) -> Sequence[Any]:
    return session.execute(
        select(LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor))
        .group_by(LedgerEntry.account, LedgerEntry.currency).order_by(LedgerEntry.account, LedgerEntry.currency)
    ).all()


def ledger_check(session: Session) -> tuple[int, int, list[uuid.UUID]]:
    """(transactions, entries, transactions whose lines do not sum to zero in some currency)."""
    entries = session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
    transactions = session.scalar(select(func.count(func.distinct(LedgerEntry.transaction_id)))) or 0
    unbalanced = session.scalars(
        select(LedgerEntry.transaction_id).group_by(LedgerEntry.transaction_id, LedgerEntry.currency)
        .having(func.sum(LedgerEntry.amount_minor) != 0)
    ).all()
    return transactions, entries, sorted(set(unbalanced))


def entries_query(account: str | None) -> Select[LedgerEntry]:
    stmt = select(LedgerEntry)
    if account:
        stmt = stmt.where(LedgerEntry.account == account)
    return stmt


def pending_refund(session: Session, bill_id: uuid.UUID) -> Refund | None:
    return session.scalar(select(Refund).where(Refund.bill_id == bill_id, Refund.status == "pending"))


def refund(session: Session, refund_id: uuid.UUID, *, lock: bool = False) -> Refund | None:
    return session.get(Refund, refund_id, with_for_update=lock)


def refunds(session: Session, status: str | None) -> Sequence[Refund]:
    stmt = select(Refund).order_by(Refund.created_at.desc()).limit(500)
    if status:
        stmt = stmt.where(Refund.status == status)
    return session.scalars(stmt).all()


def paid_payments(session: Session, provider: str) -> Iterator[tuple[str, str, int, str]]:
    """(transaction ref, bill number, amount, currency) of every payment through ``provider``, streamed."""
    stmt = (select(Bill.provider_ref, Bill.number, Bill.paid_minor, Bill.currency)
            .where(Bill.provider == provider, Bill.provider_ref.is_not(None), Bill.paid_minor.is_not(None))
            .execution_options(yield_per=10_000))
    for ref, number, minor, currency in session.execute(stmt):
        if ref is not None and minor is not None:
            yield ref, number, minor, currency


def reconciliations(session: Session) -> Sequence[Reconciliation]:
    return session.scalars(select(Reconciliation).order_by(Reconciliation.created_at.desc()).limit(200)).all()


def reconciliation_items(session: Session, reconciliation_id: uuid.UUID, limit: int) -> Sequence[ReconciliationItem]:
    return session.scalars(select(ReconciliationItem).where(ReconciliationItem.reconciliation_id == reconciliation_id)
                           .order_by(ReconciliationItem.kind, ReconciliationItem.line_no).limit(limit)).all()


def rtp_by_id(session: Session, rtp_id: str) -> RequestToPay | None:
    """A request to pay by its Nokor id (UUID) or by the biller's rTPID."""
    try:
        return session.get(RequestToPay, uuid.UUID(rtp_id))
    except ValueError:
        return session.scalars(select(RequestToPay).where(RequestToPay.rtp_id == rtp_id)
                               .order_by(RequestToPay.created_at.desc())).first()


def reconciliation_by_sha256(session: Session, sha256: str) -> Reconciliation | None:
    return session.scalar(select(Reconciliation).where(Reconciliation.file_sha256 == sha256))


def add_reconciliation_items(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(ReconciliationItem), rows)


def open_bills_with_live_qr(session: Session, now: datetime, limit: int) -> Sequence[Bill]:
    return session.scalars(select(Bill).where(Bill.status == "open", Bill.qr_expires_at > now)
                           .order_by(Bill.created_at).limit(limit)).all()


def notification(session: Session, notification_id: uuid.UUID, *, lock: bool = False) -> ProviderNotification | None:
    return session.get(ProviderNotification, notification_id, with_for_update=lock)


def held_notifications(session: Session, limit: int) -> Sequence[ProviderNotification]:
    return session.scalars(select(ProviderNotification).where(ProviderNotification.outcome == "held")
                           .order_by(ProviderNotification.received_at).limit(limit)).all()


def pending_review(session: Session, notification_id: uuid.UUID) -> PaymentReview | None:
    return session.scalar(select(PaymentReview).where(PaymentReview.notification_id == notification_id,
                                                      PaymentReview.status == "pending"))


def review(session: Session, review_id: uuid.UUID, *, lock: bool = False) -> PaymentReview | None:
    return session.get(PaymentReview, review_id, with_for_update=lock)


def reviews_of(session: Session, notification_id: uuid.UUID) -> Sequence[PaymentReview]:
    return session.scalars(select(PaymentReview).where(PaymentReview.notification_id == notification_id)
                           .order_by(PaymentReview.created_at)).all()


def reviews(session: Session, status: str | None, limit: int) -> Sequence[PaymentReview]:
    stmt = select(PaymentReview).order_by(PaymentReview.created_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(PaymentReview.status == status)
    return session.scalars(stmt).all()


def receipt(session: Session, bill_id: uuid.UUID, language: str) -> Receipt | None:
    return session.scalar(select(Receipt).where(Receipt.bill_id == bill_id, Receipt.language == language))
