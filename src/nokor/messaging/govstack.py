"""GovStack Messaging building block (API 0.1.1): e-mails an agency system writes itself, sent through the
outbox like every notification, with a status per request.

Served under ``/govstack/messaging/v1``. The spec's ``apiKey`` header carries a Nokor API key (the
``Authorization`` header works too); the caller needs ``messaging.send``. The spec names the request body
"body" as if it were a query parameter; Nokor reads it as the JSON body, as its clients send it.

``POST /callback/email`` takes the spec's ``callbackContent`` (``meta``, base64 ``content``); the spec leaves
its meaning to each service provider ("a matching OpenAPI spec must be provided"), and Nokor's is a bounce
report from the mail provider: ``meta`` ``bounced`` and ``content`` the base64 of ``{"email", "reason"}``.
The e-mail is then counted as bounced by ``GET /status/email``. Nokor takes no replies to what it sends.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from nokor import accounts
from nokor.kit.actor import Actor
from nokor.kit.errors import Unauthorized, ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.messaging import service
from nokor.messaging.schemas import RequestStatus
from nokor.web.deps import DbSession, resolve_actor

PREFIX = "/govstack/messaging/v1"
router = APIRouter(prefix=PREFIX, tags=["GovStack Messaging"], responses=problem_responses(401, 403, 404, 422))


def govstack_actor(request: Request, session: DbSession,
                   api_key: Annotated[str | None, Header(alias="apiKey")] = None) -> Actor:
    """The caller by the spec's ``apiKey`` header, or by the usual ``Authorization`` header."""
    if api_key:
        actor = accounts.authenticate_api_key(session, key=api_key.strip())
        if actor is None:
            raise Unauthorized(_("The API key is not valid or has been revoked."))
        request.state.actor = actor
        return actor
    found = resolve_actor(request, session)
    if found is None:
        raise Unauthorized()
    return found


Caller = Annotated[Actor, Depends(govstack_actor)]


class Callback(BaseModel):
    uri: str | None = None


class SenderInfo(BaseModel):
    organisationName: str | None = None
    organisationRegNr: str | None = None
    onBehalfOfName: str | None = None
    onBehalfOfRegNr: str | None = None
    email: str | None = None
    replyTo: str | None = None
    name: str | None = None


class RecipientInfo(BaseModel):
    email: str = Field(max_length=254)
    emailCC: str | None = Field(None, max_length=254)
    emailBCC: str | None = Field(None, max_length=254)
    name: str | None = None


class EmailContent(BaseModel):
    encoding: str | None = "UTF-8"
    title: str = Field(min_length=1, max_length=300)
    content: str = Field(min_length=1, max_length=100_000)


class Email(BaseModel):
    callback: Callback | None = None
    senderInfo: SenderInfo | None = None
    recipientInfo: RecipientInfo
    emailContent: EmailContent


class BatchRecipients(BaseModel):
    batchEmailAsBase64: str


class BatchEmail(BaseModel):
    callbackUri: Callback | None = None
    senderInfo: SenderInfo | None = None
    recipientInfo: BatchRecipients
    emailContent: EmailContent


def _accepted(uid: str) -> dict[str, str]:
    return {"response": 'Request successfully accepted. Use "requestUID" to track its status.', "requestUID": uid}


def _send_to(session: DbSession, actor: Actor, people: list[RecipientInfo], content: EmailContent, uid: str) -> None:
    index = 0
    for person in people:
        for address in (person.email, person.emailCC, person.emailBCC):
            if address:
                service.send_email(session, actor, to=address, subject=content.title, body=content.content,
                                   request_uid=uid, index=index)
                index += 1


@router.post("/send/email/single", summary="Send a single e-mail (through the outbox, with retries)")
def send_single(session: DbSession, actor: Caller, body: Email) -> dict[str, str]:
    uid = str(uuid.uuid4())
    _send_to(session, actor, [body.recipientInfo], body.emailContent, uid)
    return _accepted(uid)


@router.post("/send/email/batch", summary="Send the same e-mail to a base64-encoded JSON list of recipients")
def send_batch(session: DbSession, actor: Caller, body: BatchEmail) -> dict[str, str]:
    try:
        decoded: Any = json.loads(base64.b64decode(body.recipientInfo.batchEmailAsBase64, validate=True))
        people = [RecipientInfo.model_validate(item.get("recipientInfo", item)) for item in decoded]
    except (binascii.Error, ValueError, TypeError, AttributeError) as exc:
        raise ValidationFailed(errors=[field_error(["recipientInfo", "batchEmailAsBase64"], _(
            "This is not a base64-encoded JSON list of recipients."), "bad_batch")]) from exc
    if not people or len(people) > 1000:
        raise ValidationFailed(errors=[field_error(["recipientInfo", "batchEmailAsBase64"], _(
            "Send from 1 to 1000 recipients at once."), "bad_batch_size")])
    uid = str(uuid.uuid4())
    _send_to(session, actor, people, body.emailContent, uid)
    return _accepted(uid)


@router.get("/status/email", response_model=RequestStatus, summary="How the e-mails of one request fare")
def status(session: DbSession, actor: Caller,
           request_uid: Annotated[str, Header(alias="requestUid", max_length=64)]) -> RequestStatus:
    return service.request_status(session, actor, request_uid=request_uid.strip())


class CallbackContent(BaseModel):
    """Nokor's callback input: what happened and to which recipient."""

    meta: str = Field(max_length=64, description="What happened to the e-mail: `bounced`",
                      examples=["bounced"])
    content: str = Field(max_length=20_000, description='Base64 of JSON `{"email": ADDRESS, "reason": TEXT}`',
                         examples=["eyJlbWFpbCI6ICJkYXJhQGV4YW1wbGUub3JnIiwgInJlYXNvbiI6ICI1NTAgbm8gc3VjaCB1c2VyIn0="])


@router.post("/callback/email", summary="The mail provider reports a bounce for one request's e-mail")
def callback(session: DbSession, actor: Caller, body: CallbackContent,
             request_uid: Annotated[str, Header(alias="requestUid", max_length=64)]) -> dict[str, Any]:
    addresses = service.receive_email_callback(session, actor, request_uid=request_uid.strip(), meta=body.meta,
                                               content=body.content)
    return {"response": "Request successfully accepted", "requestUID": request_uid.strip(), "recipients": addresses}
