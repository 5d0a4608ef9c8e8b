"""The rules of e-services: the catalogue, applications and their workflow, officer queues, statistics,
ratings and consultations.

An application moves draft → submitted → in review → (needs information → in review)* → approved or
rejected; an approval runs the service's effect and completes the application. Every step is kept
with who, when and why. A step not allowed from the current state is a 409; someone else's
application is a 404, as if it did not exist.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import structlog
from sqlalchemy.orm import Session

from nokor import accounts, audit, messaging, payments
from nokor.config import get_settings
from nokor.db import new_id
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.blobs import BlobStore, extension_fits, sniff_type
from nokor.kit.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.ids import damm_digit, damm_valid
from nokor.kit.pagination import DEFAULT_LIMIT, Page, paginate
from nokor.kit.time import utcnow
from nokor.services import forms, repository
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
from nokor.services.schemas import (
    APPLICATION_STATES,
    OPEN_STATES,
    QUEUE_VIEWS,
    Applicant,
    ApplicationEventRead,
    ApplicationRead,
    ApplicationSummary,
    CommentRead,
    ConsultationCreate,
    ConsultationRead,
    DocumentRead,
    DocumentRequirement,
    FeeInfo,
    RatingRead,
    ServiceCreate,
    ServiceRead,
    ServiceStatistics,
    ServiceVersionCreate,
)

log = structlog.get_logger("nokor.services")

SERVICES_MANAGE = declare_permission("services.manage", _l("Define e-services, publish consultations and "
                                                            "moderate comments"))
SERVICES_PROCESS = declare_permission("services.process", _l("Work on applications: claim, review, ask for "
                                                              "information and decide"))
SERVICES_COUNTER = declare_permission("services.counter", _l("Submit applications for people at a counter"))
SERVICES_APPROVE = declare_permission("services.approve", _l("Give the second approval of services that need "
                                                              "four eyes, and assign applications"))

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
PURPOSE = "e-service application"
Party = Actor | Applicant
EffectRunner = Callable[[Session, ApplicationRead, ServiceRead], dict[str, Any]]


# --- catalogue ------------------------------------------------------------------------------------


def _clean_texts(texts: Mapping[str, str]) -> dict[str, str]:
    return {k: v.strip() for k, v in texts.items() if k in ("km", "en", "ar", "de") and v and v.strip()}


def _search_text(data: ServiceVersionCreate, code: str) -> str:
    parts = [code, *data.name.values(), *data.description.values()]
    return " ".join(parts).casefold()


def _fee(session: Session, code: str | None) -> FeeInfo | None:
    if not code:
        return None
    found = next((f for f in payments.list_fees(session, Actor.public()) if f.code == code), None)
    return FeeInfo(code=found.code, amount_minor=found.amount_minor, currency=found.currency) if found else None


def _check_version(session: Session, data: ServiceVersionCreate) -> dict[str, str]:
    name = _clean_texts(data.name)
    errors = forms.check_definition(data.form_schema, data.ui_schema)
    if not name:
        errors.append(field_error(["name"], _("Give at least one name."), "name_required"))
    if data.fee_code and _fee(session, data.fee_code) is None:
        errors.append(field_error(["fee_code"], _("There is no such fee in the schedule."), "unknown_fee"))
    if errors:
        raise ValidationFailed(errors=errors)
    return name


def _add_version(session: Session, actor: Actor, service: Service, number: int,
                 data: ServiceVersionCreate, name: dict[str, str]) -> ServiceVersion:
    version = ServiceVersion(
        service_id=service.id, version=number, name=name, description=_clean_texts(data.description),
        eligibility=_clean_texts(data.eligibility),
        required_documents=[d.model_dump() for d in data.required_documents], fee_code=data.fee_code,
        processing_days=data.processing_days, four_eyes=data.four_eyes, form_schema=data.form_schema,
        ui_schema=data.ui_schema, effect=data.effect, search_text=_search_text(data, service.code),
        created_by=actor.name)
    session.add(version)
    service.current_version = number
    session.flush()
    audit.record_change(session, actor, action="service.version", subject_type="services_service",
                        subject_id=service.id, after={"code": service.code, "version": number,
                                                      "fee": data.fee_code, "days": data.processing_days})
    return version


def _managed_unit(session: Session, actor: Actor, code: str) -> accounts.OrgUnitRead:
    """The organisation unit a new service or consultation belongs to: it must exist (422 naming the field)
    and the actor must manage services there (403)."""
    unit = next((u for u in accounts.list_org_units(session, Actor.system("services")) if u.code == code), None)
    if unit is None:
        raise ValidationFailed(errors=[field_error(["org_unit_code"], _("There is no organisation unit with this "
                                                                        "code."), "unknown_org_unit")])
    actor.require(SERVICES_MANAGE, unit.id)
    return unit


def create_service(session: Session, actor: Actor, *, data: ServiceCreate) -> ServiceRead:
    """Add a service to the catalogue with its first version, owned by an organisation unit."""
    unit = _managed_unit(session, actor, data.org_unit_code)
    if repository.service_by_code(session, data.code) is not None:
        raise Conflict(_("A service with this code already exists."))
    name = _check_version(session, data)
    service = Service(code=data.code, org_unit_id=unit.id, org_unit_code=unit.code, current_version=1,
                      is_published=True)
    session.add(service)
    session.flush()
    version = _add_version(session, actor, service, 1, data, name)
    return _service_read(session, service, version)


def publish_version(session: Session, actor: Actor, *, code: str, data: ServiceVersionCreate) -> ServiceRead:
    """Publish a new version of a service; applications already made keep the version they were made under."""
    service = _service(session, code)
    actor.require(SERVICES_MANAGE, service.org_unit_id)
    name = _check_version(session, data)
    version = _add_version(session, actor, service, service.current_version + 1, data, name)
    return _service_read(session, service, version)


def _service(session: Session, code: str) -> Service:
    service = repository.service_by_code(session, code)
    if service is None or not service.is_published:
        raise NotFound(_("There is no such service."))
    return service


def _service_read(session: Session, service: Service, version: ServiceVersion,
                  fees: Mapping[str, FeeInfo] | None = None) -> ServiceRead:
    fee = (fees.get(version.fee_code) if fees is not None and version.fee_code
           else _fee(session, version.fee_code))
    return ServiceRead(
        id=service.id, code=service.code, org_unit_id=service.org_unit_id, org_unit_code=service.org_unit_code,
        version=version.version, version_id=version.id, current_version=service.current_version, name=version.name,
        description=version.description, eligibility=version.eligibility,
        required_documents=[DocumentRequirement.model_validate(d) for d in version.required_documents],
        fee=fee, processing_days=version.processing_days, four_eyes=version.four_eyes,
        form_schema=version.form_schema, ui_schema=version.ui_schema, effect=version.effect,
        is_published=service.is_published)


def get_service(session: Session, *, code: str, version: int | None = None) -> ServiceRead:
    """A service of the catalogue, in its current version or the one asked for (public)."""
    service = _service(session, code)
    found = repository.version_of(session, service.id, version or service.current_version)
    if found is None:
        raise NotFound(_("This version of the service does not exist."))
    return _service_read(session, service, found)


def get_service_by_id(session: Session, *, service_id: uuid.UUID) -> ServiceRead:
    """A service by its id (the GovStack API names services by id)."""
    found = repository.services_by_id(session, [service_id]).get(service_id)
    if found is None:
        raise NotFound(_("There is no such service."))
    return get_service(session, code=found.code)


def list_services(session: Session, *, query: str | None = None) -> list[ServiceRead]:
    """The published services, those whose name or description (in any language) holds every word of
    ``query``."""
    words = [w for w in (query or "").casefold().split() if w][:8]
    fees = {f.code: FeeInfo(code=f.code, amount_minor=f.amount_minor, currency=f.currency)
            for f in payments.list_fees(session, Actor.public())}
    out = []
    for service, version in repository.current_versions(session):
        if all(word in version.search_text for word in words):
            out.append(_service_read(session, service, version, fees))
    return out


# --- applications: reading ------------------------------------------------------------------------


def _new_number(session: Session, now: datetime) -> str:
    """``E``, the year's last two digits, eight random digits and a Damm check digit; never reused."""
    for _attempt in range(20):
        body = f"{now.year % 100:02d}{secrets.randbelow(10**8):08d}"
        number = "E" + body + damm_digit(body)
        if repository.application_by_number(session, number) is None:
            return number
    raise Conflict(_("No free application number was found; try again."))


def _find(session: Session, number: str, *, lock: bool = False) -> Application:
    number = number.strip().upper()
    found = (repository.application_by_number(session, number, lock=lock)
             if len(number) == 12 and number.startswith("E") and damm_valid(number[1:]) else None)
    if found is None:
        raise NotFound(_("There is no application with this number."))
    return found


def _load(session: Session, party: Party, number: str, *, lock: bool = False, need: str = SERVICES_PROCESS
          ) -> Application:
    """The application if ``party`` may see it: its own applicant, or an officer of its unit (404 otherwise)."""
    application = _find(session, number, lock=lock)
    if isinstance(party, Applicant):
        if application.applicant_subject != party.subject:
            raise NotFound(_("There is no application with this number."))
        return application
    if not (party.can(need, application.org_unit_id) or party.can(SERVICES_PROCESS, application.org_unit_id)
            or party.can(SERVICES_COUNTER, application.org_unit_id)):
        raise NotFound(_("There is no application with this number."))
    return application


def _overdue(application: Application, now: datetime) -> bool:
    """Open and past its deadline on the office's clock: while the applicant has to answer the clock
    stands at the moment it was paused, so only a deadline missed before asking counts."""
    clock = application.clock_paused_at or now
    return application.state in OPEN_STATES and application.due_at is not None and application.due_at < clock


def _fee_status(session: Session, application: Application) -> str | None:
    if not application.bill_number:
        return None
    return payments.bill_status(session, number=application.bill_number).status


def _read(session: Session, party: Party, application: Application, *, full: bool = True,
          created: ApplicationEvent | None = None) -> ApplicationRead:
    """The application as its reader sees it; ``created`` is the first history entry of an application made
    in this transaction (it has no documents and no other entry yet, so neither is read back)."""
    version = repository.versions_by_id(session, [application.service_version_id])[application.service_version_id]
    service = repository.services_by_id(session, [application.service_id])[application.service_id]
    out = ApplicationRead.model_validate(application)
    out.service_code = service.code
    out.service_name = version.name
    out.service_version = version.version
    out.overdue = _overdue(application, utcnow())
    out.fee_status = _fee_status(session, application)
    if full and created is not None:
        out.documents, out.history = [], [ApplicationEventRead.model_validate(created)]
    elif full:
        out.documents = [DocumentRead.model_validate(d) for d in repository.documents_of(session, application.id)]
        out.history = [ApplicationEventRead.model_validate(e) for e in repository.events_of(session, application.id)]
    if isinstance(party, Actor):
        audit.record_access(session, party, subject_type="services_application", subject_id=application.id,
                            purpose=PURPOSE, fields=["applicant_name", "data"])
    return out


def get_application(session: Session, party: Party, *, number: str) -> ApplicationRead:
    """One application with its documents and history: for its applicant, or an officer of its unit
    (the officer's read is logged)."""
    return _read(session, party, _load(session, party, number))


def _version_of(session: Session, application: Application) -> ServiceVersion:
    return repository.versions_by_id(session, [application.service_version_id])[application.service_version_id]


def service_of(session: Session, *, application: ApplicationRead) -> ServiceRead:
    """The service in the version the application was made under (its form, documents and fee)."""
    return get_service(session, code=application.service_code, version=application.service_version)


def _summaries(session: Session, rows: list[Application]) -> list[ApplicationSummary]:
    versions = repository.versions_by_id(session, {r.service_version_id for r in rows})
    services = repository.services_by_id(session, {r.service_id for r in rows})
    now = utcnow()
    return [ApplicationSummary(
        id=r.id, number=r.number, service_code=services[r.service_id].code,
        service_name=versions[r.service_version_id].name, state=r.state, channel=r.channel,
        applicant_name=r.applicant_name, assignee_name=r.assignee_name, first_approval_name=r.first_approval_name,
        submitted_at=r.submitted_at, due_at=r.due_at, overdue=_overdue(r, now), created_at=r.created_at)
        for r in rows]


def my_applications(session: Session, applicant: Applicant, *, cursor: str | None = None,
                    limit: int = DEFAULT_LIMIT) -> Page[ApplicationSummary]:
    """A person's own applications, newest first."""
    stmt = repository.applications_query(org_unit_ids=None, applicant_subject=applicant.subject)
    rows, next_cursor = paginate(session, stmt, Application.id, cursor=cursor, limit=limit, newest_first=True)
    return Page[ApplicationSummary](items=_summaries(session, list(rows)), next_cursor=next_cursor)


def work_queue(session: Session, actor: Actor, *, view: str = "unassigned", cursor: str | None = None,
               limit: int = DEFAULT_LIMIT) -> Page[ApplicationSummary]:
    """The applications of the units where the officer works, oldest first.

    Views: ``unassigned`` (submitted, nobody has claimed them), ``mine`` (claimed by the officer),
    ``second_approval`` (approved once, waiting for a second officer), ``needs_information``,
    ``overdue`` (open and past their deadline) and ``closed``.
    """
    actor.require(SERVICES_PROCESS)
    if view not in QUEUE_VIEWS:
        raise ValidationFailed(errors=[field_error(["query", "view"], _("Choose one of the options."),
                                                   "unknown_view")])
    units = actor.grants.get(SERVICES_PROCESS) if actor.kind != "system" else None
    now = utcnow()
    views: dict[str, dict[str, Any]] = {
        "unassigned": {"states": ("submitted",), "unassigned": True},
        "mine": {"states": ("in_review", "needs_information"), "assignee_id": actor.id},
        "second_approval": {"states": ("in_review",), "awaiting_second": True},
        "needs_information": {"states": ("needs_information",)},
        "overdue": {"states": OPEN_STATES, "due_before": now},
        "closed": {"states": ("approved", "rejected", "completed")},
    }
    criteria = views[view]
    stmt = repository.applications_query(org_unit_ids=units, **criteria)
    rows, next_cursor = paginate(session, stmt, Application.id, cursor=cursor, limit=limit,
                                 newest_first=view == "closed")
    return Page[ApplicationSummary](items=_summaries(session, list(rows)), next_cursor=next_cursor)


def list_applications(session: Session, actor: Actor, *, states: tuple[str, ...] | None = None,
                      assignee_id: uuid.UUID | None = None, offset: int = 0, limit: int = DEFAULT_LIMIT
                      ) -> list[ApplicationSummary]:
    """Applications of the officer's (or agency system's) units, oldest first, by offset (GovStack lists)."""
    actor.require(SERVICES_PROCESS)
    units = actor.grants.get(SERVICES_PROCESS) if actor.kind != "system" else None
    stmt = repository.applications_query(org_unit_ids=units, states=states or APPLICATION_STATES[1:],
                                         assignee_id=assignee_id)
    rows = session.scalars(stmt.order_by(Application.id).offset(max(offset, 0)).limit(min(max(limit, 1), 200)))
    return _summaries(session, list(rows))


# --- applications: writing ------------------------------------------------------------------------


def _who(party: Party) -> tuple[str, str | None, str]:
    if isinstance(party, Applicant):
        return "applicant", party.subject, party.name
    return party.kind, str(party.id) if party.id else None, party.name


def _step(session: Session, party: Party, application: Application, *, action: str, to: str,
          reason: str | None = None, changes: dict[str, Any] | None = None) -> ApplicationEvent:
    """Record one step of the history and move the application to ``to``."""
    kind, who_id, who_name = _who(party)
    before = application.state
    event = ApplicationEvent(application_id=application.id, action=action, from_state=before, to_state=to,
                             actor_kind=kind, actor_id=who_id, actor_name=who_name, reason=reason,
                             changes=changes or {})
    session.add(event)
    application.state = to
    application.updated_at = utcnow()
    session.flush()
    auditor = party if isinstance(party, Actor) else Actor(kind="public", id=None, name=f"applicant:{party.subject}")
    audit.record_change(session, auditor, action=f"application.{action}", subject_type="services_application",
                        subject_id=application.id, before={"state": before}, after={"state": to}, reason=reason)
    return event


def _allowed(application: Application, action: str, *states: str) -> None:
    if application.state not in states:
        raise Conflict(_("An application in the state “%(state)s” cannot be changed this way (%(action)s).",
                         state=application.state, action=action))


def _actor_applicant(actor: Actor, applicant: Applicant | None) -> Applicant:
    if applicant is None:
        raise ValidationFailed(errors=[field_error(["applicant"], _("Say who the application is for."),
                                                   "applicant_required")])
    if not applicant.name.strip():
        raise ValidationFailed(errors=[field_error(["applicant", "name"], _("This field is required."),
                                                   "missing")])
    return applicant


def start_application(session: Session, party: Party, *, service_code: str, values: Mapping[str, Any],
                      applicant: Applicant | None = None) -> ApplicationRead:
    """Open a draft for a service with what was typed so far (nothing is checked but the types).

    A signed-in person applies for themselves; an officer at a counter (``services.counter``) applies
    for ``applicant``, which is recorded as an assisted application.
    """
    service = _service(session, service_code)
    version = repository.version_of(session, service.id, service.current_version)
    assert version is not None
    if isinstance(party, Actor):
        party.require(SERVICES_COUNTER, service.org_unit_id)
        person = _actor_applicant(party, applicant)
        channel, assisted = "counter", party.id
    else:
        person, channel, assisted = party, "online", None
    data, _errors = forms.parse_form(version.form_schema, values, partial=True)
    application = Application(
        id=new_id(), number=_new_number(session, utcnow()), service_id=service.id, service_version_id=version.id,
        org_unit_id=service.org_unit_id, state="draft", channel=channel, applicant_subject=person.subject,
        applicant_name=person.name.strip(), applicant_email=person.email or None,
        applicant_phone=person.phone or None, applicant_locale=person.locale, assisted_by=assisted,
        data=data, result={})
    session.add(application)  # written with its first history entry, in one flush
    created = _step(session, party, application, action="draft", to="draft",
                    reason=_("Submitted at a counter for the applicant.") if channel == "counter" else None)
    return _read(session, party, application, created=created)


def save_draft(session: Session, party: Party, *, number: str, values: Mapping[str, Any]) -> ApplicationRead:
    """Keep what was typed in a draft (or in an application sent back for information) to finish later."""
    application = _load(session, party, number, lock=True, need=SERVICES_COUNTER)
    _allowed(application, "save", "draft", "needs_information")
    version = _version_of(session, application)
    data, _errors = forms.parse_form(version.form_schema, values, partial=True)
    application.data = data
    application.updated_at = utcnow()
    session.flush()
    return _read(session, party, application)


def _missing_documents(session: Session, application: Application, version: ServiceVersion) -> list[str]:
    required = [d["code"] for d in version.required_documents if d.get("required")]
    if not required:
        return []
    have = {d.requirement for d in repository.documents_of(session, application.id)}
    return [code for code in required if code not in have]


def _validated(session: Session, application: Application, version: ServiceVersion,
               values: Mapping[str, Any] | None) -> dict[str, Any]:
    data, errors = forms.parse_form(version.form_schema, values if values is not None else
                                    forms.as_form_values(application.data))
    problems = [field_error(["data", name], message, "invalid_field") for name, message in errors.items()]
    problems += [field_error(["documents", code], _("Attach this document."), "document_required")
                 for code in _missing_documents(session, application, version)]
    if problems:
        raise ValidationFailed(errors=problems)
    return data


def submit_application(session: Session, party: Party, *, number: str, values: Mapping[str, Any] | None = None
                       ) -> ApplicationRead:
    """Send a draft to the office: the form must be valid and the required documents attached.

    A service with a fee gets its bill (paid by KHQR); the deadline is counted from now.
    """
    application = _load(session, party, number, lock=True, need=SERVICES_COUNTER)
    _allowed(application, "submit", "draft")
    version = _version_of(session, application)
    application.data = _validated(session, application, version, values)
    now = utcnow()
    if version.fee_code and not application.bill_number:
        bill = payments.issue_bill(session, Actor.system("services"), data=payments.BillCreate(
            fee_code=version.fee_code, payer_name=application.applicant_name[:200],
            subject_type="services_application", subject_id=application.number))
        application.bill_number = bill.number
    application.submitted_at = now
    application.due_at = now + timedelta(days=version.processing_days)
    _step(session, party, application, action="submit", to="submitted")
    _notify(session, application, "submitted")
    return _read(session, party, application)


def attach_document(session: Session, party: Party, *, store: BlobStore, number: str, requirement: str,
                    filename: str, content: bytes, declared_type: str | None = None) -> DocumentRead:
    """Attach a document: its type is judged by its content, and must match its extension and the size limit."""
    application = _load(session, party, number, lock=True, need=SERVICES_COUNTER)
    _allowed(application, "attach", "draft", "needs_information")
    version = _version_of(session, application)
    if requirement not in {d["code"] for d in version.required_documents}:
        raise ValidationFailed(errors=[field_error(["requirement"], _("This service does not ask for this "
                                                                      "document."), "unknown_requirement")])
    if len(content) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLarge(_("The file is larger than %(size)s MB.", size=MAX_DOCUMENT_BYTES // (1024 * 1024)))
    if not content:
        raise ValidationFailed(errors=[field_error(["file"], _("The file is empty."), "empty_file")])
    content_type = sniff_type(content)
    if content_type is None:
        raise ValidationFailed(errors=[field_error(["file"], _("Only PDF, PNG and JPEG files are accepted."),
                                                   "forbidden_type")])
    if not extension_fits(filename, content_type) or (declared_type and declared_type not in (
            content_type, "application/octet-stream")):
        raise ValidationFailed(errors=[field_error(["file"], _("The file's content does not match its name or "
                                                               "type."), "type_mismatch")])
    stored = store.put(content)
    kind, _who_id, who_name = _who(party)
    document = ApplicationDocument(application_id=application.id, requirement=requirement,
                                   filename=filename.replace("/", "_")[-255:], content_type=content_type,
                                   size=stored.size, blob_key=stored.key, uploaded_by=f"{kind}:{who_name}"[:200])
    session.add(document)
    session.flush()
    auditor = party if isinstance(party, Actor) else Actor(kind="public", id=None, name=f"applicant:{party.subject}")
    audit.record_change(session, auditor, action="application.document", subject_type="services_application",
                        subject_id=application.id, after={"requirement": requirement, "sha256": stored.key})
    return DocumentRead.model_validate(document)


def read_document(session: Session, party: Party, *, store: BlobStore, number: str, document_id: uuid.UUID
                  ) -> tuple[DocumentRead, bytes]:
    """A document's bytes, for its applicant or an officer of the unit (the officer's read is logged)."""
    application = _load(session, party, number)
    document = repository.document(session, application.id, document_id)
    if document is None:
        raise NotFound(_("There is no such document."))
    if isinstance(party, Actor):
        audit.record_access(session, party, subject_type="services_application", subject_id=application.id,
                            purpose=PURPOSE, fields=[f"document:{document.requirement}"])
    return DocumentRead.model_validate(document), store.get(document.blob_key)


def read_result(session: Session, party: Party, *, store: BlobStore, number: str) -> tuple[str, bytes]:
    """The signed result (PDF) of a completed application: its file name and bytes."""
    application = _load(session, party, number)
    key = application.result.get("pdf_blob")
    if application.state != "completed" or not key:
        raise NotFound(_("This application has no document to download."))
    return str(application.result.get("filename") or f"{application.number}.pdf"), store.get(str(key))


def claim_application(session: Session, actor: Actor, *, number: str) -> ApplicationRead:
    """Take a submitted application to review it (the officer becomes its assignee)."""
    application = _load(session, actor, number, lock=True)
    actor.require(SERVICES_PROCESS, application.org_unit_id)
    _allowed(application, "claim", "submitted")
    application.assignee_id = actor.id
    application.assignee_name = actor.name
    _step(session, actor, application, action="claim", to="in_review")
    return _read(session, actor, application)


def _unit_officers(session: Session, org_unit_id: uuid.UUID) -> list[accounts.OfficerRead]:
    return [o for o in accounts.list_officers(session, Actor.system("services"), limit=200).items
            if o.org_unit_id == org_unit_id and o.is_active]


def assignable_officers(session: Session, actor: Actor, *, number: str) -> list[tuple[uuid.UUID, str]]:
    """The active officers of the application's unit a supervisor may give it to (empty for anyone else)."""
    application = _load(session, actor, number)
    if not actor.can(SERVICES_APPROVE, application.org_unit_id):
        return []
    return [(o.id, o.full_name) for o in _unit_officers(session, application.org_unit_id)]


def assign_application(session: Session, actor: Actor, *, number: str, officer_id: uuid.UUID,
                       reason: str | None = None) -> ApplicationRead:
    """Give an open application to an officer of its unit (a supervisor's job: ``services.approve``)."""
    application = _load(session, actor, number, lock=True)
    actor.require(SERVICES_APPROVE, application.org_unit_id)
    _allowed(application, "assign", "submitted", "in_review", "needs_information")
    officer = next((o for o in _unit_officers(session, application.org_unit_id) if o.id == officer_id), None)
    if officer is None:
        raise ValidationFailed(errors=[field_error(["officer_id"], _("There is no such officer."),
                                                   "unknown_officer")])
    application.assignee_id = officer.id
    application.assignee_name = officer.full_name
    to = "in_review" if application.state == "submitted" else application.state
    _step(session, actor, application, action="assign", to=to, reason=reason,
          changes={"assignee": officer.full_name})
    return _read(session, actor, application)


def _require_assignee(actor: Actor, application: Application) -> None:
    actor.require(SERVICES_PROCESS, application.org_unit_id)
    if application.assignee_id != actor.id:
        raise Conflict(_("Only the officer reviewing this application can do this; claim it first."))


def _reason(reason: str | None, field: str = "reason") -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(errors=[field_error([field], _("Give a reason."), "reason_required")])
    return text[:2000]


def request_information(session: Session, actor: Actor, *, number: str, reason: str) -> ApplicationRead:
    """Send the application back to the applicant with a question; the deadline's clock stops until the
    applicant answers (it is the applicant's turn, not the office's)."""
    application = _load(session, actor, number, lock=True)
    text = _reason(reason)
    _require_assignee(actor, application)
    _allowed(application, "request_information", "in_review")
    application.information_request = text
    application.clock_paused_at = utcnow()
    application.first_approval_by = None
    application.first_approval_name = None
    _step(session, actor, application, action="request_information", to="needs_information", reason=text)
    _notify(session, application, "needs_information")
    return _read(session, actor, application)


def provide_information(session: Session, party: Party, *, number: str, values: Mapping[str, Any] | None,
                        note: str | None = None) -> ApplicationRead:
    """The applicant answers: corrected form data and documents go back to the reviewing officer, and the
    deadline moves on by the time the application waited for the answer."""
    application = _load(session, party, number, lock=True, need=SERVICES_COUNTER)
    _allowed(application, "provide_information", "needs_information")
    version = _version_of(session, application)
    before = dict(application.data)
    application.data = _validated(session, application, version, values)
    changed = {k: {"before": before.get(k), "after": v} for k, v in application.data.items() if before.get(k) != v}
    if application.clock_paused_at is not None:
        if application.due_at is not None:
            due_before = application.due_at
            application.due_at += max(utcnow() - application.clock_paused_at, timedelta(0))
            changed["due_at"] = {"before": due_before.isoformat(), "after": application.due_at.isoformat()}
        application.clock_paused_at = None
    _step(session, party, application, action="provide_information",
          to="in_review" if application.assignee_id else "submitted", reason=(note or "").strip()[:2000] or None,
          changes=changed)
    return _read(session, party, application)


def decide_application(session: Session, actor: Actor, *, number: str, approve: bool, reason: str,
                       effects: Mapping[str, EffectRunner] | None = None) -> ApplicationRead:
    """Approve or reject with a reason. An approval needs the fee paid; a four-eyes service needs a
    second officer (``services.approve``) to approve too. The approval runs the service's effect and
    completes the application, all in this transaction: if the effect fails, nothing changes."""
    application = _load(session, actor, number, lock=True)
    text = _reason(reason)
    version = _version_of(session, application)
    second = (approve and version.four_eyes and application.first_approval_by is not None
              and application.state == "in_review")
    if second:
        if application.first_approval_by == actor.id:
            raise Conflict(_("The second approval must come from another officer."))
        actor.require(SERVICES_APPROVE, application.org_unit_id)
    else:
        _require_assignee(actor, application)
    _allowed(application, "decide", "in_review")
    now = utcnow()
    if not approve:
        application.decision_reason = text
        application.decided_at = now
        _step(session, actor, application, action="reject", to="rejected", reason=text)
        _notify(session, application, "rejected")
        return _read(session, actor, application)
    if application.bill_number and _fee_status(session, application) != "paid":
        raise Conflict(_("The fee has not been paid yet."))
    if version.four_eyes and not second:
        application.first_approval_by = actor.id
        application.first_approval_name = actor.name
        application.updated_at = now
        kind, who_id, who_name = _who(actor)
        session.add(ApplicationEvent(application_id=application.id, action="first_approval", from_state="in_review",
                                     to_state="in_review", actor_kind=kind, actor_id=who_id, actor_name=who_name,
                                     reason=text, changes={}))
        session.flush()
        audit.record_change(session, actor, action="application.first_approval",
                            subject_type="services_application", subject_id=application.id, reason=text)
        return _read(session, actor, application)
    application.decision_reason = text
    application.decided_at = now
    _step(session, actor, application, action="approve", to="approved", reason=text)
    service = get_service(session, code=repository.services_by_id(session, [application.service_id])[
        application.service_id].code, version=version.version)
    runner = (effects or {}).get(version.effect)
    if runner is None:
        raise Conflict(_("This service's result cannot be produced here."))
    result = runner(session, _read(session, Actor.system("services"), application, full=False), service)
    application.result = result
    application.completed_at = utcnow()
    _step(session, Actor.system("services"), application, action="complete", to="completed",
          changes={k: v for k, v in result.items() if k != "pdf_blob"})
    _notify(session, application, "completed")
    return _read(session, actor, application)


# --- notifications --------------------------------------------------------------------------------

NOTICES = {
    "submitted": messaging.register_template(
        "services.submitted", subject=_l("Application %(number)s received"),
        body=_l("We have received your application %(number)s for “%(service)s”. A decision is due by "
                "%(due)s. Follow it at %(link)s"),
        sms=_l("Application %(number)s received. Follow it at %(link)s")),
    "needs_information": messaging.register_template(
        "services.needs_information", subject=_l("Application %(number)s: information needed"),
        body=_l("More information is needed for your application %(number)s for “%(service)s”: %(question)s "
                "Answer at %(link)s"),
        sms=_l("Application %(number)s: information needed. See %(link)s")),
    "rejected": messaging.register_template(
        "services.rejected", subject=_l("Application %(number)s: decision"),
        body=_l("Your application %(number)s for “%(service)s” has been rejected. Reason: %(reason)s "
                "Details at %(link)s"),
        sms=_l("Application %(number)s has been rejected. See %(link)s")),
    "completed": messaging.register_template(
        "services.completed", subject=_l("Application %(number)s: approved"),
        body=_l("Your application %(number)s for “%(service)s” has been approved. Download the result or see "
                "the next steps at %(link)s"),
        sms=_l("Application %(number)s has been approved. See %(link)s")),
}


@cache
def _base_url() -> str:
    """Where the portal is, for links in messages (read once per process)."""
    return get_settings().base_url.rstrip("/")


def _phone(text: str | None) -> str | None:
    """A Cambodian number written locally (012 345 678) in the international form the SMS gateway needs."""
    if not text:
        return None
    digits = "".join(c for c in text if c.isdigit() or c == "+")
    if digits.startswith("0"):
        return "+855" + digits[1:]
    return digits if digits.startswith("+") else "+" + digits


def _notify(session: Session, application: Application, event: str) -> None:
    """Tell the applicant, in their language, by portal message, e-mail and SMS (whichever they have)."""
    version = _version_of(session, application)
    locale = application.applicant_locale if application.applicant_locale in ("km", "en", "ar", "de") else "km"
    name = next((version.name[k] for k in (locale, "en", "km") if version.name.get(k)), "")
    link = f"{_base_url()}/my/applications/{application.number}"
    context = {"number": application.number, "service": name, "link": link,
               "due": application.due_at.date().isoformat() if application.due_at else "",
               "question": application.information_request or "", "reason": application.decision_reason or ""}
    messaging.notify_person(
        session, Actor.system("services"), template=NOTICES[event].name, context=context, locale=locale,
        recipient=application.applicant_subject, email=application.applicant_email,
        phone=_phone(application.applicant_phone), link=f"/my/applications/{application.number}",
        about_type="services_application", about_id=application.number,
        idempotency_key=f"application-{event}:{application.id}:{application.updated_at.timestamp()}")
    for notifier in NOTIFIERS:
        notifier(session, _read(session, Actor.system("services"), application, full=False), event)


NOTIFIERS: list[Callable[[Session, ApplicationRead, str], None]] = []


def on_application_event(notifier: Callable[[Session, ApplicationRead, str], None]) -> None:
    """Register a function told of every application event (``submitted``, ``needs_information``,
    ``rejected``, ``completed``) in the same transaction as the change."""
    if notifier not in NOTIFIERS:
        NOTIFIERS.append(notifier)


# --- ratings and statistics -----------------------------------------------------------------------


def rate_service(session: Session, applicant: Applicant, *, number: str, stars: int, comment: str | None
                 ) -> RatingRead:
    """A person rates the service of their completed (or decided) application, once."""
    application = _load(session, applicant, number)
    _allowed(application, "rate", "completed", "rejected")
    if not 1 <= stars <= 5:
        raise ValidationFailed(errors=[field_error(["stars"], _("Choose from one to five stars."), "invalid_stars")])
    if repository.rating_of(session, application.id) is not None:
        raise Conflict(_("You have already rated this application."))
    rating = Rating(application_id=application.id, service_id=application.service_id, stars=stars,
                    comment=(comment or "").strip()[:2000] or None)
    session.add(rating)
    session.flush()
    return RatingRead.model_validate(rating)


def rating_for(session: Session, applicant: Applicant, *, number: str) -> RatingRead | None:
    application = _load(session, applicant, number)
    found = repository.rating_of(session, application.id)
    return RatingRead.model_validate(found) if found else None


def recent_comments(session: Session, *, code: str) -> list[RatingRead]:
    """The latest ratings with comments of a service (public, without names)."""
    return [RatingRead.model_validate(r) for r in repository.recent_ratings(session, _service(session, code).id)]


def service_statistics(session: Session, *, code: str | None = None) -> list[ServiceStatistics]:
    """Volumes, processing times and satisfaction per service (public)."""
    now = utcnow()
    out = []
    for service, version in repository.current_versions(session):
        if code and service.code != code:
            continue
        counts = repository.count_by_state(session, service.id)
        durations = [(b - a).total_seconds() / 86400 for a, b in repository.decision_times(session, service.id)]
        ratings, average_rating = repository.rating_summary(session, service.id)
        out.append(ServiceStatistics(
            service_code=service.code, service_name=version.name, submitted=sum(counts.values()),
            open=sum(counts.get(s, 0) for s in OPEN_STATES),
            approved=counts.get("approved", 0) + counts.get("completed", 0), rejected=counts.get("rejected", 0),
            completed=counts.get("completed", 0),
            sent_back=repository.count_events(session, "request_information", service.id),
            overdue=repository.count_overdue(session, service.id, now),
            average_days=round(sum(durations) / len(durations), 1) if durations else None,
            ratings=ratings, average_rating=round(average_rating, 2) if average_rating is not None else None))
    return out


def decision_counts(session: Session, *, start: date | None, end: date | None, service: str | None,
                    operator: str | None) -> dict[str, int]:
    """Decisions and send-backs between two days (GovStack statistics): processed, approved, sentBack, rejected."""
    tz = utcnow().tzinfo
    since = datetime.combine(start, datetime.min.time()).replace(tzinfo=tz) if start else None
    until = datetime.combine(end + timedelta(days=1), datetime.min.time()).replace(tzinfo=tz) if end else None
    matches = None
    if service:
        matches = [s.id for s, v in repository.current_versions(session)
                   if s.code == service or service in v.name.values()]
    counts = repository.decisions(session, since=since, until=until, operator=operator, service_ids=matches)
    approved, rejected = counts.get("approve", 0), counts.get("reject", 0)
    sent_back = counts.get("request_information", 0)
    return {"processed": approved + rejected + sent_back, "approved": approved, "sentBack": sent_back,
            "rejected": rejected}


# --- consultations --------------------------------------------------------------------------------


def _consultation_read(session: Session, row: Consultation, *, states: tuple[str, ...] | None) -> ConsultationRead:
    out = ConsultationRead.model_validate(row)
    out.is_open = row.closes_at > utcnow()
    out.comments = [CommentRead.model_validate(c) for c in repository.comments_of(session, row.id, states)]
    return out


def create_consultation(session: Session, actor: Actor, *, data: ConsultationCreate) -> ConsultationRead:
    """Publish a draft rule or plan for public comment until ``closes_at``."""
    unit = _managed_unit(session, actor, data.org_unit_code)
    title, body = _clean_texts(data.title), _clean_texts(data.body)
    errors = []
    if not title:
        errors.append(field_error(["title"], _("Give at least one title."), "title_required"))
    if not body:
        errors.append(field_error(["body"], _("Describe what is proposed."), "body_required"))
    if data.closes_at <= utcnow():
        errors.append(field_error(["closes_at"], _("The closing date must be in the future."), "closes_in_past"))
    if errors:
        raise ValidationFailed(errors=errors)
    row = Consultation(org_unit_id=unit.id, title=title, body=body, closes_at=data.closes_at, created_by=actor.name)
    session.add(row)
    session.flush()
    audit.record_change(session, actor, action="consultation.create", subject_type="services_consultation",
                        subject_id=row.id, after={"title": title})
    return _consultation_read(session, row, states=("published",))


def list_consultations(session: Session) -> list[ConsultationRead]:
    """Every consultation with its published comments and answers (public)."""
    return [_consultation_read(session, row, states=("published",)) for row in repository.consultations(session)]


def get_consultation(session: Session, *, consultation_id: uuid.UUID) -> ConsultationRead:
    row = session.get(Consultation, consultation_id)
    if row is None:
        raise NotFound(_("There is no such consultation."))
    return _consultation_read(session, row, states=("published",))


def comment_on_consultation(session: Session, applicant: Applicant, *, consultation_id: uuid.UUID, body: str
                            ) -> CommentRead:
    """A signed-in resident comments; the comment waits for a moderator before anyone else sees it."""
    row = session.get(Consultation, consultation_id)
    if row is None:
        raise NotFound(_("There is no such consultation."))
    if row.closes_at <= utcnow():
        raise Conflict(_("This consultation is closed."))
    text = (body or "").strip()
    if len(text) < 3:
        raise ValidationFailed(errors=[field_error(["body"], _("Write your comment."), "body_required")])
    comment = ConsultationComment(consultation_id=row.id, author_subject=applicant.subject,
                                  author_name=applicant.name[:200], body=text[:5000], state="pending")
    session.add(comment)
    session.flush()
    return CommentRead.model_validate(comment)


def comments_to_moderate(session: Session, actor: Actor) -> list[tuple[CommentRead, ConsultationRead]]:
    """Pending comments on the consultations of the moderator's units, oldest first."""
    actor.require(SERVICES_MANAGE)
    units = actor.grants.get(SERVICES_MANAGE) if actor.kind != "system" else None
    return [(CommentRead.model_validate(c), ConsultationRead.model_validate(k))
            for c, k in repository.pending_comments(session, units)]


def moderate_comment(session: Session, actor: Actor, *, comment_id: uuid.UUID, publish: bool,
                     reason: str | None = None, answer: str | None = None) -> CommentRead:
    """Publish a comment (optionally with the agency's answer) or refuse it with a reason."""
    comment = session.get(ConsultationComment, comment_id)
    consultation = session.get(Consultation, comment.consultation_id) if comment else None
    if comment is None or consultation is None:
        raise NotFound(_("There is no such comment."))
    actor.require(SERVICES_MANAGE, consultation.org_unit_id)
    if not publish:
        comment.moderation_reason = _reason(reason)
    if comment.state != "pending" and not (publish and comment.state == "published"):
        raise Conflict(_("This comment has already been moderated."))
    comment.state = "published" if publish else "refused"
    comment.moderated_by = actor.name
    if publish and answer and answer.strip():
        comment.answer = answer.strip()[:5000]
        comment.answered_by = actor.name
    session.flush()
    audit.record_change(session, actor, action="consultation.moderate", subject_type="services_consultation",
                        subject_id=consultation.id, after={"comment": str(comment.id), "state": comment.state},
                        reason=comment.moderation_reason)
    return CommentRead.model_validate(comment)
