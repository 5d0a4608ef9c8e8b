"""Registries at scale: import, read by id, indexed search, export and the API, on PostgreSQL and SQLite.

For each database (a fresh SQLite file, and a scratch PostgreSQL database when --pg-url answers):
migrate, define a registry with a 10-field schema (a unique key and two more searchable fields),
write N rows to a CSV file and measure

* import: ``registries.import_file`` (validation with the compiled schema in a worker process, COPY on
  PostgreSQL, executemany on SQLite, one transaction), in records per second;
* read by id: ``registries.read_record`` for random records, p50 and p95;
* indexed search: ``registries.search_records`` with an equality filter on a searchable field that
  matches one record, and one that matches a 25th of the registry (first page of 50), and the start of
  a name as typed in the search box (111 matches, first page of 50), p50 and p95;
* export: ``registries.export_records`` to CSV, in records per second;
* API: requests per second for ``GET /api/v1/registries/bench/records/{id}`` with an API key,
  against one uvicorn process, loaded from a separate process (bench/http_baseline.py load) over
  loopback only.

Prints a table and writes one JSON line per figure to bench/results/registries.json. Every loop is
bounded; the scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _support import wait_ready

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "registries.json"
HOST = "127.0.0.1"
PROVINCES = ["Banteay Meanchey", "Battambang", "Kampong Cham", "Kampong Chhnang", "Kampong Speu", "Kampong Thom",
             "Kampot", "Kandal", "Koh Kong", "Kratie", "Mondulkiri", "Phnom Penh", "Preah Vihear", "Prey Veng",
             "Pursat", "Ratanakiri", "Siem Reap", "Preah Sihanouk", "Stung Treng", "Svay Rieng", "Takeo",
             "Oddar Meanchey", "Kep", "Pailin", "Tboung Khmum"]
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "name", "province", "employees"],
    "properties": {
        "code": {"type": "string", "pattern": "^B[0-9]{7}$", "x-key": True},
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "x-searchable": True},
        "province": {"type": "string", "x-searchable": True},
        "sector": {"type": "string", "enum": ["agriculture", "retail", "garments", "tourism", "ict"]},
        "employees": {"type": "integer", "minimum": 0},
        "turnover_usd": {"type": "number", "minimum": 0},
        "women_owned": {"type": "boolean"},
        "registered_on": {"type": "string", "format": "date"},
        "phone": {"type": "string"},
        "owner_name": {"type": "string", "x-personal": True},
    },
}
SECTORS = ["agriculture", "retail", "garments", "tourism", "ict"]


def row(n: int) -> dict[str, Any]:
    return {"code": f"B{n:07d}", "name": f"Enterprise {n} {PROVINCES[n % 25]}", "province": PROVINCES[n % 25],
            "sector": SECTORS[n % 5], "employees": n % 250, "turnover_usd": round(n * 1.37, 2),
            "women_owned": n % 3 == 0, "registered_on": f"20{10 + n % 15}-0{1 + n % 9}-1{n % 10}",
            "phone": f"0{12 + n % 80}{n % 1000000:06d}", "owner_name": f"Owner {n}"}


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(list(SCHEMA["properties"]))
        for n in range(count):
            data = row(n)
            writer.writerow(["true" if v is True else "false" if v is False else v for v in data.values()])


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000)


def timed(calls: int, call: Callable[[int], object]) -> tuple[float, float]:
    samples = []
    for index in range(calls):
        started = time.perf_counter()
        call(index)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


# --- databases ------------------------------------------------------------------------------------


def scratch_postgres(url: str) -> str | None:
    """A new empty database beside ``url``; None when PostgreSQL does not answer."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    dsn = f"host={base.host or HOST} port={base.port or 5432} user={base.username or 'postgres'} dbname=postgres"
    name = f"nokor_bench_{secrets.token_hex(3)}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL at {url} does not answer ({exc}); measuring SQLite only", flush=True)
        return None
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    dsn = f"host={parsed.host or HOST} port={parsed.port or 5432} user={parsed.username or 'postgres'} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')  # type: ignore[arg-type]


# --- one database -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def api_load(url: str, folder: Path, key: str, record_id: str, args: argparse.Namespace) -> dict[str, Any]:
    """Requests per second for reading one record by id through the API, one uvicorn process."""
    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
    env.update({"NOKOR_DATA_DIR": str(folder / "var"), "NOKOR_DATABASE_URL": url, "NOKOR_LOG_LEVEL": "WARNING"})
    port = free_port()
    log = folder / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "nokor.app:create_app", "--factory", "--host", HOST, "--port", str(port),
             "--no-access-log", "--log-level", "warning"],
            env=env, cwd=folder, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_ready(f"http://{HOST}:{port}", server, log, timeout=60)
            path = f"/api/v1/registries/bench/records/{record_id}"
            check = httpx.get(f"http://{HOST}:{port}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
            if check.status_code != 200:
                sys.exit(f"the API answered {check.status_code}: {check.text}")
            done = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "http_baseline.py"), "load", "--port", str(port), "--path", path,
                 "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
                 "--duration", str(args.duration)],
                env={**env, "BENCH_HEADERS": json.dumps({"Authorization": f"Bearer {key}"})}, capture_output=True,
                text=True, timeout=args.warmup + args.duration + 120, check=False, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                sys.exit(f"the load generator failed:\n{done.stdout}{done.stderr}")
            result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            return result
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def measure(dialect: str, url: str, count: int, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from alembic import command
    from sqlalchemy import text

    from nokor import accounts, registries
    from nokor.cli import alembic_config
    from nokor.db import make_engine, make_session_factory
    from nokor.kit.actor import Actor

    system = Actor.system("bench")
    command.upgrade(alembic_config(url), "head")  # type: ignore[arg-type]
    engine = make_engine(url)
    factory = make_session_factory(engine)
    figures: dict[str, Any] = {"records": count}
    source = folder / f"bench-{count}.csv"
    if not source.exists():
        print(f"  writing {count:,} rows to {source.name}", flush=True)
        write_csv(source, count)
    with factory() as session:
        registries.create_registry(session, system, data=registries.RegistryCreate(
            name="bench", title=registries.LocalizedText(en="Benchmark enterprises"), json_schema=SCHEMA))
        registries.publish_version(session, system, name="bench")
        key = accounts.create_api_client(session, system, data=accounts.ApiClientCreate(
            name="Benchmark", identity="KH/GOV/BENCH/load", permissions=["registries.read"])).api_key
        registries.grant_access(session, system, name="bench", client_identity="KH/GOV/BENCH/load")
        session.commit()

    print(f"  importing {count:,} records", flush=True)
    started = time.perf_counter()
    with factory() as session:
        report = registries.import_file(session, system, name="bench", path=source)
        session.commit()
    seconds = time.perf_counter() - started
    assert report.written == count, report
    figures["import_records_per_second"] = count / seconds
    figures["import_seconds"] = seconds
    with engine.begin() as conn:  # what autovacuum would do after a bulk load
        conn.execute(text("ANALYZE"))

    rng = random.Random(7)
    with factory() as session:
        ids = [str(i) for i in session.execute(text(
            "SELECT id FROM registries_record ORDER BY id LIMIT 2000 OFFSET :skip"), {"skip": rng.randint(0, max(
                0, count - 2000))}).scalars()]
        rng.shuffle(ids)
        print("  reading by id", flush=True)

        def read(index: int) -> None:
            registries.read_record(session, system, name="bench", record_id=ids[index % len(ids)])
            session.rollback()

        figures["read_by_id_p50_ms"], figures["read_by_id_p95_ms"] = timed(args.samples, read)
        print("  searching", flush=True)
        names = [f"Enterprise {n} {PROVINCES[n % 25]}" for n in (rng.randrange(count) for _ in range(args.samples))]

        def search_one(index: int) -> None:
            page = registries.search_records(session, system, name="bench", filters=[
                registries.SearchFilter(field="name", value=names[index])])
            assert len(page.items) == 1, names[index]
            session.rollback()

        figures["search_one_p50_ms"], figures["search_one_p95_ms"] = timed(args.samples, search_one)

        def search_many(index: int) -> None:
            page = registries.search_records(session, system, name="bench", limit=50, filters=[
                registries.SearchFilter(field="province", value=PROVINCES[index % 25])])
            assert len(page.items) == min(50, count // 25)
            session.rollback()

        figures["search_page_p50_ms"], figures["search_page_p95_ms"] = timed(args.samples, search_many)
        # What someone types into the search box: the start of a name ("enterprise 4821" is the start of
        # 111 names among a million), first page of 50 in creation order.
        starts = [rng.randrange(1000, max(1001, min(10_000, count))) for _ in range(args.samples)]

        def search_prefix(index: int) -> None:
            n = starts[index]
            matches = [m for m in (n, *range(10 * n, 10 * n + 10), *range(100 * n, 100 * n + 100)) if m < count]
            page = registries.search_records(session, system, name="bench", limit=50, text=f"enterprise {n}",
                                             text_field="name")
            assert len(page.items) == min(50, len(matches)), n
            session.rollback()

        figures["search_prefix_p50_ms"], figures["search_prefix_p95_ms"] = timed(args.samples, search_prefix)
        print("  exporting", flush=True)
        started = time.perf_counter()
        size = sum(len(chunk) for chunk in registries.export_records(session, system, name="bench", fmt="csv",
                                                                     purpose="benchmark"))
        seconds = time.perf_counter() - started
        figures["export_records_per_second"] = count / seconds
        figures["export_megabytes"] = size / 1e6
        session.commit()
    engine.dispose()
    if not args.no_api:
        print("  loading the API", flush=True)
        result = api_load(url, folder, key, ids[0], args)
        figures["api_read_requests_per_second"] = result["requests"] / result["seconds"]
        figures["api_read_p50_ms"] = result["p50_ms"]
        figures["api_read_p99_ms"] = result["p99_ms"]
        figures["api_errors"] = result["errors"]
    return figures


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records on PostgreSQL")
    parser.add_argument("--sqlite-records", type=int, default=1_000_000, help="records on SQLite")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("NOKOR_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    parser.add_argument("--samples", type=int, default=1000, help="timed calls per latency figure")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--no-api", action="store_true", help="skip the HTTP load")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} "
          f"({os.cpu_count()} cores, shared)", flush=True)
    with tempfile.TemporaryDirectory(prefix="nokor-bench-registries-") as tmp:
        folder = Path(tmp)
        (folder / "var").mkdir()
        for dialect in args.databases.split(","):
            print(f"== {dialect}", flush=True)
            if dialect == "postgresql":
                url = scratch_postgres(args.pg_url)
                if url is None:
                    continue
                try:
                    results[dialect] = measure(dialect, url, args.records, folder, args)
                finally:
                    drop_postgres(url)
            else:
                url = f"sqlite:///{folder / 'var' / 'bench.db'}"
                results[dialect] = measure(dialect, url, args.sqlite_records, folder, args)

    load_after = os.getloadavg()
    context = {"bench": "registries", "cores": os.cpu_count(),
               "load_average_before": [round(x, 2) for x in load_before],
               "load_average_after": [round(x, 2) for x in load_after], "python": platform.python_version(),
               "commit": commit(), "at": datetime.now(UTC).isoformat(timespec="seconds"),
               "schema": "10 fields, 3 searchable (one a unique key), 1 personal",
               "api": f"uvicorn 1 process, {args.concurrency} keep-alive connections, {args.duration:g} s"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for dialect, figures in results.items():
            for figure, value in figures.items():
                out.write(json.dumps({**context, "database": dialect, "figure": figure,
                                      "value": round(value, 3) if isinstance(value, float) else value}) + "\n")
    labels = [("records", "records", "{:,.0f}"), ("import_records_per_second", "import records/s", "{:,.0f}"),
              ("read_by_id_p50_ms", "read by id p50 ms", "{:.2f}"),
              ("read_by_id_p95_ms", "read by id p95 ms", "{:.2f}"),
              ("search_one_p50_ms", "search (1 match) p50 ms", "{:.2f}"),
              ("search_one_p95_ms", "search (1 match) p95 ms", "{:.2f}"),
              ("search_page_p50_ms", "search (page of 50) p50 ms", "{:.2f}"),
              ("search_page_p95_ms", "search (page of 50) p95 ms", "{:.2f}"),
              ("search_prefix_p50_ms", "search (starts with) p50 ms", "{:.2f}"),
              ("search_prefix_p95_ms", "search (starts with) p95 ms", "{:.2f}"),
              ("export_records_per_second", "export records/s", "{:,.0f}"),
              ("api_read_requests_per_second", "API read by id req/s", "{:,.0f}"),
              ("api_read_p50_ms", "API read p50 ms", "{:.2f}"), ("api_read_p99_ms", "API read p99 ms", "{:.2f}")]
    print()
    print(f"{'figure':<28}" + "".join(f"{d:>16}" for d in results))
    for key, label, fmt in labels:
        print(f"{label:<28}" + "".join(f"{fmt.format(f[key]) if key in f else '—':>16}" for f in results.values()))
    print(f"\n{context['schema']}; {os.cpu_count()} cores shared by Python, the database and the load generator. "
          f"Written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    print(f"load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {' '.join(f'{x:.2f}' for x in load_after)}")


if __name__ == "__main__":
    main()
