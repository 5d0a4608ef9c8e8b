"""Read schemas of the audit domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    """An audit entry as officers and auditors see it."""

    model_config = ConfigDict(from_attributes=True)

    seq: int | None
    id: uuid.UUID
    at: datetime
    category: Literal["change", "access"]
    actor_kind: str
    actor_id: str | None
    actor_name: str
    action: str
    subject_type: str
    subject_id: str
    reason: str | None
    request_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    entry_hash: str | None


class ChainReport(BaseModel):
    """The outcome of checking the hash chain from the first entry to the head, then the entries
    written but not yet sealed into it (``unsealed`` of the ``count``)."""

    ok: bool
    count: int
    unsealed: int = 0
    broken_seq: int | None = None
    broken_id: uuid.UUID | None = None
    problem: str | None = None
