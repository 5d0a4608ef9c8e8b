"""JSON routes of the civil register under /api/v1/civil."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from nokor import trust
from nokor.civil import service
from nokor.civil.schemas import (
    CertificateIssued,
    CertificateRead,
    CivilRules,
    ContactDetails,
    CorrectionCreate,
    CorrectionRead,
    DuplicateCandidate,
    DuplicateCaseRead,
    DuplicateCaseView,
    DuplicateDecision,
    EventCreate,
    EventRead,
    NinCheck,
    PersonCheck,
    ResidentCreate,
    ResidentRead,
    ResidentVersionRead,
    VirtualIdRead,
)
from nokor.kit.errors import ValidationFailed, field_error, problem_responses
from nokor.kit.time import IsoDate
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/civil", tags=["civil"])
PROBLEMS = problem_responses(401, 403, 404, 409, 422)
Purpose = Annotated[str, Query(min_length=3, max_length=200, description="Why the personal data is read")]


class NoteBody(BaseModel):
    note: str = Field("", max_length=2000)


def rules_of(request: Request) -> CivilRules:
    settings = request.app.state.settings
    return CivilRules.from_settings(settings)


@router.get("/nin/{number}/check", response_model=NinCheck, responses=problem_responses(422),
            summary="Is this a well-formed national ID number? (422 with the reasons when not)")
def check_nin(request: Request, number: str) -> NinCheck:
    reasons = service.check_nin(number, length=rules_of(request).nin_length)
    if reasons:
        raise ValidationFailed(" ".join(reasons),
                               errors=[field_error(["number"], reason, "bad_nin") for reason in reasons])
    return NinCheck(number=number, valid=True, reasons=[])


@router.get("/residents", response_model=list[ResidentRead], responses=PROBLEMS,
            summary="Search residents by national ID number, name in any script or date of birth")
def search(session: DbSession, actor: CurrentActor, purpose: Purpose, nin: str | None = None,
           name: str | None = None, birth_date: IsoDate | None = None,
           limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[ResidentRead]:
    return service.search_residents(session, actor, purpose=purpose, nin=nin, name=name, birth_date=birth_date,
                                    limit=limit)


@router.get("/residents/by-nin/{nin}", response_model=ResidentRead, responses=PROBLEMS)
def by_nin(session: DbSession, actor: CurrentActor, nin: str, purpose: Purpose) -> ResidentRead:
    return service.find_resident_by_nin(session, actor, nin=nin, purpose=purpose)


@router.get("/residents/{resident_id}", response_model=ResidentRead, responses=PROBLEMS)
def resident(session: DbSession, actor: CurrentActor, resident_id: uuid.UUID, purpose: Purpose) -> ResidentRead:
    return service.get_resident(session, actor, resident_id=resident_id, purpose=purpose)


@router.get("/residents/{resident_id}/history", response_model=list[ResidentVersionRead], responses=PROBLEMS)
def history(session: DbSession, actor: CurrentActor, resident_id: uuid.UUID,
            purpose: Purpose) -> list[ResidentVersionRead]:
    return service.resident_history(session, actor, resident_id=resident_id, purpose=purpose)


class ContactUpdate(ContactDetails):
    reason: str = Field(min_length=3, max_length=2000, description="Why the contact details change")


@router.put("/residents/{resident_id}/contact", response_model=ResidentRead, responses=PROBLEMS,
            summary="Record a resident's mobile number and e-mail address (E.164 number; null clears it)")
def update_contact(session: DbSession, actor: CurrentActor, resident_id: uuid.UUID,
                   body: ContactUpdate) -> ResidentRead:
    return service.update_contact(session, actor, resident_id=resident_id,
                                  data=ContactDetails(phone=body.phone, email=body.email), reason=body.reason)


@router.post("/residents/{resident_id}/corrections", response_model=CorrectionRead, status_code=201,
             responses=PROBLEMS)
def request_correction(session: DbSession, actor: CurrentActor, resident_id: uuid.UUID,
                       body: CorrectionCreate) -> CorrectionRead:
    return service.request_correction(session, actor, resident_id=resident_id, data=body)


@router.post("/corrections/{correction_id}/approve", response_model=ResidentRead, responses=PROBLEMS)
def approve_correction(session: DbSession, actor: CurrentActor, correction_id: uuid.UUID) -> ResidentRead:
    return service.approve_correction(session, actor, correction_id=correction_id)


@router.post("/residents/{resident_id}/virtual-ids", response_model=VirtualIdRead, status_code=201,
             responses=PROBLEMS)
def issue_virtual_id(session: DbSession, actor: CurrentActor, resident_id: uuid.UUID) -> VirtualIdRead:
    return service.issue_virtual_id(session, actor, resident_id=resident_id)


@router.get("/virtual-ids/{number}", response_model=ResidentRead, responses=PROBLEMS)
def resolve_virtual_id(session: DbSession, actor: CurrentActor, number: str, purpose: Purpose) -> ResidentRead:
    return service.resolve_virtual_id(session, actor, number=number, purpose=purpose)


@router.post("/virtual-ids/{number}/revoke", response_model=VirtualIdRead, responses=PROBLEMS)
def revoke_virtual_id(session: DbSession, actor: CurrentActor, number: str) -> VirtualIdRead:
    return service.revoke_virtual_id(session, actor, number=number)


@router.post("/events", response_model=EventRead, status_code=201, responses=PROBLEMS,
             summary="Write a life event down as a draft")
def create_event(request: Request, session: DbSession, actor: CurrentActor, body: EventCreate) -> EventRead:
    return service.create_event(session, actor, data=body, rules=rules_of(request))


@router.get("/events", response_model=list[EventRead], responses=PROBLEMS)
def events(session: DbSession, actor: CurrentActor, state: str | None = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[EventRead]:
    return service.list_events(session, actor, state=state, limit=limit)


@router.get("/events/{event_id}", response_model=EventRead, responses=PROBLEMS)
def event(session: DbSession, actor: CurrentActor, event_id: uuid.UUID) -> EventRead:
    return service.get_event(session, actor, event_id=event_id)


Step = Literal["declare", "validate", "register", "certify", "approve-late", "request-updates", "reject"]


def run_step(request: Request, session: DbSession, actor: CurrentActor, event_id: uuid.UUID, step: str,
             note: str) -> EventRead:
    """One workflow step by name (shared by the API and the officers' pages)."""
    rules = rules_of(request)
    if step == "declare":
        return service.declare_event(session, actor, event_id=event_id, rules=rules)
    if step == "validate":
        return service.validate_event(session, actor, event_id=event_id, rules=rules)
    if step == "register":
        return service.register_event(session, actor, event_id=event_id, rules=rules)
    if step == "certify":
        return service.certify_event(session, actor, event_id=event_id)
    if step == "approve-late":
        return service.approve_late_event(session, actor, event_id=event_id, note=note)
    if step == "request-updates":
        return service.request_event_updates(session, actor, event_id=event_id, note=note)
    return service.reject_event(session, actor, event_id=event_id, note=note)


@router.post("/events/{event_id}/{step}", response_model=EventRead, responses=PROBLEMS,
             summary="Move a life event through the workflow")
def transition(request: Request, session: DbSession, actor: CurrentActor, event_id: uuid.UUID, step: Step,
               body: NoteBody | None = None) -> EventRead:
    return run_step(request, session, actor, event_id, step, body.note if body else "")


def _pdf(issued: CertificateIssued) -> Response:
    serial = issued.certificate.serial
    return Response(issued.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{serial}.pdf"', "X-Certificate-Serial": serial,
        "Cache-Control": "no-store"})


PDF_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}},
                                                      "description": "The sealed certificate"}}


class CertificateRequest(BaseModel):
    event_id: uuid.UUID = Field(description="The registered birth, death or marriage")


@router.post("/certificates", response_class=Response, responses={**PDF_RESPONSE, **PROBLEMS},
             summary="Issue the certificate of a registered birth, death or marriage (a sealed bilingual PDF)")
def issue_certificate(request: Request, session: DbSession, actor: CurrentActor,
                      body: CertificateRequest) -> Response:
    return _pdf(service.issue_certificate(session, actor, ring=trust.key_ring(request.app.state.settings),
                                          event_id=body.event_id))


@router.post("/certificates/{serial}/copy", response_class=Response, responses={**PDF_RESPONSE, **PROBLEMS},
             summary="Reissue a copy of a certificate, with its own serial")
def reissue_certificate(request: Request, session: DbSession, actor: CurrentActor, serial: str) -> Response:
    return _pdf(service.reissue_certificate(session, actor, ring=trust.key_ring(request.app.state.settings),
                                            serial=serial))


@router.get("/events/{event_id}/certificates", response_model=list[CertificateRead], responses=PROBLEMS,
            summary="The certificate register's lines for one event")
def certificates(session: DbSession, actor: CurrentActor, event_id: uuid.UUID) -> list[CertificateRead]:
    return service.list_certificates(session, actor, event_id=event_id)


# --- residents entered directly, and possible duplicates -----------------------------------------


@router.post("/residents", response_model=ResidentRead, status_code=201, responses=PROBLEMS,
             summary="Enter a living person into the register; a possible duplicate is held for an officer")
def create_resident(request: Request, session: DbSession, actor: CurrentActor, body: ResidentCreate) -> ResidentRead:
    return service.create_resident(session, actor, data=body, rules=rules_of(request), reason="entered through the API")


@router.post("/duplicates/check", response_model=list[DuplicateCandidate], responses=PROBLEMS,
             summary="Residents who may be this person, best first, with the matcher's scores (0-1)")
def check_duplicates(request: Request, session: DbSession, actor: CurrentActor, body: PersonCheck,
                     purpose: Purpose, limit: Annotated[int, Query(ge=1, le=50)] = 5) -> list[DuplicateCandidate]:
    return service.find_duplicates(session, actor, data=body, rules=rules_of(request), limit=limit, purpose=purpose)


@router.get("/duplicates", response_model=list[DuplicateCaseRead], responses=PROBLEMS,
            summary="Possible duplicates, newest first (state pending: the officers' queue)")
def duplicate_cases(session: DbSession, actor: CurrentActor,
                    state: Literal["pending", "duplicate", "not_duplicate", "closed"] | None = "pending",
                    event_id: uuid.UUID | None = None, resident_id: uuid.UUID | None = None) -> list[DuplicateCaseRead]:
    return service.list_duplicate_cases(session, actor, state=state, event_id=event_id, resident_id=resident_id)


@router.get("/duplicates/{case_id}", response_model=DuplicateCaseView, responses=PROBLEMS,
            summary="A possible duplicate with both records side by side (the reads are logged)")
def duplicate_case(session: DbSession, actor: CurrentActor, case_id: uuid.UUID, purpose: Purpose) -> DuplicateCaseView:
    return service.get_duplicate_case(session, actor, case_id=case_id, purpose=purpose)


@router.post("/duplicates/{case_id}/decision", response_model=DuplicateCaseRead, responses=PROBLEMS,
             summary="Decide whether a possible duplicate is the same person, with the reason")
def decide_duplicate(request: Request, session: DbSession, actor: CurrentActor, case_id: uuid.UUID,
                     body: DuplicateDecision) -> DuplicateCaseRead:
    return service.decide_duplicate(session, actor, case_id=case_id, data=body, rules=rules_of(request))
