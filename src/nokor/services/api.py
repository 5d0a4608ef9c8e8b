"""JSON routes of e-services under /api/v1/services: the catalogue, applications made by agency systems
and counters, the officer's workflow and statistics. Errors are problem+json; a step not allowed is 409."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from nokor.kit.errors import PayloadTooLarge, problem_responses
from nokor.kit.pagination import Page
from nokor.services import service
from nokor.services.schemas import (
    Applicant,
    ApplicationRead,
    ApplicationSummary,
    DocumentRead,
    ServiceCreate,
    ServiceRead,
    ServiceStatistics,
    ServiceVersionCreate,
)
from nokor.services.views import document_limit, effects_of, store_of
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/services", tags=["services"])
PROBLEMS = problem_responses(401, 403, 404, 409, 422)


class ApplicantBody(BaseModel):
    """The person an officer or an agency system applies for (their national ID number identifies them)."""

    national_id: str = Field(min_length=4, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=320)
    locale: str = Field("km", pattern="^(km|en|ar|de)$")


class ApplicationBody(BaseModel):
    applicant: ApplicantBody
    data: dict[str, Any] = Field(default_factory=dict)
    submit: bool = Field(False, description="Submit at once (the form must be valid, documents attached)")


class DataBody(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)


class ReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class DecisionBody(ReasonBody):
    approve: bool


class AssignBody(BaseModel):
    officer_id: uuid.UUID
    reason: str | None = Field(None, max_length=2000)


@router.get("", response_model=list[ServiceRead], summary="The published services (search in any language)")
def list_services(session: DbSession, q: Annotated[str, Query(max_length=200)] = "") -> list[ServiceRead]:
    return service.list_services(session, query=q)


@router.post("", response_model=ServiceRead, status_code=201, responses=PROBLEMS, summary="Add a service")
def create_service(session: DbSession, actor: CurrentActor, body: ServiceCreate) -> ServiceRead:
    return service.create_service(session, actor, data=body)


@router.get("/statistics", response_model=list[ServiceStatistics], summary="Volumes, times and satisfaction")
def statistics(session: DbSession) -> list[ServiceStatistics]:
    return service.service_statistics(session)


@router.get("/queue", response_model=Page[ApplicationSummary], responses=PROBLEMS,
            summary="The officer's work queue (views: unassigned, mine, second_approval, needs_information, "
                    "overdue, closed)")
def queue(session: DbSession, actor: CurrentActor, view: str = "unassigned", cursor: str | None = None,
          limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[ApplicationSummary]:
    return service.work_queue(session, actor, view=view, cursor=cursor, limit=limit)


@router.get("/applications/{number}", response_model=ApplicationRead, responses=PROBLEMS)
def get_application(session: DbSession, actor: CurrentActor, number: str) -> ApplicationRead:
    return service.get_application(session, actor, number=number)


@router.put("/applications/{number}", response_model=ApplicationRead, responses=PROBLEMS,
            summary="Save the form data of a draft (or of an application sent back for information)")
def save_draft(session: DbSession, actor: CurrentActor, number: str, body: DataBody) -> ApplicationRead:
    return service.save_draft(session, actor, number=number, values=body.data)


@router.post("/applications/{number}/documents", response_model=DocumentRead, status_code=201, responses=PROBLEMS,
             summary="Attach a document (PDF, PNG or JPEG, judged by its content)")
async def attach_document(request: Request, session: DbSession, actor: CurrentActor, number: str,
                          requirement: Annotated[str, Form()], file: Annotated[UploadFile, File()]) -> DocumentRead:
    limit = document_limit(request)
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge()
    return service.attach_document(session, actor, store=store_of(request), number=number, requirement=requirement,
                                   filename=file.filename or "document", content=content,
                                   declared_type=file.content_type)


@router.post("/applications/{number}/submit", response_model=ApplicationRead, responses=PROBLEMS)
def submit(session: DbSession, actor: CurrentActor, number: str) -> ApplicationRead:
    return service.submit_application(session, actor, number=number)


@router.post("/applications/{number}/claim", response_model=ApplicationRead, responses=PROBLEMS)
def claim(session: DbSession, actor: CurrentActor, number: str) -> ApplicationRead:
    return service.claim_application(session, actor, number=number)


@router.post("/applications/{number}/assign", response_model=ApplicationRead, responses=PROBLEMS)
def assign(session: DbSession, actor: CurrentActor, number: str, body: AssignBody) -> ApplicationRead:
    return service.assign_application(session, actor, number=number, officer_id=body.officer_id, reason=body.reason)


@router.post("/applications/{number}/request-information", response_model=ApplicationRead, responses=PROBLEMS)
def request_information(session: DbSession, actor: CurrentActor, number: str, body: ReasonBody) -> ApplicationRead:
    return service.request_information(session, actor, number=number, reason=body.reason)


@router.post("/applications/{number}/provide-information", response_model=ApplicationRead, responses=PROBLEMS)
def provide_information(session: DbSession, actor: CurrentActor, number: str, body: DataBody) -> ApplicationRead:
    return service.provide_information(session, actor, number=number, values=body.data)


@router.post("/applications/{number}/decision", response_model=ApplicationRead, responses=PROBLEMS,
             summary="Approve (runs the service's effect) or reject, with a reason")
def decide(request: Request, session: DbSession, actor: CurrentActor, number: str,
           body: DecisionBody) -> ApplicationRead:
    return service.decide_application(session, actor, number=number, approve=body.approve, reason=body.reason,
                                      effects=effects_of(request))


@router.get("/applications/{number}/result", responses={200: {"content": {"application/pdf": {}}}, **PROBLEMS},
            response_class=Response, summary="The signed result of a completed application (PDF)")
def result(request: Request, session: DbSession, actor: CurrentActor, number: str) -> Response:
    name, content = service.read_result(session, actor, store=store_of(request), number=number)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{code}", response_model=ServiceRead, responses=PROBLEMS, summary="One service (a version if asked)")
def get_service(session: DbSession, code: str, version: int | None = None) -> ServiceRead:
    return service.get_service(session, code=code, version=version)


@router.post("/{code}/versions", response_model=ServiceRead, status_code=201, responses=PROBLEMS,
             summary="Publish a new version of a service")
def publish_version(session: DbSession, actor: CurrentActor, code: str, body: ServiceVersionCreate) -> ServiceRead:
    return service.publish_version(session, actor, code=code, data=body)


@router.post("/{code}/applications", response_model=ApplicationRead, status_code=201, responses=PROBLEMS,
             summary="Apply for a person (a counter or an agency system; recorded as assisted)")
def apply(session: DbSession, actor: CurrentActor, code: str, body: ApplicationBody) -> ApplicationRead:
    person = Applicant(subject=body.applicant.national_id, name=body.applicant.name, phone=body.applicant.phone,
                       email=body.applicant.email, locale=body.applicant.locale,
                       national_id=body.applicant.national_id)
    started = service.start_application(session, actor, service_code=code, values=body.data, applicant=person)
    if body.submit:
        return service.submit_application(session, actor, number=started.number, values=body.data)
    return started
