"""JSON routes of the payments domain under /api/v1/payments, and the providers' callback."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from nokor import trust
from nokor.config import Settings
from nokor.kit.errors import PayloadTooLarge, Unauthorized, problem_responses
from nokor.kit.pagination import Page
from nokor.payments import service
from nokor.payments.confirmations import CallbackBatcher
from nokor.payments.images import qr_png, qr_svg
from nokor.payments.schemas import (
    Balance,
    BillCreate,
    BillRead,
    BillStatusRead,
    DeclineBody,
    FeeCreate,
    FeeRead,
    HeldPaymentRead,
    LedgerCheck,
    NotificationRead,
    PaymentOutcome,
    RefundRead,
    ReviewDecision,
    ReviewRead,
)
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
# The providers' callback has a router of its own, which the app mounts before all others: it is by far
# the busiest route, and routes are matched one after another.
callback_router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
PROBLEMS = problem_responses(401, 403, 422)
WITH_404 = problem_responses(401, 403, 404, 409, 422)
MAX_CALLBACK_BYTES = 64 * 1024
CALLBACK_PREFIX = "/api/v1/payments/callbacks/"
PROBLEM_JSON = b"application/problem+json"
_BATCHER_LOCK = threading.Lock()


class CancelBody(BaseModel):
    reason: str


class RefundBody(BaseModel):
    reason: str
    amount: str | None = None


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def callback_secret(settings: Settings) -> str:
    configured = settings.payments_webhook_secret.get_secret_value() if settings.payments_webhook_secret else None
    return service.webhook_secret(configured, settings.effective_secret_key)


def refund_url(settings: Settings) -> str:
    return settings.payments_bakong_url.rstrip("/") + "/v1/refunds"


async def answer_callback(batcher: CallbackBatcher, *, provider: str, body: bytes, headers: dict[str, str],
                          path: str) -> tuple[int, bytes, bytes]:
    """The answer to a provider's callback: status, media type and body (the route and the fast path share it).

    Answered once the batch it joined is committed; the database work runs on the batcher's thread,
    never on the event loop.
    """
    if len(body) > MAX_CALLBACK_BYTES or len(provider) > 32:
        return 413, PROBLEM_JSON, json.dumps(PayloadTooLarge().to_dict(instance=path)).encode()
    callback = service.Callback(provider=provider, body=body, headers=headers)
    outcome = await batcher.answer(callback)
    if outcome.outcome == "rejected" and outcome.detail == "bad signature":
        # Answered without raising, so that the rejected notification stays recorded.
        return 401, PROBLEM_JSON, json.dumps(Unauthorized(outcome.detail).to_dict(instance=path)).encode()
    return 400 if outcome.outcome == "rejected" else 200, b"application/json", outcome.model_dump_json().encode()


@callback_router.post("/callbacks/{provider}", response_model=PaymentOutcome, responses=problem_responses(401, 413),
             summary="A provider's payment notification (HMAC-SHA256 of the body in X-Provider-Signature)")
async def provider_callback(request: Request, provider: str) -> Response:
    status, media_type, answer = await answer_callback(
        callback_batcher(request), provider=provider, body=await request.body(), headers=dict(request.headers),
        path=request.url.path)
    return Response(answer, status_code=status, media_type=media_type.decode())


CALLBACK_ROUTE = callback_router.routes[-1]


def callback_batcher(request: Request) -> CallbackBatcher:
    """The app's one batcher of provider callbacks (made on first use, with the settings of that moment)."""
    return batcher_of(request.app)


def batcher_of(app: Any) -> CallbackBatcher:
    state = app.state
    with _BATCHER_LOCK:
        batcher: CallbackBatcher | None = getattr(state, "payments_callback_batcher", None)
        if batcher is None:
            batcher = CallbackBatcher(state.session_factory, callback_secret(state.settings))
            state.payments_callback_batcher = batcher
    return batcher


class CallbackFastPath:
    """The lean path of ``POST /api/v1/payments/callbacks/{provider}``, the busiest route of the domain.

    A provider's callback is answered here, without the router, the app's dependencies and the
    exception middleware (more than half of a callback's CPU went there), by the same
    ``answer_callback`` the route uses, through the app's one batcher. It sits inside the platform
    middleware, so request ids, security headers, the body limit, metrics (under the route's path) and
    the 500 answer of an unexpected error are those of every request. Any other request goes on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(CALLBACK_PREFIX):
            await self.app(scope, receive, send)
            return
        provider = path[len(CALLBACK_PREFIX):]
        if not provider or "/" in provider:
            await self.app(scope, receive, send)
            return
        scope["route"] = CALLBACK_ROUTE
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_CALLBACK_BYTES or not message.get("more_body", False):
                break
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        status, media_type, answer = await answer_callback(
            batcher_of(scope["app"]), provider=provider, body=b"".join(chunks), headers=headers, path=path)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", media_type), (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


@router.get("/fees", response_model=list[FeeRead], responses=PROBLEMS, summary="The fee schedule")
def fees(session: DbSession, actor: CurrentActor) -> list[FeeRead]:
    return service.list_fees(session, actor)


@router.post("/fees", response_model=FeeRead, status_code=201, responses=WITH_404)
def create_fee(session: DbSession, actor: CurrentActor, body: FeeCreate) -> FeeRead:
    return service.create_fee(session, actor, data=body)


@router.post("/bills", response_model=BillRead, status_code=201, responses=WITH_404, summary="Issue a bill")
def issue_bill(request: Request, session: DbSession, actor: CurrentActor, body: BillCreate) -> BillRead:
    settings = settings_of(request)
    return service.issue_bill(session, actor, data=body, qr_minutes=settings.payments_qr_minutes,
                              bill_days=settings.payments_bill_days)


@router.get("/bills", response_model=Page[BillRead], responses=PROBLEMS)
def bills(session: DbSession, actor: CurrentActor, status: str | None = None, cursor: str | None = None,
          limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[BillRead]:
    return service.list_bills(session, actor, status=status, cursor=cursor, limit=limit)


@router.get("/bills/{number}", response_model=BillRead, responses=WITH_404)
def bill(session: DbSession, actor: CurrentActor, number: str) -> BillRead:
    return service.get_bill(session, actor, number=number)


@router.get("/bills/{number}/status", response_model=BillStatusRead, responses=problem_responses(404),
            summary="The state of a bill, for the payer's page (no sign-in)")
def bill_status(session: DbSession, number: str) -> BillStatusRead:
    return service.bill_status(session, number=number)


@router.get("/bills/{number}/qr.svg", responses=problem_responses(404), response_class=Response,
            summary="The bill's KHQR as an SVG image (no sign-in)")
def bill_qr_svg(session: DbSession, number: str) -> Response:
    found = service.bill_for_payer(session, number=number)
    return Response(qr_svg(found.qr_payload, title=f"KHQR {found.number}"), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=300"})


@router.get("/bills/{number}/qr.png", responses=problem_responses(404), response_class=Response,
            summary="The bill's KHQR as a PNG image (no sign-in)")
def bill_qr_png(session: DbSession, number: str) -> Response:
    found = service.bill_for_payer(session, number=number)
    return Response(qr_png(found.qr_payload), media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/bills/{number}/receipt.pdf", responses=problem_responses(404, 409, 422), response_class=Response,
            summary="The sealed receipt of a paid bill as a PDF, in the language asked for (no sign-in)")
def bill_receipt(request: Request, session: DbSession, number: str,
                 lang: Literal["km", "en", "ar", "de"] = "km") -> Response:
    pdf = service.payment_receipt(session, number=number, ring=trust.key_ring(settings_of(request)), language=lang)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="receipt-{number}-{lang}.pdf"'})


@router.post("/bills/{number}/cancel", response_model=BillRead, responses=WITH_404)
def cancel_bill(session: DbSession, actor: CurrentActor, number: str, body: CancelBody) -> BillRead:
    return service.cancel_bill(session, actor, number=number, reason=body.reason)


@router.post("/bills/{number}/refunds", response_model=RefundRead, status_code=201, responses=WITH_404)
def request_refund(request: Request, session: DbSession, actor: CurrentActor, number: str,
                   body: RefundBody) -> RefundRead:
    settings = settings_of(request)
    return service.request_refund(session, actor, number=number, reason=body.reason, amount=body.amount,
                                  four_eyes_above=service.four_eyes_limits(settings.payments_four_eyes_above),
                                  refund_url=refund_url(settings))


@router.post("/refunds/{refund_id}/approve", response_model=RefundRead, responses=WITH_404)
def approve_refund(request: Request, session: DbSession, actor: CurrentActor, refund_id: uuid.UUID) -> RefundRead:
    return service.approve_refund(session, actor, refund_id=refund_id, refund_url=refund_url(settings_of(request)))


@router.get("/notifications", response_model=Page[NotificationRead], responses=PROBLEMS)
def notifications(session: DbSession, actor: CurrentActor, outcome: str | None = None, cursor: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page[NotificationRead]:
    return service.list_notifications(session, actor, outcome=outcome, cursor=cursor, limit=limit)


@router.get("/held", response_model=list[HeldPaymentRead], responses=PROBLEMS,
            summary="Payments held for review (amount differs, bill not open, no bill), oldest first")
def held_payments(session: DbSession, actor: CurrentActor) -> list[HeldPaymentRead]:
    return service.list_held_payments(session, actor)


@router.post("/notifications/{notification_id}/{decision}", response_model=ReviewRead, responses=WITH_404,
             summary="Accept a held payment for its bill, or return it to the payer (with the reason)")
def review_held_payment(request: Request, session: DbSession, actor: CurrentActor, notification_id: uuid.UUID,
                        decision: Literal["accept", "return"], body: ReviewDecision) -> ReviewRead:
    settings = settings_of(request)
    return service.review_held_payment(
        session, actor, notification_id=notification_id, decision=decision, reason=body.reason,
        bill_number=body.bill_number, four_eyes_above=service.four_eyes_limits(settings.payments_four_eyes_above),
        refund_url=refund_url(settings))


@router.get("/reviews", response_model=list[ReviewRead], responses=PROBLEMS,
            summary="Decisions on held payments, newest first")
def reviews(session: DbSession, actor: CurrentActor,
            status: Literal["pending", "done", "declined"] | None = None) -> list[ReviewRead]:
    return service.list_reviews(session, actor, status=status)


@router.post("/reviews/{review_id}/confirm", response_model=ReviewRead, responses=WITH_404,
             summary="A second officer confirms a decision on a held payment")
def confirm_review(request: Request, session: DbSession, actor: CurrentActor, review_id: uuid.UUID) -> ReviewRead:
    return service.confirm_review(session, actor, review_id=review_id, refund_url=refund_url(settings_of(request)))


@router.post("/reviews/{review_id}/decline", response_model=ReviewRead, responses=WITH_404,
             summary="Turn down a proposed decision; the payment stays held")
def decline_review(session: DbSession, actor: CurrentActor, review_id: uuid.UUID, body: DeclineBody) -> ReviewRead:
    return service.decline_review(session, actor, review_id=review_id, reason=body.reason)


@router.get("/ledger/balances", response_model=list[Balance], responses=PROBLEMS)
def balances(session: DbSession, actor: CurrentActor) -> list[Balance]:
    return service.ledger_balances(session, actor)


@router.get("/ledger/check", response_model=LedgerCheck, responses=PROBLEMS,
            summary="Proof that every ledger transaction balances")
def ledger_check(session: DbSession, actor: CurrentActor) -> LedgerCheck:
    return service.check_ledger(session, actor)
