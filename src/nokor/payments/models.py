"""Tables of the payments domain: fee schedule, bills, provider notifications, ledger, refunds, reconciliation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Fee(Base):
    """A fee of the schedule: what one government service costs and which agency account collects it."""

    __tablename__ = "payments_fee"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[dict[str, str]] = mapped_column(JSONType)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    org_unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agency_code: Mapped[str] = mapped_column(String(64))
    bakong_account_id: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Bill(Base):
    """A demand to pay a fee, with a number people read out, one dynamic KHQR and a state.

    States: open → paid → refunded; open → expired or cancelled. ``subject_type``/``subject_id`` say
    what is paid for (an application, a certificate) in another domain.
    """

    __tablename__ = "payments_bill"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    fee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_fee.id"), index=True)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agency_code: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    payer_name: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    qr_payload: Mapped[str] = mapped_column(Text)
    qr_md5: Mapped[str] = mapped_column(String(32), unique=True)
    qr_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_minor: Mapped[int | None] = mapped_column(BigInteger)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProviderNotification(Base):
    """A payment notification from a provider, kept verbatim whatever became of it.

    ``outcome``: applied (the bill is paid), duplicate, ignored (a status that pays nothing),
    held (amount or state does not fit: an officer reviews it), rejected (bad signature or body).
    """

    __tablename__ = "payments_notification"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(128))
    transaction_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    signature_valid: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str | None] = mapped_column(String(400))
    bill_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments_bill.id"), index=True)
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    """One line of a double-entry transaction: positive debits, negative credits, in minor units.

    Append-only: a mistake is corrected by a new transaction, never by an update. The lines of one
    ``transaction_id`` sum to zero per currency.
    """

    __tablename__ = "payments_ledger_entry"
    __table_args__ = (Index("ix_payments_ledger_entry_account_currency", "account", "currency"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    transaction_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    bill_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    memo: Mapped[str | None] = mapped_column(String(200))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Refund(Base):
    """A refund of a paid bill; above the configured amount a second officer must approve it."""

    __tablename__ = "payments_refund"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    bill_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_bill.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Reconciliation(Base):
    """One import of a provider's settlement file and what matching it against the payments found."""

    __tablename__ = "payments_reconciliation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(400))
    file_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    lines: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReconciliationItem(Base):
    """A discrepancy found by a reconciliation (matched lines are counted, not stored)."""

    __tablename__ = "payments_reconciliation_item"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    reconciliation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments_reconciliation.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    transaction_ref: Mapped[str | None] = mapped_column(String(128))
    bill_number: Mapped[str | None] = mapped_column(String(16))
    line_no: Mapped[int | None] = mapped_column(Integer)
    expected_minor: Mapped[int | None] = mapped_column(BigInteger)
    settled_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))


class RequestToPay(Base):
    """A biller's request to pay a bill, forwarded to the payer's bank (GovStack RTP)."""

    __tablename__ = "payments_rtp"
    __table_args__ = (UniqueConstraint("biller_id", "rtp_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    biller_id: Mapped[str] = mapped_column(String(64))
    rtp_id: Mapped[str] = mapped_column(String(64))
    txn_id: Mapped[str] = mapped_column(String(64))
    bill_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_bill.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentReview(Base):
    """An officer's decision on a payment held for review: accept it for a bill, or return it to the payer.

    Above the four-eyes amount the decision is only proposed (``pending``) until a second officer
    confirms it (``done``) or declines it (``declined``, and the payment is held again).
    """

    __tablename__ = "payments_review"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_notification.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    bill_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments_bill.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), index=True)
    proposed_by: Mapped[uuid.UUID | None] = mapped_column()
    proposed_by_name: Mapped[str] = mapped_column(String(200))
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    decline_reason: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Receipt(Base):
    """The sealed receipt of a paid bill in one language, kept so that every download is the same document."""

    __tablename__ = "payments_receipt"
    __table_args__ = (UniqueConstraint("bill_id", "language"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    bill_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments_bill.id"))
    language: Mapped[str] = mapped_column(String(8))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    signature_record_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthorisationCode(Base):
    """A payer's pre-authorisation code (GSMA authorisation codes, GovStack QA P2G API).

    The payer's provider (an API client) creates it for one of its customer's accounts; it expires
    after its lifetime and pays at most one later transaction that quotes it (``redeemed_by``), within
    its amount (exactly, or at most). ``state`` is active or cancelled; "expired" is read from the times.
    """

    __tablename__ = "payments_authorisation_code"
    __table_args__ = (Index("ix_payments_authorisation_code_client_account", "client_id", "account"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    client_id: Mapped[uuid.UUID | None] = mapped_column()
    account: Mapped[str] = mapped_column(String(256))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    amount_type: Mapped[str] = mapped_column(String(8))
    lifetime_seconds: Mapped[int] = mapped_column(Integer)
    transaction_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    client_correlation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default="active")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redeemed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments_notification.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
