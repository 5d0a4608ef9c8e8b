"""Where the time of one PostgreSQL registry import goes: COPY per table, waiting on the validating
worker, each index built at the end, the WAL written and the CPU of each process.

    .venv/bin/python bench/registries_import_phases.py --records 1000000

Makes a scratch database beside --pg-url, imports --records rows of bench/registries.py's 10-field
schema with ``registries.import_file`` (as the benchmark does), prints the breakdown and drops the
database. The phases are timed by wrapping the importer's functions; nothing else changes.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import registries as bench  # bench/registries.py, beside this file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=os.environ.get("NOKOR_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1/postgres"))
    args = parser.parse_args()

    from alembic import command
    from sqlalchemy import text

    from nokor import registries
    from nokor.cli import alembic_config
    from nokor.db import make_engine, make_session_factory
    from nokor.kit.actor import Actor
    from nokor.registries import bulk, repository

    spent: dict[str, float] = {}

    def add(name: str, seconds: float) -> None:
        spent[name] = spent.get(name, 0.0) + seconds

    def copy(writer: Any, connection: Any, records: bytes, values: bytes) -> None:
        with connection.cursor() as cursor:
            for table, statement, data in (("registries_record", writer.copy_records, records),
                                           ("registries_field_value", writer.copy_values, values)):
                started = time.perf_counter()
                with cursor.copy(statement) as out:
                    out.write(data)
                add(f"COPY {table}", time.perf_counter() - started)
                add(f"MB sent to {table}", len(data) / 1e6)

    def rebuild(session: Any, definitions: list[str]) -> None:
        connection = session.connection()
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        for definition in definitions:
            started = time.perf_counter()
            connection.exec_driver_sql(definition)
            add(f"build: {definition[:90]}", time.perf_counter() - started)

    load = bulk.pickle.load

    def waiting(*a: Any, **k: Any) -> Any:
        started = time.perf_counter()
        try:
            return load(*a, **k)
        finally:
            add("waiting on the worker", time.perf_counter() - started)

    bulk._BulkWriter._copy = copy  # type: ignore[method-assign]
    repository.rebuild_indexes = rebuild  # type: ignore[assignment]
    bulk.pickle.load = waiting  # type: ignore[assignment]

    url = bench.scratch_postgres(args.pg_url)
    if url is None:
        sys.exit("PostgreSQL does not answer")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        system = Actor.system("bench")
        command.upgrade(alembic_config(url), "head")  # type: ignore[arg-type]
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with tempfile.TemporaryDirectory(prefix="nokor-bench-phases-") as folder:
            source = Path(folder) / "bench.csv"
            bench.write_csv(source, args.records)
            with factory() as session:
                registries.create_registry(session, system, data=registries.RegistryCreate(
                    name="bench", title=registries.LocalizedText(en="Benchmark"), json_schema=bench.SCHEMA))
                registries.publish_version(session, system, name="bench")
                session.commit()
            with engine.connect() as conn:
                wal_start = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar()
            own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            with factory() as session:
                pid = session.execute(text("SELECT pg_backend_pid()")).scalar()

                def backend_cpu() -> float:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

                backend_before = backend_cpu() if Path(f"/proc/{pid}/stat").exists() else None
                registries.import_file(session, system, name="bench", path=source)
                backend = backend_cpu() - backend_before if backend_before is not None else None
                session.commit()
            seconds = time.perf_counter() - started
            own2, children2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            with engine.connect() as conn:
                wal = float(conn.execute(text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :start)"),
                                         {"start": wal_start}).scalar() or 0)
            engine.dispose()
    finally:
        bench.drop_postgres(url)
    print(f"{args.records:,} records in {seconds:.2f} s: {args.records / seconds:,.0f} records/s; "
          f"WAL {wal / 1e6:,.0f} MB")
    for name, value in spent.items():
        print(f"  {name}: {value:,.2f}{'' if name.startswith('MB') else ' s'}")
    cpu = own2.ru_utime + own2.ru_stime - own.ru_utime - own.ru_stime
    worker = children2.ru_utime + children2.ru_stime - children.ru_utime - children.ru_stime
    print(f"  CPU: importing process {cpu:.2f} s, worker {worker:.2f} s"
          + (f", database backend {backend:.2f} s (without parallel index workers)" if backend is not None else ""))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
