"""Public JSON routes of the places domain under /api/v1/places: place names are not personal data, so
anyone may read them; answers may be cached for an hour, so clients and proxies ask again rarely."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from nokor.kit.errors import NotFound, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.places import service
from nokor.places.schemas import DivisionRead, Level
from nokor.web.deps import DbSession

router = APIRouter(prefix="/api/v1/places", tags=["places"])
PROBLEMS = problem_responses(404, 422)
CACHE = "public, max-age=3600"
Code = Annotated[str, Path(max_length=32, description="The place's code")]


@router.get("", response_model=list[DivisionRead], responses=problem_responses(422),
            summary="Search places by name or code (?q=), or list the units below a parent (?parent=, none: provinces)")
def list_places(
    response: Response,
    session: DbSession,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Name in Khmer or Latin script, or a "
                                   "code; exact matches first, then prefixes, then substrings")] = None,
    parent: Annotated[str | None, Query(max_length=32, description="Code of the parent unit")] = None,
    level: Annotated[Level | None, Query(description="Only units of this level (with q)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[DivisionRead]:
    response.headers["Cache-Control"] = CACHE
    if q is not None:
        return service.search_divisions(session, q, level=level, limit=limit)
    if parent is not None and service.get_division(session, parent) is None:
        raise NotFound(_("There is no place with the code %(code)s.", code=parent))
    return service.children_of(session, parent)


def _found(session: DbSession, code: str) -> DivisionRead:
    unit = service.get_division(session, code)
    if unit is None:
        raise NotFound(_("There is no place with the code %(code)s.", code=code))
    return unit


@router.get("/{code}", response_model=DivisionRead, responses=PROBLEMS, summary="One place, as valid today")
def get_place(code: Code, response: Response, session: DbSession) -> DivisionRead:
    response.headers["Cache-Control"] = CACHE
    return _found(session, code)


@router.get("/{code}/children", response_model=list[DivisionRead], responses=PROBLEMS,
            summary="The units directly below a place")
def get_children(code: Code, response: Response, session: DbSession) -> list[DivisionRead]:
    response.headers["Cache-Control"] = CACHE
    _found(session, code)
    return service.children_of(session, code)


@router.get("/{code}/path", response_model=list[DivisionRead], responses=PROBLEMS,
            summary="A place and its ancestors, province first")
def get_path(code: Code, response: Response, session: DbSession) -> list[DivisionRead]:
    response.headers["Cache-Control"] = CACHE
    _found(session, code)
    return service.path_of(session, code)


@router.get("/{code}/history", response_model=list[DivisionRead], responses=PROBLEMS,
            summary="Every version of a place, oldest first (renamed or merged units keep their past)")
def get_history(code: Code, response: Response, session: DbSession) -> list[DivisionRead]:
    response.headers["Cache-Control"] = CACHE
    versions = service.history_of(session, code)
    if not versions:
        raise NotFound(_("There is no place with the code %(code)s.", code=code))
    return versions
