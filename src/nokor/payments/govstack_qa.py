"""GovStack Payments, QA branch (``bb-payments/branch-1.0-QA/P2G.yaml``): the P2G transactions API.

The QA branch describes person-to-government payments with the GSMA Mobile Money API for merchant
payments rather than the bill inquiry / bill payment notification of the released P2G YAMLs, so both
are served: the released one under ``/govstack/payments``, this one under ``/govstack/payments/qa``.
A payer's provider (an API client with ``payments.notify``) creates a ``billpay`` or ``merchantpay``
transaction naming the bill in ``creditParty`` (key ``billid``, ``billreference`` or ``accountid``)
or in ``metadata``; ``X-CorrelationID`` makes a retry idempotent. The transaction is answered
synchronously (201): ``completed`` when it paid the bill, ``pending`` when it is held for an officer's
review (an amount that differs from the bill). Errors are the spec's ``errorObject`` (its text under both
``errordescription``, the QA spec's spelling, and ``errorDescription``, the GSMA API's).

A reversal of a completed payment is a refund of its bill (``mobile_money.reverse_transaction``):
201 when done, 202 with a ``requestStateObject`` when the four-eyes rule makes it wait for a second
officer, pollable at ``/requeststates/{serverCorrelationId}``. Accounts are the collecting agencies'
ledger accounts, named by their code (``accountId``, ``accountid@CODE``, or ``accountid``/``organisationid``
as ``identifierType``); their transactions are the ledger's lines, paged with ``offset``/``limit``.
Amounts are written as the spec's pattern wants them (``50000``, ``12.5``).

Authorisation codes are a payer's (``type@value`` accounts of the provider's customers), kept per API
client; a transaction quotes one in ``oneTimeCode``. The spec has no state for a used code: it reads
``expired``, with the transaction that used it in ``metadata``. The spec gives the list of an account's
codes the schema of one code; it is answered as an array of them, with the paging headers the spec names.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime as http_date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from nokor.kit.errors import NotFound, Problem, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.kit.money import Money
from nokor.payments import mobile_money, service
from nokor.payments.api import refund_url, settings_of
from nokor.payments.schemas import NotificationRead
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/govstack/payments/qa", tags=["govstack-payments-qa"])
PROBLEMS = problem_responses(401, 403)
BILL_KEYS = ("billid", "billreference", "accountid")
# The spec's amount: no sign, at most 18 digits before the point and no trailing zero after it.
AMOUNT = re.compile(r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$")
# The spec's identifier types; Nokor's accounts (the collecting agencies') are named by the first two.
AGENCY_KEYS = ("accountid", "organisationid")
IDENTIFIER_TYPES = (
    *AGENCY_KEYS, "msisdn", "walletid", "linkref", "consumerno", "serviceprovider", "storeid", "accountcategory",
    "bankaccountno", "accountrank", "identityalias", "iban", "swiftbic", "sortcode", "bankname", "bankaccounttitle",
    "username", "emailaddress", "mandatereference")
INT32 = 2**31 - 1
# The error codes a service's refusal may name directly (the rest are mapped by their HTTP status).
GSMA_CODES = ("incorrectState", "transactionTypeError", "currencyNotSupported", "greaterThanTransactionMaxValue",
              "underPaymentNotAllowed")
TRANSACTION_TYPES = ("billpay", "deposit", "disbursement", "transfer", "merchantpay", "inttransfer", "adjustment",
                     "reversal", "withdrawal")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
STATUS = {"applied": "completed", "accepted": "completed", "duplicate": "completed", "held": "pending",
          "received": "pending", "returned": "reversed", "ignored": "rejected", "rejected": "rejected"}


def _answer(status: int, body: dict[str, Any], correlation: str | None = None) -> JSONResponse:
    headers = {"X-Date": http_date(datetime.now(UTC), usegmt=True)}
    if correlation:
        headers["X-CorrelationID"] = correlation
    return JSONResponse(body, status_code=status, headers=headers)


def _error(status: int, category: str, code: str, description: str, correlation: str | None = None) -> JSONResponse:
    # The QA spec's errorObject spells the text "errordescription"; the GSMA API it copies, "errorDescription".
    text = description[:256]
    return _answer(status, {"errorCategory": category, "errorCode": code, "errordescription": text,
                            "errorDescription": text, "errorDateTime": datetime.now(UTC).isoformat()}, correlation)


def _refusal(problem: Problem, correlation: str | None = None) -> JSONResponse:
    """A service's refusal as the spec's errorObject; a missing permission stays the platform's 401/403."""
    if problem.status in (401, 403):
        raise problem
    text = problem.detail or problem.title
    if problem.errors:
        text = "; ".join(f"{e['pointer'].lstrip('/') or 'body'}: {e['detail']}" for e in problem.errors)
    if problem.status == 404:
        return _error(404, "identification", "identifierError", text, correlation)
    if problem.status == 409:
        code = problem.extensions.get("code")
        return _error(400, "businessRule", code if code in GSMA_CODES else "incorrectState", text, correlation)
    return _error(400, "validation", "formatError", text, correlation)


def _amount(minor: int, currency: str) -> str:
    """An amount as the spec writes it: ``50000``, ``12.5`` (no trailing zeros, no exponent)."""
    return format(Money(minor, currency).decimal().normalize(), "f")


def _body(raw: bytes) -> dict[str, Any] | None:
    """The JSON object of a request, or None; a NUL character escaped in a string is refused (no column takes one)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if b"\\u0000" in raw.lower():
        return None
    return body if isinstance(body, dict) else None


def _pairs(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        return {}
    return {str(item["key"]).lower(): str(item["value"]) for item in value
            if isinstance(item, dict) and "key" in item and "value" in item}


def _transaction(note: NotificationRead, bill_number: str | None, kind: str = "billpay") -> dict[str, Any]:
    body: Any = {}
    with contextlib.suppress(ValueError):
        body = json.loads(note.body)
    amount = _amount(note.amount_minor or 0, note.currency) if note.currency else None
    return {
        "transactionReference": str(note.id),
        "requestingOrganisationTransactionReference": note.transaction_ref,
        "type": body.get("type", kind) if isinstance(body, dict) else kind,
        "transactionStatus": STATUS.get(note.outcome, "pending"),
        "amount": amount,
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
                      _("Government fees are paid with billpay or merchantpay transactions."), correlation)
    raw = await request.body()
    body = _body(raw)
    if body is None:
        return _error(400, "validation", "formatError", _("The body must be a JSON object."), correlation)
    missing = [name for name in ("amount", "currency") if not body.get(name)]
    credit, meta = _pairs(body.get("creditParty")), _pairs(body.get("metadata"))
    bill_number = (next((credit[k] for k in BILL_KEYS if k in credit), None) or meta.get("billid") or "").strip()
    if not bill_number:
        missing.append("creditParty (billid)")
    if missing:
        return _error(400, "validation", "mandatoryValueNotSupplied",
                      _("Missing: %(fields)s", fields=", ".join(missing)), correlation)
    debit = _pairs(body.get("debitParty"))
    provider = "mm:" + (debit.get("accountid") or str(actor.name))
    reference = str(body.get("requestingOrganisationTransactionReference") or correlation or uuid.uuid4())
    code = body.get("oneTimeCode")
    payment: dict[str, Any] = {
        "provider": provider, "event_id": correlation or reference, "transaction_ref": reference,
        "bill_number": bill_number, "amount": str(body["amount"]), "currency": str(body["currency"]).upper(),
        "body": raw, "headers": dict(request.headers)}
    try:
        if code:
            if not isinstance(code, str) or not code.strip().isdigit() or len(code) > 32:
                return _error(404, "identification", "identifierError", _("There is no such authorisation code."),
                              correlation)
            outcome = await run_in_threadpool(
                mobile_money.record_coded_payment, session, actor, code=code, transaction_type=transactionType,
                debit_party=debit, **payment)
        else:
            outcome = await run_in_threadpool(service.record_wallet_payment, session, actor, **payment)
    except Problem as problem:
        if problem.status == 422:
            return _error(400, "validation", "formatError", problem.detail or problem.title, correlation)
        return _refusal(problem, correlation)
    if outcome.outcome == "rejected":
        return _error(400, "validation", "formatError", outcome.detail or "unreadable", correlation)
    if outcome.outcome == "duplicate":
        return _error(400, "businessRule", "duplicateRequest", outcome.detail or "seen before", correlation)
    if outcome.outcome == "held" and outcome.bill_number is None:
        return _error(404, "identification", "identifierError", _("There is no bill with this number."),
                      correlation)
    note, number = await run_in_threadpool(service.get_notification, session, actor,
                                           notification_id=outcome.notification_id)
    return _answer(201, _transaction(note, number, transactionType), correlation)


@router.get("/transactions/{transactionReference}", responses=PROBLEMS,
            summary="View a transaction: a payment, or a reversal (by the reference its creation answered)")
def view_transaction(session: DbSession, actor: CurrentActor, transactionReference: str) -> Response:
    try:
        reference = uuid.UUID(transactionReference)
    except ValueError:
        return _error(404, "identification", "identifierError", _("There is no such transaction."))
    try:
        note, number = service.get_notification(session, actor, notification_id=reference)
    except NotFound:
        pass
    except Problem as problem:
        return _refusal(problem)
    else:
        return _answer(200, _transaction(note, number))
    try:
        reversal = mobile_money.get_reversal(session, actor, refund_id=reference)
    except NotFound:
        return _error(404, "identification", "identifierError", _("There is no such transaction."))
    except Problem as problem:
        return _refusal(problem)
    return _answer(200, _reversal(reversal))


def _reversal(reversal: mobile_money.Reversal, kind: str = "reversal",
              client_reference: str | None = None) -> dict[str, Any]:
    """A reversal as the spec's responseReversal: the money goes back from the bill to the payer."""
    refund, original = reversal.refund, _transaction(reversal.original, reversal.bill_number)
    body: dict[str, Any] = {
        "transactionReference": str(refund.id), "originalTransactionReference": original["transactionReference"],
        "type": kind, "transactionStatus": {"completed": "completed", "rejected": "rejected"}.get(refund.status,
                                                                                                  "pending"),
        "amount": _amount(refund.amount_minor, refund.currency), "currency": refund.currency,
        "creditParty": original["debitParty"], "debitParty": original["creditParty"],
        "creationDate": refund.created_at.isoformat(),
        "modificationDate": (refund.decided_at or refund.created_at).isoformat(),
    }
    if client_reference:
        body["requestingOrganisationTransactionReference"] = client_reference
    return body


@router.post("/transactions/{transactionReference}/reversals", responses=PROBLEMS, status_code=201,
             summary="Reverse a completed payment: its bill is refunded (201); above the four-eyes amount the "
                     "refund waits for a second officer (202: poll /requeststates/{serverCorrelationId})")
async def create_reversal(request: Request, session: DbSession, actor: CurrentActor, transactionReference: str,
                          correlation: Annotated[str | None, Header(alias="X-CorrelationID", max_length=64)] = None,
                          ) -> Response:
    actor.require(service.PAYMENTS_REFUND)
    body = _body(await request.body())
    if body is None:
        return _error(400, "validation", "formatError", _("The body must be a JSON object."), correlation)
    kind = body.get("type")
    if not kind:
        return _error(400, "validation", "mandatoryValueNotSupplied", _("Missing: %(fields)s", fields="type"),
                      correlation)
    if kind not in ("reversal", "adjustment"):
        return _error(400, "validation", "transactionTypeError",
                      _("The type of a reversal is reversal or adjustment."), correlation)
    amount, currency, text = body.get("amount"), body.get("currency"), body.get("descriptionText")
    if amount is not None and (not isinstance(amount, str) or not AMOUNT.fullmatch(amount)):
        return _error(400, "validation", "formatError", _("The amount must be a decimal number such as 15.21."),
                      correlation)
    if currency is not None and not isinstance(currency, str):
        return _error(400, "validation", "formatError", _("The currency must be an ISO 4217 code."), correlation)
    client_reference = body.get("requestingOrganisationTransactionReference")
    try:
        reference = uuid.UUID(transactionReference)
    except ValueError:
        return _error(404, "identification", "identifierError", _("There is no such transaction."), correlation)
    reason = f"GovStack P2G {kind} of transaction {reference}"
    if isinstance(text, str) and text.strip():
        reason += ": " + text.strip()[:160]
    settings = settings_of(request)
    try:
        reversal = await run_in_threadpool(
            mobile_money.reverse_transaction, session, actor, transaction_reference=reference, reason=reason,
            amount=amount, currency=currency,
            four_eyes_above=service.four_eyes_limits(settings.payments_four_eyes_above),
            refund_url=refund_url(settings))
    except Problem as problem:
        return _refusal(problem, correlation)
    if reversal.refund.status == "pending":
        return _answer(202, _request_state(reversal), correlation)
    return _answer(201, _reversal(reversal, kind, client_reference if isinstance(client_reference, str) else None),
                   correlation)


def _request_state(reversal: mobile_money.Reversal) -> dict[str, Any]:
    """The spec's requestStateObject of a reversal: pending until a second officer decides on its refund."""
    refund = reversal.refund
    body: dict[str, Any] = {"serverCorrelationId": str(refund.id), "objectReference": str(refund.id),
                            "status": {"completed": "completed", "rejected": "failed"}.get(refund.status, "pending"),
                            "notificationMethod": "polling"}
    if refund.status == "pending":
        body["pendingReason"] = _("A second officer must approve this reversal (four-eyes rule).")
    elif refund.status == "rejected":
        text = _("A second officer turned the reversal down.")
        body["error"] = {"errorCategory": "businessRule", "errorCode": "requestDeclined", "errordescription": text,
                         "errorDescription": text}
    return body


@router.get("/requeststates/{serverCorrelationId}", responses=PROBLEMS,
            summary="The state of a request answered 202 (a reversal waiting for a second officer)")
def view_request_state(session: DbSession, actor: CurrentActor, serverCorrelationId: str) -> Response:
    try:
        reversal = mobile_money.get_reversal(session, actor, refund_id=uuid.UUID(serverCorrelationId))
    except ValueError:
        return _error(404, "identification", "identifierError", _("There is no such request."))
    except NotFound:
        return _error(404, "identification", "identifierError", _("There is no such request."))
    except Problem as problem:
        return _refusal(problem)
    return _answer(200, _request_state(reversal))


def _agency_in(account_id: str) -> str | None:
    """The agency an ``accountId`` names: its code, or the spec's ``type@value$type@value`` with accountid
    or organisationid."""
    if "@" not in account_id:
        return account_id.strip() or None
    for part in account_id.split("$"):
        key, _sep, value = part.partition("@")
        if key.strip().lower() in AGENCY_KEYS and value.strip():
            return value.strip()
    return None


def _account(identifier: str | None) -> str | None:
    """The ledger account of a collecting agency; None for what cannot name one (or could not be looked up)."""
    if not identifier or not identifier.isprintable() or len(identifier) > 64:
        return None
    return service.agency_account(identifier)


def _by_type(identifierType: str, identifier: str) -> str | JSONResponse:
    if identifierType.lower() not in IDENTIFIER_TYPES:
        return _error(400, "validation", "formatError", _("Unknown identifier type."))
    account = _account(identifier.strip()) if identifierType.lower() in AGENCY_KEYS else None
    return account or _error(404, "identification", "identifierError", _("There is no account with this identifier."))


def _balance(session: DbSession, actor: CurrentActor, account: str | None, currency: str) -> Response:
    if account is None:
        return _error(404, "identification", "identifierError", _("There is no account with this identifier."))
    try:
        balances = mobile_money.account_balance(session, actor, account=account)
    except Problem as problem:
        return _refusal(problem)
    chosen = currency.upper() if currency.upper() in balances else (sorted(balances)[0] if balances else "KHR")
    # The agency's account is credited (negative) as fees come in: what it holds is the opposite.
    held = _amount(-balances.get(chosen, 0), chosen)
    return _answer(200, {"accountStatus": "available", "currentBalance": held, "availableBalance": held,
                         "reservedBalance": "0", "unclearedBalance": "0", "currency": chosen})


Currency = Annotated[str, Query(max_length=3, description="The currency to show (Nokor's extension; the account's "
                                                          "first currency otherwise)")]


@router.get("/accounts/balance", responses=PROBLEMS,
            summary="Balance of the calling client's account: the collecting agency its organisation unit is")
def own_balance(session: DbSession, actor: CurrentActor, currency: Currency = "KHR") -> Response:
    code = mobile_money.agency_of_client(session, actor)
    if code is None:
        return _error(404, "identification", "identifierError",
                      _("This client belongs to no collecting agency; name the account in the path."))
    return _balance(session, actor, service.agency_account(code), currency)


@router.get("/accounts/{identifierType}/{identifier}/balance", responses=PROBLEMS,
            summary="Balance of a collecting agency's account (identifierType accountid or organisationid: the "
                    "agency's code), from the ledger")
def account_balance_by_type(session: DbSession, actor: CurrentActor, identifierType: str, identifier: str,
                            currency: Currency = "KHR") -> Response:
    account = _by_type(identifierType, identifier)
    if isinstance(account, JSONResponse):
        return account
    return _balance(session, actor, account, currency)


@router.get("/accounts/{accountId}/balance", responses=PROBLEMS,
            summary="Balance of a collecting agency's account (accountId: the agency's code, or accountid@CODE), "
                    "from the ledger")
def account_balance(session: DbSession, actor: CurrentActor, accountId: str, currency: Currency = "KHR") -> Response:
    return _balance(session, actor, _account(_agency_in(accountId)), currency)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(text) from exc


def _page(limit: int | None, offset: int | None, since: str | None,
          until: str | None) -> tuple[int, int, datetime | None, datetime | None] | JSONResponse:
    """The spec's paging and time window (limit, offset, fromDateTime, toDateTime), or the error object."""
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    if not 0 <= offset <= INT32:
        return _error(400, "validation", "invalidOffset",
                      _("%(name)s must be a whole number from %(low)s to %(high)s.", name="offset", low=0, high=INT32))
    if not 1 <= limit <= MAX_LIMIT:
        return _error(400, "validation", "formatError",
                      _("%(name)s must be a whole number from %(low)s to %(high)s.", name="limit", low=1,
                        high=MAX_LIMIT))
    try:
        return limit, offset, _moment(since), _moment(until)
    except ValueError:
        return _error(400, "validation", "formatError", _("This is not a date and time (ISO 8601)."))


def _listing(items: list[dict[str, Any]], total: int) -> JSONResponse:
    return JSONResponse(items, headers={"X-Date": http_date(datetime.now(UTC), usegmt=True),
                                        "X-Records-Available-Count": str(total),
                                        "X-Records-Returned-Count": str(len(items))})


def _statement(session: DbSession, actor: CurrentActor, account: str | None, *, limit: int | None,
               offset: int | None, since: str | None, until: str | None, status: str | None,
               kind: str | None) -> Response:
    if account is None:
        return _error(404, "identification", "identifierError", _("There is no account with this identifier."))
    page = _page(limit, offset, since, until)
    if isinstance(page, JSONResponse):
        return page
    limit, offset, begin, end = page
    kinds: list[str] | None = None
    if kind is not None:
        if kind not in TRANSACTION_TYPES:
            return _error(400, "validation", "transactionTypeError", _("Unknown transaction type."))
        kinds = [k for k, t in mobile_money.LEDGER_TYPES.items() if t == kind]
    if status is not None and status != "completed":
        kinds = []  # everything in the ledger is completed
    try:
        total, lines = mobile_money.account_statement(session, actor, account=account, offset=offset, limit=limit,
                                                      since=begin, until=end, kinds=kinds)
    except Problem as problem:
        return _refusal(problem)
    items = []
    for line in lines:
        item: dict[str, Any] = {
            "transactionReference": line.reference, "type": mobile_money.LEDGER_TYPES.get(line.kind, "adjustment"),
            "transactionStatus": "completed", "amount": _amount(abs(line.amount_minor), line.currency),
            "currency": line.currency,
            "creditParty": [{"key": "accountid", "value": a} for a in line.credit_accounts],
            "debitParty": [{"key": "accountid", "value": a} for a in line.debit_accounts],
            "creationDate": line.posted_at.isoformat(), "modificationDate": line.posted_at.isoformat(),
            "metadata": [{"key": "ledgerTransaction", "value": str(line.ledger_transaction)}]
            + ([{"key": "billid", "value": line.bill_number}] if line.bill_number else []),
        }
        if line.original_reference:
            item["originalTransactionReference"] = line.original_reference
        items.append(item)
    return _listing(items, total)


Limit = Annotated[int | None, Query(description="At most this many records (default 50, at most 500)")]
Offset = Annotated[int | None, Query(description="Skip this many records (newest first)")]
FromDateTime = Annotated[str | None, Query(alias="fromDateTime", max_length=64)]
ToDateTime = Annotated[str | None, Query(alias="toDateTime", max_length=64)]
StatusQuery = Annotated[str | None, Query(alias="transactionStatus", max_length=256)]
TypeQuery = Annotated[str | None, Query(alias="transactionType", max_length=32)]


@router.get("/accounts/{identifierType}/{identifier}/transactions", responses=PROBLEMS,
            summary="Transactions of a collecting agency's account, newest first, from the ledger")
def account_transactions_by_type(session: DbSession, actor: CurrentActor, identifierType: str, identifier: str,
                                 limit: Limit = None, offset: Offset = None, since: FromDateTime = None,
                                 until: ToDateTime = None, status: StatusQuery = None,
                                 kind: TypeQuery = None) -> Response:
    account = _by_type(identifierType, identifier)
    if isinstance(account, JSONResponse):
        return account
    return _statement(session, actor, account, limit=limit, offset=offset, since=since, until=until, status=status,
                      kind=kind)


@router.get("/accounts/{accountId}/transactions", responses=PROBLEMS,
            summary="Transactions of a collecting agency's account, newest first, from the ledger "
                    "(X-Records-Available-Count, X-Records-Returned-Count)")
def account_transactions(session: DbSession, actor: CurrentActor, accountId: str, limit: Limit = None,
                         offset: Offset = None, since: FromDateTime = None, until: ToDateTime = None,
                         status: StatusQuery = None, kind: TypeQuery = None) -> Response:
    return _statement(session, actor, _account(_agency_in(accountId)), limit=limit, offset=offset, since=since,
                      until=until, status=status, kind=kind)


def _payer_account(account_id: str) -> str | None:
    """A payer's account as the spec names it (``type@value``, up to three joined by ``$``), keys in lower case."""
    if not account_id.isprintable() or len(account_id) > 256:
        return None
    parts = []
    for part in account_id.split("$"):
        key, sep, value = part.partition("@")
        if not sep or key.strip().lower() not in IDENTIFIER_TYPES or not value.strip():
            return None
        parts.append(f"{key.strip().lower()}@{value.strip()}")
    return "$".join(parts) if 1 <= len(parts) <= 3 else None


def _payer_by_type(identifierType: str, identifier: str) -> str | None:
    if identifierType.lower() not in IDENTIFIER_TYPES or "$" in identifier or "@" in identifier:
        return None
    return _payer_account(f"{identifierType}@{identifier}")


def _code_answer(read: mobile_money.AuthorisationCodeRead) -> dict[str, Any]:
    """An authorisation code as the spec's responseAuthorisationCode."""
    body: dict[str, Any] = {"authorisationCode": read.code, "codeState": read.code_state,
                            "amountType": read.amount_type, "codeLifetime": read.lifetime_seconds,
                            "holdFundsIndicator": False}  # Nokor is the payee: it holds no payer's funds
    if read.amount_minor is not None and read.currency:
        body["amount"] = _amount(read.amount_minor, read.currency)
    if read.currency:
        body["currency"] = read.currency
    if read.transaction_types:
        body["redemptionTransactionTypes"] = [{"transactionType": t} for t in read.transaction_types]
    body |= read.details
    metadata = [{"key": "expiryDate", "value": read.expires_at.isoformat()}]
    if read.redeemed_by is not None:
        metadata.append({"key": "redemptionTransactionReference", "value": str(read.redeemed_by)})
    body["metadata"] = [*read.details.get("metadata", []), *metadata]
    body["creationDate"] = read.created_at.isoformat()
    body["modificationDate"] = read.updated_at.isoformat()
    return body


def _party_list(value: Any, item_keys: tuple[str, ...], limit: int) -> list[dict[str, str]] | None:
    """A list of objects with the given string fields (1-256 characters), or None if it is not one."""
    if not isinstance(value, list) or len(value) > limit:
        return None
    out = []
    for item in value:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and 1 <= len(item[k]) <= 256
                                                 for k in item_keys):
            return None
        out.append({k: item[k] for k in item_keys})
    return out


def _code_request(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The fields of a requestAuthorisationCode, checked against the spec's schema; or the field that is not."""
    fields: dict[str, Any] = {}
    amount, currency = body.get("amount"), body.get("currency")
    if amount is not None and (not isinstance(amount, str) or not AMOUNT.fullmatch(amount)):
        return fields, "amount"
    if currency is not None and (not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha()):
        return fields, "currency"
    fields["amount"], fields["currency"] = amount, currency.upper() if isinstance(currency, str) else None
    amount_type = body.get("amountType")
    if amount_type is not None and amount_type not in ("exact", "maximum"):
        return fields, "amountType"
    fields["amount_type"] = amount_type
    lifetime = body.get("codeLifetime")
    if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int | float)
                                 or not math.isfinite(lifetime) or lifetime != int(lifetime)):
        return fields, "codeLifetime"
    fields["lifetime_seconds"] = None if lifetime is None else int(lifetime)
    if body.get("holdFundsIndicator") not in (None, False, True):
        return fields, "holdFundsIndicator"
    types = body.get("redemptionTransactionTypes")
    if types is not None and (not isinstance(types, list) or len(types) > 50 or not all(
            isinstance(t, dict) and t.get("transactionType") in TRANSACTION_TYPES for t in types)):
        return fields, "redemptionTransactionTypes"
    fields["transaction_types"] = sorted({t["transactionType"] for t in types or []})
    details: dict[str, Any] = {}
    for name, keys, limit in (("redemptionAccountIdentifiers", ("key", "value"), 50),
                              ("redemptionChannels", ("channelType",), 50), ("customData", ("key", "value"), 20),
                              ("metadata", ("key", "value"), 18)):
        if body.get(name) is not None:
            checked = _party_list(body[name], keys, limit)
            if checked is None:
                return fields, name
            details[name] = checked
    organisation = body.get("requestingOrganisation")
    if organisation is not None:
        if not isinstance(organisation, dict) or organisation.get("requestingOrganisationIdentifierType") not in (
                "lei", "swiftbic", "organisationid") or not isinstance(
                organisation.get("requestingOrganisationIdentifier"), str) or not 1 <= len(
                organisation["requestingOrganisationIdentifier"]) <= 256:
            return fields, "requestingOrganisation"
        details["requestingOrganisation"] = {k: organisation[k] for k in (
            "requestingOrganisationIdentifierType", "requestingOrganisationIdentifier")}
    if body.get("requestDate") is not None:
        if not isinstance(body["requestDate"], str):
            return fields, "requestDate"
        try:
            _moment(body["requestDate"])
        except ValueError:
            return fields, "requestDate"
        details["requestDate"] = body["requestDate"]
    fields["details"] = details
    return fields, None


async def _create_code(request: Request, session: DbSession, actor: CurrentActor, account: str | None,
                       correlation: str | None) -> Response:
    actor.require(service.PAYMENTS_NOTIFY)
    if account is None:
        return _error(400, "validation", "formatError",
                      _("Name the account as type@value, such as msisdn@+85512345678."), correlation)
    body = _body(await request.body())
    if body is None:
        return _error(400, "validation", "formatError", _("The body must be a JSON object."), correlation)
    fields, wrong = _code_request(body)
    if wrong is not None:
        return _error(400, "validation", "formatError", _("This field is not valid: %(field)s", field=wrong),
                      correlation)
    try:
        read = await run_in_threadpool(mobile_money.create_authorisation_code, session, actor, account=account,
                                       client_correlation_id=correlation, **fields)
    except Problem as problem:
        return _refusal(problem, correlation)
    return _answer(201, _code_answer(read), correlation)


def _list_codes(session: DbSession, actor: CurrentActor, account: str | None, *, state: str | None,
                limit: int | None, offset: int | None, since: str | None, until: str | None) -> Response:
    if account is None:
        return _error(400, "validation", "formatError",
                      _("Name the account as type@value, such as msisdn@+85512345678."))
    if state is None:
        return _error(400, "validation", "mandatoryValueNotSupplied", _("Missing: %(fields)s", fields="codeState"))
    if state not in mobile_money.CODE_STATES:
        return _error(400, "validation", "formatError", _("This field is not valid: %(field)s", field="codeState"))
    page = _page(limit, offset, since, until)
    if isinstance(page, JSONResponse):
        return page
    try:
        total, reads = mobile_money.list_authorisation_codes(session, actor, account=account, code_state=state,
                                                             offset=page[1], limit=page[0], since=page[2],
                                                             until=page[3])
    except Problem as problem:
        return _refusal(problem)
    return _listing([_code_answer(r) for r in reads], total)


def _view_code(session: DbSession, actor: CurrentActor, account: str | None, code: str) -> Response:
    if account is None or not code.isdigit() or len(code) > 32:
        return _error(404, "identification", "identifierError", _("There is no such authorisation code."))
    try:
        read = mobile_money.get_authorisation_code(session, actor, account=account, code=code)
    except Problem as problem:
        return _refusal(problem)
    return _answer(200, _code_answer(read))


CodeState = Annotated[str | None, Query(alias="codeState", max_length=256,
                                        description="active, expired (or used) or cancelled; required by the spec")]


@router.post("/accounts/{identifierType}/{identifier}/authorisationcodes", responses=PROBLEMS, status_code=201,
             summary="Create a payer's single-use, expiring authorisation code (a transaction quotes it in "
                     "oneTimeCode)")
async def create_code_by_type(request: Request, session: DbSession, actor: CurrentActor, identifierType: str,
                              identifier: str,
                              correlation: Annotated[str | None, Header(alias="X-CorrelationID", max_length=64)] = None,
                              ) -> Response:
    return await _create_code(request, session, actor, _payer_by_type(identifierType, identifier), correlation)


@router.get("/accounts/{identifierType}/{identifier}/authorisationcodes", responses=PROBLEMS,
            summary="The authorisation codes of a payer's account in one state, newest first")
def list_codes_by_type(session: DbSession, actor: CurrentActor, identifierType: str, identifier: str,
                       state: CodeState = None, limit: Limit = None, offset: Offset = None,
                       since: FromDateTime = None, until: ToDateTime = None) -> Response:
    return _list_codes(session, actor, _payer_by_type(identifierType, identifier), state=state, limit=limit,
                       offset=offset, since=since, until=until)


@router.get("/accounts/{identifierType}/{identifier}/authorisationcodes/{authorisationCode}", responses=PROBLEMS,
            summary="View an authorisation code of a payer's account")
def view_code_by_type(session: DbSession, actor: CurrentActor, identifierType: str, identifier: str,
                      authorisationCode: str) -> Response:
    return _view_code(session, actor, _payer_by_type(identifierType, identifier), authorisationCode)


@router.post("/accounts/{accountId}/authorisationcodes", responses=PROBLEMS, status_code=201,
             summary="Create a payer's single-use, expiring authorisation code (accountId: type@value, such as "
                     "msisdn@+85512345678)")
async def create_code(request: Request, session: DbSession, actor: CurrentActor, accountId: str,
                      correlation: Annotated[str | None, Header(alias="X-CorrelationID", max_length=64)] = None,
                      ) -> Response:
    return await _create_code(request, session, actor, _payer_account(accountId), correlation)


@router.get("/accounts/{accountId}/authorisationcodes", responses=PROBLEMS,
            summary="The authorisation codes of a payer's account in one state, newest first")
def list_codes(session: DbSession, actor: CurrentActor, accountId: str, state: CodeState = None,
               limit: Limit = None, offset: Offset = None, since: FromDateTime = None,
               until: ToDateTime = None) -> Response:
    return _list_codes(session, actor, _payer_account(accountId), state=state, limit=limit, offset=offset,
                       since=since, until=until)


@router.get("/accounts/{accountId}/authorisationcodes/{authorisationCode}", responses=PROBLEMS,
            summary="View an authorisation code of a payer's account")
def view_code(session: DbSession, actor: CurrentActor, accountId: str, authorisationCode: str) -> Response:
    return _view_code(session, actor, _payer_account(accountId), authorisationCode)


@router.get("/responses/{clientCorrelationId}", responses=PROBLEMS,
            summary="Where the resource a request created is (by the request's X-CorrelationID): a transaction "
                    "or an authorisation code")
def view_response(session: DbSession, actor: CurrentActor, clientCorrelationId: str) -> Response:
    if not clientCorrelationId.isprintable() or len(clientCorrelationId) > 64:
        return _error(404, "identification", "identifierError", _("There is no such request."))
    try:
        kind, first, second = mobile_money.response_to(session, actor, client_correlation_id=clientCorrelationId)
    except Problem as problem:
        return _refusal(problem)
    link = (f"{router.prefix}/transactions/{first}" if kind == "transaction"
            else f"{router.prefix}/accounts/{quote(first, safe='@$+')}/authorisationcodes/{second}")
    return _answer(200, {"link": link})


@router.get("/heartbeat", summary="Service availability")
def heartbeat() -> Response:
    return _answer(200, {"serviceStatus": "available"})
