"""Pages of the accounts domain: sign-in and sign-out, and administration of officers, roles and clients."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from nokor.accounts import service
from nokor.accounts.schemas import (
    ApiClientCreate,
    LocalizedName,
    LoginPolicy,
    OfficerCreate,
    OfficerUpdate,
    RoleCreate,
    RoleUpdate,
)
from nokor.kit.actor import Actor
from nokor.kit.errors import NotFound, Problem
from nokor.kit.i18n import gettext as _
from nokor.web import flash, form_errors, localized, render
from nokor.web.deps import (
    SESSION_COOKIE,
    DbSession,
    OfficerActor,
    OfficerForm,
    VisitorForm,
    cookie_args,
    csrf_token_for,
    resolve_actor,
)

router = APIRouter(include_in_schema=False)


def _policy(request: Request) -> LoginPolicy:
    s = request.app.state.settings
    return LoginPolicy(
        max_failures=s.login_max_failures,
        lockout_minutes=s.login_lockout_minutes,
        rate_per_minute=s.login_rate_per_minute,
        session_hours=s.session_hours,
    )


def _safe_next(value: Any) -> str:
    target = str(value or "/")
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _names(form: FormData) -> LocalizedName:
    return LocalizedName(**{code: _text(form, f"name.{code}") or None for code in ("km", "en", "ar", "de")})


# --- sign-in ---------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, session: DbSession, next: str = "/") -> Response:
    actor = resolve_actor(request, session)
    if actor is not None and actor.kind == "officer":
        return RedirectResponse(_safe_next(next), status_code=303)
    csrf_token_for(request)
    return render(request, "accounts/login.html", {"next": _safe_next(next)})


@router.post("/login")
def login(request: Request, session: DbSession, form: VisitorForm) -> Response:
    username = _text(form, "username")
    password = form.get("password")
    next_url = _safe_next(form.get("next"))
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = _("Enter your username.")
    if not isinstance(password, str) or not password:
        errors["password"] = _("Enter your password.")
    if errors:
        return render(request, "accounts/login.html", {"errors": errors, "values": {"username": username},
                                                       "next": next_url}, status_code=422)
    client = request.client.host if request.client else "unknown"
    outcome = service.sign_in(
        session, username=username, password=str(password), client_ip=client,
        user_agent=request.headers.get("user-agent"), policy=_policy(request),
    )
    if outcome.problem is not None or outcome.opened is None:
        problem = outcome.problem
        message = (problem.detail or problem.title) if problem else _("Sign-in failed.")
        return render(request, "accounts/login.html",
                      {"errors": {"__all__": message}, "values": {"username": username}, "next": next_url},
                      status_code=problem.status if problem else 401,
                      headers=problem.headers if problem else None)
    opened = outcome.opened
    response = RedirectResponse(next_url, status_code=303)
    max_age = int(request.app.state.settings.session_hours * 3600)
    response.set_cookie(**cookie_args(request, SESSION_COOKIE, opened.token, max_age=max_age))
    # The officer's own language becomes the page language unless they picked one on this device.
    if "nokor_lang" not in request.cookies:
        response.set_cookie("nokor_lang", opened.officer.locale, max_age=365 * 24 * 3600, samesite="lax",
                            path="/")
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, form: OfficerForm) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.close_session(session, token=token)
    flash(request, _("You have signed out."))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- officers --------------------------------------------------------------------------------


def _unit_options(session: DbSession, actor: Actor) -> list[tuple[str, str]]:
    return [(u.code, f"{localized(u.name)} ({u.code})") for u in service.list_org_units(session, actor)]


@router.get("/admin/officers")
def officers_page(
    request: Request, session: DbSession, actor: OfficerActor, q: str | None = None, cursor: str | None = None
) -> Response:
    page = service.list_officers(session, actor, search=(q or "").strip()[:100] or None, cursor=cursor)
    units = {u.id: u for u in service.list_org_units(session, actor)}
    return render(request, "accounts/officers.html", {"page": page, "q": q or "", "units": units})


@router.get("/admin/officers/new")
def new_officer_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    actor.require(service.ACCOUNTS_MANAGE)
    return render(request, "accounts/officer_new.html", {"unit_options": _unit_options(session, actor)})


@router.post("/admin/officers/new")
def create_officer(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    values = {k: _text(form, k) for k in ("username", "full_name", "email", "locale", "org_unit_code")}
    try:
        data = OfficerCreate(
            username=values["username"], full_name=values["full_name"], email=values["email"] or None,
            password=str(form.get("password") or ""), locale=values["locale"] or "km",
            org_unit_code=values["org_unit_code"],
        )
        officer = service.create_officer(session, actor, data=data)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status == 403:
            raise
        return render(request, "accounts/officer_new.html",
                      {"errors": form_errors(exc), "values": values, "unit_options": _unit_options(session, actor)},
                      status_code=422)
    flash(request, _("Officer %(username)s was created.", username=officer.username))
    return RedirectResponse(f"/admin/officers/{officer.id}", status_code=303)


def _officer_context(session: DbSession, actor: Actor, officer_id: uuid.UUID) -> dict[str, Any]:
    subject = service.get_officer(session, actor, officer_id=officer_id)
    units = service.list_org_units(session, actor)
    return {
        "subject": subject,
        "subject_unit": next((u.code for u in units if u.id == subject.org_unit_id), None),
        "grants": service.grants_of_officer(session, actor, officer_id=officer_id),
        "role_options": [(r.code, localized(r.name)) for r in service.list_roles(session, actor)],
        "unit_options": [(u.code, f"{localized(u.name)} ({u.code})") for u in units],
    }


@router.get("/admin/officers/{officer_id}")
def officer_page(request: Request, session: DbSession, actor: OfficerActor, officer_id: uuid.UUID) -> Response:
    actor.require(service.ACCOUNTS_MANAGE)
    return render(request, "accounts/officer.html", _officer_context(session, actor, officer_id))


@router.post("/admin/officers/{officer_id}")
def update_officer(
    request: Request, session: DbSession, actor: OfficerActor, officer_id: uuid.UUID, form: OfficerForm
) -> Response:
    values = {k: _text(form, k) for k in ("full_name", "email", "locale", "org_unit_code", "reason")}
    try:
        data = OfficerUpdate(
            full_name=values["full_name"] or None, email=values["email"] or None,
            locale=values["locale"] or None,
            org_unit_code=values["org_unit_code"] or None, is_active=form.get("is_active") == "on",
        )
        service.update_officer(session, actor, officer_id=officer_id, data=data, reason=values["reason"] or None)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status in (403, 404):
            raise
        ctx = _officer_context(session, actor, officer_id) | {"errors": form_errors(exc), "values": values}
        return render(request, "accounts/officer.html", ctx, status_code=422)
    flash(request, _("The changes were saved."))
    return RedirectResponse(f"/admin/officers/{officer_id}", status_code=303)


@router.post("/admin/officers/{officer_id}/grants")
def grant_role(
    request: Request, session: DbSession, actor: OfficerActor, officer_id: uuid.UUID, form: OfficerForm
) -> Response:
    try:
        service.grant_role(session, actor, officer_id=officer_id, role_code=_text(form, "role_code"),
                           org_unit_code=_text(form, "grant_org_unit_code"))
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        ctx = _officer_context(session, actor, officer_id) | {"grant_errors": form_errors(exc)}
        return render(request, "accounts/officer.html", ctx, status_code=422)
    flash(request, _("The role was granted."))
    return RedirectResponse(f"/admin/officers/{officer_id}", status_code=303)


@router.post("/admin/grants/{grant_id}/revoke")
def revoke_grant(
    request: Request, session: DbSession, actor: OfficerActor, grant_id: uuid.UUID, form: OfficerForm
) -> Response:
    service.revoke_grant(session, actor, grant_id=grant_id)
    flash(request, _("The role was taken away."))
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


@router.post("/admin/officers/{officer_id}/password")
def reset_password(
    request: Request, session: DbSession, actor: OfficerActor, officer_id: uuid.UUID, form: OfficerForm
) -> Response:
    try:
        service.set_officer_password(session, actor, officer_id=officer_id,
                                     password=str(form.get("new_password") or ""), reason=_text(form, "reason") or None)
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        errors = {("new_password" if k == "password" else k): v for k, v in form_errors(exc).items()}
        ctx = _officer_context(session, actor, officer_id) | {"password_errors": errors}
        return render(request, "accounts/officer.html", ctx, status_code=422)
    flash(request, _("The password was changed. The officer's open sessions were ended."))
    return RedirectResponse(f"/admin/officers/{officer_id}", status_code=303)


@router.post("/admin/officers/{officer_id}/unlock")
def unlock_officer(
    request: Request, session: DbSession, actor: OfficerActor, officer_id: uuid.UUID, form: OfficerForm
) -> Response:
    service.unlock_officer(session, actor, officer_id=officer_id)
    flash(request, _("The account was unlocked."))
    return RedirectResponse(f"/admin/officers/{officer_id}", status_code=303)


# --- roles -------------------------------------------------------------------------------------


def _permission_options() -> list[tuple[str, str]]:
    return [(p.name, f"{p.description} ({p.name})") for p in service.list_permissions()]


@router.get("/admin/roles")
def roles_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    return render(request, "accounts/roles.html", {"roles": service.list_roles(session, actor)})


@router.get("/admin/roles/new")
def new_role_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    actor.require(service.ACCOUNTS_MANAGE)
    return render(request, "accounts/role_form.html", {"role": None, "permission_options": _permission_options(),
                                                       "values": {"permissions": []}})


def _role_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {f"name.{c}": _text(form, f"name.{c}") for c in ("km", "en", "ar", "de")}
    values["code"] = _text(form, "code")
    values["permissions"] = [str(p) for p in form.getlist("permissions")]
    return values


@router.post("/admin/roles/new")
def create_role(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    values = _role_values(form)
    try:
        role = service.create_role(session, actor, data=RoleCreate(
            code=values["code"], name=_names(form), permissions=values["permissions"]))
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status == 403:
            raise
        return render(request, "accounts/role_form.html",
                      {"role": None, "errors": form_errors(exc), "values": values,
                       "permission_options": _permission_options()}, status_code=422)
    flash(request, _("The role was created."))
    return RedirectResponse(f"/admin/roles/{role.code}", status_code=303)


@router.get("/admin/roles/{role_code}")
def role_page(request: Request, session: DbSession, actor: OfficerActor, role_code: str) -> Response:
    role = next((r for r in service.list_roles(session, actor) if r.code == role_code), None)
    if role is None:
        raise NotFound()
    values: dict[str, Any] = {f"name.{c}": role.name.get(c, "") for c in ("km", "en", "ar", "de")}
    values["permissions"] = role.permissions
    return render(request, "accounts/role_form.html",
                  {"role": role, "values": values, "permission_options": _permission_options()})


@router.post("/admin/roles/{role_code}")
def update_role(
    request: Request, session: DbSession, actor: OfficerActor, role_code: str, form: OfficerForm
) -> Response:
    values = _role_values(form)
    try:
        role = service.update_role(session, actor, role_code=role_code,
                                   data=RoleUpdate(name=_names(form), permissions=values["permissions"]))
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status in (403, 404):
            raise
        current = next((r for r in service.list_roles(session, actor) if r.code == role_code), None)
        return render(request, "accounts/role_form.html",
                      {"role": current, "errors": form_errors(exc), "values": values,
                       "permission_options": _permission_options()}, status_code=422)
    flash(request, _("The changes were saved."))
    return RedirectResponse(f"/admin/roles/{role.code}", status_code=303)


# --- API clients -------------------------------------------------------------------------------


@router.get("/admin/clients")
def clients_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    return render(request, "accounts/clients.html", {"clients": service.list_api_clients(session, actor)})


@router.get("/admin/clients/new")
def new_client_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    actor.require(service.ACCOUNTS_MANAGE)
    return render(request, "accounts/client_new.html", {"permission_options": _permission_options(),
                                                        "unit_options": _unit_options(session, actor),
                                                        "values": {"permissions": []}})


@router.post("/admin/clients/new")
def create_client(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    values: dict[str, Any] = {k: _text(form, k) for k in ("name", "identity", "org_unit_code")}
    values["permissions"] = [str(p) for p in form.getlist("permissions")]
    try:
        issued = service.create_api_client(session, actor, data=ApiClientCreate(
            name=values["name"], identity=values["identity"], permissions=values["permissions"],
            org_unit_code=values["org_unit_code"] or None))
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status == 403:
            raise
        return render(request, "accounts/client_new.html",
                      {"errors": form_errors(exc), "values": values, "permission_options": _permission_options(),
                       "unit_options": _unit_options(session, actor)}, status_code=422)
    # The key is shown on this one answer and never again; the page must not be cached.
    return render(request, "accounts/client_key.html", {"issued": issued},
                  headers={"Cache-Control": "no-store"})


@router.post("/admin/clients/{client_id}/revoke")
def revoke_client(
    request: Request, session: DbSession, actor: OfficerActor, client_id: uuid.UUID, form: OfficerForm
) -> Response:
    client = service.revoke_api_client(session, actor, client_id=client_id, reason=_text(form, "reason") or None)
    flash(request, _("The key of %(name)s no longer works.", name=client.name))
    return RedirectResponse("/admin/clients", status_code=303)
