"""Every query of the notification core."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nokor.kit.outbox import OutboxMessage
from nokor.messaging.models import CaughtMessage, InboxMessage, Notification


def notifications_with_status(session: Session, *, subject_type: str | None, subject_id: str | None,
                              limit: int) -> Sequence[tuple[Notification, str | None]]:
    stmt = (select(Notification, OutboxMessage.status)
            .outerjoin(OutboxMessage, OutboxMessage.id == Notification.outbox_message_id))
    if subject_type is not None:
        stmt = stmt.where(Notification.subject_type == subject_type)
    if subject_id is not None:
        stmt = stmt.where(Notification.subject_id == subject_id)
    return [(row[0], row[1]) for row in session.execute(stmt.order_by(Notification.id.desc()).limit(limit))]


def caught_messages(session: Session, *, recipient: str | None, limit: int) -> Sequence[CaughtMessage]:
    stmt = select(CaughtMessage)
    if recipient:
        stmt = stmt.where(CaughtMessage.recipient == recipient)
    return session.scalars(stmt.order_by(CaughtMessage.caught_at.desc(), CaughtMessage.id.desc()).limit(limit)).all()


def caught_by_key(session: Session, key: str) -> CaughtMessage | None:
    return session.scalars(select(CaughtMessage).where(CaughtMessage.idempotency_key == key)).first()


def inbox(session: Session, recipient: str, limit: int) -> Sequence[InboxMessage]:
    return session.scalars(select(InboxMessage).where(InboxMessage.recipient == recipient)
                           .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc()).limit(limit)).all()


def unread_count(session: Session, recipient: str) -> int:
    return int(session.scalar(select(func.count()).select_from(InboxMessage).where(
        InboxMessage.recipient == recipient, InboxMessage.read_at.is_(None))) or 0)


def inbox_message(session: Session, recipient: str, message_id: uuid.UUID) -> InboxMessage | None:
    return session.scalars(select(InboxMessage).where(InboxMessage.recipient == recipient,
                                                      InboxMessage.id == message_id)).first()


def statuses_of(session: Session, *, subject_type: str, subject_id: str
                ) -> Sequence[tuple[str | None, int | None, bool]]:
    return [(row[0], row[1], row[2] is not None) for row in session.execute(
        select(OutboxMessage.status, OutboxMessage.attempts, Notification.bounced_at)
        .join(Notification, OutboxMessage.id == Notification.outbox_message_id)
        .where(Notification.subject_type == subject_type, Notification.subject_id == subject_id))]


def notifications_about(session: Session, *, subject_type: str, subject_id: str) -> Sequence[Notification]:
    return session.scalars(select(Notification).where(Notification.subject_type == subject_type,
                                                      Notification.subject_id == subject_id)
                           .order_by(Notification.created_at, Notification.id)).all()
