"""JSON routes of the audit domain under /api/v1/audit."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from nokor.audit import service
from nokor.audit.schemas import AuditEntryRead, ChainReport
from nokor.kit.errors import problem_responses
from nokor.kit.pagination import Page
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
PROBLEMS = problem_responses(401, 403, 422)
WITH_404 = problem_responses(401, 403, 404, 422)


@router.get("/entries", response_model=Page[AuditEntryRead], responses=PROBLEMS,
            summary="Audit entries, newest first")
def entries(
    session: DbSession,
    actor: CurrentActor,
    category: Literal["change", "access"] | None = None,
    subject_type: Annotated[str | None, Query(max_length=64)] = None,
    subject_id: Annotated[str | None, Query(max_length=128)] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AuditEntryRead]:
    return service.list_entries(session, actor, category=category, subject_type=subject_type,
                                subject_id=subject_id, actor_id=actor_id, cursor=cursor, limit=limit)


@router.get("/verify", response_model=ChainReport, responses=PROBLEMS, summary="Check the hash chain")
def verify(session: DbSession, actor: CurrentActor) -> ChainReport:
    actor.require(service.AUDIT_READ)
    return service.verify_chain(session)
