"""GovStack Registration building block (API 0.1.1 and the statistics API 1.0.0).

Served under ``/govstack/registration``: services and their e-forms, application files, documents and
operators' tasks, authenticated with a Nokor API key (or an officer's session). An application file's
``fileId`` and a task's ``taskId`` are both the application number: Nokor keeps one task per
application (its review). The statistics are public at ``/data/statistics`` and ``/data/statistics/1.0``
(and under the prefix too); the spec's ``Information-Mediator-Client`` header is accepted and not required,
since anyone may read them.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from nokor.kit.errors import NotFound, PayloadTooLarge, ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.kit.time import IsoDate
from nokor.services import service
from nokor.services.schemas import Applicant, ApplicationRead, ApplicationSummary, ServiceRead
from nokor.services.views import document_limit, effects_of, store_of
from nokor.web import localized
from nokor.web.deps import CurrentActor, DbSession

PREFIX = "/govstack/registration"
router = APIRouter(prefix=PREFIX, tags=["GovStack Registration"], responses=problem_responses(401, 403, 404, 422))
statistics_router = APIRouter(tags=["GovStack Registration"])
STATUS = {"approved": ("APPROVED", "Approved"), "completed": ("APPROVED", "Approved"),
          "rejected": ("REJECTED", "Rejected"), "needs_information": ("SENDBACK", "Sent back")}
ENDED = ("approved", "completed", "rejected")


class FormData(BaseModel):
    eFormId: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ApplicationFileSubmit(BaseModel):
    applicantId: str = Field(min_length=1, max_length=128)
    applicationName: str | None = Field(None, max_length=200)
    created: str | None = None
    formData: FormData = Field(default_factory=FormData)
    documentUrls: list[str] = Field(default_factory=list)


class AdditionalData(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)


def _status(state: str) -> dict[str, str]:
    code, title = STATUS.get(state, ("PENDING", "Pending"))
    return {"code": code, "title": title}


def _service_body(found: ServiceRead) -> dict[str, Any]:
    return {"id": str(found.id), "name": localized(found.name), "version": str(found.version), "type": "Public",
            "isExecutable": True, "isClosed": False, "description": localized(found.description),
            "serviceBody": [{"code": "code", "value": found.code},
                            {"code": "processingDays", "value": str(found.processing_days)},
                            {"code": "fee", "value": f"{found.fee.amount_minor} {found.fee.currency}" if found.fee
                             else "0"},
                            {"code": "fourEyes", "value": str(found.four_eyes).lower()}]}


def _file(application: ApplicationRead | ApplicationSummary, data: dict[str, Any] | None = None,
          applicant: str | None = None) -> dict[str, Any]:
    service_id = application.service_id if isinstance(application, ApplicationRead) else None
    body: dict[str, Any] = {
        "fileId": application.number,
        "registered": (application.submitted_at or application.created_at).isoformat(),
        "serviceName": localized(application.service_name), "status": _status(application.state),
        "ended": application.state in ENDED}
    if service_id is not None:
        body["serviceId"] = str(service_id)
    if isinstance(application, ApplicationRead):
        body["applicationData"] = {"applicantId": applicant or application.applicant_subject,
                                   "applicationName": application.applicant_name,
                                   "created": application.created_at.isoformat(),
                                   "formData": {"eFormId": None,
                                                "data": data if data is not None else application.data}}
    return body


def _task(summary: ApplicationSummary | ApplicationRead) -> dict[str, Any]:
    return {"taskId": summary.number, "mainTaskId": summary.number, "name": "review",
            "assigneeId": summary.assignee_name or None, "created": summary.created_at.isoformat(),
            "description": localized(summary.service_name), "fileId": summary.number,
            "serviceName": localized(summary.service_name), "status": _status(summary.state)}


def _service_by_id(session: DbSession, service_id: str) -> ServiceRead:
    try:
        return service.get_service_by_id(session, service_id=uuid.UUID(service_id))
    except ValueError:
        raise NotFound(_("There is no such service.")) from None


@router.get("/services", summary="The services available to use")
def services_list(session: DbSession) -> list[dict[str, Any]]:
    return [_service_body(s) for s in service.list_services(session)]


@router.get("/services/{serviceId}", summary="One service")
def service_detail(session: DbSession, serviceId: str) -> dict[str, Any]:
    return _service_body(_service_by_id(session, serviceId))


@router.get("/services/{serviceId}/eForms", summary="The e-forms of a service (one per version)")
def service_eforms(session: DbSession, serviceId: str) -> list[dict[str, Any]]:
    current = _service_by_id(session, serviceId)
    out = []
    for number in range(1, current.current_version + 1):
        version = service.get_service(session, code=current.code, version=number)
        out.append({"eFormId": str(version.version_id), "name": localized(version.name),
                    "description": localized(version.description), "version": str(number),
                    "latest": number == current.current_version})
    return out


@router.get("/eForms/{eFormId}", summary="One e-form with its JSON Schema (and Nokor's UI schema)")
def eform(session: DbSession, eFormId: str) -> dict[str, Any]:
    for found in service.list_services(session):
        for number in range(1, found.current_version + 1):
            version = service.get_service(session, code=found.code, version=number)
            if str(version.version_id) == eFormId:
                return {"eFormId": eFormId, "name": localized(version.name),
                        "description": localized(version.description), "version": str(number),
                        "latest": number == found.current_version,
                        "schema": {**version.form_schema, "x-ui": version.ui_schema}}
    raise NotFound(_("There is no such e-form."))


@router.post("/services/{serviceId}/applications", summary="Submit an application file for an applicant")
def submit_file(session: DbSession, actor: CurrentActor, serviceId: str, body: ApplicationFileSubmit
                ) -> dict[str, Any]:
    found = _service_by_id(session, serviceId)
    person = Applicant(subject=body.applicantId, name=body.applicationName or body.applicantId,
                       national_id=body.applicantId)
    started = service.start_application(session, actor, service_code=found.code, values=body.formData.data,
                                        applicant=person)
    submitted = service.submit_application(session, actor, number=started.number, values=body.formData.data)
    return _file(submitted, applicant=body.applicantId)


@router.post("/documents", summary="Upload a document of an application file (PDF, PNG or JPEG)")
async def upload_document(request: Request, session: DbSession, actor: CurrentActor,
                          file: Annotated[UploadFile, File()], fileId: Annotated[str, Form()],
                          documentType: Annotated[str, Form()]) -> dict[str, Any]:
    limit = document_limit(request)
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge()
    document = service.attach_document(session, actor, store=store_of(request), number=fileId,
                                       requirement=documentType, filename=file.filename or "document",
                                       content=content, declared_type=file.content_type)
    return {"code": 200, "type": document.content_type, "message": "stored",
            "url": f"/admin/services/applications/{fileId}/documents/{document.id}"}


@router.get("/applications", summary="The application files of the caller's organisation units")
def files(session: DbSession, actor: CurrentActor, firstResult: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
          maxResult: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
    return [_file(s) for s in service.list_applications(session, actor, offset=firstResult, limit=maxResult)]


@router.get("/applications/{fileId}", summary="One application file")
def file_detail(session: DbSession, actor: CurrentActor, fileId: str) -> dict[str, Any]:
    return _file(service.get_application(session, actor, number=fileId))


@router.put("/applications/{fileId}", summary="Update an application file's form data (draft or sent back)")
def file_update(session: DbSession, actor: CurrentActor, fileId: str, body: ApplicationFileSubmit) -> dict[str, Any]:
    current = service.get_application(session, actor, number=fileId)
    if current.state == "needs_information":
        updated = service.provide_information(session, actor, number=fileId, values=body.formData.data)
    else:
        updated = service.save_draft(session, actor, number=fileId, values=body.formData.data)
    return _file(updated)


@router.get("/tasks", summary="Open review tasks (one per application)")
def tasks(session: DbSession, actor: CurrentActor, fileId: str | None = None, assigneeId: str | None = None,
          firstResult: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
          maxResult: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
    if fileId:
        found = service.get_application(session, actor, number=fileId)
        return [_task(found)] if found.state in ("submitted", "in_review", "needs_information") else []
    assignee = None
    if assigneeId:
        try:
            assignee = uuid.UUID(assigneeId)
        except ValueError:
            return []
    rows = service.list_applications(session, actor, states=("submitted", "in_review", "needs_information"),
                                     assignee_id=assignee, offset=firstResult, limit=maxResult)
    return [_task(r) for r in rows]


@router.get("/tasks/{taskId}", summary="One task")
def task_detail(session: DbSession, actor: CurrentActor, taskId: str) -> dict[str, Any]:
    found = service.get_application(session, actor, number=taskId)
    return {**_task(found), "formVariables": found.data, "data": found.data}


@router.post("/tasks/{taskId}/complete",
             summary="Complete the review: data.decision is APPROVED, REJECTED or SENDBACK, data.reason why")
def task_complete(request: Request, session: DbSession, actor: CurrentActor, taskId: str,
                  body: AdditionalData) -> dict[str, Any]:
    decision = str(body.data.get("decision", "")).upper()
    reason = str(body.data.get("reason", "") or "")
    if decision not in ("APPROVED", "REJECTED", "SENDBACK"):
        raise ValidationFailed(errors=[field_error(["data", "decision"], _("Choose one of the options."),
                                                   "unknown_decision")])
    current = service.get_application(session, actor, number=taskId)
    if current.state == "submitted":
        service.claim_application(session, actor, number=taskId)
    if decision == "SENDBACK":
        done = service.request_information(session, actor, number=taskId, reason=reason)
    else:
        done = service.decide_application(session, actor, number=taskId, approve=decision == "APPROVED",
                                          reason=reason, effects=effects_of(request))
    return {"taskId": taskId, "fileId": taskId, "serviceId": str(done.service_id), "status": _status(done.state),
            "variables": {"result": {"data": {k: v for k, v in done.result.items() if k != "pdf_blob"}}}}


Timeframe = Literal["day", "week", "month", "year"]


def _buckets(start: date, end: date, timeframe: Timeframe) -> list[tuple[date, date]]:
    out: list[tuple[date, date]] = []
    cursor = start
    while cursor <= end and len(out) < 400:
        if timeframe == "day":
            nxt = cursor + timedelta(days=1)
        elif timeframe == "week":
            nxt = cursor + timedelta(days=7)
        elif timeframe == "month":
            nxt = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        else:
            nxt = cursor.replace(year=cursor.year + 1, month=1, day=1)
        out.append((cursor, min(nxt - timedelta(days=1), end)))
        cursor = nxt
    return out


def _statistics(session: DbSession, startDate: date | None, endDate: date | None, registrationName: str | None,
                operator: str | None, role: str | None, timeframe: Timeframe | None) -> JSONResponse:
    if startDate and endDate and startDate > endDate:
        raise ValidationFailed(errors=[field_error(["query", "endDate"], _("The end comes before the start."),
                                                   "bad_range")])
    references = {"startDate": startDate.isoformat() if startDate else None,
                  "endDate": endDate.isoformat() if endDate else None, "registrationName": registrationName,
                  "operator": operator, "role": role, "timeframeDay": timeframe == "day",
                  "timeframeWeek": timeframe == "week", "timeframeMonth": timeframe == "month",
                  "timeframeYear": timeframe == "year"}
    if timeframe is None:
        counts = service.decision_counts(session, start=startDate, end=endDate, service=registrationName,
                                         operator=operator)
        return JSONResponse([{**counts, "references": references}])
    end = endDate or date.today()
    start = startDate or end - {"day": timedelta(days=6), "week": timedelta(weeks=3), "month": timedelta(days=150),
                                "year": timedelta(days=3 * 365)}[timeframe]
    out = []
    for first, last in _buckets(start, end, timeframe):
        counts = service.decision_counts(session, start=first, end=last, service=registrationName, operator=operator)
        out.append({**counts, "references": {**references, "startDate": first.isoformat(),
                                             "endDate": last.isoformat()}})
    return JSONResponse(out)


@statistics_router.get("/data/statistics", summary="Decisions made (GovStack Registration statistics 1.0.0)")
@statistics_router.get("/data/statistics/1.0", summary="Decisions made (GovStack Registration statistics 1.0.0)")
@router.get("/data/statistics", summary="Decisions made (GovStack Registration statistics 1.0.0)")
@router.get("/data/statistics/1.0", summary="Decisions made (GovStack Registration statistics 1.0.0)")
def statistics(session: DbSession, startDate: IsoDate | None = None, endDate: IsoDate | None = None,
               registrationName: Annotated[str | None, Query(max_length=200)] = None,
               operator: Annotated[str | None, Query(max_length=200)] = None,
               role: Annotated[str | None, Query(max_length=200)] = None,
               timeframe: Timeframe | None = None) -> JSONResponse:
    """Processed, approved, sent back and rejected applications, for a period, a service and an operator;
    with ``timeframe``, one entry per day, week, month or year."""
    return _statistics(session, startDate, endDate, registrationName, operator, role, timeframe)
