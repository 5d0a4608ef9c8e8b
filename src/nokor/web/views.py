"""Pages of the shell itself: the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from nokor.web import render
from nokor.web.deps import DbSession, resolve_actor

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, session: DbSession) -> Response:
    """The officer's start page; visitors who are not signed in are sent to the sign-in page."""
    actor = resolve_actor(request, session)
    if actor is None or actor.kind != "officer":
        return RedirectResponse("/login", status_code=303)
    return render(request, "web/home.html")
