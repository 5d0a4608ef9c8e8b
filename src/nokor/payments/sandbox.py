"""The sandbox bank: a stand-in for Bakong that the demo and the tests pay bills with.

It runs as a process of its own on loopback (``nokor payments sandbox-bank``). ``POST /v1/pay`` "pays"
a KHQR: it checks the payload as a bank app would, books a transaction and calls Nokor back with an
HMAC-signed webhook — on time, late, twice or out of order, as asked (or at random with ``--chaos``),
because real providers do all of these. It answers the Bakong-style status checks by MD5 and serves a
settlement file (CSV) of what it booked, for reconciliation.
"""

from __future__ import annotations

import csv
import html
import io
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import structlog
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, Field

from nokor.payments import emvqr
from nokor.payments.service import SIGNATURE_HEADER, sign_body

log = structlog.get_logger("nokor.payments.sandbox")
BEHAVIOURS = ("normal", "late", "twice", "out_of_order")


class PayRequest(BaseModel):
    """What a bank app sends when its user confirms a payment."""

    qr: str
    payer_account: str = "citizen@sandbox"
    amount: str | None = Field(None, description="Pay this amount instead of the QR's (to test held payments)")
    behaviour: str | None = Field(None, description="normal, late, twice or out_of_order; random under --chaos")


@dataclass
class Booked:
    ref: str
    md5: str
    bill_number: str | None
    amount: str
    currency: str
    payer_account: str
    to_account: str
    at: datetime
    events: list[dict[str, Any]] = field(default_factory=list)


class SandboxBank:
    """The bank's state and its outgoing callbacks (each sent from a thread of its own)."""

    def __init__(self, *, callback_url: str, secret: str, late_seconds: float = 2.0, chaos: float = 0.0,
                 seed: int | None = None) -> None:
        self.callback_url = callback_url
        self.secret = secret
        self.late_seconds = late_seconds
        self.chaos = chaos
        self.random = random.Random(seed)  # noqa: S311 - picks test behaviours, not secrets
        self.booked: dict[str, Booked] = {}
        self.refunds: list[dict[str, Any]] = []
        self.rtps: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def pay(self, request: PayRequest) -> Booked:
        try:
            qr = emvqr.decode_strict(request.qr)
        except emvqr.InvalidQr as exc:
            raise HTTPException(422, detail=[r.as_json() for r in exc.rules]) from exc
        if qr.currency is None or (qr.get("54") is None and request.amount is None):
            raise HTTPException(422, detail="the QR carries no amount: say how much to pay")
        summary = emvqr.khqr_summary(qr)
        with self.lock:
            if qr.md5 in self.booked:
                raise HTTPException(409, detail="this QR has already been paid")
            booked = Booked(ref="SBX" + secrets.token_hex(8).upper(), md5=qr.md5, bill_number=summary["bill_number"],
                            amount=request.amount or str(qr.get("54")), currency=qr.currency,
                            payer_account=request.payer_account, to_account=summary["bakong_account_id"] or "",
                            at=datetime.now(UTC))
            self.booked[qr.md5] = booked
        behaviour = request.behaviour or self._pick()
        if behaviour not in BEHAVIOURS:
            raise HTTPException(422, detail=f"behaviour is one of {', '.join(BEHAVIOURS)}")
        threading.Thread(target=self._call_back, args=(booked, behaviour), daemon=True).start()
        return booked

    def _pick(self) -> str:
        if self.random.random() >= self.chaos:
            return "normal"
        return self.random.choice(BEHAVIOURS[1:])

    def _event(self, booked: Booked, status: str) -> dict[str, Any]:
        event = {"event_id": "evt_" + secrets.token_hex(8), "transaction_ref": booked.ref, "status": status,
                 "md5": booked.md5, "bill_number": booked.bill_number, "amount": booked.amount,
                 "currency": booked.currency, "payer_account": booked.payer_account,
                 "paid_at": booked.at.isoformat()}
        booked.events.append(event)
        return event

    def _call_back(self, booked: Booked, behaviour: str) -> None:
        pending, success = self._event(booked, "PENDING"), self._event(booked, "SUCCESS")
        if behaviour == "late":
            time.sleep(self.late_seconds)
        if behaviour == "out_of_order":
            sequence = [success, pending]
        elif behaviour == "twice":
            sequence = [pending, success, success]
        else:
            sequence = [pending, success]
        for event in sequence:
            self.send(event)

    def send(self, event: dict[str, Any], attempts: int = 5) -> int | None:
        """POST one signed event to Nokor, retrying a few times while it is unreachable or failing."""
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(self.secret, body)}
        for attempt in range(attempts):
            try:
                response = httpx.post(self.callback_url, content=body, headers=headers, timeout=10)
                if response.status_code < 500:
                    return response.status_code
            except httpx.HTTPError as exc:
                log.warning("callback failed", error=str(exc), attempt=attempt + 1)
            time.sleep(0.2 * 2**attempt)
        return None

    def status(self, md5: str) -> dict[str, Any]:
        booked = self.booked.get(md5)
        if booked is None:
            return {"responseCode": 1, "responseMessage": "Transaction could not be found. Please check and try "
                    "again.", "errorCode": 1, "data": None}
        return {"responseCode": 0, "responseMessage": "Getting transaction successfully.", "errorCode": None,
                "data": {"hash": booked.ref, "externalRef": booked.ref, "fromAccountId": booked.payer_account,
                         "toAccountId": booked.to_account, "currency": booked.currency,
                         "amount": float(Decimal(booked.amount)), "amountText": booked.amount,
                         "description": booked.bill_number,
                         "createdDateMs": int(booked.at.timestamp() * 1000),
                         "acknowledgedDateMs": int(booked.at.timestamp() * 1000)}}

    def settlement_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(SETTLEMENT_COLUMNS)
        for booked in list(self.booked.values()):
            writer.writerow([booked.ref, booked.bill_number or "", booked.amount, booked.currency,
                             booked.at.isoformat()])
        return out.getvalue()


SETTLEMENT_COLUMNS = ("transaction_ref", "bill_number", "amount", "currency", "settled_at")


def create_sandbox_app(bank: SandboxBank) -> FastAPI:
    """The sandbox bank's HTTP API (Bakong-style paths for status checks)."""
    app = FastAPI(title="Nokor sandbox bank", docs_url=None, redoc_url=None)

    @app.post("/v1/pay")
    def pay(request: PayRequest) -> dict[str, Any]:
        booked = bank.pay(request)
        return {"transaction_ref": booked.ref, "md5": booked.md5, "amount": booked.amount,
                "currency": booked.currency}

    @app.post("/v1/check_transaction_by_md5")
    def check(body: dict[str, Any]) -> dict[str, Any]:
        return bank.status(str(body.get("md5", "")))

    @app.post("/v1/check_transaction_by_md5_list")
    def check_list(md5s: list[str]) -> dict[str, Any]:
        data = []
        for md5 in md5s[:50]:
            found = bank.status(md5)
            data.append({"md5": md5, "status": "SUCCESS" if found["data"] else "NOT_FOUND",
                         "message": found["responseMessage"], "data": found["data"]})
        return {"responseCode": 0, "responseMessage": "Getting transactions successfully.", "errorCode": None,
                "data": data}

    @app.post("/v1/refunds")
    def refund(body: dict[str, Any]) -> dict[str, str]:
        bank.refunds.append(body)
        return {"status": "accepted"}

    @app.post("/v1/rtp")
    def request_to_pay(body: dict[str, Any]) -> dict[str, str]:
        bank.rtps.append(body)
        return {"responseCode": "00", "responseDescription": "presented to the payer"}

    @app.get("/v1/settlement.csv", response_class=PlainTextResponse)
    def settlement() -> str:
        return bank.settlement_csv()

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        rows = "".join(f"<li>{html.escape(b.ref)}: {html.escape(b.amount)} {html.escape(b.currency)} "
                       f"({html.escape(b.bill_number or '')})</li>" for b in list(bank.booked.values())[-20:])
        return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Sandbox bank</title></head>"
                "<body><h1>Sandbox bank (not a real bank)</h1><form method='post' action='/pay-form'>"
                "<p><label for='qr'>KHQR payload</label><br><textarea id='qr' name='qr' rows='5' cols='70'>"
                "</textarea></p><p><label for='b'>Callback</label> <select id='b' name='behaviour'>"
                + "".join(f"<option>{b}</option>" for b in BEHAVIOURS)
                + f"</select></p><p><button type='submit'>Pay</button></p></form><h2>Booked</h2><ul>{rows}</ul>"
                f"</body></html>")

    @app.post("/pay-form", response_class=HTMLResponse)
    async def pay_form(request: Request) -> str:
        form = await request.form()
        booked = bank.pay(PayRequest(qr=str(form.get("qr", "")).strip(), behaviour=str(form.get("behaviour"))))
        return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Paid</title></head><body>"
                f"<p>Paid {html.escape(booked.amount)} {html.escape(booked.currency)}: {html.escape(booked.ref)}."
                f" Nokor is being called back.</p><p><a href='/'>Back</a></p></body></html>")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
