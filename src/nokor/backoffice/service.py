"""Rules of the back office: who may see outgoing messages and send dead letters again."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from nokor import audit
from nokor.accounts import OUTBOX_MANAGE
from nokor.kit import outbox
from nokor.kit.actor import Actor
from nokor.kit.outbox import OutboxMessageRead
from nokor.kit.pagination import Page


def list_outgoing_messages(
    session: Session, actor: Actor, *, status: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page[OutboxMessageRead]:
    """Outgoing messages, newest first, optionally only those pending, delivered or dead."""
    actor.require(OUTBOX_MANAGE)
    return outbox.list_messages(session, status=status, cursor=cursor, limit=limit, newest_first=True)


def get_outgoing_message(session: Session, actor: Actor, *, message_id: uuid.UUID) -> OutboxMessageRead:
    """One outgoing message with its last error."""
    actor.require(OUTBOX_MANAGE)
    return outbox.get_message(session, message_id)


def retry_dead_letter(
    session: Session, actor: Actor, *, message_id: uuid.UUID, reason: str | None = None
) -> OutboxMessageRead:
    """Put a dead letter back in the queue (after the receiver was fixed); recorded in the audit trail."""
    actor.require(OUTBOX_MANAGE)
    before = outbox.get_message(session, message_id)
    after = outbox.retry_dead(session, message_id)
    audit.record_change(
        session, actor, action="outbox.retry", subject_type="outbox_message", subject_id=message_id,
        before={"status": before.status, "attempts": before.attempts, "last_error": before.last_error},
        after={"status": after.status, "attempts": after.attempts}, reason=reason,
    )
    return after
