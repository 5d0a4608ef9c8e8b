"""Citizens' pages of e-services: apply online (save a draft and come back), follow "my applications", pay
the fee, answer an officer's question, download the signed result, rate the service, read portal messages
and comment on consultations. The signed-in resident comes from ``nokor.identity``; every page works on a
small phone screen and without JavaScript."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from nokor import civil, identity, messaging
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem, ValidationFailed
from nokor.kit.i18n import current_locale
from nokor.kit.i18n import gettext as _
from nokor.services import forms, service
from nokor.services.schemas import Applicant, ApplicationRead, ServiceRead
from nokor.services.views import (
    _download,
    attach_uploads,
    common,
    document_limit,
    field_errors,
    form_values,
    picker_step,
    pickers_for,
    store_of,
    text_of,
)
from nokor.web import flash, form_errors, render
from nokor.web.deps import DbSession

router = APIRouter(include_in_schema=False)


def applicant_of(session: Session, citizen: identity.Citizen) -> Applicant:
    """The signed-in resident as an applicant: their login, name, national ID number and contact details
    from the civil register (read for the application's notices; the read is logged)."""
    resident = civil.get_resident(session, Actor.system("services"), resident_id=citizen.resident_id,
                                  purpose="e-service application notices")
    return Applicant(subject=str(citizen.resident_id), name=citizen.name, email=resident.email,
                     phone=resident.phone, locale=current_locale(), national_id=resident.nin)


def _sign_in(path: str) -> Response:
    return RedirectResponse(f"/my/login?next={path}", status_code=303)


def _apply_page(request: Request, session: Session, citizen: identity.Citizen, version: ServiceRead,
                values: dict[str, Any], errors: dict[str, str], application: ApplicationRead | None,
                status_code: int = 200) -> Response:
    return render(request, "services/apply.html", {
        "service": version, "sections": forms.layout(version.form_schema, version.ui_schema), "values": values,
        "errors": errors, "pickers": pickers_for(session, version, values), "application": application,
        "citizen": citizen, "limit_mb": round(document_limit(request) / (1024 * 1024), 1), **common()},
        status_code=status_code)


@router.get("/services")
def catalogue(request: Request, session: DbSession, citizen: identity.MaybeCitizen, q: str = "") -> Response:
    """The portal's home for services: search in any language; a signed-in person sees their links too."""
    found = service.list_services(session, query=q)
    unread = messaging.unread_messages(session, recipient=str(citizen.resident_id)) if citizen else 0
    return render(request, "services/catalogue.html", {"services": found, "q": q, "citizen": citizen,
                                                       "unread": unread, **common()})


@router.get("/consultations/{consultation_id}")
def consultation_page(request: Request, session: DbSession, citizen: identity.MaybeCitizen,
                      consultation_id: uuid.UUID) -> Response:
    return render(request, "services/consultation.html", {
        "consultation": service.get_consultation(session, consultation_id=consultation_id), "citizen": citizen,
        "errors": {}, "values": {}, **common()})


@router.get("/services/{code}/apply")
def apply_form(request: Request, session: DbSession, citizen: identity.MaybeCitizen, code: str,
               number: str | None = None) -> Response:
    if citizen is None:
        return _sign_in(f"/services/{code}/apply")
    person = applicant_of(session, citizen)
    application = service.get_application(session, person, number=number) if number else None
    version = (service.service_of(session, application=application) if application
               else service.get_service(session, code=code))
    values = forms.as_form_values(application.data) if application else {}
    if application is None and "national_id" in version.form_schema.get("properties", {}) and person.national_id:
        values["national_id"] = person.national_id
    return _apply_page(request, session, citizen, version, values, {}, application)


@router.post("/services/{code}/apply")
async def apply_submit(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                       form: identity.CitizenForm, code: str) -> Response:
    person = applicant_of(session, citizen)
    number = text_of(form, "number")
    application = service.get_application(session, person, number=number) if number else None
    version = (service.service_of(session, application=application) if application
               else service.get_service(session, code=code))
    pickers = pickers_for(session, version, {k: v for k, v in form.items() if isinstance(v, str)})
    values = form_values(form, version, pickers)
    if picker_step(form, version):
        return _apply_page(request, session, citizen, version, values, {}, application)
    if application is None:
        application = service.start_application(session, person, service_code=code, values=values)
    else:
        application = service.save_draft(session, person, number=application.number, values=values)
    errors = await attach_uploads(request, session, person, application.number, form)
    drafting = text_of(form, "action") == "draft"
    if drafting or errors:
        application = service.get_application(session, person, number=application.number)
        if not drafting:
            errors = {**forms.parse_form(version.form_schema, values)[1], **errors}
        elif not errors:
            flash(request, _("Your draft %(number)s has been saved. You can come back to it from “My applications”.",
                             number=application.number))
        return _apply_page(request, session, citizen, version, values, errors, application, 422 if errors else 200)
    try:
        with session.begin_nested():
            application = service.submit_application(session, person, number=application.number, values=values)
    except ValidationFailed as exc:
        application = service.get_application(session, person, number=application.number)
        return _apply_page(request, session, citizen, version, values, field_errors(exc), application, 422)
    flash(request, _("Your application %(number)s has been sent.", number=application.number))
    return RedirectResponse(f"/my/applications/{application.number}", status_code=303)


@router.get("/my/applications")
def my_applications(request: Request, session: DbSession, citizen: identity.MaybeCitizen,
                    cursor: str | None = None) -> Response:
    if citizen is None:
        return _sign_in("/my/applications")
    person = Applicant(subject=str(citizen.resident_id), name=citizen.name)
    page = service.my_applications(session, person, cursor=cursor, limit=20)
    return render(request, "services/my_applications.html", {
        "page": page, "citizen": citizen, "unread": messaging.unread_messages(session, recipient=person.subject),
        **common()})


def _my_application_page(request: Request, session: Session, citizen: identity.Citizen, number: str,
                         values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                         status_code: int = 200) -> Response:
    person = applicant_of(session, citizen)
    application = service.get_application(session, person, number=number)
    version = service.service_of(session, application=application)
    shown = values if values is not None else forms.as_form_values(application.data)
    return render(request, "services/my_application.html", {
        "application": application, "service": version, "citizen": citizen,
        "sections": forms.layout(version.form_schema, version.ui_schema), "values": shown, "errors": errors or {},
        "pickers": pickers_for(session, version, shown), "rating": service.rating_for(session, person, number=number),
        "limit_mb": round(document_limit(request) / (1024 * 1024), 1), **common()}, status_code=status_code)


@router.get("/my/applications/{number}")
def my_application(request: Request, session: DbSession, citizen: identity.MaybeCitizen, number: str) -> Response:
    if citizen is None:
        return _sign_in(f"/my/applications/{number}")
    return _my_application_page(request, session, citizen, number)


@router.post("/my/applications/{number}/information")
async def provide_information(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                              form: identity.CitizenForm, number: str) -> Response:
    person = applicant_of(session, citizen)
    application = service.get_application(session, person, number=number)
    version = service.service_of(session, application=application)
    pickers = pickers_for(session, version, {k: v for k, v in form.items() if isinstance(v, str)})
    values = form_values(form, version, pickers)
    if picker_step(form, version):
        return _my_application_page(request, session, citizen, number, values, {})
    errors = await attach_uploads(request, session, person, number, form)
    if errors:
        errors = {**forms.parse_form(version.form_schema, values)[1], **errors}
        return _my_application_page(request, session, citizen, number, values, errors, 422)
    try:
        with session.begin_nested():
            service.provide_information(session, person, number=number, values=values, note=text_of(form, "note"))
    except ValidationFailed as exc:
        return _my_application_page(request, session, citizen, number, values, field_errors(exc), 422)
    flash(request, _("Thank you. Your answer has been sent to the officer."))
    return RedirectResponse(f"/my/applications/{number}", status_code=303)


@router.get("/my/applications/{number}/result")
def my_result(request: Request, session: DbSession, citizen: identity.CurrentCitizen, number: str) -> Response:
    person = Applicant(subject=str(citizen.resident_id), name=citizen.name)
    name, content = service.read_result(session, person, store=store_of(request), number=number)
    return _download(name, content, "application/pdf")


@router.get("/my/applications/{number}/documents/{document_id}")
def my_document(request: Request, session: DbSession, citizen: identity.CurrentCitizen, number: str,
                document_id: uuid.UUID) -> Response:
    person = Applicant(subject=str(citizen.resident_id), name=citizen.name)
    meta, content = service.read_document(session, person, store=store_of(request), number=number,
                                          document_id=document_id)
    return _download(meta.filename, content, meta.content_type)


@router.post("/my/applications/{number}/rating")
def rate(request: Request, session: DbSession, citizen: identity.CurrentCitizen, form: identity.CitizenForm,
         number: str) -> Response:
    person = Applicant(subject=str(citizen.resident_id), name=citizen.name)
    try:
        stars = int(text_of(form, "stars") or "0")
    except ValueError:
        stars = 0
    try:
        with session.begin_nested():
            service.rate_service(session, person, number=number, stars=stars, comment=text_of(form, "comment"))
        flash(request, _("Thank you for your rating."))
    except Problem as exc:
        if exc.status == 404:
            raise
        flash(request, " ".join(form_errors(exc).values()) or exc.detail or exc.title, "error")
    return RedirectResponse(f"/my/applications/{number}", status_code=303)


@router.get("/my/messages")
def my_messages(request: Request, session: DbSession, citizen: identity.MaybeCitizen) -> Response:
    if citizen is None:
        return _sign_in("/my/messages")
    return render(request, "services/messages.html", {
        "messages": messaging.inbox_of(session, recipient=str(citizen.resident_id)), "citizen": citizen, **common()})


@router.get("/my/messages/{message_id}")
def my_message(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
               message_id: uuid.UUID) -> Response:
    found = messaging.read_inbox_message(session, recipient=str(citizen.resident_id), message_id=message_id)
    return render(request, "services/message.html", {"message": found, "citizen": citizen, **common()})


@router.post("/consultations/{consultation_id}/comments")
def comment(request: Request, session: DbSession, citizen: identity.CurrentCitizen, form: identity.CitizenForm,
            consultation_id: uuid.UUID) -> Response:
    person = Applicant(subject=str(citizen.resident_id), name=citizen.name)
    body = text_of(form, "body")
    try:
        with session.begin_nested():
            service.comment_on_consultation(session, person, consultation_id=consultation_id, body=body)
    except ValidationFailed as exc:
        return render(request, "services/consultation.html", {
            "consultation": service.get_consultation(session, consultation_id=consultation_id), "citizen": citizen,
            "errors": form_errors(exc), "values": {"body": body}, **common()}, status_code=422)
    flash(request, _("Thank you. Your comment will appear once a moderator has read it."))
    return RedirectResponse(f"/consultations/{consultation_id}", status_code=303)
