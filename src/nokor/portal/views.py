"""Citizen pages: sign-in (national ID number or virtual ID and a one-time code, then TOTP when turned on),
sign-out, and "My data": the record, certificates, who read what, consents, virtual IDs, corrections."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from nokor import identity, messaging, places, services
from nokor.kit import i18n
from nokor.kit.errors import Problem, ValidationFailed
from nokor.kit.i18n import gettext as _
from nokor.web import flash, form_errors, render
from nokor.web.deps import DbSession, VisitorForm, cookie_args, csrf_token_for

router = APIRouter(include_in_schema=False)
CORRECTABLE = ("given_name", "family_name", "given_name_latin", "family_name_latin", "sex", "birth_date",
               "birth_place_code", "address_code", "address_text")


def _rules(request: Request) -> identity.IdentityRules:
    s = request.app.state.settings
    return identity.IdentityRules(
        code_minutes=s.identity_code_minutes, code_attempts=s.identity_code_attempts,
        codes_per_hour=s.identity_codes_per_hour, logins_per_minute=s.identity_logins_per_minute,
        max_failures=s.identity_max_failures, lockout_minutes=s.identity_lockout_minutes,
        session_minutes=s.identity_session_minutes, token_minutes=s.identity_token_minutes,
        name_threshold=s.identity_name_threshold, secret=s.effective_secret_key, issuer=s.base_url.rstrip("/"))


def _safe_next(value: Any) -> str:
    target = str(value or "/my")
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/my"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def field_label(field: str) -> str:
    return {"given_name": _("Given name, as written"), "family_name": _("Family name, as written"),
            "given_name_latin": _("Given name in Latin letters"),
            "family_name_latin": _("Family name in Latin letters"), "sex": _("Sex"),
            "birth_date": _("Date of birth"), "birth_place_code": _("Village of birth (code)"),
            "address_code": _("Village of the address (code)"), "address_text": _("Address details")}.get(field, field)


# --- sign-in ----------------------------------------------------------------------------------


def _login_page(request: Request, values: dict[str, str], errors: dict[str, str], status_code: int = 200,
                headers: dict[str, str] | None = None) -> Response:
    csrf_token_for(request)
    return render(request, "portal/login.html", {"values": values, "errors": errors},
                  status_code=status_code, headers={"Cache-Control": "no-store", **(headers or {})})


@router.get("/my/login")
def login_page(request: Request, citizen: identity.MaybeCitizen, next: str = "/my") -> Response:
    if citizen is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, {"next": _safe_next(next), "channel": "sms"}, {})


@router.post("/my/login")
def start_login(request: Request, session: DbSession, form: VisitorForm) -> Response:
    values = {"identifier": _text(form, "identifier"), "channel": _text(form, "channel") or "sms",
              "next": _safe_next(form.get("next"))}
    try:
        with session.begin_nested():
            started = identity.start_login(
                session, identifier=values["identifier"], channel=values["channel"], locale=i18n.current_locale(),
                client_ip=request.client.host if request.client else None, rules=_rules(request),
                site=request.app.state.settings.site_name)
    except Problem as exc:
        return _login_page(request, values, form_errors(exc) if exc.errors else {"__all__": exc.detail or exc.title},
                           status_code=exc.status, headers=exc.headers)
    return _code_page(request, {"challenge": str(started.challenge_id), "next": values["next"],
                                "channel": started.channel}, {})


def _code_page(request: Request, values: dict[str, str], errors: dict[str, str], step: str = "code",
               status_code: int = 200) -> Response:
    return render(request, "portal/login_code.html", {"values": values, "errors": errors, "step": step},
                  status_code=status_code, headers={"Cache-Control": "no-store"})


def _signed_in(request: Request, session: DbSession, resident_id: uuid.UUID, methods: list[str],
               next_url: str) -> Response:
    token, _citizen = identity.open_session(session, resident_id=resident_id, methods=methods, rules=_rules(request))
    response = RedirectResponse(next_url, status_code=303)
    minutes = request.app.state.settings.identity_session_minutes
    response.set_cookie(**cookie_args(request, identity.CITIZEN_COOKIE, token, max_age=minutes * 60))
    return response


def _challenge_id(form: FormData) -> uuid.UUID | None:
    try:
        return uuid.UUID(_text(form, "challenge"))
    except ValueError:
        return None


@router.post("/my/login/code")
def check_code(request: Request, session: DbSession, form: VisitorForm) -> Response:
    values = {"challenge": _text(form, "challenge"), "next": _safe_next(form.get("next")),
              "channel": _text(form, "channel")}
    challenge_id = _challenge_id(form)
    if challenge_id is None:
        return _login_page(request, {"next": values["next"]}, {"__all__": _("This sign-in has expired. Start again.")},
                           status_code=422)
    try:
        outcome = identity.check_login_code(session, challenge_id=challenge_id, code=_text(form, "code"),
                                            rules=_rules(request))
    except ValidationFailed as exc:
        # The refusal is counted and audited: this transaction must be committed, so no exception leaves.
        return _code_page(request, values, form_errors(exc), status_code=422)
    if outcome.needs_totp:
        return _code_page(request, values, {}, step="totp")
    return _signed_in(request, session, outcome.resident_id, ["otp"], values["next"])


@router.post("/my/login/totp")
def check_totp(request: Request, session: DbSession, form: VisitorForm) -> Response:
    values = {"challenge": _text(form, "challenge"), "next": _safe_next(form.get("next"))}
    challenge_id = _challenge_id(form)
    if challenge_id is None:
        return _login_page(request, {"next": values["next"]}, {"__all__": _("This sign-in has expired. Start again.")},
                           status_code=422)
    try:
        resident_id = identity.check_login_totp(session, challenge_id=challenge_id, code=_text(form, "code"),
                                                rules=_rules(request))
    except ValidationFailed as exc:
        return _code_page(request, values, form_errors(exc), step="totp", status_code=422)
    return _signed_in(request, session, resident_id, ["otp", "totp"], values["next"])


@router.post("/my/logout")
def logout(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
           form: identity.CitizenForm) -> Response:
    identity.end_session(session, citizen)
    flash(request, _("You have signed out."))
    response = RedirectResponse("/my/login", status_code=303)
    response.delete_cookie(identity.CITIZEN_COOKIE, path="/")
    return response


# --- my data ----------------------------------------------------------------------------------


def _page(request: Request, template: str, citizen: identity.Citizen, context: dict[str, Any],
          status_code: int = 200) -> Response:
    return render(request, template, {"citizen": citizen, "field_label": field_label, **context},
                  status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/my")
def my_data(request: Request, session: DbSession, citizen: identity.CurrentCitizen) -> Response:
    record = identity.my_record(session, citizen)
    paths = {code: places.path_of(session, code) for code in (record.birth_place_code, record.address_code) if code}
    # The portal home: the person's latest applications and unread messages beside their record.
    person = services.Applicant(subject=str(citizen.resident_id), name=citizen.name)
    return _page(request, "portal/my_data.html", citizen, {
        "record": record, "paths": paths, "certificates": identity.my_certificates(session, citizen),
        "applications": services.my_applications(session, person, limit=3).items,
        "unread": messaging.unread_messages(session, recipient=person.subject)})


@router.get("/my/access-log")
def access_log(request: Request, session: DbSession, citizen: identity.CurrentCitizen) -> Response:
    return _page(request, "portal/access_log.html", citizen, {"entries": identity.my_access_log(session, citizen)})


@router.get("/my/consents")
def consents(request: Request, session: DbSession, citizen: identity.CurrentCitizen) -> Response:
    return _page(request, "portal/consents.html", citizen, {"consents": identity.my_consents(session, citizen)})


@router.post("/my/consents/{consent_id}/revoke")
def revoke_consent(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                   form: identity.CitizenForm, consent_id: uuid.UUID) -> Response:
    identity.revoke_consent(session, citizen, consent_id=consent_id)
    flash(request, _("Your consent has been withdrawn: nothing more is shared under it."))
    return RedirectResponse("/my/consents", status_code=303)


@router.get("/my/virtual-ids")
def virtual_ids(request: Request, session: DbSession, citizen: identity.CurrentCitizen) -> Response:
    return _page(request, "portal/virtual_ids.html", citizen,
                 {"virtual_ids": identity.my_virtual_ids(session, citizen)})


@router.post("/my/virtual-ids")
def create_virtual_id(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                      form: identity.CitizenForm) -> Response:
    vid = identity.create_my_virtual_id(session, citizen)
    flash(request, _("Your new virtual ID: %(number)s", number=vid.number))
    return RedirectResponse("/my/virtual-ids", status_code=303)


@router.post("/my/virtual-ids/{number}/revoke")
def revoke_virtual_id(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                      form: identity.CitizenForm, number: str) -> Response:
    identity.revoke_my_virtual_id(session, citizen, number=number)
    flash(request, _("The virtual ID %(number)s has been revoked.", number=number))
    return RedirectResponse("/my/virtual-ids", status_code=303)


def _correction_page(request: Request, session: DbSession, citizen: identity.Citizen, values: dict[str, str],
                     errors: dict[str, str], status_code: int = 200) -> Response:
    return _page(request, "portal/correction.html", citizen, {
        "values": values, "errors": errors, "field_options": [(f, field_label(f)) for f in CORRECTABLE],
        "corrections": identity.my_corrections(session, citizen)}, status_code=status_code)


@router.get("/my/correction")
def correction_form(request: Request, session: DbSession, citizen: identity.CurrentCitizen) -> Response:
    return _correction_page(request, session, citizen, {}, {})


@router.post("/my/correction")
def request_correction(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                       form: identity.CitizenForm) -> Response:
    values = {name: _text(form, name) for name in ("field", "value", "reason", "evidence")}
    try:
        if values["field"] not in CORRECTABLE:
            raise ValidationFailed(errors=[{"pointer": "/field", "detail": _("Choose the field to correct."),
                                            "code": "field"}])
        with session.begin_nested():
            identity.request_my_correction(session, citizen, field=values["field"], value=values["value"],
                                           reason=values["reason"], evidence=values["evidence"])
    except (ValidationError, ValidationFailed) as exc:
        errors = {("value" if k.startswith("changes") else k): v for k, v in form_errors(exc).items()}
        return _correction_page(request, session, citizen, values, errors, status_code=422)
    flash(request, _("Your request has been sent to the civil registrars. An officer will check it."))
    return RedirectResponse("/my/correction", status_code=303)


@router.get("/my/security")
def security(request: Request, session: DbSession, citizen: identity.CurrentCitizen) -> Response:
    enabled = identity.totp_enabled(session, citizen)
    secret = "" if enabled else identity.new_totp_secret()
    return _security_page(request, session, citizen, secret, {})


def _security_page(request: Request, session: DbSession, citizen: identity.Citizen, secret: str,
                   errors: dict[str, str], status_code: int = 200) -> Response:
    enabled = identity.totp_enabled(session, citizen)
    uri = identity.totp_uri(secret, label=citizen.name, issuer=request.app.state.settings.site_name) if secret else ""
    return _page(request, "portal/security.html", citizen, {"enabled": enabled, "secret": secret, "uri": uri,
                                                            "errors": errors}, status_code=status_code)


@router.post("/my/security/totp")
def enable_totp(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                form: identity.CitizenForm) -> Response:
    secret = _text(form, "secret")
    try:
        with session.begin_nested():
            identity.enable_totp(session, citizen, secret=secret, code=_text(form, "code"))
    except ValidationFailed as exc:
        return _security_page(request, session, citizen, secret, form_errors(exc), status_code=422)
    flash(request, _("Your authenticator app is now asked for at every sign-in."))
    return RedirectResponse("/my/security", status_code=303)


@router.post("/my/security/totp/off")
def disable_totp(request: Request, session: DbSession, citizen: identity.CurrentCitizen,
                 form: identity.CitizenForm) -> Response:
    identity.disable_totp(session, citizen)
    flash(request, _("The authenticator app is no longer asked for."))
    return RedirectResponse("/my/security", status_code=303)


