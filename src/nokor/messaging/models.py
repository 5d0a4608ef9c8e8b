"""Tables of the notification core: every notification sent, and the local mailbox of the embedded default."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, UTCDateTime, new_id, utcnow


class Notification(Base):
    """One e-mail or SMS rendered in the recipient's language and handed to the outbox for delivery.

    The outbox message (``outbox_message_id``) says whether it has left; this row says what was sent,
    to whom and why, so a person's notices can be listed without reading the outbox.
    """

    __tablename__ = "messaging_notification"
    __table_args__ = (Index("ix_messaging_notification_subject", "subject_type", "subject_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    sent_by: Mapped[str] = mapped_column(String(200))
    sent_by_id: Mapped[str | None] = mapped_column(String(64))  # the officer's or system's id (names repeat)
    outbox_message_id: Mapped[uuid.UUID] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A bounce the mail provider reported after the message left (GovStack ``POST /callback/email``).
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounce_reason: Mapped[str | None] = mapped_column(Text)


class CaughtMessage(Base):
    """A message the embedded default kept instead of sending (local mail catcher, sandbox SMS gateway).

    Shown on the mailbox page in development and demos; production sends through SMTP and an SMS gateway.
    """

    __tablename__ = "messaging_caught_message"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(254))
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    caught_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxMessage(Base):
    """A message in a person's portal inbox (about an application, a consultation, ...), in their language.

    ``recipient`` is the person's stable login subject; ``link`` is the page the message is about.
    """

    __tablename__ = "messaging_inbox_message"
    __table_args__ = (Index("ix_messaging_inbox_message_recipient", "recipient", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    recipient: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    about_type: Mapped[str | None] = mapped_column(String(64))
    about_id: Mapped[str | None] = mapped_column(String(64))
    sent_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
