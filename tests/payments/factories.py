"""Factories of the payments tests, through the public services."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session
from tests.conftest import SYSTEM, make_org_unit

from nokor import payments


def make_fee(session: Session, *, code: str = "PASSPORT", amount: str = "400000", currency: str = "KHR",
             org_unit: str | None = None) -> payments.FeeRead:
    unit = org_unit or make_org_unit(session, code=f"AG{uuid.uuid4().hex[:4].upper()}").code
    return payments.create_fee(session, SYSTEM, data=payments.FeeCreate(
        code=code, name={"en": "Ordinary passport", "km": "លិខិតឆ្លងដែនធម្មតា"}, amount=amount, currency=currency,
        org_unit_code=unit, bakong_account_id="gdi_fees@nbcq"))
