"""GovStack Payments, QA branch (``bb-payments/branch-1.0-QA/P2G.yaml``): the P2G transactions API.

The QA branch describes person-to-government payments with the GSMA Mobile Money API for merchant
payments rather than the bill inquiry / bill payment notification of the released P2G YAMLs, so both
are served: the released one under ``/govstack/payments``, this one under ``/govstack/payments/qa``.
A payer's provider (an API client with ``payments.notify``) creates a ``billpay`` or ``merchantpay``
transaction naming the bill in ``creditParty`` (key ``billid``, ``billreference`` or ``accountid``)
or in ``metadata``; ``X-CorrelationID`` makes a retry idempotent. The transaction is answered
synchronously (201): ``completed`` when it paid the bill, ``pending`` when it is held for an officer's
review (an amount that differs from the bill). Errors are the spec's ``errorObject``.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime as http_date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from nokor.kit.errors import Problem, problem_responses
from nokor.kit.money import Money
from nokor.payments import service
from nokor.payments.schemas import NotificationRead
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/govstack/payments/qa", tags=["govstack-payments-qa"])
PROBLEMS = problem_responses(401, 403)
BILL_KEYS = ("billid", "billreference", "accountid")
STATUS = {"applied": "completed", "accepted": "completed", "duplicate": "completed", "held": "pending",
          "received": "pending", "returned": "reversed", "ignored": "rejected", "rejected": "rejected"}


def _answer(status: int, body: dict[str, Any], correlation: str | None = None) -> JSONResponse:
    headers = {"X-Date": http_date(datetime.now(UTC), usegmt=True)}
    if correlation:
        headers["X-CorrelationID"] = correlation
    return JSONResponse(body, status_code=status, headers=headers)


def _error(status: int, category: str, code: str, description: str, correlation: str | None = None) -> JSONResponse:
    return _answer(status, {"errorCategory": category, "errorCode": code, "errorDescription": description[:256]},
                   correlation)


def _pairs(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        return {}
    return {str(item["key"]).lower(): str(item["value"]) for item in value
            if isinstance(item, dict) and "key" in item and "value" in item}


def _transaction(note: NotificationRead, bill_number: str | None, kind: str = "billpay") -> dict[str, Any]:
    body: Any = {}
    with contextlib.suppress(ValueError):
        body = json.loads(note.body)
    amount = Money(note.amount_minor or 0, note.currency or "KHR").decimal() if note.currency else None
    return {
        "transactionReference": str(note.id),
        "requestingOrganisationTransactionReference": note.transaction_ref,
        "type": body.get("type", kind) if isinstance(body, dict) else kind,
        "transactionStatus": STATUS.get(note.outcome, "pending"),
        "amount": format(amount, "f") if amount is not None else None,
        "currency": note.currency,
        "creditParty": [{"key": "billid", "value": bill_number or ""}],
        "debitParty": (body.get("debitParty") if isinstance(body, dict) and isinstance(body.get("debitParty"), list)
                       else [{"key": "accountid", "value": note.provider}]),
        "creationDate": note.received_at.isoformat(),
        "modificationDate": (note.resolved_at or note.received_at).isoformat(),
    }


@router.post("/transactions/type/{transactionType}", responses=PROBLEMS, status_code=201,
             summary="Create a transaction: a payer's provider pays a bill (billpay or merchantpay)")
async def create_transaction(request: Request, session: DbSession, actor: CurrentActor, transactionType: str,
                             correlation: Annotated[str | None, Header(alias="X-CorrelationID", max_length=64)] = None,
                             ) -> Response:
    actor.require(service.PAYMENTS_NOTIFY)
    if transactionType not in ("billpay", "merchantpay"):
        return _error(400, "validation", "transactionTypeError",
                      "Government fees are paid with billpay or merchantpay transactions.", correlation)
    raw = await request.body()
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return _error(400, "validation", "formatError", "The body must be a JSON object.", correlation)
    missing = [name for name in ("amount", "currency") if not body.get(name)]
    credit, meta = _pairs(body.get("creditParty")), _pairs(body.get("metadata"))
    bill_number = (next((credit[k] for k in BILL_KEYS if k in credit), None) or meta.get("billid") or "").strip()
    if not bill_number:
        missing.append("creditParty (billid)")
    if missing:
        return _error(400, "validation", "mandatoryValueNotSupplied", "Missing: " + ", ".join(missing), correlation)
    provider = "mm:" + (_pairs(body.get("debitParty")).get("accountid") or str(actor.name))
    reference = str(body.get("requestingOrganisationTransactionReference") or correlation or uuid.uuid4())
    try:
        outcome = await run_in_threadpool(
            service.record_wallet_payment, session, actor, provider=provider,
            event_id=correlation or reference, transaction_ref=reference, bill_number=bill_number,
            amount=str(body["amount"]), currency=str(body["currency"]).upper(), body=raw,
            headers=dict(request.headers))
    except Problem as problem:
        if problem.status in (401, 403):
            raise
        return _error(400, "validation", "formatError", problem.detail or problem.title, correlation)
    if outcome.outcome == "rejected":
        return _error(400, "validation", "formatError", outcome.detail or "unreadable", correlation)
    if outcome.outcome == "duplicate":
        return _error(400, "businessRule", "duplicateRequest", outcome.detail or "seen before", correlation)
    if outcome.outcome == "held" and outcome.bill_number is None:
        return _error(404, "identification", "identifierError", "There is no bill with this number.", correlation)
    note, number = await run_in_threadpool(service.get_notification, session, actor,
                                           notification_id=outcome.notification_id)
    return _answer(201, _transaction(note, number, transactionType), correlation)


@router.get("/transactions/{transactionReference}", responses=PROBLEMS, summary="View a transaction")
def view_transaction(session: DbSession, actor: CurrentActor, transactionReference: str) -> Response:
    try:
        note, number = service.get_notification(session, actor, notification_id=uuid.UUID(transactionReference))
    except ValueError:
        return _error(404, "identification", "genericError", "There is no such transaction.")
    except Problem as problem:
        if problem.status in (401, 403):
            raise
        return _error(404, "identification", "genericError", "There is no such transaction.")
    return _answer(200, _transaction(note, number))


@router.get("/accounts/{accountId}/balance", responses=PROBLEMS,
            summary="Balance of a collecting agency's account (accountId: the agency's code), from the ledger")
def account_balance(session: DbSession, actor: CurrentActor, accountId: str, currency: str = "KHR") -> Response:
    balances = {b.currency: b.balance_minor for b in service.ledger_balances(session, actor)
                if b.account == service.agency_account(accountId)}
    if not balances:
        return _error(404, "identification", "identifierError", "There is no account with this identifier.")
    chosen = currency.upper() if currency.upper() in balances else sorted(balances)[0]
    # The agency's account is credited (negative) as fees come in: what it holds is the opposite.
    held = format(Money(-balances[chosen], chosen).decimal(), "f")
    return _answer(200, {"accountStatus": "available", "currentBalance": held, "availableBalance": held,
                         "reservedBalance": "0", "unclearedBalance": "0", "currency": chosen})


@router.get("/heartbeat", summary="Service availability")
def heartbeat() -> Response:
    return _answer(200, {"serviceStatus": "available"})
