"""Every query of the e-services domain."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, and_, event, func, or_, select
from sqlalchemy.orm import Session, SessionTransaction

from nokor.services.models import (
    Application,
    ApplicationDocument,
    ApplicationEvent,
    Consultation,
    ConsultationComment,
    Rating,
    Service,
    ServiceVersion,
)

_Keyed = TypeVar("_Keyed", Service, ServiceVersion)


_HELD = "services_rows"


def _held(session: Session, row: _Keyed) -> _Keyed:
    """Keep a service or version row alive until the transaction ends: the identity map holds rows only while
    something refers to them, and one submission reads its service and version several times."""
    session.info.setdefault(_HELD, {})[(type(row), row.id)] = row
    return row


@event.listens_for(Session, "after_transaction_end")
def _let_go(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the transaction itself, not a savepoint within it
        session.info.pop(_HELD, None)


def service_by_code(session: Session, code: str) -> Service | None:
    found = session.scalars(select(Service).where(Service.code == code)).one_or_none()
    return _held(session, found) if found is not None else None


def version_of(session: Session, service_id: uuid.UUID, version: int) -> ServiceVersion | None:
    found = session.scalars(select(ServiceVersion).where(ServiceVersion.service_id == service_id,
                                                         ServiceVersion.version == version)).one_or_none()
    return _held(session, found) if found is not None else None


def current_versions(session: Session) -> Sequence[tuple[Service, ServiceVersion]]:
    stmt = (select(Service, ServiceVersion)
            .join(ServiceVersion, (ServiceVersion.service_id == Service.id)
                  & (ServiceVersion.version == Service.current_version))
            .where(Service.is_published.is_(True))
            .order_by(Service.code))
    return [(s, v) for s, v in session.execute(stmt).all()]


def _by_id(session: Session, model: type[_Keyed], ids: Collection[uuid.UUID]) -> dict[uuid.UUID, _Keyed]:
    """Rows by primary key, those the session already holds without asking the database again (a submission
    reads its service and version several times; a queue page reads the same few for every row)."""
    found: dict[uuid.UUID, _Keyed] = {}
    missing = []
    for key in set(ids):
        held = session.identity_map.get(session.identity_key(model, key))
        if held is not None:
            found[key] = cast(_Keyed, held)
        else:
            missing.append(key)
    if missing:
        for row in session.scalars(select(model).where(model.id.in_(missing))):
            found[row.id] = _held(session, row)
    return found


def versions_by_id(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, ServiceVersion]:
    return _by_id(session, ServiceVersion, ids)


def services_by_id(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Service]:
    return _by_id(session, Service, ids)


def application_by_number(session: Session, number: str, *, lock: bool = False) -> Application | None:
    stmt = select(Application).where(Application.number == number)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def documents_of(session: Session, application_id: uuid.UUID) -> Sequence[ApplicationDocument]:
    return session.scalars(select(ApplicationDocument).where(ApplicationDocument.application_id == application_id)
                           .order_by(ApplicationDocument.uploaded_at)).all()


def document(session: Session, application_id: uuid.UUID, document_id: uuid.UUID) -> ApplicationDocument | None:
    return session.scalars(select(ApplicationDocument).where(ApplicationDocument.application_id == application_id,
                                                             ApplicationDocument.id == document_id)).one_or_none()


def events_of(session: Session, application_id: uuid.UUID) -> Sequence[ApplicationEvent]:
    return session.scalars(select(ApplicationEvent).where(ApplicationEvent.application_id == application_id)
                           .order_by(ApplicationEvent.at, ApplicationEvent.id)).all()


def _past_due(now: datetime) -> ColumnElement[bool]:
    """Past the deadline on the office's clock, which stands still while the applicant has to answer."""
    return or_(and_(Application.clock_paused_at.is_(None), Application.due_at < now),
               and_(Application.clock_paused_at.is_not(None), Application.due_at < Application.clock_paused_at))


def applications_query(*, org_unit_ids: Collection[uuid.UUID] | None, states: Collection[str] | None = None,
                       assignee_id: uuid.UUID | None = None, unassigned: bool = False,
                       awaiting_second: bool | None = None, due_before: datetime | None = None,
                       applicant_subject: str | None = None, service_id: uuid.UUID | None = None,
                       number: str | None = None) -> Select[Any]:
    stmt = select(Application)
    if org_unit_ids is not None:
        stmt = stmt.where(Application.org_unit_id.in_(list(org_unit_ids)))
    if states is not None:
        stmt = stmt.where(Application.state.in_(list(states)))
    if assignee_id is not None:
        stmt = stmt.where(Application.assignee_id == assignee_id)
    if unassigned:
        stmt = stmt.where(Application.assignee_id.is_(None))
    if awaiting_second is True:
        stmt = stmt.where(Application.first_approval_by.is_not(None))
    if due_before is not None:
        stmt = stmt.where(_past_due(due_before))
    if applicant_subject is not None:
        stmt = stmt.where(Application.applicant_subject == applicant_subject)
    if service_id is not None:
        stmt = stmt.where(Application.service_id == service_id)
    if number:
        stmt = stmt.where(Application.number == number)
    return stmt


def count_by_state(session: Session, service_id: uuid.UUID | None = None, *, since: datetime | None = None,
                   until: datetime | None = None) -> dict[str, int]:
    stmt = select(Application.state, func.count()).where(Application.state != "draft")
    if service_id is not None:
        stmt = stmt.where(Application.service_id == service_id)
    if since is not None:
        stmt = stmt.where(Application.submitted_at >= since)
    if until is not None:
        stmt = stmt.where(Application.submitted_at < until)
    return {state: int(n) for state, n in session.execute(stmt.group_by(Application.state)).all()}


def count_overdue(session: Session, service_id: uuid.UUID, now: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(Application).where(
        Application.service_id == service_id, Application.state.in_(("submitted", "in_review", "needs_information")),
        _past_due(now))) or 0)


def count_events(session: Session, action: str, service_id: uuid.UUID | None = None) -> int:
    stmt = select(func.count()).select_from(ApplicationEvent).where(ApplicationEvent.action == action)
    if service_id is not None:
        stmt = stmt.join(Application, Application.id == ApplicationEvent.application_id).where(
            Application.service_id == service_id)
    return int(session.scalar(stmt) or 0)


def decision_times(session: Session, service_id: uuid.UUID, limit: int = 5000) -> list[tuple[datetime, datetime]]:
    rows = session.execute(select(Application.submitted_at, Application.decided_at).where(
        Application.service_id == service_id, Application.decided_at.is_not(None),
        Application.submitted_at.is_not(None)).order_by(Application.decided_at.desc()).limit(limit)).all()
    return [(a, b) for a, b in rows if a is not None and b is not None]


def rating_summary(session: Session, service_id: uuid.UUID) -> tuple[int, float | None]:
    count, average = session.execute(select(func.count(Rating.id), func.avg(Rating.stars)).where(
        Rating.service_id == service_id)).one()
    return int(count or 0), (float(average) if average is not None else None)


def rating_of(session: Session, application_id: uuid.UUID) -> Rating | None:
    return session.scalars(select(Rating).where(Rating.application_id == application_id)).one_or_none()


def recent_ratings(session: Session, service_id: uuid.UUID, limit: int = 10) -> Sequence[Rating]:
    return session.scalars(select(Rating).where(Rating.service_id == service_id, Rating.comment.is_not(None))
                           .order_by(Rating.created_at.desc()).limit(limit)).all()


def consultations(session: Session) -> Sequence[Consultation]:
    return session.scalars(select(Consultation).order_by(Consultation.created_at.desc())).all()


def comments_of(session: Session, consultation_id: uuid.UUID, states: Collection[str] | None = None
                ) -> Sequence[ConsultationComment]:
    stmt = select(ConsultationComment).where(ConsultationComment.consultation_id == consultation_id)
    if states is not None:
        stmt = stmt.where(ConsultationComment.state.in_(list(states)))
    return session.scalars(stmt.order_by(ConsultationComment.created_at)).all()


def pending_comments(session: Session, org_unit_ids: Collection[uuid.UUID] | None) -> Sequence[
        tuple[ConsultationComment, Consultation]]:
    stmt = (select(ConsultationComment, Consultation)
            .join(Consultation, Consultation.id == ConsultationComment.consultation_id)
            .where(ConsultationComment.state == "pending"))
    if org_unit_ids is not None:
        stmt = stmt.where(Consultation.org_unit_id.in_(list(org_unit_ids)))
    return [(c, k) for c, k in session.execute(stmt.order_by(ConsultationComment.created_at)).all()]


def decisions(session: Session, *, since: datetime | None, until: datetime | None, operator: str | None,
              service_ids: Collection[uuid.UUID] | None) -> dict[str, int]:
    """How many approvals, rejections and requests for information were made (GovStack statistics)."""
    stmt = (select(ApplicationEvent.action, func.count())
            .join(Application, Application.id == ApplicationEvent.application_id)
            .where(ApplicationEvent.action.in_(("approve", "reject", "request_information"))))
    if since is not None:
        stmt = stmt.where(ApplicationEvent.at >= since)
    if until is not None:
        stmt = stmt.where(ApplicationEvent.at < until)
    if operator:
        stmt = stmt.where(ApplicationEvent.actor_name == operator)
    if service_ids is not None:
        stmt = stmt.where(Application.service_id.in_(list(service_ids)))
    return {action: int(n) for action, n in session.execute(stmt.group_by(ApplicationEvent.action)).all()}
