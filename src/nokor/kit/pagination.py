"""Cursor pagination over time-ordered (UUIDv7) keys.

A cursor is the opaque, URL-safe form of the last key of the previous page; the next page is every
row whose key is greater. Unlike offsets this stays fast and stable while rows are being added.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import gettext as _

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    """One page of a listing and the cursor of the next one (null on the last page)."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= to get the next page.")


def encode_cursor(key: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(key.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(
            errors=[field_error(["query", "cursor"], _("This cursor is not valid."), "invalid_cursor")]
        ) from exc


def paginate(
    session: Session,
    stmt: Select[Any],
    key: InstrumentedAttribute[Any],
    *,
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
    newest_first: bool = False,
) -> tuple[Sequence[Any], str | None]:
    """Rows of ``stmt`` after ``cursor`` ordered by ``key``, and the cursor of the next page."""
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor:
        after = decode_cursor(cursor)
        stmt = stmt.where(key < after if newest_first else key > after)
    order = key.desc() if newest_first else key.asc()
    rows = session.scalars(stmt.order_by(order).limit(limit + 1)).all()
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(getattr(rows[-1], key.key))
    return rows, None
