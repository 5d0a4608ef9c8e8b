"""GovStack IM Configuration Management API over the exchange's directory.

``GET /api/v1/status`` and ``GET /api/v1/config`` describe the instance (members, their applications, i.e.
subsystems, the services those publish and who may call them); ``GET /api/v1/rights/allow`` lists the
access rights per service, paged; ``PATCH /api/v1/rights/allow`` and ``/rights/deny`` grant and withdraw
them. Served under ``/govstack/im`` in the specification's newest spelling (camelCase) and under
``/govstack/im/qa`` in the branch-1.0-QA spelling (snake_case). The same permission as the
administration API (``exchange.manage``), the same audit trail and generation bump (every gateway sees
the change), problem+json errors.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from nokor.exchange import service
from nokor.exchange.schemas import AccessRightCreate, split_identifier
from nokor.kit.actor import Actor
from nokor.kit.errors import ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.web.deps import CurrentActor, DbSession

PREFIX = "/govstack/im"
PROBLEMS = problem_responses(401, 403, 404, 422)
router = APIRouter(prefix=PREFIX + "/api/v1", tags=["GovStack IM Configuration Management"], responses=PROBLEMS)
qa_router = APIRouter(prefix=PREFIX + "/qa/api/v1", tags=["GovStack IM Configuration Management (branch-1.0-QA)"],
                      responses=PROBLEMS)


class Application(BaseModel):
    """``AllowedApplication``: a subsystem (member class and code, application id) or a group."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    member_class: str | None = Field(None, alias="memberClass")
    member_code: str | None = Field(None, alias="memberCode")
    application_id: str | None = Field(None, alias="applicationId")
    member: str | None = Field(None, description="The member's code (the spec's required name for memberCode)")
    application: str | None = Field(None, description="The application (the spec's name for applicationId)")


class ServiceRights(BaseModel):
    """``ServiceAccessRights`` item: a service of this instance and the applications allowed on it."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    member_class: str = Field(alias="memberClass")
    member_code: str = Field(alias="memberCode")
    application_id: str = Field(alias="applicationId")
    service_id: str = Field(alias="serviceId")
    rights: list[Application] = Field(default_factory=list)


Spelling = Callable[[str], str]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def snake(name: str) -> str:
    return name


def _subject(instance: str, application: Application, index: int, pointer: str) -> str:
    """The access-right subject an ``AllowedApplication`` names: a subsystem of this instance, or a group."""
    code = application.member_code or application.member
    app = application.application_id or application.application
    if application.member_class == "group" and code:
        return f"group:{code}"
    subject = f"{instance}/{application.member_class}/{code}/{app}"
    if not (application.member_class and code and app) or split_identifier(subject, 4) is None:
        raise ValidationFailed(errors=[field_error(
            [index, "rights", pointer], _("Give the member class, member code and application."), "bad_application")])
    return subject


def _application(subject: str, spell: Spelling) -> dict[str, str]:
    if subject.startswith("group:"):
        return {spell("member_class"): "group", spell("member_code"): subject[6:]}
    _instance, member_class, member_code, code = subject.split("/")
    return {spell("member_class"): member_class, spell("member_code"): member_code,
            spell("application_id"): code}


def allow_list(session: Session, *, instance: str, spell: Spelling, member_class: str | None = None,
               member_code: str | None = None, application_id: str | None = None,
               service_id: str | None = None) -> list[dict[str, Any]]:
    """Every service of this instance (filtered) with the applications allowed on it, in a stable order."""
    subjects: dict[str, list[str]] = {}
    for right in service.list_access_rights(session):
        found = subjects.setdefault(right.service, [])
        if right.subject not in found:
            found.append(right.subject)
    out: list[dict[str, Any]] = []
    for published in service.list_services(session):
        inst, m_class, m_code, app = published.subsystem.split("/")
        if inst != instance or (member_class and m_class != member_class) or (
                member_code and m_code != member_code) or (application_id and app != application_id) or (
                service_id and published.code != service_id):
            continue
        out.append({spell("member_class"): m_class, spell("member_code"): m_code, spell("application_id"): app,
                    spell("service_id"): published.code,
                    "rights": [_application(s, spell) for s in subjects.get(f"{published.subsystem}/{published.code}",
                                                                            [])]})
    return out


def page(items: list[dict[str, Any]], *, size: int, token: str | None, spell: Spelling,
         parameter: str) -> dict[str, Any]:
    """A page of ``size`` (service, application) pairs from ``token`` on; a service's rights may span pages."""
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode() + b"==").decode().removeprefix("pairs:"))
            if start < 0:
                raise ValueError(token)
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise ValidationFailed(errors=[field_error(["query", parameter],
                                                       _("This is not a page token this API gave out."),
                                                       "bad_page_token")]) from exc
    pairs = [(i, j) for i, item in enumerate(items) for j in range(max(1, len(item["rights"])))]
    chosen = pairs[start:start + size]
    by_service: dict[int, list[int]] = {}
    for i, j in chosen:
        by_service.setdefault(i, []).append(j)
    result: list[dict[str, Any]] = []
    for i, wanted in by_service.items():
        item = items[i]
        result.append({**item, "rights": [item["rights"][j] for j in wanted if j < len(item["rights"])]})
    body: dict[str, Any] = {spell("allow_list"): result}
    if start + size < len(pairs):
        body[spell("next_page_token")] = base64.urlsafe_b64encode(
            f"pairs:{start + size}".encode()).decode().rstrip("=")
    return body


def change_rights(session: Session, actor: Actor, *, instance: str, items: list[ServiceRights],
                  allow: bool) -> None:
    """Grant (every endpoint of) each service to the applications named, or withdraw every right they hold."""
    service.require_manage(actor)
    for index, item in enumerate(items):
        identifier = f"{instance}/{item.member_class}/{item.member_code}/{item.application_id}/{item.service_id}"
        if split_identifier(identifier, 5) is None:
            raise ValidationFailed(errors=[field_error([index, "serviceId"],
                                                       _("Give the member class, member code and application."),
                                                       "bad_application")])
        subjects = [_subject(instance, application, index, str(j)) for j, application in enumerate(item.rights)]
        if allow:
            for subject in subjects:
                service.grant_access(session, actor, data=AccessRightCreate(service=identifier, subject=subject))
            continue
        service.get_service(session, identifier)  # an unknown service is a 404, not a quiet nothing
        for right in service.list_access_rights(session, service=identifier):
            if right.subject in subjects:
                service.revoke_access(session, actor, right_id=right.id,
                                      reason="GovStack IM configuration management: rights/deny")


def status(session: Session, actor: Actor, *, instance: str) -> dict[str, Any]:
    service.require_manage(actor)
    subsystems = [s for s in service.list_subsystems(session) if s.identifier.startswith(instance + "/")]
    return {"status": "OK", "instance": instance, "generation": service.current_generation(session),
            "members": sum(1 for m in service.list_members(session) if m.instance == instance),
            "applications": len(subsystems), "services": len(service.list_services(session)),
            "accessRights": len(service.list_access_rights(session))}


def configuration(session: Session, actor: Actor, *, instance: str, domain: str, spell: Spelling) -> dict[str, Any]:
    """``IMconf``: the instance, its members, their applications, services and the rights on each."""
    service.require_manage(actor)
    rights: dict[str, list[str]] = {}
    for right in service.list_access_rights(session):
        found = rights.setdefault(right.service, [])
        if right.subject not in found:
            found.append(right.subject)
    services: dict[str, list[Any]] = {}
    for published in service.list_services(session):
        services.setdefault(published.subsystem, []).append(published)
    applications: dict[str, list[dict[str, Any]]] = {}
    for subsystem in service.list_subsystems(session):
        member = subsystem.identifier.rsplit("/", 1)[0]
        base = f"/r1/{subsystem.identifier}/getOpenAPI?serviceCode="
        applications.setdefault(member, []).append({
            "id": subsystem.code, "name": subsystem.name,
            "connection": "https" if any(s.base_url.startswith("https://")
                                         for s in services.get(subsystem.identifier, [])) else "http",
            "services": [{
                "id": s.code, spell("spec_url"): base + s.code, spell("service_url"): s.base_url,
                "rights": [{"member": a.split("/")[2], "application": a.split("/")[3],
                            spell("member_class"): a.split("/")[1]} if not a.startswith("group:") else
                           {"member": a, "application": "*"} for a in rights.get(f"{subsystem.identifier}/{s.code}",
                                                                                 [])]}
                for s in services.get(subsystem.identifier, [])]})
    members = [{"name": m.name, "class": m.member_class, "code": m.member_code,
                "applications": applications.get(m.identifier, [])}
               for m in service.list_members(session) if m.instance == instance]
    return {"domain": domain, "instance": instance, "members": members}


def _instance(request: Request) -> str:
    return str(request.app.state.settings.exchange_instance)


def _domain(request: Request) -> str:
    base = str(request.app.state.settings.base_url)
    return base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


# --- newest spelling (camelCase) --------------------------------------------------------------------


@router.get("/status", summary="Is the information mediator configured and running (checkIMconf)")
def check_conf(request: Request, session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return status(session, actor, instance=_instance(request))


@router.get("/config", summary="The instance's configuration: members, applications, services, rights (listIMconf)")
def list_conf(request: Request, session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return configuration(session, actor, instance=_instance(request), domain=_domain(request), spell=camel)


@router.get("/rights/allow", summary="Access rights per service, paged by (service, application) pairs (getAllowed)")
def get_allowed(request: Request, session: DbSession, actor: CurrentActor,
                member_class: Annotated[str | None, Query(alias="memberClass")] = None,
                member_code: Annotated[str | None, Query(alias="memberCode")] = None,
                application_id: Annotated[str | None, Query(alias="applicationId")] = None,
                service_id: Annotated[str | None, Query(alias="serviceId")] = None,
                page_size: Annotated[int, Query(alias="pageSize", ge=1, le=1000)] = 100,
                token: Annotated[str | None, Query(alias="nextPageToken")] = None) -> dict[str, Any]:
    service.require_manage(actor)
    items = allow_list(session, instance=_instance(request), spell=camel, member_class=member_class,
                       member_code=member_code, application_id=application_id, service_id=service_id)
    return page(items, size=page_size, token=token, spell=camel, parameter="nextPageToken")


@router.patch("/rights/allow", summary="Allow applications to call services (setAllowed)")
def set_allowed(request: Request, session: DbSession, actor: CurrentActor,
                body: list[ServiceRights]) -> dict[str, Any]:
    change_rights(session, actor, instance=_instance(request), items=body, allow=True)
    return {"allowList": _changed(session, request, body, camel)}


@router.patch("/rights/deny", summary="Withdraw applications' access to services (setDenied)")
def set_denied(request: Request, session: DbSession, actor: CurrentActor,
               body: list[ServiceRights]) -> dict[str, Any]:
    change_rights(session, actor, instance=_instance(request), items=body, allow=False)
    return {"allowList": _changed(session, request, body, camel)}


def _changed(session: Session, request: Request, body: list[ServiceRights], spell: Spelling) -> list[dict[str, Any]]:
    """The allow list of the services a change named, as they are now."""
    out: list[dict[str, Any]] = []
    for item in body:
        out += allow_list(session, instance=_instance(request), spell=spell, member_class=item.member_class,
                          member_code=item.member_code, application_id=item.application_id,
                          service_id=item.service_id)
    return out


# --- branch-1.0-QA spelling (snake_case) -------------------------------------------------------------


class QaApplication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_class: str | None = None
    member_code: str | None = None
    application_id: str | None = None
    member: str | None = None
    application: str | None = None


class QaServiceRights(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_class: str
    member_code: str
    application_id: str
    service_id: str
    rights: list[QaApplication] = Field(default_factory=list)


def _from_qa(body: list[QaServiceRights]) -> list[ServiceRights]:
    return [ServiceRights(member_class=i.member_class, member_code=i.member_code, application_id=i.application_id,
                          service_id=i.service_id, rights=[Application(**r.model_dump()) for r in i.rights])
            for i in body]


@qa_router.get("/status", summary="Is the information mediator configured and running (QA spelling)")
def qa_check_conf(request: Request, session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return status(session, actor, instance=_instance(request))


@qa_router.get("/config", summary="The instance's configuration (QA spelling: spec_url, service_url)")
def qa_list_conf(request: Request, session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return configuration(session, actor, instance=_instance(request), domain=_domain(request), spell=snake)


@qa_router.get("/rights/allow", summary="Access rights per service, paged (QA spelling: snake_case)")
def qa_get_allowed(request: Request, session: DbSession, actor: CurrentActor, member_class: str | None = None,
                   member_code: str | None = None, application_id: str | None = None, service_id: str | None = None,
                   page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
                   next_page_token: str | None = None) -> dict[str, Any]:
    service.require_manage(actor)
    items = allow_list(session, instance=_instance(request), spell=snake, member_class=member_class,
                       member_code=member_code, application_id=application_id, service_id=service_id)
    return page(items, size=page_size, token=next_page_token, spell=snake, parameter="next_page_token")


@qa_router.patch("/rights/allow", summary="Allow applications to call services (QA spelling)")
def qa_set_allowed(request: Request, session: DbSession, actor: CurrentActor,
                   body: list[QaServiceRights]) -> dict[str, Any]:
    items = _from_qa(body)
    change_rights(session, actor, instance=_instance(request), items=items, allow=True)
    return {"allow_list": _changed(session, request, items, snake)}


@qa_router.patch("/rights/deny", summary="Withdraw applications' access to services (QA spelling)")
def qa_set_denied(request: Request, session: DbSession, actor: CurrentActor,
                  body: list[QaServiceRights]) -> dict[str, Any]:
    items = _from_qa(body)
    change_rights(session, actor, instance=_instance(request), items=items, allow=False)
    return {"allow_list": _changed(session, request, items, snake)}
