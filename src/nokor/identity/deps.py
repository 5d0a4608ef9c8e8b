"""Request dependencies for citizen pages of any domain: the signed-in resident and their forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from nokor.identity import service
from nokor.identity.schemas import Citizen
from nokor.kit.errors import Unauthorized
from nokor.web.deps import DbSession, check_csrf

CITIZEN_COOKIE = "nokor_citizen"


def current_citizen(request: Request, session: DbSession) -> Citizen | None:
    """The signed-in citizen of this request (session cookie), or None."""
    if hasattr(request.state, "citizen"):
        found: Citizen | None = request.state.citizen
        return found
    token = request.cookies.get(CITIZEN_COOKIE)
    citizen = service.resolve_session(session, token=token) if token else None
    request.state.citizen = citizen
    if citizen is not None and not getattr(request.state, "csrf_token", None):
        request.state.csrf_token = citizen.csrf_token
    return citizen


def require_citizen(request: Request, session: DbSession) -> Citizen:
    """The signed-in citizen; anyone else is sent to the citizen sign-in page (401 for machines)."""
    citizen = current_citizen(request, session)
    if citizen is None:
        raise Unauthorized(code="citizen_sign_in_required")
    return citizen


MaybeCitizen = Annotated[Citizen | None, Depends(current_citizen)]
CurrentCitizen = Annotated[Citizen, Depends(require_citizen)]


async def citizen_form(request: Request, citizen: CurrentCitizen) -> FormData:
    """The posted form of a signed-in citizen, after its CSRF token was checked."""
    await check_csrf(request)
    return await request.form()


CitizenForm = Annotated[FormData, Depends(citizen_form)]
