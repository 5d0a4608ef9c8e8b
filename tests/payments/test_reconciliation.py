"""Reconciling a provider's settlement file: every kind of discrepancy, streaming, and the ledger after."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from tests.conftest import SYSTEM
from tests.payments.factories import make_fee

from nokor import payments
from nokor.kit.errors import Conflict, ValidationFailed
from nokor.payments.reconciliation import Expected, Outcome, reconcile

HEADER = "transaction_ref,bill_number,amount,currency,settled_at\n"


def paid_bills(db: Session, count: int) -> list[payments.BillRead]:
    fee = make_fee(db, amount="10000")
    bills = []
    for i in range(count):
        bill = payments.issue_bill(db, SYSTEM, data=payments.BillCreate(fee_code=fee.code, payer_name=f"P{i}"))
        body = json.dumps({"event_id": f"e{i}", "transaction_ref": f"REF{i}", "status": "SUCCESS",
                           "md5": bill.qr_md5, "amount": "10000", "currency": "KHR"}).encode()
        outcome = payments.receive_notification(db, provider="sandbox", body=body, secret="s",
                                                headers={"X-Provider-Signature": payments.sign_body("s", body)})
        assert outcome.outcome == "applied"
        bills.append(bill)
    return bills


class TestReconcileSettlement:
    def test_reports_each_kind_of_discrepancy_and_settles_what_matched(self, db: Session) -> None:
        bills = paid_bills(db, 4)
        csv = HEADER + "".join([
            f"REF0,{bills[0].number},10000,KHR,2026-11-24\n",     # matched
            f"REF1,{bills[1].number},9000,KHR,2026-11-24\n",      # amount mismatch
            "REF9,,10000,KHR,2026-11-24\n",                        # unexpected
            f"REF2,{bills[2].number},10000,KHR,2026-11-24\n",     # matched
            f"REF2,{bills[2].number},10000,KHR,2026-11-24\n",     # duplicate
            "garbage\n",                                           # unreadable
        ])                                                         # REF3 never settled: missing
        report = payments.reconcile_settlement(db, SYSTEM, provider="sandbox", filename="day.csv",
                                               lines=io.StringIO(csv), file_sha256="a" * 64)
        assert report.lines == 6
        assert {k: report.counts[k] for k in ("matched", "missing", "unexpected", "amount_mismatch", "duplicate",
                                              "unreadable")} == {
            "matched": 2, "missing": 1, "unexpected": 1, "amount_mismatch": 1, "duplicate": 1, "unreadable": 1}
        items = payments.reconciliation_items(db, SYSTEM, reconciliation_id=report.id)
        assert {(i.kind, i.transaction_ref) for i in items} >= {
            ("missing", "REF3"), ("unexpected", "REF9"), ("amount_mismatch", "REF1"), ("duplicate", "REF2")}
        mismatch = next(i for i in items if i.kind == "amount_mismatch")
        assert (mismatch.expected_minor, mismatch.settled_minor) == (1_000_000, 900_000)
        balances = {b.account: b.balance_minor for b in payments.ledger_balances(db, SYSTEM)}
        assert balances["treasury"] == 2_000_000 and balances["clearing:sandbox"] == 2_000_000
        assert payments.check_ledger(db, SYSTEM).ok

    def test_the_same_file_twice_is_refused(self, db: Session) -> None:
        paid_bills(db, 1)
        payments.reconcile_settlement(db, SYSTEM, provider="sandbox", filename="a.csv",
                                      lines=io.StringIO(HEADER + "REF0,,10000,KHR,\n"), file_sha256="b" * 64)
        with pytest.raises(Conflict):
            payments.reconcile_settlement(db, SYSTEM, provider="sandbox", filename="a.csv",
                                          lines=io.StringIO(HEADER), file_sha256="b" * 64)

    def test_a_file_without_the_columns_is_a_validation_error(self, db: Session) -> None:
        with pytest.raises(ValidationFailed):
            payments.reconcile_settlement(db, SYSTEM, provider="sandbox", filename="x.csv",
                                          lines=io.StringIO("a,b\n1,2\n"))


class TestStreaming:
    def test_lines_are_consumed_lazily(self) -> None:
        expected = {"R1": Expected("1", 100, "USD")}
        consumed = []

        def lines():  # type: ignore[no-untyped-def]
            yield "transaction_ref,amount,currency\n"
            for i in range(1000):
                consumed.append(i)
                yield f"X{i},1.00,USD\n"

        outcome = Outcome()
        first = next(reconcile(lines(), expected, outcome))
        assert first.kind == "unexpected" and len(consumed) == 1

    @given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(0, 3)), max_size=30))
    def test_every_line_is_counted_once(self, rows: list[tuple[str, int]]) -> None:
        expected = {ref: Expected(ref, 100, "USD") for ref in ("A", "B", "C")}
        text = ["transaction_ref,amount,currency\n"] + [f"{r},{a}.00,USD\n" for r, a in rows]
        outcome = Outcome()
        found = list(reconcile(text, expected, outcome))
        counted = sum(outcome.counts[k] for k in ("matched", "unexpected", "amount_mismatch", "duplicate"))
        assert counted == len(rows) == outcome.lines
        assert outcome.counts["missing"] == len({"A", "B", "C"} - {r for r, _ in rows})
        assert len(found) == len(rows) - outcome.counts["matched"] + outcome.counts["missing"]


def test_cli_reconcile_prints_the_counts(tmp_path, monkeypatch, db: Session, database_url: str) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from nokor.cli import app

    paid_bills(db, 2)
    db.commit()
    path = tmp_path / f"settle-{uuid.uuid4().hex}.csv"
    path.write_text(HEADER + "REF0,,10000,KHR,\nREF7,,5,KHR,\n")
    monkeypatch.setenv("NOKOR_DATABASE_URL", database_url)
    done = CliRunner().invoke(app, ["payments", "reconcile", str(path)])
    assert done.exit_code == 0, done.output
    assert "matched" in done.output and "2 lines" in done.output
