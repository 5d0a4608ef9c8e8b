"""Every query of the notification core."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from nokor.kit.outbox import OutboxMessage
from nokor.messaging.models import CaughtMessage, Notification


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
