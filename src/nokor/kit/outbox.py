"""The transactional outbox: messages leave the process only after the change that caused them commits.

A service calls ``enqueue`` in the same transaction as its change; ``nokor worker`` delivers what is
due, at least once, retrying with exponential backoff, and moves what never goes through to the dead
letters for an administrator to look at.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index, Integer, String, Table, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from nokor.db import Base, JSONType, UTCDateTime, new_id
from nokor.kit.bulk import insert_rows
from nokor.kit.errors import Conflict, NotFound, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.pagination import DEFAULT_LIMIT, Page, paginate
from nokor.kit.time import utcnow

CHANNELS = ("webhook", "email", "sms", "pubsub")
STATUSES = ("pending", "delivered", "dead")


class OutboxMessage(Base):
    """A message waiting to leave the platform (a webhook call, an e-mail, an SMS, a pub/sub event)."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "available_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(32))
    destination: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    headers: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def enqueue(
    session: Session,
    *,
    channel: str,
    destination: str,
    payload: dict[str, Any],
    idempotency_key: str | None = None,
    headers: dict[str, str] | None = None,
    available_at: datetime | None = None,
    flush: bool = True,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction; it is sent only if that commits.

    ``flush=False`` leaves the insert to the caller's next flush, so that a batch of messages goes
    to the database in one statement.

    The idempotency key travels with every attempt (as the ``Idempotency-Key`` header of a webhook),
    so a receiver can drop the duplicates that at-least-once delivery may bring.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    message_id = new_id()
    message = OutboxMessage(
        id=message_id,
        channel=channel,
        destination=destination,
        payload=payload,
        headers=headers or {},
        idempotency_key=idempotency_key or str(message_id),
        status="pending",
        attempts=0,
        available_at=available_at or utcnow(),
    )
    session.add(message)
    if flush:
        session.flush()
    return message


@dataclass(frozen=True)
class Outgoing:
    """One message for ``enqueue_many``: where it goes, what it says, and its idempotency key."""

    destination: str
    payload: dict[str, Any]
    idempotency_key: str | None = None
    headers: dict[str, str] | None = None


def enqueue_many(session: Session, *, channel: str, messages: Sequence[Outgoing]) -> list[uuid.UUID]:
    """Add many messages to the outbox in the caller's transaction, in one statement; returns their ids.

    Each is the message ``enqueue`` would make (due now, pending); for a service that changes many
    records in one transaction.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    if not messages:
        return []
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for message in messages:
        message_id = new_id()
        rows.append({"id": message_id, "channel": channel, "destination": message.destination,
                     "payload": message.payload, "headers": message.headers or {},
                     "idempotency_key": message.idempotency_key or str(message_id), "status": "pending",
                     "attempts": 0, "available_at": now, "leased_until": None, "last_error": None,
                     "created_at": now, "delivered_at": None, "dead_at": None})
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    insert_rows(session, table, rows)
    return [row["id"] for row in rows]


BACKOFF_CAP_SECONDS = 3600.0
LAST_ERROR_MAX_CHARS = 2000


@dataclass(frozen=True)
class ClaimedMessage:
    """A message leased to one worker for one delivery attempt; a plain copy, safe outside a session.

    ``attempt`` is the number of this attempt (1 for the first), counted when the message is claimed so
    that a message which kills the worker still uses up its attempts.
    """

    id: uuid.UUID
    channel: str
    destination: str
    payload: dict[str, Any]
    headers: dict[str, str]
    idempotency_key: str
    attempt: int
    leased_until: datetime


class OutboxMessageRead(BaseModel):
    """What an administrator sees of an outbox message (listing, dead letters, retry)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    destination: str
    payload: dict[str, Any]
    headers: dict[str, str]
    idempotency_key: str
    status: str
    attempts: int
    available_at: datetime
    leased_until: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None


def claim_due(
    session: Session,
    *,
    now: datetime,
    batch_size: int,
    lease_seconds: float,
    channels: Collection[str] | None = None,
) -> list[ClaimedMessage]:
    """Lease up to ``batch_size`` due pending messages (oldest first) to the calling worker.

    A leased message is invisible to other workers until ``leased_until``; if the worker dies before
    recording a result, the lease runs out and the message is claimed again. ``channels`` limits the
    claim to the channels the caller can deliver, so the others wait for a worker that can.
    On PostgreSQL rows are locked with ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait
    for or take each other's rows; SQLite transactions are serialised by ``BEGIN IMMEDIATE``.
    """
    if channels is not None and not channels:
        return []
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.available_at <= now,
            or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until <= now),
        )
        .order_by(OutboxMessage.available_at, OutboxMessage.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    if channels is not None:
        stmt = stmt.where(OutboxMessage.channel.in_(list(channels)))
    leased_until = now + timedelta(seconds=lease_seconds)
    claimed: list[ClaimedMessage] = []
    for message in session.scalars(stmt):
        message.leased_until = leased_until
        message.attempts += 1
        claimed.append(
            ClaimedMessage(
                id=message.id,
                channel=message.channel,
                destination=message.destination,
                payload=message.payload,
                headers=dict(message.headers),
                idempotency_key=message.idempotency_key,
                attempt=message.attempts,
                leased_until=leased_until,
            )
        )
    session.flush()
    return claimed


def mark_delivered(session: Session, message_id: uuid.UUID, *, now: datetime | None = None) -> None:
    """Record that the receiver accepted the message, so it is never sent again.

    Delivery wins over any failure recorded by another worker whose lease had run out: the receiver
    has the message, whatever else happened.
    """
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status != "delivered")
        .values(status="delivered", delivered_at=now or utcnow(), leased_until=None, dead_at=None)
    )


def retry_delay(attempt: int, backoff_seconds: float) -> float:
    """Seconds to wait after failed attempt number ``attempt``: exponential, capped, with jitter.

    The jitter (between half and all of the delay) spreads out retries of messages that failed
    together, so a receiver coming back up is not hit by all of them at once.
    """
    delay: float = min(BACKOFF_CAP_SECONDS, backoff_seconds * 2.0 ** max(attempt - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - spreading load, not a secret


def mark_failed(
    session: Session,
    message_id: uuid.UUID,
    *,
    error: str,
    max_attempts: int,
    backoff_seconds: float,
    now: datetime | None = None,
) -> str:
    """Record a failed attempt: schedule a retry with backoff, or move the message to the dead letters.

    Returns the message's new status (``pending`` or ``dead``). A message already delivered (by a
    worker that took over after a lease ran out) is left as it is.
    """
    now = now or utcnow()
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.status != "pending":
        return message.status if message is not None else "missing"
    message.last_error = error[:LAST_ERROR_MAX_CHARS]
    message.leased_until = None
    if message.attempts >= max_attempts:
        message.status = "dead"
        message.dead_at = now
    else:
        message.available_at = now + timedelta(seconds=retry_delay(message.attempts, backoff_seconds))
    session.flush()
    return message.status


def release(session: Session, message_ids: Collection[uuid.UUID]) -> None:
    """Give back claimed messages that were never attempted (the worker is stopping), due at once.

    The attempt counted at claim time is returned too, since nothing was sent.
    """
    if not message_ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(list(message_ids)),
            OutboxMessage.status == "pending",
            OutboxMessage.attempts > 0,
        )
        .values(leased_until=None, attempts=OutboxMessage.attempts - 1)
    )


def retry_dead(session: Session, message_id: uuid.UUID) -> OutboxMessageRead:
    """Send a dead message again from scratch (an administrator fixed the receiver).

    Its attempts start over at zero; the last error is kept until a new attempt replaces it.
    """
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound(_("This outbox message does not exist."))
    if message.status != "dead":
        raise Conflict(_("Only a dead outbox message can be retried."))
    message.status = "pending"
    message.attempts = 0
    message.available_at = utcnow()
    message.leased_until = None
    message.dead_at = None
    session.flush()
    return OutboxMessageRead.model_validate(message)


def get_message(session: Session, message_id: uuid.UUID) -> OutboxMessageRead:
    """One outbox message, for an administrator looking into a delivery problem."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(_("This outbox message does not exist."))
    return OutboxMessageRead.model_validate(message)


def list_messages(
    session: Session,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    newest_first: bool = False,
) -> Page[OutboxMessageRead]:
    """One page of outbox messages, optionally of one status (e.g. the dead letters), by creation order."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(
            errors=[field_error(["query", "status"], _("This status is not known."), "invalid_status")]
        )
    stmt = select(OutboxMessage)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    rows, next_cursor = paginate(
        session, stmt, OutboxMessage.id, cursor=cursor, limit=limit, newest_first=newest_first
    )
    return Page[OutboxMessageRead](
        items=[OutboxMessageRead.model_validate(row) for row in rows], next_cursor=next_cursor
    )
