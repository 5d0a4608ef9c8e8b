"""The sandbox bank as a real process paying bills over HTTP: duplicates, out-of-order and late callbacks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM
from tests.payments.factories import make_fee

from nokor import payments
from nokor.payments.providers import BakongClient

pytestmark = pytest.mark.slow
NOKOR = Path(sys.executable).with_name("nokor")
SECRET = "sandbox-test-secret"

# How long a call may take before the test counts it as hung (not a speed check: on SQLite a read waits
# its turn behind any writer; in one whole-suite run a status read here once took over httpx's 5 s default).
HANG = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check, what: str, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting: {what}")


@pytest.fixture(scope="module")
def nokor_port() -> int:
    """One port for Nokor per module, so one sandbox bank process serves every test of the module."""
    return free_port()


@pytest.fixture
def nokor_url(app, settings, nokor_port: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.payments_webhook_secret = payments_secret()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=nokor_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "Nokor to start")
    yield f"http://127.0.0.1:{nokor_port}"
    server.should_exit = True
    thread.join(timeout=10)


def payments_secret():  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    return SecretStr(SECRET)


@pytest.fixture(scope="module")
def bank_process(nokor_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
    env.update({"NOKOR_DATA_DIR": str(tmp_path_factory.mktemp("bank")), "NOKOR_PAYMENTS_WEBHOOK_SECRET": SECRET})
    process = subprocess.Popen(
        [str(NOKOR), "payments", "sandbox-bank", "--port", str(port), "--chaos", "0", "--late-seconds", "1",
         "--callback-url", f"http://127.0.0.1:{nokor_port}/api/v1/payments/callbacks/sandbox"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, "the sandbox bank to start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bank_url(nokor_url: str, bank_process: str) -> str:
    """The sandbox bank, with Nokor listening where it calls back."""
    return bank_process


def open_bills(db: Session, count: int) -> list[payments.BillRead]:
    fee = make_fee(db, amount="25000")
    bills = [payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name=f"Payer {i}"))
             for i in range(count)]
    db.commit()
    return bills


def status(nokor_url: str, bill: payments.BillRead) -> str:
    return str(httpx.get(f"{nokor_url}/api/v1/payments/bills/{bill.number}/status", timeout=HANG).json()["status"])


def outcomes(db: Session, bill: payments.BillRead) -> list[str]:
    page = payments.list_notifications(db, SYSTEM, limit=200)
    db.rollback()  # end the read: on SQLite an open transaction would hold the app's writes back
    return sorted(n.outcome for n in page.items if n.bill_id == bill.id)


class TestSandboxBank:
    @pytest.mark.parametrize("behaviour", ["normal", "late", "twice", "out_of_order"])
    def test_pays_the_bill_once_whatever_the_callbacks_do(self, db: Session, nokor_url: str, bank_url: str,
                                                        behaviour: str) -> None:
        bill = open_bills(db, 1)[0]
        paid = httpx.post(f"{bank_url}/v1/pay", json={"qr": bill.qr_payload, "behaviour": behaviour},
                          timeout=HANG)
        assert paid.status_code == 200, paid.text
        expected = {"normal": 2, "late": 2, "twice": 3, "out_of_order": 2}[behaviour]
        wait_until(lambda: len(outcomes(db, bill)) == expected, "every callback to arrive")
        assert status(nokor_url, bill) == "paid"
        assert outcomes(db, bill).count("applied") == 1
        if behaviour == "twice":
            assert "duplicate" in outcomes(db, bill)
        ledger = payments.check_ledger(db, SYSTEM)
        assert ledger.ok and ledger.entries == 2

    def test_a_wrong_amount_is_held_and_the_bill_stays_open(self, db: Session, nokor_url: str,
                                                            bank_url: str) -> None:
        bill = open_bills(db, 1)[0]
        httpx.post(f"{bank_url}/v1/pay", json={"qr": bill.qr_payload, "amount": "24000", "behaviour": "normal"},
                   timeout=HANG)
        wait_until(lambda: "held" in outcomes(db, bill), "the held callback")
        assert status(nokor_url, bill) == "open"
        assert payments.check_ledger(db, SYSTEM).entries == 0
        db.rollback()

    def test_a_forged_callback_is_refused_and_recorded(self, db: Session, nokor_url: str) -> None:
        bill = open_bills(db, 1)[0]
        body = b'{"event_id":"x","transaction_ref":"y","status":"SUCCESS","amount":"25000","currency":"KHR"}'
        answer = httpx.post(f"{nokor_url}/api/v1/payments/callbacks/sandbox", content=body,
                            headers={"X-Provider-Signature": payments.sign_body("wrong", body)}, timeout=HANG)
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert status(nokor_url, bill) == "open"
        rejected = payments.list_notifications(db, SYSTEM, outcome="rejected").items
        assert [n.body for n in rejected] == [body.decode()]

    def test_bakong_client_checks_by_md5_one_and_in_batches(self, db: Session, nokor_url: str,
                                                            bank_url: str) -> None:
        bills = open_bills(db, 3)
        httpx.post(f"{bank_url}/v1/pay", json={"qr": bills[0].qr_payload, "behaviour": "normal"}, timeout=HANG)
        client = BakongClient(bank_url, token="sandbox")
        one = client.check_by_md5(bills[0].qr_md5)
        assert one.found and one.amount == "25000" and one.currency == "KHR"
        assert not client.check_by_md5(bills[1].qr_md5).found
        many = client.check_by_md5_list([b.qr_md5 for b in bills] * 20)
        assert len(many) == 60 and sum(t.found for t in many) == 20
        client.close()

    def test_an_expired_or_forged_qr_is_refused_by_the_bank(self, db: Session, bank_url: str) -> None:
        bill = open_bills(db, 1)[0]
        tampered = bill.qr_payload.replace("25000", "15000")
        answer = httpx.post(f"{bank_url}/v1/pay", json={"qr": tampered}, timeout=HANG)
        assert answer.status_code == 422

    def test_the_sandbox_page_pays_a_pasted_payload(self, db: Session, nokor_url: str, bank_url: str) -> None:
        bill = open_bills(db, 1)[0]
        assert "KHQR payload" in httpx.get(bank_url + "/", timeout=HANG).text
        paid = httpx.post(bank_url + "/pay-form", data={"qr": bill.qr_payload, "behaviour": "normal"}, timeout=HANG)
        assert paid.status_code == 200 and "Paid" in paid.text
        wait_until(lambda: "applied" in outcomes(db, bill), "the callback")
        assert status(nokor_url, bill) == "paid"

    def test_a_status_check_pays_a_bill_whose_callback_never_came(self, db: Session, bank_process: str) -> None:
        bill = open_bills(db, 1)[0]  # Nokor is not listening: every callback of the bank fails
        assert httpx.post(f"{bank_process}/v1/pay", json={"qr": bill.qr_payload}, timeout=HANG).status_code == 200
        client = BakongClient(bank_process)
        outcomes = payments.check_open_bills(db, SYSTEM, provider=client)
        client.close()
        assert [o.outcome for o in outcomes] == ["applied"]
        assert payments.bill_status(db, number=bill.number).status == "paid"
        again = BakongClient(bank_process)
        assert payments.check_open_bills(db, SYSTEM, provider=again) == []  # no open bill left to ask about
        again.close()
        db.rollback()
