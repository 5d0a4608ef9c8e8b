"""Data exchange: the same request straight to a provider and through the gateway (message log on),
side by side; requests/s through one gateway process and the latency it adds; pub/sub events delivered
per second (PUSH through the outbox to a webhook).

Starts, on loopback ports over a fresh SQLite database (migrated, demo country loaded, so the trust
hierarchy exists and the message log is signed and timestamped): a minimal provider (this file with
`provider`, one uvicorn process), and Nokor as production runs it (`nokor serve`: one uvicorn process
with httptools and uvloop, no access log). The load
comes from bench/http_baseline.py's generator in a separate process (keep-alive connections). Latency
added by the gateway = gateway percentile minus direct percentile, measured with one connection.
Prints a table and writes JSON lines to bench/results/exchange.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _support import git_commit, wait_ready
from http_baseline import HOST, NOKOR, LoadResult, _free_port, _nokor

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "exchange.json"
BASELINE = Path(__file__).with_name("http_baseline.py")
SERVICE = "KH/GOV/BENCH/provider/persons"


async def provider_app(scope, receive, send):  # type: ignore[no-untyped-def]
    """A provider as small as it gets: a fixed JSON answer, and a webhook that accepts events."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"id":"1","name":"Sok Dara","born":"1990-01-01"}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _load(port: int, path: str, headers: dict[str, str], concurrency: int, warmup: float, duration: float,
          env: dict[str, str]) -> LoadResult:
    done = subprocess.run(
        [sys.executable, str(BASELINE), "load", "--port", str(port), "--path", path, "--concurrency",
         str(concurrency), "--warmup", str(warmup), "--duration", str(duration)],
        env={**env, "BENCH_HEADERS": json.dumps(headers)}, capture_output=True, text=True,
        timeout=warmup + duration + 120, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        sys.exit(f"the load generator failed:\n{done.stdout}{done.stderr}")
    return LoadResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def _serve(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as log_file:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _pubsub(folder: Path, env: dict[str, str], webhook: str, events: int) -> tuple[float, float, int]:
    """Publish ``events`` events to a room with one approved PUSH subscription and let a worker deliver them."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("NOKOR_")})
    from nokor import exchange
    from nokor.config import get_settings
    from nokor.db import make_engine, make_session_factory, session_scope
    from nokor.exchange.models import Delivery
    from nokor.kit.actor import Actor
    from nokor.worker import Worker

    settings = get_settings(outbox_batch_size=200, worker_poll_seconds=0.01)
    factory = make_session_factory(make_engine(settings.effective_database_url))
    actor = Actor.system("bench")
    room = "KH/GOV/BENCH/events"
    with session_scope(factory) as session:
        exchange.ensure_subsystem(session, actor, identifier=room, name="Bench events", is_room=True,
                                  publishers=[room])
        exchange.define_event_type(session, room=room, code="tick", schema={"type": "object"}, by=room)
        sub = exchange.subscribe(session, room=room, event_type="tick", subscriber="KH/GOV/BENCH/load",
                                 data=exchange.SubscriptionCreate(delivery="PUSH", url=webhook))
        exchange.decide_subscription(session, subscription_id=sub.id, approve=True, by=room, actor=actor)
    started = time.perf_counter()
    with session_scope(factory) as session:
        for i in range(events):
            exchange.publish_event(session, room=room, event_type="tick", payload={"n": i}, publisher=room)
    published = time.perf_counter() - started
    worker = Worker(settings, factory)
    started = time.perf_counter()
    delivered = 0
    while time.perf_counter() - started < 300:
        worker.run_once()
        with session_scope(factory) as session:
            delivered = session.query(Delivery).filter(Delivery.status == "delivered").count()
        if delivered >= events:
            break
    elapsed = time.perf_counter() - started
    worker.close()
    return events / published, delivered / elapsed, delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="nokor-bench-exchange-") as tmp:
        folder = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
        env.update({"NOKOR_DATA_DIR": str(folder / "var"), "NOKOR_LOG_LEVEL": "WARNING",
                    "NOKOR_DATABASE_URL": f"sqlite:///{folder / 'var' / 'nokor.db'}"})
        _nokor(env, folder, "db", "upgrade")
        _nokor(env, folder, "demo", "load")
        _nokor(env, folder, "exchange", "init")
        key = _nokor(env, folder, "accounts", "create-client", "Benchmark", "--identity", "KH/GOV/BENCH/load"
                     ).strip().splitlines()[-1]
        provider_port, gateway_port = _free_port(), _free_port()
        provider = _serve([sys.executable, "-m", "uvicorn", "exchange:provider_app", "--app-dir", str(ROOT / "bench"),
                           "--host", HOST, "--port", str(provider_port), "--no-access-log", "--log-level", "warning"],
                          env, folder, folder / "provider.log")
        try:
            _nokor(env, folder, "exchange", "add-member", "KH/GOV/BENCH", "--name", "Benchmark ministry")
            _nokor(env, folder, "exchange", "add-subsystem", "KH/GOV/BENCH/provider", "--name", "Bench provider")
            _nokor(env, folder, "exchange", "publish", "KH/GOV/BENCH/provider", "persons", "--url",
                   f"http://{HOST}:{provider_port}", "--title", "Persons", "--endpoint", "GET /persons/*")
            _nokor(env, folder, "exchange", "grant", SERVICE, "KH/GOV/BENCH/load", "--method", "GET", "--path",
                   "/persons/*")
            gateway = _serve([str(NOKOR), "serve", "--host", HOST, "--port", str(gateway_port)],
                             env, folder, folder / "gateway.log")
            try:
                wait_ready(f"http://{HOST}:{gateway_port}", gateway, folder / "gateway.log", timeout=120)
                auth = {"Authorization": f"Bearer {key}"}
                rows: list[tuple[str, int, LoadResult]] = []
                for label, port, path, headers in (
                        ("direct to the provider", provider_port, "/persons/1", {}),
                        ("through the gateway", gateway_port, f"/r1/{SERVICE}/persons/1", auth)):
                    for concurrency in (1, args.concurrency):
                        print(f"loading {label}, {concurrency} connections", flush=True)
                        rows.append((label, concurrency, _load(port, path, headers, concurrency, args.warmup,
                                                                args.duration, env)))
            finally:
                _stop(gateway)
            logged = subprocess.run([sys.executable, "-c", (
                "import os,sqlite3;c=sqlite3.connect(os.environ['NOKOR_DATABASE_URL'][10:]);"
                "print(c.execute('select count(*) from exchange_log_record').fetchone()[0],"
                "c.execute('select count(*) from exchange_log_batch where timestamp_token is not null')"
                ".fetchone()[0])")],
                env=env, capture_output=True, text=True, check=True).stdout.split()
            published_rate, delivered_rate, delivered = _pubsub(folder, env, f"http://{HOST}:{provider_port}/events",
                                                                args.events)
        finally:
            _stop(provider)

    load_after = os.getloadavg()
    by = {(label, c): r for label, c, r in rows}
    direct1, gate1 = by[("direct to the provider", 1)], by[("through the gateway", 1)]
    gate_n = by[("through the gateway", args.concurrency)]
    added_p50, added_p99 = gate1.p50_ms - direct1.p50_ms, gate1.p99_ms - direct1.p99_ms
    context = {"bench": "exchange",
               "server": "nokor serve (uvicorn, httptools, uvloop), provider uvicorn, 1 process each, SQLite, "
                         "message log on (signed, TSA)",
               "cores": os.cpu_count(), "python": platform.python_version(), "commit": git_commit(),
               "load_average_before": [round(x, 2) for x in load_before],
               "load_average_after": [round(x, 2) for x in load_after],
               "at": datetime.now(UTC).isoformat(timespec="seconds")}
    figures = [(f"{label}, {c} conn", name, value, unit) for label, c, r in rows for name, value, unit in (
        ("requests_per_second", round(r.requests_per_second, 1), "1/s"), ("latency_p50", round(r.p50_ms, 2), "ms"),
        ("latency_p99", round(r.p99_ms, 2), "ms"), ("errors", r.errors, "requests"))]
    figures += [("gateway", "added_latency_p50", round(added_p50, 2), "ms"),
                ("gateway", "added_latency_p99", round(added_p99, 2), "ms"),
                ("gateway", "requests_per_second_one_process", round(gate_n.requests_per_second, 1), "1/s"),
                ("message log", "records_written", int(logged[0]), "records"),
                ("message log", "batches_timestamped", int(logged[1]), "batches"),
                ("pub/sub", "events_published_per_second", round(published_rate, 1), "1/s"),
                ("pub/sub", "events_delivered_per_second", round(delivered_rate, 1), "1/s")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for what, figure, value, unit in figures:
            out.write(json.dumps({**context, "what": what, "figure": figure, "value": value, "unit": unit}) + "\n")
    print()
    print(f"{'':<34} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, c, r in rows:
        print(f"{label + f', {c} conn':<34} {r.requests_per_second:>11.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
              f"{r.errors:>7}")
    print(f"\nadded by the gateway (1 connection): p50 {added_p50:.2f} ms, p99 {added_p99:.2f} ms "
          f"(goals ≤ 5 / ≤ 25 ms)")
    print(f"through one gateway process: {gate_n.requests_per_second:.0f} requests/s with {args.concurrency} "
          f"connections (goal ≥ 1,000/s); message log: {logged[0]} records, {logged[1]} timestamped batches")
    print(f"pub/sub: {published_rate:.0f} events published/s, {delivered_rate:.0f} delivered/s by PUSH "
          f"({delivered} of {args.events})")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} cores shared)")
    print(f"written to {args.out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
