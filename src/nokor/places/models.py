"""Tables of the places domain: administrative divisions, one row per version of a unit."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, UTCDateTime, new_id, utcnow


class Division(Base):
    """One version of an administrative unit (province, district, commune or village).

    A unit is known by its ``code``; renaming or moving it closes the current version (``valid_to``
    set, exclusive) and opens a new one, so the history stays. At most one version of a code is open.
    """

    __tablename__ = "places_division"
    __table_args__ = (
        UniqueConstraint("code", "valid_from"),
        Index("ix_places_division_open_code", "code", unique=True,
              sqlite_where=text("valid_to IS NULL"), postgresql_where=text("valid_to IS NULL")),
        Index("ix_places_division_parent", "parent_code", "level"),
        Index("ix_places_division_search_latin", "search_latin", postgresql_ops={"search_latin": "text_pattern_ops"}),
        Index("ix_places_division_search_khmer", "search_khmer", postgresql_ops={"search_khmer": "text_pattern_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    country: Mapped[str] = mapped_column(String(2), index=True)
    code: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    name_km: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    search_latin: Mapped[str] = mapped_column(String(200))
    search_khmer: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
