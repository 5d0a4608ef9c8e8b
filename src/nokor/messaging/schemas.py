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
