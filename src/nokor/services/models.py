"""Tables of the e-services domain: the catalogue and its versions, applications with their history,
documents, ratings and public consultations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Service(Base):
    """A service of the catalogue (its stable code and owner); what it says and asks lives in its versions."""

    __tablename__ = "services_service"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    org_unit_code: Mapped[str] = mapped_column(String(64))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    is_published: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceVersion(Base):
    """One version of a service: names, description, form, fee, documents, deadline and effect.

    Versions are never changed once written; an application keeps the version it was made under.
    """

    __tablename__ = "services_service_version"
    __table_args__ = (UniqueConstraint("service_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_service.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[dict[str, str]] = mapped_column(JSONType)
    description: Mapped[dict[str, str]] = mapped_column(JSONType)
    eligibility: Mapped[dict[str, str]] = mapped_column(JSONType)
    required_documents: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    fee_code: Mapped[str | None] = mapped_column(String(64))
    processing_days: Mapped[int] = mapped_column(Integer)
    four_eyes: Mapped[bool] = mapped_column(Boolean, default=False)
    form_schema: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ui_schema: Mapped[dict[str, Any]] = mapped_column(JSONType)
    effect: Mapped[str] = mapped_column(String(32))
    search_text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Application(Base):
    """A person's application for a service, from draft to completion, with its form data.

    ``channel`` says whether the person applied online or an officer submitted it for them at a
    counter (``assisted_by``). ``due_at`` is the service-level deadline counted from submission; its clock
    stops while the application waits for the applicant (``clock_paused_at``, set in "needs information")
    and the deadline moves on by the time it stood still when the applicant answers.
    """

    __tablename__ = "services_application"
    __table_args__ = (
        Index("ix_services_application_queue", "org_unit_id", "state", "id"),
        Index("ix_services_application_applicant", "applicant_subject", "created_at"),
        # The open work of a unit (the "overdue" view, the statistics' overdue count) without reading closed rows.
        Index("ix_services_application_open", "org_unit_id", "id",
              postgresql_where=text("state IN ('submitted', 'in_review', 'needs_information')"),
              sqlite_where=text("state IN ('submitted', 'in_review', 'needs_information')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_service.id"), index=True)
    service_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_service_version.id"))
    org_unit_id: Mapped[uuid.UUID] = mapped_column()
    state: Mapped[str] = mapped_column(String(24), default="draft")
    channel: Mapped[str] = mapped_column(String(16), default="online")
    applicant_subject: Mapped[str] = mapped_column(String(128))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_email: Mapped[str | None] = mapped_column(String(320))
    applicant_phone: Mapped[str | None] = mapped_column(String(32))
    applicant_locale: Mapped[str] = mapped_column(String(8), default="km")
    assisted_by: Mapped[uuid.UUID | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    bill_number: Mapped[str | None] = mapped_column(String(16))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    first_approval_by: Mapped[uuid.UUID | None] = mapped_column()
    first_approval_name: Mapped[str | None] = mapped_column(String(200))
    information_request: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clock_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApplicationEvent(Base):
    """One step in an application's history: who did what, when and why, with the state before and after."""

    __tablename__ = "services_application_event"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_application.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(128))
    actor_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApplicationDocument(Base):
    """A document attached to an application; the bytes are in the blob store under ``blob_key``."""

    __tablename__ = "services_document"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_application.id"), index=True)
    requirement: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    blob_key: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rating(Base):
    """A person's rating (1 to 5) of a completed application's service, with an optional comment."""

    __tablename__ = "services_rating"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_application.id"), unique=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_service.id"), index=True)
    stars: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consultation(Base):
    """A draft rule or plan an agency puts to the public for comment, open until ``closes_at``."""

    __tablename__ = "services_consultation"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[dict[str, str]] = mapped_column(JSONType)
    body: Mapped[dict[str, str]] = mapped_column(JSONType)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsultationComment(Base):
    """A resident's comment on a consultation: pending until a moderator publishes or refuses it;
    the agency may publish an answer under it."""

    __tablename__ = "services_consultation_comment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services_consultation.id"), index=True)
    author_subject: Mapped[str] = mapped_column(String(128))
    author_name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    moderated_by: Mapped[str | None] = mapped_column(String(200))
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
