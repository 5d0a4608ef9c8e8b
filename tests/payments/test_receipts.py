"""Receipts of paid bills: a PDF in the reader's language, sealed through the trust services."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM
from tests.payments.factories import make_fee

from nokor import payments, trust
from nokor.config import Settings
from nokor.kit.errors import Conflict, ValidationFailed

HTML = {"accept": "text/html"}


@pytest.fixture
def ring(settings: Settings, db: Session) -> trust.KeyRing:
    keys = trust.key_ring(settings)
    trust.init_hierarchy(db, SYSTEM, ring=keys)
    db.commit()
    return keys


def paid_bill(db: Session, ref: str = "SBX-RCPT-1") -> payments.BillRead:
    fee = make_fee(db, amount="50000")
    bill = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name="Chan Sophea"))
    body = json.dumps({"event_id": ref, "transaction_ref": ref, "status": "SUCCESS", "md5": bill.qr_md5,
                       "amount": "50000", "currency": "KHR"}).encode()
    outcome = payments.receive_notification(db, provider="sandbox", body=body, secret="s",
                                            headers={"X-Provider-Signature": payments.sign_body("s", body)})
    assert outcome.outcome == "applied"
    db.commit()
    return bill


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout
    return " ".join(text.split())


class TestPaymentReceipt:
    @pytest.mark.parametrize(("lang", "title", "label"), [
        ("en", "Receipt of payment", "Transaction reference"),
        ("de", "Zahlungsquittung", "Transaktionsreferenz"),
        ("ar", "إيصال الدفع", "مرجع المعاملة"),
        ("km", "បង្កាន់ដៃ", "រដ្ឋាភិបាល"),
    ])
    def test_a_paid_bill_has_a_sealed_receipt_in_the_readers_language(
            self, db: Session, ring: trust.KeyRing, tmp_path: Path, lang: str, title: str, label: str) -> None:
        bill = paid_bill(db)
        pdf = payments.payment_receipt(db, number=bill.number, ring=ring, language=lang)
        db.commit()
        report = trust.verify_pdf(db, data=pdf)
        assert report.holds, report.summary
        text = pdf_text(pdf, tmp_path)
        assert title in text and label in text
        assert bill.number in text and "SBX-RCPT-1" in text
        assert "Chan Sophea" not in text  # fetched by bill number alone: it names no payer

    def test_every_download_is_the_same_sealed_document(self, db: Session, ring: trust.KeyRing) -> None:
        from nokor.payments.models import Receipt

        bill = paid_bill(db)
        first = payments.payment_receipt(db, number=bill.number, ring=ring, language="km")
        db.commit()
        again = payments.payment_receipt(db, number=bill.number, ring=ring, language="km")
        assert again == first
        assert db.scalar(select(func.count()).select_from(Receipt)) == 1

    def test_an_open_bill_has_no_receipt(self, db: Session, ring: trust.KeyRing) -> None:
        fee = make_fee(db)
        bill = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name="X"))
        with pytest.raises(Conflict):
            payments.payment_receipt(db, number=bill.number, ring=ring, language="en")

    def test_an_unknown_language_is_refused(self, db: Session, ring: trust.KeyRing) -> None:
        bill = paid_bill(db)
        with pytest.raises(ValidationFailed):
            payments.payment_receipt(db, number=bill.number, ring=ring, language="fr")


class TestReceiptPages:
    def test_the_paid_bill_page_links_the_receipt_in_the_readers_language(
            self, client: TestClient, db: Session, ring: trust.KeyRing, tmp_path: Path) -> None:
        bill = paid_bill(db)
        client.get("/language/ar")
        page = client.get(f"/pay/{bill.number}", headers=HTML)
        assert f'href="/pay/{bill.number}/receipt.pdf"' in page.text
        assert "Download the receipt" not in page.text
        answer = client.get(f"/pay/{bill.number}/receipt.pdf")
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
        assert "إيصال الدفع" in pdf_text(answer.content, tmp_path)

    def test_an_open_bill_shows_no_receipt_link_and_the_receipt_is_409(
            self, client: TestClient, db: Session, ring: trust.KeyRing) -> None:
        fee = make_fee(db)
        bill = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name="X"))
        db.commit()
        assert "receipt.pdf" not in client.get(f"/pay/{bill.number}", headers=HTML).text
        answer = client.get(f"/api/v1/payments/bills/{bill.number}/receipt.pdf?lang=en")
        assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"

    def test_the_api_gives_the_receipt_in_the_language_asked_for(
            self, client: TestClient, db: Session, ring: trust.KeyRing, tmp_path: Path) -> None:
        bill = paid_bill(db)
        answer = client.get(f"/api/v1/payments/bills/{bill.number}/receipt.pdf?lang=de")
        assert answer.status_code == 200 and "Zahlungsquittung" in pdf_text(answer.content, tmp_path)
        assert client.get(f"/api/v1/payments/bills/{bill.number}/receipt.pdf?lang=xx").status_code == 422
