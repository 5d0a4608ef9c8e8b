"""Create and read schemas of the payments domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BillStatus = Literal["open", "paid", "expired", "cancelled", "refunded"]


class FeeCreate(BaseModel):
    """A fee of the schedule: a service's price and the agency (organisation unit) that collects it."""

    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9_.-]*$")
    name: dict[str, str] = Field(description="The service's name by language (km, en, ar, de)")
    amount: str = Field(description="Decimal amount, such as 4000 or 12.50")
    currency: Literal["KHR", "USD"] = "KHR"
    org_unit_code: str
    bakong_account_id: str = Field(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+@[A-Za-z0-9_.\-]+$")


class FeeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: dict[str, str]
    amount_minor: int
    currency: str
    org_unit_id: uuid.UUID
    agency_code: str
    bakong_account_id: str
    is_active: bool


class BillCreate(BaseModel):
    """Issue a bill for a fee; ``subject_type``/``subject_id`` say what is paid for."""

    fee_code: str
    payer_name: str = Field(min_length=1, max_length=200)
    subject_type: str | None = Field(None, max_length=64)
    subject_id: str | None = Field(None, max_length=64)


class BillRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    fee_id: uuid.UUID
    org_unit_id: uuid.UUID
    agency_code: str
    subject_type: str | None
    subject_id: str | None
    payer_name: str
    amount_minor: int
    currency: str
    status: str
    due_at: datetime
    qr_payload: str
    qr_md5: str
    qr_expires_at: datetime
    paid_minor: int | None
    paid_at: datetime | None
    provider: str | None
    provider_ref: str | None
    created_at: datetime


class BillStatusRead(BaseModel):
    """What the citizen's bill page polls: no personal data."""

    number: str
    status: str
    paid_at: datetime | None


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    event_id: str | None
    transaction_ref: str | None
    body: str
    signature_valid: bool
    outcome: str
    detail: str | None
    bill_id: uuid.UUID | None
    amount_minor: int | None
    currency: str | None
    received_at: datetime
    resolved_at: datetime | None


class PaymentOutcome(BaseModel):
    """What Nokor made of a provider notification."""

    notification_id: uuid.UUID
    outcome: str
    bill_number: str | None = None
    bill_status: str | None = None
    detail: str | None = None


class LedgerLine(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    transaction_id: uuid.UUID
    kind: str
    account: str
    currency: str
    amount_minor: int
    bill_id: uuid.UUID | None
    memo: str | None
    posted_at: datetime


class Balance(BaseModel):
    account: str
    currency: str
    balance_minor: int


class LedgerCheck(BaseModel):
    """The proof that every transaction balances: counts, and the transactions that do not."""

    transactions: int
    entries: int
    unbalanced: list[uuid.UUID]

    @property
    def ok(self) -> bool:
        return not self.unbalanced


class RefundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    bill_id: uuid.UUID
    amount_minor: int
    currency: str
    reason: str
    status: str
    requested_by: uuid.UUID | None
    decided_by: uuid.UUID | None
    created_at: datetime
    decided_at: datetime | None


class ReconciliationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    filename: str
    lines: int
    counts: dict[str, Any]
    created_at: datetime


class ReconciliationItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    transaction_ref: str | None
    bill_number: str | None
    line_no: int | None
    expected_minor: int | None
    settled_minor: int | None
    currency: str | None


class RtpRead(BaseModel):
    """A request to pay and the state of its bill."""

    id: uuid.UUID
    biller_id: str
    rtp_id: str
    txn_id: str
    bill_number: str
    amount_minor: int
    currency: str
    bill_status: str
    status: str


class ReviewRead(BaseModel):
    """An officer's decision on a held payment, and the second officer's when four eyes are needed."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    notification_id: uuid.UUID
    decision: Literal["accept", "return"]
    bill_id: uuid.UUID | None
    bill_number: str | None = None
    amount_minor: int
    currency: str
    reason: str
    status: Literal["pending", "done", "declined"]
    proposed_by_name: str
    decided_by_name: str | None
    decline_reason: str | None
    created_at: datetime
    decided_at: datetime | None


class HeldPaymentRead(BaseModel):
    """A payment held for review, beside the bill it names (if any) and the decision waiting on it."""

    notification: NotificationRead
    bill_number: str | None
    bill_amount_minor: int | None
    bill_currency: str | None
    bill_status: str | None
    pending: ReviewRead | None
    history: list[ReviewRead]


class ReviewDecision(BaseModel):
    """What an officer decides on a held payment (the API body)."""

    reason: str = Field(min_length=1, max_length=400)
    bill_number: str | None = Field(None, max_length=16)


class DeclineBody(BaseModel):
    reason: str = Field(min_length=1, max_length=400)
