"""Payments throughput: QR payloads, QR images, payment confirmations end to end, reconciliation.

* QR payloads encoded and validated per second: a dynamic KHQR per bill (``encode_khqr``), then
  decoded and checked by every strict rule (``validate``), in this process.
* QR images (SVG) per second: ``qr_svg`` of such a payload.
* Payment confirmations per second, end to end: one uvicorn process of Nokor on PostgreSQL (a scratch
  database, migrated); open bills are issued first, then a separate load process POSTs one signed
  provider callback per bill with 32 connections; each callback is authenticated, recorded verbatim,
  pays its bill, posts the ledger, writes the audit chain and the outbox in one transaction. Every bill
  is checked to be paid and the ledger balanced afterwards. Without PostgreSQL (``--pg-url``
  unreachable) it runs on SQLite and says so.
* Reconciliation of a 1,000,000-line settlement file against 1,000,000 recorded payments (the
  streaming matcher; 2 % of the lines are discrepancies of every kind).

Prints a table and writes one JSON line per figure to bench/results/payments_throughput.json.
Traffic goes only to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _support import git_commit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "payments_throughput.json"
HOST = "127.0.0.1"
SECRET = "bench-webhook-secret"


def _timed_loop(work: Any, seconds: float, max_count: int) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    while count < max_count and time.perf_counter() - start < seconds:
        work(count)
        count += 1
    return count, time.perf_counter() - start


def bench_qr(seconds: float) -> list[tuple[str, float, str, str]]:
    from nokor.payments import emvqr
    from nokor.payments.images import qr_svg

    now = datetime.now(UTC)

    def payload(i: int) -> str:
        return emvqr.encode_khqr(emvqr.KhqrRequest(
            bakong_account_id="gdi_fees@nbcq", merchant_name="General Department of Identification",
            currency="KHR", amount_minor=(4000 + i % 1000) * 100, bill_number=f"2026{i:09d}",
            store_label="MOI-GDI", purpose="NID-REPLACE", created_at=now, expires_at=now + timedelta(days=1)))

    def encode_and_validate(i: int) -> None:
        rules = emvqr.validate(payload(i), at=now)
        assert not rules, rules

    n, took = _timed_loop(encode_and_validate, seconds, 2_000_000)
    sample = payload(1)
    m, took_svg = _timed_loop(lambda i: qr_svg(payload(i + 10_000_000)), seconds, 200_000)  # no cache hits
    return [("QR payloads encoded + validated", n / took, "1/s", f"{n} in {took:.1f} s"),
            ("QR images (SVG)", m / took_svg, "1/s", f"{m} in {took_svg:.1f} s, {len(sample)}-char payload")]


def bench_reconciliation(lines: int) -> list[tuple[str, float, str, str]]:
    from nokor.payments.reconciliation import Expected, Outcome, reconcile

    with tempfile.TemporaryDirectory(prefix="nokor-settle-") as tmp:
        path = Path(tmp) / "settlement.csv"
        expected: dict[str, Expected] = {}
        with path.open("w") as out:
            out.write("transaction_ref,bill_number,amount,currency,settled_at\n")
            for i in range(lines):
                ref = f"SBX{i:012d}"
                expected[ref] = Expected(f"2026{i:09d}", 400_000, "KHR")
                kind = i % 50
                if kind == 1:
                    continue  # missing from the file
                amount = "3999" if kind == 2 else "4000"  # amount mismatch
                out.write(f"{ref},2026{i:09d},{amount},KHR,2026-11-24T00:00:00Z\n")
                if kind == 3:
                    out.write(f"{ref},2026{i:09d},{amount},KHR,2026-11-24T00:00:00Z\n")  # duplicate
                if kind == 4:
                    out.write(f"UNKNOWN{i},,4000,KHR,2026-11-24T00:00:00Z\n")  # unexpected
        size = path.stat().st_size
        outcome = Outcome()
        start = time.perf_counter()
        with path.open(newline="") as fh:
            discrepancies = sum(1 for _ in reconcile(fh, expected, outcome))
        took = time.perf_counter() - start
    detail = (f"{outcome.lines:,} lines ({size / 1e6:.0f} MB) in {took:.1f} s; {discrepancies:,} discrepancies, "
              f"{outcome.counts['matched']:,} matched")
    return [("reconciliation lines/s", outcome.lines / took, "1/s", detail),
            ("reconciliation of the file", took, "s", detail)]


# --- end-to-end confirmations -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _scratch_pg(base_url: str, async_commit: bool = False) -> str | None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(base_url)
        name = f"nokor_bench_{uuid.uuid4().hex[:8]}"
        admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            if async_commit:
                conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        return url.set(database=name).render_as_string(hide_password=False)
    except Exception as exc:
        print(f"PostgreSQL not available ({exc}); confirmations run on SQLite", flush=True)
        return None


def _drop_pg(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


async def _send_callbacks(port: int, bodies: list[bytes], concurrency: int, limit_s: float) -> tuple[int, int, float]:
    from nokor.payments.service import SIGNATURE_HEADER, sign_body

    queue = list(reversed(bodies))
    ok = errors = 0
    deadline = time.perf_counter() + limit_s

    async def connection() -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while queue and time.perf_counter() < deadline:
                body = queue.pop()
                head = (f"POST /api/v1/payments/callbacks/sandbox HTTP/1.1\r\nHost: {HOST}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                        f"{SIGNATURE_HEADER}: {sign_body(SECRET, body)}\r\n\r\n").encode()
                writer.write(head + body)
                await writer.drain()
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if b" 200 " in status_line:
                    ok += 1
                else:
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return ok, errors, time.perf_counter() - start


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), to show cost apart from load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_confirmations(count: int, pg_url: str, concurrency: int,
                        async_commit: bool = False) -> list[tuple[str, float, str, str]]:
    from sqlalchemy import text

    from nokor import payments
    from nokor.db import make_engine, make_session_factory, session_scope
    from nokor.kit.actor import Actor

    with tempfile.TemporaryDirectory(prefix="nokor-bench-") as tmp:
        folder = Path(tmp)
        database = _scratch_pg(pg_url, async_commit)
        label = ("PostgreSQL, synchronous_commit=off" if async_commit else "PostgreSQL") if database else "SQLite"
        database = database or f"sqlite:///{folder / 'nokor.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
        env.update({"NOKOR_DATA_DIR": str(folder / "var"), "NOKOR_DATABASE_URL": database,
                    "NOKOR_PAYMENTS_WEBHOOK_SECRET": SECRET, "NOKOR_LOG_LEVEL": "WARNING"})
        nokor = Path(sys.executable).with_name("nokor")
        try:
            subprocess.run([str(nokor), "db", "upgrade"], env=env, cwd=folder, check=True, capture_output=True,
                           timeout=300)
            subprocess.run([str(nokor), "demo", "load"], env=env, cwd=folder, check=True, capture_output=True,
                           timeout=300)
            engine = make_engine(database)
            actor = Actor.system("bench")
            print(f"issuing {count} bills on {label}", flush=True)
            start = time.perf_counter()
            bills = []
            with session_scope(make_session_factory(engine)) as session:
                for i in range(count):
                    bills.append(payments.issue_bill(session, actor, data=payments.BillCreate(
                        fee_code="NID-REPLACE", payer_name=f"Bench payer {i}")))
            issue_rate = count / (time.perf_counter() - start)
            bodies = [json.dumps({"event_id": f"evt{i}", "transaction_ref": f"SBX{i:010d}", "status": "SUCCESS",
                                  "md5": b.qr_md5, "bill_number": b.number,
                                  "amount": payments.money_text(b.amount_minor, b.currency),
                                  "currency": b.currency}, separators=(",", ":")).encode()
                      for i, b in enumerate(bills)]
            port = _free_port()
            log = folder / "server.log"
            with log.open("wb") as log_file:
                server = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "nokor.app:create_app", "--factory", "--host", HOST,
                     "--port", str(port), "--no-access-log", "--log-level", "warning"],
                    env=env, cwd=folder, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                try:
                    for _ in range(300):
                        try:
                            with socket.create_connection((HOST, port), timeout=0.2):
                                break
                        except OSError:
                            time.sleep(0.1)
                    print(f"sending {count} signed callbacks with {concurrency} connections", flush=True)
                    cpu_before = _cpu_seconds(server.pid)
                    ok, errors, took = asyncio.run(_send_callbacks(port, bodies, concurrency, limit_s=300))
                    app_cpu_ms = (_cpu_seconds(server.pid) - cpu_before) * 1000 / max(ok, 1)
                finally:
                    server.terminate()
                    server.wait(timeout=15)
            with engine.connect() as conn:
                paid = conn.execute(text("SELECT count(*) FROM payments_bill WHERE status = 'paid'")).scalar()
            with session_scope(make_session_factory(engine)) as session:
                check = payments.check_ledger(session, actor)
            engine.dispose()
        finally:
            if database.startswith("postgresql"):
                _drop_pg(database)
    assert paid == ok == count and errors == 0, (paid, ok, errors)
    assert check.ok and check.entries == 2 * count
    detail = (f"{count} callbacks → {paid} bills paid, {check.entries} ledger entries, all balanced; "
              f"{label}, 1 uvicorn process, {concurrency} connections")
    return [(f"payment confirmations end to end ({label})", ok / took, "1/s", detail),
            (f"app CPU per confirmation ({label})", app_cpu_ms, "ms",
             f"user+system time of the uvicorn process / confirmations; {1000 / app_cpu_ms:,.0f}/s per free core"),
            (f"bills issued with their KHQR ({label}, in process)", issue_rate, "1/s", f"{count} bills")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per in-process loop")
    parser.add_argument("--confirmations", type=int, default=3000, help="callbacks sent end to end")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines of the settlement file")
    parser.add_argument("--pg-url", default=os.environ.get("NOKOR_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--async-commit-too", action="store_true",
                        help="also measure confirmations with synchronous_commit=off (a diagnostic, not a setting)")
    parser.add_argument("--only", choices=["qr", "confirmations", "reconciliation"], action="append",
                        help="run only these parts (repeatable); all by default")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    parts = set(args.only or ["qr", "confirmations", "reconciliation"])

    load_before = os.getloadavg()
    rows: list[tuple[str, float, str, str]] = []
    if "qr" in parts:
        rows += bench_qr(args.seconds)
    if "confirmations" in parts:
        rows += bench_confirmations(args.confirmations, args.pg_url, args.concurrency)
        if args.async_commit_too:
            # Diagnostic: the same run without waiting for the WAL flush at commit shows what the flush costs.
            rows += bench_confirmations(args.confirmations, args.pg_url, args.concurrency, async_commit=True)
    if "reconciliation" in parts:
        rows += bench_reconciliation(args.lines)
    load_after = os.getloadavg()
    load = (f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            f"({os.cpu_count()} cores shared with other work)")

    context = {"bench": "payments_throughput", "cores": os.cpu_count(), "python": platform.python_version(),
               "commit": git_commit(), "at": datetime.now(UTC).isoformat(timespec="seconds"),
               "load_average": [round(load_before[0], 2), round(load_after[0], 2)]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for figure, value, unit, detail in rows:
            out.write(json.dumps({**context, "figure": figure, "value": round(value, 1), "unit": unit,
                                  "detail": detail}) + "\n")
    print()
    print(f"{'figure':<52} {'value':>12} {'unit':<4}  detail")
    for figure, value, unit, detail in rows:
        print(f"{figure:<52} {value:>12,.1f} {unit:<4}  {detail}")
    print(f"\n{os.cpu_count()} cores; {load}. Written to {args.out}")


if __name__ == "__main__":
    main()
