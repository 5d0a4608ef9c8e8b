"""Shapes of the civil register's data as services take and return them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nokor.kit.time import IsoDate

Sex = Literal["F", "M", "X"]
Precision = Literal["day", "month", "year"]
EventKind = Literal["birth", "death", "marriage", "divorce", "change_of_address", "change_of_name"]
EVENT_KINDS: tuple[str, ...] = ("birth", "death", "marriage", "divorce", "change_of_address", "change_of_name")
EVENT_STATES: tuple[str, ...] = ("draft", "declared", "requires_updates", "validated", "registered", "certified",
                                 "rejected")
NAME = Field(min_length=1, max_length=200)
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"


@dataclass(frozen=True)
class CivilRules:
    """The configurable rules of the register (from the settings ``civil_*``)."""

    nin_length: int = 12
    late_birth_days: int = 30
    min_parent_age: int = 12
    max_mother_age: int = 60
    duplicate_threshold: float = 0.8

    @classmethod
    def from_settings(cls, settings: Any) -> CivilRules:
        """The rules as the settings (``NOKOR_CIVIL_*``) set them."""
        return cls(nin_length=settings.civil_nin_length, late_birth_days=settings.civil_late_birth_days,
                   min_parent_age=settings.civil_min_parent_age, max_mother_age=settings.civil_max_mother_age,
                   duplicate_threshold=settings.civil_duplicate_threshold)


class PersonDetails(BaseModel):
    """Who a new resident is: names as written and, optionally, in Latin script (proposed when left out)."""

    given_name: str = NAME
    family_name: str = NAME
    given_name_latin: str | None = Field(None, max_length=200)
    family_name_latin: str | None = Field(None, max_length=200)
    sex: Sex
    birth_date_precision: Precision = "day"
    nationality: str = Field("KHM", pattern=r"^[A-Z]{3}$")
    mother_id: uuid.UUID | None = None
    father_id: uuid.UUID | None = None
    mother_name: str | None = Field(None, max_length=400, description="The mother's name as written, when she is "
                                    "not in the register (taken from her record when she is)")
    father_name: str | None = Field(None, max_length=400, description="Likewise for the father")
    address_code: str | None = Field(None, max_length=16)
    address_text: str | None = Field(None, max_length=400)


class ContactDetails(BaseModel):
    """How the register reaches a person: a mobile number in E.164 form and an e-mail address, both optional.

    They are where one-time sign-in codes and notices are sent.
    """

    phone: str | None = Field(None, max_length=16, pattern=PHONE_PATTERN)
    email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)


class ResidentCreate(PersonDetails):
    """A resident entered directly (a person already living, e.g. when the register is first filled)."""

    birth_date: IsoDate
    birth_place_code: str | None = Field(None, max_length=16)
    phone: str | None = Field(None, max_length=16, pattern=PHONE_PATTERN)
    email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)


class ResidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    nin: str | None
    given_name: str
    family_name: str
    given_name_latin: str
    family_name_latin: str
    sex: str
    birth_date: date
    birth_date_precision: str
    birth_place_code: str | None
    nationality: str
    address_code: str | None
    address_text: str | None
    phone: str | None = None
    email: str | None = None
    mother_id: uuid.UUID | None
    father_id: uuid.UUID | None
    spouse_id: uuid.UUID | None
    household_id: uuid.UUID | None
    status: str
    death_date: date | None
    mother_name: str | None = None
    father_name: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class ResidentVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    action: str
    actor_name: str
    reason: str | None
    event_id: uuid.UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any]
    at: datetime


class EventCreate(BaseModel):
    """A life event as first written down; a birth carries the child, other events name their subject."""

    kind: EventKind
    occurred_on: IsoDate
    place_code: str | None = Field(None, max_length=16)
    subject_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    child: PersonDetails | None = None
    new_given_name: str | None = Field(None, max_length=200)
    new_family_name: str | None = Field(None, max_length=200)
    new_given_name_latin: str | None = Field(None, max_length=200)
    new_family_name_latin: str | None = Field(None, max_length=200)
    new_address_code: str | None = Field(None, max_length=16)
    new_address_text: str | None = Field(None, max_length=400)


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    state: str
    subject_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    occurred_on: date
    place_code: str | None
    details: dict[str, Any]
    is_late: bool
    late_approved_by: uuid.UUID | None
    note: str | None
    declared_at: datetime | None
    registered_at: datetime | None
    created_at: datetime


class CorrectionCreate(BaseModel):
    """A correction of a registered resident: the new values, why, and the evidence seen."""

    changes: dict[str, Any]
    reason: str = Field(min_length=3, max_length=2000)
    evidence: str = Field(min_length=3, max_length=2000)


class CorrectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    resident_id: uuid.UUID
    changes: dict[str, Any]
    reason: str
    evidence: str
    state: str
    requested_by: uuid.UUID | None
    requested_by_name: str
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    created_at: datetime


class VirtualIdRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: str
    resident_id: uuid.UUID
    issued_at: datetime
    revoked_at: datetime | None


class NinCheck(BaseModel):
    number: str
    valid: bool
    reasons: list[str]


class CertificateRead(BaseModel):
    """One line of the certificate register: a certificate or a copy, with its own serial."""

    model_config = ConfigDict(from_attributes=True)

    serial: str
    event_id: uuid.UUID
    kind: str
    copy_of: str | None
    copy_number: int
    issued_by_name: str
    pdf_record_id: uuid.UUID
    qr_record_id: uuid.UUID
    issued_at: datetime


class CertificateIssued(BaseModel):
    """A certificate just issued: its register line, the sealed PDF and what its QR code holds."""

    certificate: CertificateRead
    pdf: bytes = Field(repr=False)
    qr: str = Field(description="The verification link with the signed payload (a compact JWS) after the #")
    payload_jws: str


class PersonCheck(BaseModel):
    """A person to look for in the register before entering them (names in any script, the rest if known)."""

    given_name: str = NAME
    family_name: str = NAME
    given_name_latin: str | None = Field(None, max_length=200)
    family_name_latin: str | None = Field(None, max_length=200)
    sex: Sex | None = None
    birth_date: IsoDate
    birth_date_precision: Precision = "day"
    place_code: str | None = Field(None, max_length=16)
    mother_name: str | None = Field(None, max_length=400)
    father_name: str | None = Field(None, max_length=400)


class PersonSide(BaseModel):
    """One side of a possible duplicate, as the officer compares it."""

    resident_id: uuid.UUID | None = None
    nin: str | None = None
    given_name: str
    family_name: str
    given_name_latin: str
    family_name_latin: str
    sex: str | None
    birth_date: date
    birth_date_precision: str
    place_code: str | None
    mother_name: str | None
    father_name: str | None
    status: str | None = None


class DuplicateCandidate(BaseModel):
    """A resident who may be the same person, with the matcher's score (0-1) and its parts."""

    resident: PersonSide
    score: float
    parts: dict[str, float]


class DuplicateCaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID | None
    resident_id: uuid.UUID | None
    candidate_id: uuid.UUID
    score: float
    parts: dict[str, float]
    state: str
    decided_by_name: str | None
    reason: str | None
    decided_at: datetime | None
    created_at: datetime


class DuplicateCaseView(BaseModel):
    """A possible duplicate with both records side by side: the new one and the one in the register."""

    case: DuplicateCaseRead
    new: PersonSide
    candidate: PersonSide


class DuplicateDecision(BaseModel):
    """An officer's decision on a possible duplicate, and why."""

    duplicate: bool
    reason: str = Field(min_length=3, max_length=2000)


class ImportRowError(BaseModel):
    row: int
    column: str
    message: str


class ImportReport(BaseModel):
    """What ``nokor civil import`` did: rows read, written, held as possible duplicates, and the bad ones."""

    rows: int = 0
    written: int = 0
    held: int = 0
    invalid: int = 0
    errors: list[ImportRowError] = Field(default_factory=list)
    seconds: float = 0.0
