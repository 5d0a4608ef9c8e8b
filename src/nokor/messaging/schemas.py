"""Shapes of notifications as services take and return them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Channel = Literal["email", "sms"]


class NotificationRead(BaseModel):
    """A notification as sent: channel, recipient, the text in the recipient's language and its delivery state."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    recipient: str
    template: str
    locale: str
    subject: str
    body: str
    subject_type: str | None
    subject_id: str | None
    sent_by: str
    outbox_message_id: uuid.UUID
    created_at: datetime
    status: str = "pending"


class CaughtMessageRead(BaseModel):
    """A message kept by the local mail catcher or the sandbox SMS gateway."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    sender: str
    recipient: str
    subject: str
    body: str
    caught_at: datetime


class InboxMessageRead(BaseModel):
    """A message of a person's portal inbox."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject: str
    body: str
    link: str | None
    about_type: str | None
    about_id: str | None
    sent_by: str
    created_at: datetime
    read_at: datetime | None


class RequestStatus(BaseModel):
    """How the e-mails of one GovStack send request fare, by the spec's statuses."""

    scheduled: int = 0
    processing: int = 0
    deferred: int = 0
    bounced: int = 0
    notSent: int = 0
    delivered: int = 0
