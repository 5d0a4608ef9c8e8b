"""Pages of the data exchange: operations (figures per service, the newest log records), services and
their access rights, members and subsystems, and subscriptions waiting for approval."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from nokor.exchange import operations, pubsub, service
from nokor.exchange.schemas import AccessRightCreate, Endpoint, MemberCreate, ServiceCreate, SubsystemCreate
from nokor.kit.errors import NotFound, Problem
from nokor.kit.i18n import gettext as _
from nokor.web import flash, form_errors, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm

router = APIRouter(include_in_schema=False)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _refused(error: ValidationError | Problem) -> None:
    if isinstance(error, Problem) and error.status in (401, 403):
        raise error


@router.get("/admin/exchange")
def operations_page(request: Request, session: DbSession, actor: OfficerActor, hours: int = 24) -> Response:
    hours = min(max(hours, 1), 24 * 90)
    stats = operations.service_stats(session, actor, hours=hours)
    runtime = request.app.state.exchange
    return render(request, "exchange/operations.html", {
        "stats": stats, "hours": hours, "records": operations.recent_records(session, actor, limit=20),
        "deliveries": pubsub.delivery_counts(session), "stream": runtime.log.stream.name,
        "written": runtime.log.written, "batches": runtime.log.batches, "unsealed": runtime.log.unsealed,
        "instance": request.app.state.settings.exchange_instance})


def _services_context(session: Any) -> dict[str, Any]:
    services = service.list_services(session)
    return {"services": services, "rights": service.list_access_rights(session),
            "subsystem_options": [(s.identifier, s.identifier) for s in service.list_subsystems(session, rooms=False)],
            "service_options": [(s.identifier, s.identifier) for s in services],
            "method_options": [(m, m) for m in ("*", "GET", "POST", "PUT", "PATCH", "DELETE")]}


@router.get("/admin/exchange/services")
def services_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    service.require_manage(actor)
    return render(request, "exchange/services.html", _services_context(session))


def _endpoints(text: str) -> list[Endpoint]:
    out = []
    for line in text.splitlines():
        if line.strip():
            method, _sep, path = line.strip().partition(" ")
            out.append(Endpoint(method=method, path=path.strip() or "*"))
    return out


@router.post("/admin/exchange/services")
def publish_service(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    fields = ("subsystem", "code", "title", "base_url", "endpoints", "timeout_seconds")
    try:
        try:
            endpoints = _endpoints(_text(form, "endpoints"))
        except ValidationError:
            errors = {"endpoints": _("Write one endpoint a line: a method and a path, such as GET /persons/*.")}
            raise
        errors = {}
        made = service.publish_service(session, actor, data=ServiceCreate(
            subsystem=_text(form, "subsystem"), code=_text(form, "code"), title=_text(form, "title"),
            base_url=_text(form, "base_url"), endpoints=endpoints,
            log_bodies=form.get("log_bodies") == "on", timeout_seconds=_text(form, "timeout_seconds") or 30.0))
    except (ValidationError, Problem) as error:
        _refused(error)
        errors = errors or form_errors(error)
        return render(request, "exchange/services.html", {
            **_services_context(session), "errors": errors, "values": {k: _text(form, k) for k in fields}},
            status_code=422)
    flash(request, _("Service %(service)s published. Nobody may call it until you grant access.",
                     service=f"{made.subsystem}/{made.code}"))
    return RedirectResponse("/admin/exchange/services", status_code=303)


@router.post("/admin/exchange/access-rights")
def grant_access(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    fields = ("service", "subject", "method", "path")
    try:
        right = service.grant_access(session, actor, data=AccessRightCreate(
            service=_text(form, "service"), subject=_text(form, "subject"), method=_text(form, "method") or "*",
            path=_text(form, "path") or "*"))
    except (ValidationError, Problem) as error:
        _refused(error)
        return render(request, "exchange/services.html", {
            **_services_context(session), "grant_errors": form_errors(error),
            "grant_values": {k: _text(form, k) for k in fields}}, status_code=422)
    flash(request, _("%(subject)s may now call %(service)s.", subject=right.subject, service=right.service))
    return RedirectResponse("/admin/exchange/services", status_code=303)


@router.post("/admin/exchange/access-rights/{right_id}/revoke")
def revoke_access(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                  right_id: uuid.UUID) -> Response:
    service.revoke_access(session, actor, right_id=right_id, reason=_text(form, "reason") or None)
    flash(request, _("The access right was withdrawn."))
    return RedirectResponse("/admin/exchange/services", status_code=303)


def _members_context(session: Any) -> dict[str, Any]:
    members = service.list_members(session)
    return {"members": members, "subsystems": service.list_subsystems(session),
            "member_options": [(m.identifier, f"{m.identifier} — {m.name}") for m in members]}


@router.get("/admin/exchange/members")
def members_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    service.require_manage(actor)
    return render(request, "exchange/members.html", _members_context(session))


@router.post("/admin/exchange/members")
def add_member(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    fields = ("member_class", "member_code", "name")
    try:
        made = service.create_member(session, actor, data=MemberCreate(
            member_class=_text(form, "member_class"), member_code=_text(form, "member_code"),
            name=_text(form, "name")), instance=request.app.state.settings.exchange_instance)
    except (ValidationError, Problem) as error:
        _refused(error)
        return render(request, "exchange/members.html", {
            **_members_context(session), "errors": form_errors(error),
            "values": {k: _text(form, k) for k in fields}}, status_code=422)
    flash(request, _("Member %(member)s registered.", member=made.identifier))
    return RedirectResponse("/admin/exchange/members", status_code=303)


@router.post("/admin/exchange/subsystems")
def add_subsystem(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    fields = ("member", "code", "name", "publishers")
    try:
        made = service.create_subsystem(session, actor, data=SubsystemCreate(
            member=_text(form, "member"), code=_text(form, "code"), name=_text(form, "name"),
            is_room=form.get("is_room") == "on",
            publishers=[p for p in _text(form, "publishers").split() if p]))
    except (ValidationError, Problem) as error:
        _refused(error)
        return render(request, "exchange/members.html", {
            **_members_context(session), "sub_errors": form_errors(error),
            "sub_values": {k: _text(form, k) for k in fields}}, status_code=422)
    flash(request, _("%(subsystem)s added.", subsystem=made.identifier))
    return RedirectResponse("/admin/exchange/members", status_code=303)


@router.get("/admin/exchange/subscriptions")
def subscriptions_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    service.require_manage(actor)
    return render(request, "exchange/subscriptions.html", {"subscriptions": pubsub.list_subscriptions(session)})


@router.post("/admin/exchange/subscriptions/{subscription_id}/{decision}")
def decide_subscription(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                        subscription_id: uuid.UUID, decision: str) -> Response:
    if decision not in ("approve", "reject"):
        raise NotFound()
    pubsub.decide_subscription(session, subscription_id=subscription_id, approve=decision == "approve",
                               by=actor.name, actor=actor, reason=_text(form, "reason") or None)
    flash(request, _("The subscription was approved.") if decision == "approve"
          else _("The subscription was rejected."))
    return RedirectResponse("/admin/exchange/subscriptions", status_code=303)
