"""Pages of e-services: the public catalogue, statistics and consultations; the officers' work queue,
side-by-side review with the workflow buttons, the counter where officers apply for people, and the
moderation of consultation comments."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from nokor import places, trust
from nokor.kit.actor import Actor
from nokor.kit.blobs import BlobStore, blob_store
from nokor.kit.errors import NotFound, Problem, ValidationFailed
from nokor.kit.i18n import gettext as _
from nokor.services import forms, service
from nokor.services.effects import EffectRunner, make_effects
from nokor.services.schemas import QUEUE_VIEWS, Applicant, ApplicationRead, ServiceRead
from nokor.web import flash, form_errors, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm

router = APIRouter(include_in_schema=False)
ACTIONS = ("claim", "request-information", "approve", "reject", "assign")


def store_of(request: Request) -> BlobStore:
    """The blob store of the running app's data folder."""
    return blob_store(request.app.state.settings.data_dir)


def effects_of(request: Request) -> dict[str, EffectRunner]:
    """The services' effects, sealing with the app's key ring and keeping results in its blob store."""
    return make_effects(trust.key_ring(request.app.state.settings), store_of(request))


def document_limit(request: Request) -> int:
    """The largest document a form may carry: the domain's limit, within the platform's body limit."""
    body_limit: int = request.app.state.settings.max_body_bytes
    return min(service.MAX_DOCUMENT_BYTES, max(body_limit - 64 * 1024, 64 * 1024))


def state_label(state: str) -> str:
    return {"draft": _("Draft"), "submitted": _("Submitted"), "in_review": _("In review"),
            "needs_information": _("Needs information"), "approved": _("Approved"), "rejected": _("Rejected"),
            "completed": _("Completed")}.get(state, state)


def state_colour(state: str) -> str:
    return {"completed": "green", "approved": "green", "rejected": "red", "needs_information": "yellow",
            "draft": "grey"}.get(state, "blue")


def action_label(action: str) -> str:
    return {"draft": _("Draft started"), "submit": _("Submitted"), "claim": _("Taken for review"),
            "assign": _("Assigned"), "request_information": _("Information requested"),
            "provide_information": _("Information provided"), "first_approval": _("First approval"),
            "approve": _("Approved"), "reject": _("Rejected"), "complete": _("Result issued")}.get(action, action)


def view_label(view: str) -> str:
    return {"unassigned": _("To take"), "mine": _("Mine"), "second_approval": _("Second approval"),
            "needs_information": _("Waiting for the applicant"), "overdue": _("Overdue"),
            "closed": _("Decided")}.get(view, view)


def channel_label(channel: str) -> str:
    return {"online": _("Online"), "counter": _("At a counter")}.get(channel, channel)


def fee_label(status: str | None) -> str:
    return {"open": _("Not paid yet"), "paid": _("Paid"), "expired": _("Expired"), "cancelled": _("Cancelled"),
            "refunded": _("Refunded")}.get(status or "", _("No fee"))


def common() -> dict[str, Any]:
    """Helpers every services page uses."""
    return {"state_label": state_label, "state_colour": state_colour, "action_label": action_label,
            "view_label": view_label, "channel_label": channel_label, "fee_label": fee_label,
            "views": QUEUE_VIEWS}


def text_of(form: FormData | Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def field_errors(exc: Problem) -> dict[str, str]:
    """Messages by form field, from a problem whose pointers are ``/data/<field>`` or ``/documents/<code>``."""
    return {key.removeprefix("data."): message for key, message in form_errors(exc).items()}


def place_fields(version: ServiceRead) -> list[str]:
    return [f.name for s in forms.layout(version.form_schema, version.ui_schema) for f in s.fields
            if f.widget == "place"]


def pickers_for(session: Session, version: ServiceRead, values: Mapping[str, Any]) -> dict[str, places.PickerState]:
    """The place picker of every village field, from what was posted (or saved)."""
    fields = {k: v for k, v in values.items() if isinstance(v, str)}
    return {name: places.picker_state(session, name=name, values=fields) for name in place_fields(version)}


def picker_step(form: FormData, version: ServiceRead) -> bool:
    """The person pressed one of a picker's own buttons (next level, search, choose), not "submit"."""
    return any(form.get(f"{name}.{button}") for name in place_fields(version)
               for button in ("step", "search", "choose"))


def form_values(form: FormData, version: ServiceRead, pickers: Mapping[str, places.PickerState]) -> dict[str, str]:
    """The e-form's fields as posted (the picker's chosen village as its field's value)."""
    values = {name: text_of(form, name) for name in version.form_schema.get("properties", {})}
    for name, picker in pickers.items():
        values[name] = picker.value or ""
    return values


def uploads(form: FormData) -> list[tuple[str, UploadFile]]:
    return [(key.removeprefix("document."), value) for key, value in form.multi_items()
            if key.startswith("document.") and isinstance(value, UploadFile) and value.filename]


async def attach_uploads(request: Request, session: Session, party: Actor | Applicant, number: str,
                         form: FormData) -> dict[str, str]:
    """Attach every file of the form; a refused file gives a message beside its field, the others are kept."""
    errors: dict[str, str] = {}
    limit = document_limit(request)
    for code, upload in uploads(form):
        content = await upload.read(limit + 1)
        try:
            with session.begin_nested():
                if len(content) > limit:
                    raise ValidationFailed(_("The file is larger than %(size)s MB.",
                                             size=round(limit / (1024 * 1024), 1)))
                service.attach_document(session, party, store=store_of(request), number=number, requirement=code,
                                        filename=upload.filename or "document", content=content,
                                        declared_type=upload.content_type)
        except Problem as exc:
            if exc.status in (403, 404):
                raise
            message = next(iter(form_errors(exc).values()), exc.detail or exc.title)
            errors[f"documents.{code}"] = message
    return errors


# --- public pages -----------------------------------------------------------------------------------


@router.get("/services/statistics")
def statistics_page(request: Request, session: DbSession) -> Response:
    return render(request, "services/statistics.html", {"rows": service.service_statistics(session), **common()})


@router.get("/services/{code}")
def service_page(request: Request, session: DbSession, code: str) -> Response:
    found = service.get_service(session, code=code)
    stats = service.service_statistics(session, code=code)
    return render(request, "services/service.html", {
        "service": found, "stats": stats[0] if stats else None,
        "comments": service.recent_comments(session, code=code), **common()})


@router.get("/consultations")
def consultations_page(request: Request, session: DbSession) -> Response:
    return render(request, "services/consultations.html", {"consultations": service.list_consultations(session),
                                                           **common()})


# --- officers: queue and review ---------------------------------------------------------------------


@router.get("/admin/services")
def queue_page(request: Request, session: DbSession, actor: OfficerActor, view: str = "unassigned",
               cursor: str | None = None) -> Response:
    if view not in QUEUE_VIEWS:
        raise NotFound()
    page = service.work_queue(session, actor, view=view, cursor=cursor, limit=50)
    return render(request, "services/queue.html", {"page": page, "view": view, **common()})


@router.get("/admin/services/applications/{number}")
def review_page(request: Request, session: DbSession, actor: OfficerActor, number: str) -> Response:
    application = service.get_application(session, actor, number=number)
    version = service.service_of(session, application=application)
    return render(request, "services/review.html", {
        "application": application, "service": version,
        "assignable": ([(str(i), name) for i, name in service.assignable_officers(session, actor, number=number)]
                       if application.state in ("submitted", "in_review", "needs_information") else []),
        "sections": forms.layout(version.form_schema, version.ui_schema), **common()})


@router.post("/admin/services/applications/{number}/{action}")
def review_action(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm, number: str,
                  action: str) -> Response:
    if action not in ACTIONS:
        raise NotFound()
    reason = text_of(form, "reason")
    try:
        with session.begin_nested():
            if action == "claim":
                done = service.claim_application(session, actor, number=number)
            elif action == "request-information":
                done = service.request_information(session, actor, number=number, reason=reason)
            elif action == "assign":
                try:
                    officer_id = uuid.UUID(text_of(form, "officer_id"))
                except ValueError:
                    raise ValidationFailed(_("Choose an officer.")) from None
                done = service.assign_application(session, actor, number=number, officer_id=officer_id,
                                                  reason=reason or None)
            else:
                done = service.decide_application(session, actor, number=number, approve=action == "approve",
                                                  reason=reason, effects=effects_of(request))
        flash(request, _("The application is now: %(state)s", state=state_label(done.state)))
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        flash(request, " ".join(form_errors(exc).values()) or exc.detail or exc.title, "error")
    return RedirectResponse(f"/admin/services/applications/{number}", status_code=303)


def _download(name: str, content: bytes, content_type: str) -> Response:
    safe = "".join(c for c in name if c.isalnum() or c in "._-") or "document"
    return Response(content, media_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


@router.get("/admin/services/applications/{number}/documents/{document_id}")
def officer_document(request: Request, session: DbSession, actor: OfficerActor, number: str,
                     document_id: uuid.UUID) -> Response:
    meta, content = service.read_document(session, actor, store=store_of(request), number=number,
                                          document_id=document_id)
    return _download(meta.filename, content, meta.content_type)


@router.get("/admin/services/applications/{number}/result")
def officer_result(request: Request, session: DbSession, actor: OfficerActor, number: str) -> Response:
    name, content = service.read_result(session, actor, store=store_of(request), number=number)
    return _download(name, content, "application/pdf")


# --- officers: the counter --------------------------------------------------------------------------


@router.get("/admin/services/counter")
def counter_list(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    offered = [s for s in service.list_services(session) if actor.can(service.SERVICES_COUNTER, s.org_unit_id)]
    return render(request, "services/counter_list.html", {"services": offered, **common()})


def _render_counter(request: Request, session: Session, version: ServiceRead, values: Mapping[str, Any],
                    errors: Mapping[str, str], application: ApplicationRead | None, status_code: int = 200
                    ) -> Response:
    return render(request, "services/counter_form.html", {
        "service": version, "sections": forms.layout(version.form_schema, version.ui_schema), "values": values,
        "errors": errors, "pickers": pickers_for(session, version, values), "application": application,
        "limit_mb": round(document_limit(request) / (1024 * 1024), 1), **common()}, status_code=status_code)


@router.get("/admin/services/counter/{code}")
def counter_form(request: Request, session: DbSession, actor: OfficerActor, code: str) -> Response:
    version = service.get_service(session, code=code)
    actor.require(service.SERVICES_COUNTER, version.org_unit_id)
    return _render_counter(request, session, version, {}, {}, None)


@router.post("/admin/services/counter/{code}")
async def counter_submit(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                         code: str) -> Response:
    version = service.get_service(session, code=code)
    actor.require(service.SERVICES_COUNTER, version.org_unit_id)
    pickers = pickers_for(session, version, {k: v for k, v in form.items() if isinstance(v, str)})
    values = form_values(form, version, pickers)
    person = {k: text_of(form, f"applicant.{k}") for k in ("name", "national_id", "phone", "email")}
    shown = {**values, **{f"applicant.{k}": v for k, v in person.items()}}
    number = text_of(form, "number")
    application = service.get_application(session, actor, number=number) if number else None
    if picker_step(form, version):
        return _render_counter(request, session, version, shown, {}, application)
    errors: dict[str, str] = {}
    if application is None:
        if not person["name"]:
            errors["applicant.name"] = _("This field is required.")
        if not person["national_id"]:
            errors["applicant.national_id"] = _("This field is required.")
        if errors:
            return _render_counter(request, session, version, shown, errors, None, 422)
        applicant = Applicant(subject=person["national_id"], name=person["name"], phone=person["phone"] or None,
                              email=person["email"] or None, national_id=person["national_id"])
        application = service.start_application(session, actor, service_code=code, values=values,
                                                applicant=applicant)
    else:
        application = service.save_draft(session, actor, number=application.number, values=values)
    errors.update(await attach_uploads(request, session, actor, application.number, form))
    drafting = text_of(form, "action") == "draft"
    if drafting or errors:
        application = service.get_application(session, actor, number=application.number)
        if not drafting:
            # Every message at once: the form's own errors beside those of the refused files.
            errors = {**forms.parse_form(version.form_schema, values)[1], **errors}
        elif not errors:
            flash(request, _("The draft %(number)s has been saved.", number=application.number))
        return _render_counter(request, session, version, shown, errors, application, 422 if errors else 200)
    try:
        with session.begin_nested():
            application = service.submit_application(session, actor, number=application.number, values=values)
    except ValidationFailed as exc:
        application = service.get_application(session, actor, number=application.number)
        return _render_counter(request, session, version, shown, field_errors(exc), application, 422)
    flash(request, _("Application %(number)s has been submitted for the applicant.", number=application.number))
    return RedirectResponse(f"/admin/services/applications/{application.number}", status_code=303)


# --- officers: moderation ---------------------------------------------------------------------------


@router.get("/admin/services/moderation")
def moderation_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    return render(request, "services/moderation.html", {"pending": service.comments_to_moderate(session, actor),
                                                        **common()})


@router.post("/admin/services/comments/{comment_id}/{decision}")
def moderate(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm, comment_id: uuid.UUID,
             decision: str) -> Response:
    if decision not in ("publish", "refuse"):
        raise NotFound()
    try:
        with session.begin_nested():
            service.moderate_comment(session, actor, comment_id=comment_id, publish=decision == "publish",
                                     reason=text_of(form, "reason") or None, answer=text_of(form, "answer") or None)
        flash(request, _("The comment has been published.") if decision == "publish"
              else _("The comment has been refused."))
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        flash(request, " ".join(form_errors(exc).values()) or exc.detail or exc.title, "error")
    return RedirectResponse("/admin/services/moderation", status_code=303)
