"""JSON routes of the back office under /api/v1/outbox."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from nokor.backoffice import service
from nokor.kit.errors import problem_responses
from nokor.kit.outbox import OutboxMessageRead
from nokor.kit.pagination import Page
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"])
PROBLEMS = problem_responses(401, 403, 422)
WITH_404 = problem_responses(401, 403, 404, 422)


@router.get("/messages", response_model=Page[OutboxMessageRead], responses=PROBLEMS,
            summary="Outgoing messages, newest first")
def messages(
    session: DbSession,
    actor: CurrentActor,
    status: Literal["pending", "delivered", "dead"] | None = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[OutboxMessageRead]:
    return service.list_outgoing_messages(session, actor, status=status, cursor=cursor, limit=limit)


@router.get("/messages/{message_id}", response_model=OutboxMessageRead, responses=WITH_404)
def message(message_id: uuid.UUID, session: DbSession, actor: CurrentActor) -> OutboxMessageRead:
    return service.get_outgoing_message(session, actor, message_id=message_id)


@router.post("/messages/{message_id}/retry", response_model=OutboxMessageRead,
             responses=problem_responses(401, 403, 404, 409, 422),
             summary="Send a dead letter again")
def retry(message_id: uuid.UUID, session: DbSession, actor: CurrentActor) -> OutboxMessageRead:
    return service.retry_dead_letter(session, actor, message_id=message_id)
