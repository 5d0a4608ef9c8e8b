"""Tables of the civil register: residents and their history, households, ID numbers, life events."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Household(Base):
    """People who live together at one address; a resident belongs to at most one household."""

    __tablename__ = "civil_household"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    address_code: Mapped[str | None] = mapped_column(String(16))
    head_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Resident(Base):
    """One person in the population register: the authoritative record, one per resident.

    Names are kept as written (any script) and in a Latin form used for search.
    """

    __tablename__ = "civil_resident"
    __table_args__ = (
        Index("ix_civil_resident_search", "family_name_latin", "given_name_latin"),
        Index("ix_civil_resident_birth", "birth_date", "birth_place_code"),
        Index("ix_civil_resident_name_key", "name_key", "birth_date"),
        Index("ix_civil_resident_search_name", "search_name", postgresql_using="gin",
              postgresql_ops={"search_name": "gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    nin: Mapped[str | None] = mapped_column(String(20), unique=True)
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    given_name_latin: Mapped[str] = mapped_column(String(200))
    family_name_latin: Mapped[str] = mapped_column(String(200))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date)
    birth_date_precision: Mapped[str] = mapped_column(String(8), default="day")
    birth_place_code: Mapped[str | None] = mapped_column(String(16))
    nationality: Mapped[str] = mapped_column(String(3), default="KHM")
    address_code: Mapped[str | None] = mapped_column(String(16))
    address_text: Mapped[str | None] = mapped_column(String(400))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    mother_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_resident.id"))
    father_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_resident.id"))
    spouse_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_resident.id"))
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_household.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="alive")
    death_date: Mapped[date | None] = mapped_column(Date)
    mother_name: Mapped[str | None] = mapped_column(String(400))
    father_name: Mapped[str | None] = mapped_column(String(400))
    name_key: Mapped[str | None] = mapped_column(String(16))
    search_name: Mapped[str | None] = mapped_column(String(400))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ResidentVersion(Base):
    """One change to a resident: who, when, why, and the record before and after."""

    __tablename__ = "civil_resident_version"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("civil_resident.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[uuid.UUID | None] = mapped_column()
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any]] = mapped_column(JSONType)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssuedNumber(Base):
    """Every national ID number ever issued, kept forever so that none is given out twice."""

    __tablename__ = "civil_issued_number"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("civil_resident.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VirtualId(Base):
    """A revocable 16-digit number a person shares instead of their national ID number."""

    __tablename__ = "civil_virtual_id"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("civil_resident.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LifeEvent(Base):
    """A birth, death, marriage, divorce, change of address or of name, moving through the workflow."""

    __tablename__ = "civil_event"
    __table_args__ = (Index("ix_civil_event_state", "state", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(20), default="draft")
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_resident.id"), index=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_resident.id"))
    occurred_on: Mapped[date] = mapped_column(Date)
    place_code: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_late: Mapped[bool] = mapped_column(default=False)
    late_approved_by: Mapped[uuid.UUID | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Correction(Base):
    """A correction of a registered record: asked for by one officer, approved by another (four eyes)."""

    __tablename__ = "civil_correction"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    resident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("civil_resident.id"), index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[uuid.UUID | None] = mapped_column()
    requested_by_name: Mapped[str] = mapped_column(String(200))
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def as_dict(row: Any, *fields: str) -> dict[str, Any]:
    """The named fields of a row as JSON-ready values (for history and audit)."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(row, name)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime | date):
            value = value.isoformat()
        out[name] = value
    return out


class IssuedCertificate(Base):
    """The certificate register: every birth, death or marriage certificate and every copy, each with its
    own serial; a copy names the serial of the first certificate of the same event."""

    __tablename__ = "civil_certificate"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    serial: Mapped[str] = mapped_column(String(24), unique=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("civil_event.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    copy_of: Mapped[str | None] = mapped_column(String(24))
    copy_number: Mapped[int] = mapped_column(Integer, default=0)
    issued_by: Mapped[uuid.UUID | None] = mapped_column()
    issued_by_name: Mapped[str] = mapped_column(String(200))
    pdf_record_id: Mapped[uuid.UUID] = mapped_column()
    qr_record_id: Mapped[uuid.UUID] = mapped_column()
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DuplicateCase(Base):
    """A possible duplicate found by the matcher: a declared birth or a new resident that looks like a
    resident already in the register. It waits for an officer, who decides and says why."""

    __tablename__ = "civil_duplicate_case"
    __table_args__ = (Index("ix_civil_duplicate_case_state", "state", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_event.id"), index=True)
    resident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("civil_resident.id"), index=True)
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("civil_resident.id"), index=True)
    score: Mapped[float] = mapped_column()
    parts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
