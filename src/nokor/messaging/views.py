"""The local mailbox page (development and demos) and the sandbox SMS gateway that fills it over HTTP."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from nokor.kit.errors import NotFound, Unauthorized
from nokor.messaging import service
from nokor.messaging.transports import mailbox_enabled
from nokor.web import render
from nokor.web.deps import DbSession

router = APIRouter(include_in_schema=False)


def _require_mailbox(request: Request) -> None:
    if not mailbox_enabled(request.app.state.settings):
        raise NotFound()


@router.get("/messaging/mailbox", dependencies=[Depends(_require_mailbox)])
def mailbox(request: Request, session: DbSession, to: str = "") -> Response:
    messages = service.list_caught_messages(session, recipient=to.strip() or None)
    return render(request, "messaging/mailbox.html", {"messages": messages, "to": to},
                  headers={"Cache-Control": "no-store"})


class SandboxSms(BaseModel):
    to: str = Field(min_length=3, max_length=32)
    text: str = Field(min_length=1, max_length=1600)
    reference: str = Field(min_length=1, max_length=128)
    sender: str = Field("Nokor", alias="from", max_length=64)


@router.post("/messaging/sandbox-sms", status_code=202, dependencies=[Depends(_require_mailbox)])
def sandbox_sms(request: Request, session: DbSession, body: SandboxSms) -> dict[str, str]:
    """The sandbox SMS gateway: takes what ``HttpSmsGateway`` posts and keeps it in the local mailbox."""
    token = request.app.state.settings.messaging_sms_gateway_token
    if token is not None:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent, token.get_secret_value()):
            raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    kept = service.catch_message(session, channel="sms", sender=body.sender, recipient=body.to, subject="",
                                 body=body.text, idempotency_key=body.reference)
    return {"id": str(kept.id), "status": "accepted"}
