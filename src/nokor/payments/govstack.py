"""GovStack Payments building block (P2G): bill inquiry, bill payment notification, request to pay.

Paths and headers follow ``bb-payments/P2G API YAMLs``. The specs spell the same header two ways
(``Platform-TenantId`` in the bill inquiry, ``X-Platform-TenantId`` elsewhere; ``PayerFI-Id`` and
``X-PayerFI-Id``): both spellings are accepted everywhere. Callers authenticate with an API key;
answers use the spec's ``responseCode`` ("00" success, "01" failure) and echo ``X-CorrelationID``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from nokor.kit.errors import Problem, problem_responses
from nokor.kit.outbox import enqueue
from nokor.payments import service
from nokor.payments.api import settings_of
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/govstack/payments", tags=["govstack-payments"])
PROBLEMS = problem_responses(401, 403)
Correlation = Annotated[str, Header(alias="X-CorrelationID", max_length=64)]


def _either(request: Request, *names: str) -> str | None:
    for name in names:
        value = request.headers.get(name)
        if value:
            return value.strip()
    return None


def _answer(status: int, correlation: str, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"X-CorrelationID": correlation})


def _failure(correlation: str, request_id: str | None, problem: Problem) -> JSONResponse:
    if problem.status in (401, 403):
        raise problem
    reason = problem.detail or problem.title
    if problem.errors:
        reason = "; ".join(f"{e['pointer']}: {e['detail']}" for e in problem.errors)
    return _answer(400 if problem.status != 404 else 404, correlation,
                   {"responseCode": "01", "reason": reason[:200], "requestID": request_id})


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@router.get("/bills/{billId}", responses=PROBLEMS, status_code=202,
            summary="Bill inquiry (the bill's details are also sent to X-Callback-URL, as the spec's callback)")
def bill_inquiry(request: Request, session: DbSession, actor: CurrentActor, correlation: Correlation,
                 billId: str, fields: Annotated[str, Query()] = "inquiry") -> Response:
    actor.require(service.PAYMENTS_READ)
    tenant = _either(request, "Platform-TenantId", "X-Platform-TenantId")
    payer_fi = _either(request, "PayerFI-Id", "X-PayerFI-Id")
    request_id = _either(request, "X-Request-ID") or correlation[:12]
    if not tenant or not payer_fi:
        return _answer(400, correlation, {"responseCode": "01", "requestId": request_id,
                                          "reason": "Platform-TenantId and PayerFI-Id headers are required"})
    try:
        bill = service.bill_for_payer(session, number=billId)
    except Problem as problem:
        return _failure(correlation, request_id, problem)
    details = {"billerId": bill.agency_code, "billerName": bill.agency_code, "billStatus": bill.status.upper(),
               "dueDate": _epoch(bill.due_at), "amountonDueDate": bill.amount_minor,
               "amountAfterDueDate": bill.amount_minor, "currency": bill.currency}
    callback = {"requestId": request_id, "code": "00", "reason": "bill found", "billId": bill.number,
                "billDetails": details}
    target = _either(request, "X-Callback-URL")
    if target and target.startswith(("http://", "https://")):
        enqueue(session, channel="webhook", destination=f"{target.rstrip('/')}/bills/{bill.number}",
                payload=callback, headers={"X-CorrelationID": correlation, "Platform-TenantId": tenant,
                                           "PayerFI-Id": payer_fi})
    return _answer(202, correlation, {"responseCode": "00", "reason": "Accepted", "requestId": request_id,
                                      "billDetails": details})


@router.post("/billTransferRequests", responses=PROBLEMS, status_code=202,
             summary="Bill payment notification from the payer's bank")
async def bill_transfer_request(request: Request, session: DbSession, actor: CurrentActor,
                                correlation: Correlation) -> Response:
    payer_fi = _either(request, "X-PayerFI-Id", "PayerFI-Id")
    tenant = _either(request, "X-Platform-TenantId", "Platform-TenantId")
    raw = await request.body()
    try:
        body = json.loads(raw)
        request_id, bill_id, payment_ref = str(body["requestId"]), str(body["billId"]), str(body["paymentReferenceID"])
        str(body["billInquiryRequestId"])
    except (ValueError, KeyError, TypeError):
        return _answer(400, correlation, {"code": "01", "reason": "requestId, billInquiryRequestId, billId and "
                                          "paymentReferenceID are required", "requestID": None})
    if not payer_fi or not tenant:
        return _answer(400, correlation, {"code": "01", "reason": "X-Platform-TenantId and X-PayerFI-Id headers "
                                          "are required", "requestID": request_id})
    outcome = await run_in_threadpool(service.notify_bill_payment, session, actor, payer_fi=payer_fi,
                                      request_id=request_id, bill_number=bill_id, payment_ref=payment_ref, body=raw,
                                      headers=dict(request.headers))
    status, reject = {"applied": ("ACK", None), "duplicate": ("RJC", "Dup"), "held": ("RJC", "Und")}.get(
        outcome.outcome, ("RJC", "Def"))
    target = _either(request, "X-Callback-URL")
    if target and target.startswith(("http://", "https://")):
        enqueue(session, channel="webhook", destination=f"{target.rstrip('/')}/billTransferRequests",
                payload={"requestId": request_id, "billId": bill_id, "status": status, "rejectReason": reject},
                headers={"X-CorrelationID": correlation, "X-Platform-TenantId": tenant, "X-PayerFI-Id": payer_fi})
    return _answer(202, correlation, {"responseCode": "00" if status == "ACK" else "01",
                                      "reason": outcome.detail or "payment recorded", "requestID": request_id,
                                      "status": status, "rejectReason": reject})


@router.post("/rtpRequest", responses=PROBLEMS, summary="Request to pay, sent on to the payer's bank")
async def rtp_request(request: Request, session: DbSession, actor: CurrentActor, correlation: Correlation) -> Response:
    biller = _either(request, "X-billerId", "X-BillerId")
    raw = await request.body()
    try:
        body = json.loads(raw)
        details = body["billDetails"]
        txn_id, rtp_id, bill_id = str(body["TxnID"]), str(body["rTPID"]), str(details["Bill ID"])
        amount = details.get("Amount")
    except (ValueError, KeyError, TypeError):
        return _answer(400, correlation, {"responseCode": "01", "responseDescription": "TxnID, rTPID and "
                                          "billDetails with Bill ID are required", "requestID": None})
    if not biller:
        return _answer(400, correlation, {"responseCode": "01", "responseDescription": "X-billerId is required",
                                          "requestID": rtp_id})
    settings = settings_of(request)
    try:
        rtp = await run_in_threadpool(
            service.request_to_pay, session, actor, biller_id=biller, rtp_id=rtp_id, txn_id=txn_id,
            bill_number=bill_id, amount=None if amount is None else str(amount),
            payer_bank_url=settings.payments_bakong_url.rstrip("/") + "/v1/rtp")
    except Problem as problem:
        if problem.status in (401, 403):
            raise
        return _answer(400, correlation, {"responseCode": "01", "requestID": rtp_id,
                                          "responseDescription": (problem.detail or problem.title)[:200]})
    return _answer(200, correlation, {"responseCode": "00", "responseDescription": "RTP sent to the payer's bank",
                                      "requestID": rtp_id, "transferRequestId": str(rtp.id)})


@router.get("/transferRequests/{transferRequestId}", responses=PROBLEMS, status_code=202,
            summary="Status of a request to pay (by Nokor's transferRequestId or the biller's rTPID)")
def transfer_request(session: DbSession, actor: CurrentActor, correlation: Correlation,
                     transferRequestId: str) -> Response:
    try:
        rtp = service.transfer_request_status(session, actor, rtp_id=transferRequestId)
    except Problem as problem:
        return _failure(correlation, transferRequestId, problem)
    return _answer(202, correlation, {"responseCode": "00", "reason": rtp.status, "requestID": rtp.rtp_id,
                                      "rtpStatus": rtp.status, "billId": rtp.bill_number,
                                      "billStatus": rtp.bill_status})
