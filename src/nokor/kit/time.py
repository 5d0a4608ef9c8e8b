"""Time: everything is stored as timezone-aware UTC; dates on the wire are ISO 8601 calendar dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def utcnow() -> datetime:
    """The current moment, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _require_iso_date(value: Any) -> Any:
    # Pydantic's lax mode reads "000" or 0 as a Unix timestamp (1970-01-01); a date a person typed must be
    # written YYYY-MM-DD, so anything else is refused before that conversion can happen.
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise PydanticCustomError("date_parsing", "a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_require_iso_date)]
"""A calendar date that must arrive as YYYY-MM-DD (or a date object), never as a number."""
