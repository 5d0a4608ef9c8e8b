"""Create and read schemas of the e-services domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ApplicationState = Literal["draft", "submitted", "in_review", "needs_information", "approved", "rejected",
                           "completed"]
APPLICATION_STATES: tuple[str, ...] = ("draft", "submitted", "in_review", "needs_information", "approved",
                                       "rejected", "completed")
OPEN_STATES: tuple[str, ...] = ("submitted", "in_review", "needs_information")
EFFECTS: tuple[str, ...] = ("birth_certificate_copy", "sme_registration", "change_of_address")
Effect = Literal["birth_certificate_copy", "sme_registration", "change_of_address"]
QUEUE_VIEWS: tuple[str, ...] = ("unassigned", "mine", "second_approval", "needs_information", "overdue", "closed")


@dataclass(frozen=True)
class Applicant:
    """The person an application belongs to: a signed-in resident (``subject`` is their login's stable
    id) or a person served at a counter (``subject`` is then their national ID number)."""

    subject: str
    name: str
    email: str | None = None
    phone: str | None = None
    locale: str = "km"
    national_id: str | None = None


class DocumentRequirement(BaseModel):
    """A document a service asks for: its code, its label by language, and whether it must be there."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    label: dict[str, str]
    required: bool = True


class ServiceVersionCreate(BaseModel):
    """What a version of a service says and asks: names, description, eligibility, form, fee, deadline."""

    name: dict[str, str]
    description: dict[str, str] = Field(default_factory=dict)
    eligibility: dict[str, str] = Field(default_factory=dict)
    required_documents: list[DocumentRequirement] = Field(default_factory=list)
    fee_code: str | None = Field(None, max_length=64)
    processing_days: int = Field(ge=1, le=365)
    four_eyes: bool = False
    form_schema: dict[str, Any]
    ui_schema: dict[str, Any] = Field(default_factory=dict)
    effect: Effect


class ServiceCreate(ServiceVersionCreate):
    """A new service of the catalogue, owned by an organisation unit."""

    code: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    org_unit_code: str = Field(min_length=1, max_length=64)


class FeeInfo(BaseModel):
    code: str
    amount_minor: int
    currency: str


class ServiceRead(BaseModel):
    """A service as the catalogue shows it, in the version asked for (the current one by default)."""

    id: uuid.UUID
    code: str
    org_unit_id: uuid.UUID
    org_unit_code: str
    version: int
    version_id: uuid.UUID
    current_version: int
    name: dict[str, str]
    description: dict[str, str]
    eligibility: dict[str, str]
    required_documents: list[DocumentRequirement]
    fee: FeeInfo | None
    processing_days: int
    four_eyes: bool
    form_schema: dict[str, Any]
    ui_schema: dict[str, Any]
    effect: str
    is_published: bool


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    requirement: str
    filename: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime


class ApplicationEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    from_state: str | None
    to_state: str
    actor_kind: str
    actor_name: str
    reason: str | None
    changes: dict[str, Any]
    at: datetime


class ApplicationRead(BaseModel):
    """An application with its service's name and version, deadline and overdue flag."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    service_id: uuid.UUID
    service_code: str = ""
    service_name: dict[str, str] = Field(default_factory=dict)
    service_version: int = 0
    org_unit_id: uuid.UUID
    state: str
    channel: str
    applicant_subject: str
    applicant_name: str
    applicant_email: str | None
    applicant_phone: str | None
    applicant_locale: str
    data: dict[str, Any]
    bill_number: str | None
    assignee_id: uuid.UUID | None
    assignee_name: str | None
    first_approval_by: uuid.UUID | None
    first_approval_name: str | None
    information_request: str | None
    decision_reason: str | None
    result: dict[str, Any]
    due_at: datetime | None
    submitted_at: datetime | None
    decided_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    overdue: bool = False
    fee_status: str | None = None
    documents: list[DocumentRead] = Field(default_factory=list)
    history: list[ApplicationEventRead] = Field(default_factory=list)


class ApplicationSummary(BaseModel):
    """One line of a work queue or of a person's list."""

    id: uuid.UUID
    number: str
    service_code: str
    service_name: dict[str, str]
    state: str
    channel: str
    applicant_name: str
    assignee_name: str | None
    first_approval_name: str | None
    submitted_at: datetime | None
    due_at: datetime | None
    overdue: bool
    created_at: datetime


class RatingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stars: int
    comment: str | None
    created_at: datetime


class ServiceStatistics(BaseModel):
    """What the public sees of a service: volumes, processing times and satisfaction."""

    service_code: str
    service_name: dict[str, str]
    submitted: int
    open: int
    approved: int
    rejected: int
    completed: int
    sent_back: int
    overdue: int
    average_days: float | None
    ratings: int
    average_rating: float | None


class ConsultationCreate(BaseModel):
    title: dict[str, str]
    body: dict[str, str]
    org_unit_code: str
    closes_at: datetime


class CommentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author_name: str
    body: str
    state: str
    moderation_reason: str | None
    answer: str | None
    answered_by: str | None
    created_at: datetime


class ConsultationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    org_unit_id: uuid.UUID
    title: dict[str, str]
    body: dict[str, str]
    closes_at: datetime
    created_by: str
    created_at: datetime
    is_open: bool = True
    comments: list[CommentRead] = Field(default_factory=list)
