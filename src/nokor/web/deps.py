"""Request dependencies shared by every domain's routes: the database session, the actor, CSRF."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from nokor import accounts
from nokor.kit.actor import Actor
from nokor.kit.errors import Forbidden, Unauthorized
from nokor.kit.i18n import gettext as _

SESSION_COOKIE = "nokor_session"
CSRF_COOKIE = "nokor_csrf"
IM_CLIENT_HEADER = "Information-Mediator-Client"


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back when it raises."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def is_secure(request: Request) -> bool:
    return bool(request.app.state.settings.force_https or request.url.scheme == "https")


def cookie_args(request: Request, name: str, value: str, max_age: int | None) -> dict[str, Any]:
    """Cookie settings used everywhere: HttpOnly, SameSite=Lax, Secure behind TLS."""
    return {
        "key": name,
        "value": value,
        "max_age": max_age,
        "httponly": True,
        "samesite": "lax",
        "secure": is_secure(request),
        "path": "/",
    }


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _sep, rest = header.strip().partition(" ")
    if rest and scheme.lower() == "bearer":
        return rest.strip()
    # The GovStack specs send the bare key: "Authorization: KEY".
    return header.strip() if not rest else None


def resolve_actor(request: Request, session: Session) -> Actor | None:
    """Who is calling: an API client by its key, or a signed-in officer by the session cookie."""
    if hasattr(request.state, "actor"):
        actor: Actor | None = request.state.actor
        return actor
    actor = None
    key = _api_key(request)
    if key is not None:
        actor = accounts.authenticate_api_key(session, key=key,
                                              cache_seconds=request.app.state.settings.api_key_cache_seconds)
        if actor is None:
            raise Unauthorized(_("The API key is not valid or has been revoked."),
                               headers={"WWW-Authenticate": "Bearer"})
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            found = accounts.resolve_session(session, token=token)
            if found is not None:
                actor, officer, csrf = found
                request.state.officer = officer
                request.state.csrf_token = csrf
    claimed = request.headers.get(IM_CLIENT_HEADER)
    if claimed is not None and (actor is None or actor.kind != "client" or claimed.strip() != actor.identity):
        raise Forbidden(_("The Information-Mediator-Client header does not match the authenticated client."))
    request.state.actor = actor
    return actor


def optional_actor(request: Request, session: DbSession) -> Actor | None:
    return resolve_actor(request, session)


def require_actor(request: Request, session: DbSession) -> Actor:
    """The caller, who must be authenticated (API key or session); 401 otherwise."""
    actor = resolve_actor(request, session)
    if actor is None:
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    return actor


CurrentActor = Annotated[Actor, Depends(require_actor)]
MaybeActor = Annotated[Actor | None, Depends(optional_actor)]


# --- CSRF (synchroniser token for signed-in officers, double-submit cookie before sign-in) -------


def csrf_token_for(request: Request) -> str:
    """The token forms must carry; makes sure an anonymous visitor has one in a cookie."""
    token: str | None = getattr(request.state, "csrf_token", None)
    if token:
        return token
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) < 20:
        token = secrets.token_urlsafe(24)
        cookies: list[dict[str, Any]] | None = getattr(request.state, "set_cookies", None)
        if cookies is None:
            cookies = request.state.set_cookies = []
        cookies.append(cookie_args(request, CSRF_COOKIE, token, max_age=None))
    request.state.csrf_token = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a form post whose CSRF token does not match the session's (or the visitor's cookie)."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden(_("The form has expired. Go back, reload the page and try again."), code="csrf")
    # A form shown again (with its errors) must carry the same token, or the next try is refused.
    request.state.csrf_token = expected


def require_officer(request: Request, session: DbSession) -> Actor:
    """A signed-in officer (pages); anyone else is sent to the sign-in page."""
    actor = resolve_actor(request, session)
    if actor is None or actor.kind != "officer":
        raise Unauthorized(code="sign_in_required")
    return actor


OfficerActor = Annotated[Actor, Depends(require_officer)]


async def officer_form(request: Request, actor: OfficerActor) -> FormData:
    """The posted form of a signed-in officer, after its CSRF token was checked."""
    await check_csrf(request)
    return await request.form()


async def visitor_form(request: Request) -> FormData:
    """The posted form of someone not signed in (the sign-in form), after its CSRF token was checked."""
    await check_csrf(request)
    return await request.form()


OfficerForm = Annotated[FormData, Depends(officer_form)]
VisitorForm = Annotated[FormData, Depends(visitor_form)]
