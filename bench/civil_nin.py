"""Civil register: national ID numbers issued per second, and register-birth service p95.

On a fresh SQLite file and, when NOKOR_DATABASE_URL points at PostgreSQL, on a scratch database
beside it: creates the tables, enters residents without numbers, then times
``issue_national_id`` (one commit per 100 numbers) and the service path draft → declared →
validated → registered of a birth (one commit per birth, as one request would). Bounded: a fixed
count of each. Prints a table and writes JSON lines to bench/results/civil_nin.json.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "civil_nin.json"
NUMBERS, BIRTHS = 2000, 300


def run(url: str, label: str) -> list[dict[str, object]]:
    from alembic import command
    from tests.conftest import alembic_config

    from nokor import civil, places
    from nokor.civil import synthetic
    from nokor.civil.models import Resident
    from nokor.db import make_engine, make_session_factory
    from nokor.kit.actor import Actor
    from nokor.kit.errors import Conflict

    # The schema as the migrations make it (on PostgreSQL they also enable pg_trgm for name search).
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    factory = make_session_factory(engine)
    system = Actor.system("bench")
    with factory() as session:
        places.load_demo(session)  # a place of the register must be a known village (Cambodia's lists)
        session.commit()
        mother = civil.create_resident(session, system, data=civil.ResidentCreate(
            given_name="ដារា", family_name="សុខ", sex="F", birth_date=date(1990, 1, 1), birth_place_code="12010101"))
        rows = [Resident(given_name="A", family_name="B", given_name_latin="A", family_name_latin="B", sex="F",
                         birth_date=date(2000, 1, 1), status="alive", version=1) for _ in range(NUMBERS)]
        session.add_all(rows)
        session.commit()
        ids = [r.id for r in rows]
    start = time.perf_counter()
    with factory() as session:
        for i, resident_id in enumerate(ids, 1):
            civil.issue_national_id(session, system, resident_id=resident_id)
            if i % 100 == 0:
                session.commit()
        session.commit()
    per_second = NUMBERS / (time.perf_counter() - start)
    timings = []
    rng = random.Random(7)
    used: set[str] = set()
    for _ in range(BIRTHS):
        with factory() as session:
            # Children with names of their own: the same name again would be held as a possible duplicate.
            given, latin = synthetic.khmer_given_name(rng, "M")
            while latin in used:
                given, latin = synthetic.khmer_given_name(rng, "M")
            used.add(latin)
            event = civil.create_event(session, system, data=civil.EventCreate(
                kind="birth", occurred_on=date.today(), place_code="12010101",
                child=civil.PersonDetails(given_name=given, given_name_latin=latin, family_name="ចាន់", sex="M",
                                          mother_id=mother.id)))
            civil.declare_event(session, system, event_id=event.id)
            try:
                civil.validate_event(session, system, event_id=event.id)
            except Conflict:  # a name too like a brother's: held for an officer, not timed
                session.rollback()
                continue
            session.commit()
            began = time.perf_counter()
            civil.register_event(session, system, event_id=event.id)
            session.commit()
            timings.append((time.perf_counter() - began) * 1000)
    engine.dispose()
    p95 = statistics.quantiles(timings, n=20)[18]
    at = datetime.now(UTC).isoformat()
    return [{"bench": "civil_nin", "database": label, "figure": "nin_issued_per_second", "value": round(per_second, 1),
             "count": NUMBERS, "at": at},
            {"bench": "civil_nin", "database": label, "figure": "register_birth_service_p95_ms", "value": round(p95, 2),
             "median_ms": round(statistics.median(timings), 2), "count": BIRTHS, "at": at}]


def main() -> None:
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        figures += run(f"sqlite:///{tmp}/bench.db", "sqlite")
    configured = os.environ.get("NOKOR_DATABASE_URL", "")
    if configured.startswith("postgresql"):
        from tests.conftest import create_scratch_database, drop_scratch_database

        url = create_scratch_database(configured, "bench")
        try:
            figures += run(url, "postgresql")
        finally:
            drop_scratch_database(url)
    print(f"{'database':<12}{'figure':<34}{'value':>10}")
    for f in figures:
        print(f"{f['database']!s:<12}{f['figure']!s:<34}{f['value']!s:>10}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        for f in figures:
            out.write(json.dumps(f) + "\n")


if __name__ == "__main__":
    main()
