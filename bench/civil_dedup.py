"""Civil register at scale: loading residents, duplicate checks, and the matcher against Splink.

On a scratch PostgreSQL database (``NOKOR_DATABASE_URL`` or ``--pg-url``; SQLite with ``--sqlite``):
loads Cambodia's places, writes ``--residents`` synthetic residents (1,000,000 by default) to an
import CSV and times ``import_residents`` (validation, national ID numbers, history, COPY); writes
a probe file of ``--probe`` rows with planted duplicates (typos, other spellings, swapped dates,
missing fields) and new people, then

* times the duplicate check of each probe row (blocking query + scoring) and scores the top
  candidate against the truth: precision, recall and F1 at the configured threshold;
* runs Splink (DuckDB backend; ``pip install -e '.[bench]'``) on the same register and probe rows
  with comparable blocking and comparisons, trained by random sampling and EM, at match
  probability 0.5, and scores it the same way;
* starts the app (uvicorn, one process) and times, over HTTP with an API key, declaring and
  registering births (``POST /events``, ``/declare``, ``/validate``, ``/register``) and name
  searches (``GET /residents?name=``).

Prints a table (with the load average: the machine is shared) and appends JSON lines to
bench/results/civil_dedup.json. ``--residents 50000`` gives a quick run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results" / "civil_dedup.json"
HOST = "127.0.0.1"

from _support import git_commit, wait_ready  # noqa: E402


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def quality(predicted: dict[int, str], truth: dict[int, str]) -> dict[str, float]:
    """Precision, recall and F1 of the top candidate per row (a wrong resident counts as both a false
    positive and a false negative)."""
    tp = fp = fn = 0
    for row, want in truth.items():
        got = predicted.get(row, "")
        if got and got == want:
            tp += 1
            continue
        if got:
            fp += 1
        if want:
            fn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp,
            "fn": fn}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- load and match through the services ---------------------------------------------------------


def load_and_match(url: str, folder: Path, args: argparse.Namespace) -> tuple[dict[str, Any], Path, Path]:
    from sqlalchemy import text

    from nokor import civil, places
    from nokor.civil import bulk, dedup, service
    from nokor.civil.schemas import CivilRules
    from nokor.db import make_engine, make_session_factory
    from nokor.kit.actor import Actor

    engine = make_engine(url)
    factory = make_session_factory(engine)
    system = Actor.system("bench")
    rules = CivilRules()
    figures: dict[str, Any] = {}
    with factory() as session:
        places.load_demo(session)
        session.commit()
    people = folder / "residents.csv"
    started = time.perf_counter()
    with factory() as session, people.open("w", encoding="utf-8", newline="") as out:
        service.write_population_csv(session, system, stream=out, residents=args.residents, seed=args.seed)
    print(f"  wrote {args.residents:,} residents to the import file in {time.perf_counter() - started:.0f} s",
          flush=True)
    with factory() as session, people.open(encoding="utf-8", newline="") as stream:
        started = time.perf_counter()
        report = civil.import_residents(session, system, stream=stream, rules=rules, check_duplicates=False,
                                        reason="bench", batch_size=20000)
        session.commit()
        seconds = time.perf_counter() - started
    figures["load_seconds"] = round(seconds, 1)
    figures["load_residents_per_second"] = round(report.written / seconds, 1)
    print(f"  imported {report.written:,} residents in {seconds:.1f} s", flush=True)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("COMMIT"))
            conn.execute(text("ANALYZE civil_resident"))
        else:
            conn.execute(text("ANALYZE"))
    probe = folder / "probe.csv"
    with factory() as session, probe.open("w", encoding="utf-8", newline="") as out:
        service.write_probe_csv(session, system, stream=out, rows=args.probe, seed=args.seed + 1)
        session.commit()
    timings: list[float] = []
    predicted: dict[int, str] = {}
    truth: dict[int, str] = {}
    with factory() as session, probe.open(encoding="utf-8", newline="") as stream:
        for number, resident, _errors, raw in bulk.read_csv(stream, villages=None, today=date.today()):
            truth[number] = raw.get("duplicate_of", "")
            if resident is None:
                continue
            began = time.perf_counter()
            found = dedup.search(session, resident.person(), threshold=rules.duplicate_threshold, limit=5)
            timings.append((time.perf_counter() - began) * 1000)
            if found:
                predicted[number] = found[0].row.nin or ""
            if args.show_errors and predicted.get(number, "") != truth[number]:
                print(f"  row {number} ({raw.get('perturbation')}): {_described(raw)} wants {truth[number] or 'none'}",
                      flush=True)
                for f in found[:2]:
                    print(f"      got {f.row.nin} {f.row.given_name_latin} {f.row.family_name_latin} {f.row.sex} "
                          f"{f.row.birth_date} {f.row.birth_place_code} {f.score.total} {f.score.parts}", flush=True)
                if truth[number]:
                    want = session.execute(text("SELECT given_name_latin, family_name_latin, sex, birth_date, "
                                                "birth_place_code, mother_name FROM civil_resident WHERE nin = :n"),
                                           {"n": truth[number]}).one()
                    print(f"      true {' '.join(str(v) for v in want)}", flush=True)
        session.rollback()
    figures["dedup_check_p95_ms"] = round(p95(timings), 2)
    figures["dedup_check_median_ms"] = round(statistics.median(timings), 2)
    figures["nokor"] = quality(predicted, truth)
    figures["threshold"] = rules.duplicate_threshold
    engine.dispose()
    return figures, people, probe


def _described(raw: dict[str, str]) -> str:
    return " ".join(raw.get(k, "") for k in ("given_name", "family_name", "given_name_latin", "family_name_latin",
                                              "sex", "birth_date", "village_code", "mother_name"))


# --- Splink on the same set ----------------------------------------------------------------------


def splink_rows(path: Path, *, register: bool) -> list[dict[str, Any]]:
    from nokor.civil import bulk, matching

    rows = []
    with path.open(encoding="utf-8", newline="") as stream:
        for number, resident, _errors, raw in bulk.read_csv(stream, villages=None, today=date.today()):
            if resident is None:
                continue
            day = resident.birth_date
            swapped = matching.swapped(day) if resident.birth_date_precision == "day" else None
            rows.append({
                "unique_id": raw.get("nin") or f"r{number}" if register else f"p{number}",
                "given": matching.fold(resident.given_name_latin).replace(" ", "") or None,
                "family": matching.fold(resident.family_name_latin).replace(" ", "") or None,
                "given_written": matching.fold(resident.given_name).replace(" ", "") or None,
                "sex": resident.sex,
                "dob": day.isoformat() if resident.birth_date_precision == "day" else None,
                "dob_swapped": swapped.isoformat() if swapped else None,
                "birth_year": day.year,
                "place": resident.birth_place_code,
                "mother": matching.fold(resident.mother_name or "").replace(" ", "") or None,
                "father": matching.fold(resident.father_name or "").replace(" ", "") or None,
                "name_key": matching.block_key(resident.given_name_latin, resident.family_name_latin),
                "row": number,
                "duplicate_of": raw.get("duplicate_of", ""),
            })
    return rows


def run_splink(url: str, folder: Path, probe: Path) -> dict[str, Any]:
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from nokor.civil.bulk import format_birth_date
    from nokor.db import make_engine

    started = time.perf_counter()
    # The register as the services see it: every resident with a number, exported with COPY.
    register_csv = folder / "register.csv"
    engine = make_engine(url)
    columns = ("nin", "given_name", "family_name", "given_name_latin", "family_name_latin", "sex", "birth_date",
               "birth_date_precision", "birth_place_code", "mother_name", "father_name")
    with engine.connect() as conn, register_csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["nin", "given_name", "family_name", "given_name_latin", "family_name_latin", "sex",
                         "birth_date", "village_code", "mother_name", "father_name"])
        result = conn.exec_driver_sql(f"SELECT {', '.join(columns)} FROM civil_resident WHERE nin IS NOT NULL")
        for row in result:
            writer.writerow([row[0], row[1], row[2], row[3], row[4], row[5], format_birth_date(row[6], row[7]),
                             row[8] or "", row[9] or "", row[10] or ""])
    engine.dispose()
    left = splink_rows(register_csv, register=True)
    right = splink_rows(probe, register=False)
    con = duckdb.connect()
    for name, rows in (("register", left), ("probe", right)):
        path = folder / f"splink_{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header=true, all_varchar=true)")
    prepared = time.perf_counter() - started
    db_api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("given"),
            cl.NameComparison("family"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.ExactMatch("place"),
            cl.JaroWinklerAtThresholds("mother", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("father", [0.92, 0.8]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("dob"),
            "l.dob = r.dob_swapped",
            block_on("birth_year", "place"),
            block_on("name_key", "birth_year"),
        ],
        probability_two_random_records_match=0.5 / max(len(left), 1),
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([db_api.register("register", dataset_display_name="register"),
                     db_api.register("probe", dataset_display_name="probe")], settings)
    train_started = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
    # Two EM sessions, as Splink's guides do: one blocked on the date (trains the names), one on the
    # names (trains the date and the rest).
    em_sessions = []
    for rule in (block_on("dob"), block_on("family", "given"), block_on("birth_year", "place")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
            em_sessions.append(rule.get_blocking_rule("duckdb").blocking_rule_sql)
        except ValueError as exc:  # Splink 5 refuses a level it never saw among matches (m = 0)
            print(f"  Splink EM blocked on {rule} did not converge: {exc}", flush=True)
    trained = time.perf_counter() - train_started
    predict_started = time.perf_counter()
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    best: dict[str, tuple[float, str]] = {}
    for pair in pairs.as_record_list():
        ids = {pair["source_dataset_l"]: pair["unique_id_l"], pair["source_dataset_r"]: pair["unique_id_r"]}
        probe_id, nin = ids.get("probe"), ids.get("register")
        if probe_id is None or nin is None:
            continue
        if probe_id not in best or pair["match_probability"] > best[probe_id][0]:
            best[probe_id] = (pair["match_probability"], nin)
    predicted = {int(k[1:]): v[1] for k, v in best.items()}
    truth = {r["row"]: r["duplicate_of"] for r in right}
    figures = quality(predicted, truth)
    figures.update({"em_sessions": em_sessions, "prepare_seconds": round(prepared, 1),
                    "train_seconds": round(trained, 1),
                    "predict_seconds": round(time.perf_counter() - predict_started, 1)})
    return figures


# --- HTTP ----------------------------------------------------------------------------------------


def http_figures(url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from nokor import accounts
    from nokor.civil.models import Resident
    from nokor.db import make_engine, make_session_factory
    from nokor.kit.actor import Actor

    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        key = accounts.create_api_client(session, Actor.system("bench"), data=accounts.ApiClientCreate(
            name="Civil bench", identity="KH/GOV/MOI/civil-bench",
            permissions=["civil.read", "civil.declare", "civil.validate", "civil.register"])).api_key
        from sqlalchemy import select

        mothers = [(m.id, m.address_code) for m in session.scalars(
            select(Resident).where(Resident.sex == "F", Resident.status == "alive", Resident.nin.is_not(None),
                                   Resident.birth_date.between(date.today() - timedelta(days=40 * 365),
                                                               date.today() - timedelta(days=20 * 365)),
                                   Resident.address_code.is_not(None)).limit(args.births))]
        names = [(r.given_name_latin, r.family_name_latin) for r in session.scalars(
            select(Resident).where(Resident.nin.is_not(None)).limit(2000))]
        session.commit()
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
    env.update({"NOKOR_DATA_DIR": str(folder / "var"), "NOKOR_DATABASE_URL": url, "NOKOR_LOG_LEVEL": "WARNING"})
    port = free_port()
    log = folder / "server.log"
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(args.seed)
    steps: dict[str, list[float]] = {"create": [], "declare": [], "validate": [], "register": [], "total": []}
    searches: list[float] = []
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "nokor.app:create_app", "--factory", "--host", HOST, "--port",
             str(port), "--no-access-log", "--log-level", "warning"],
            env=env, cwd=folder, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_ready(f"http://{HOST}:{port}", server, log, timeout=90)
            base = f"http://{HOST}:{port}/api/v1/civil"
            with httpx.Client(headers=headers, timeout=30) as client:
                given = ["Dara", "Sokha", "Sreypov", "Bopha", "Vibol", "Chenda", "Rithy", "Maly"]
                for i, (mother_id, village) in enumerate(mothers):
                    body = {"kind": "birth", "occurred_on": (date.today() - timedelta(days=i % 20)).isoformat(),
                            "place_code": village, "child": {"given_name": rng.choice(given) + f"{i}",
                                                             "family_name": "Bench", "sex": rng.choice("FM"),
                                                             "mother_id": str(mother_id)}}
                    began = time.perf_counter()
                    created = client.post(f"{base}/events", json=body)
                    steps["create"].append((time.perf_counter() - began) * 1000)
                    if created.status_code != 201:
                        continue
                    event_id = created.json()["id"]
                    ok = True
                    for step in ("declare", "validate", "register"):
                        at = time.perf_counter()
                        answer = client.post(f"{base}/events/{event_id}/{step}")
                        steps[step].append((time.perf_counter() - at) * 1000)
                        if answer.status_code != 200:
                            ok = False
                            break
                    if ok:
                        steps["total"].append((time.perf_counter() - began) * 1000)
                for _ in range(args.searches):
                    given_name, family_name = rng.choice(names)
                    query = rng.choice((f"{given_name} {family_name}", family_name, given_name))
                    began = time.perf_counter()
                    answer = client.get(f"{base}/residents", params={"name": query, "purpose": "bench search",
                                                                     "limit": 20})
                    searches.append((time.perf_counter() - began) * 1000)
                    if answer.status_code != 200:
                        sys.exit(f"search answered {answer.status_code}: {answer.text}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    if not steps["total"]:
        sys.exit(f"no birth was registered over HTTP:\n{log.read_text()}")
    return {"register_birth_api_p95_ms": round(p95(steps["register"]), 2),
            "declare_birth_api_p95_ms": round(p95(steps["declare"]), 2),
            "create_birth_api_p95_ms": round(p95(steps["create"]), 2),
            "birth_four_requests_p95_ms": round(p95(steps["total"]), 2),
            "births_registered_over_http": len(steps["total"]),
            "name_search_api_p95_ms": round(p95(searches), 2),
            "name_search_api_median_ms": round(statistics.median(searches), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--probe", type=int, default=2000, help="rows looked up (about half planted duplicates)")
    parser.add_argument("--births", type=int, default=300, help="births declared and registered over HTTP")
    parser.add_argument("--searches", type=int, default=500, help="name searches over HTTP")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pg-url", default=os.environ.get("NOKOR_DATABASE_URL", ""))
    parser.add_argument("--sqlite", action="store_true", help="run on a SQLite file instead of PostgreSQL")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--show-errors", action="store_true",
                        help="print each probe row the matcher got wrong, with its candidates and the truth")
    args = parser.parse_args()
    from alembic import command
    from tests.conftest import alembic_config, create_scratch_database, drop_scratch_database

    with tempfile.TemporaryDirectory(prefix="nokor-bench-civil-") as tmp:
        folder = Path(tmp)
        (folder / "var").mkdir()
        if args.sqlite:
            url, label = f"sqlite:///{folder}/bench.db", "sqlite"
        elif args.pg_url.startswith("postgresql"):
            url, label = create_scratch_database(args.pg_url, "bench_civil"), "postgresql"
        else:
            sys.exit("set NOKOR_DATABASE_URL (or --pg-url) to a PostgreSQL server, or say --sqlite")
        try:
            command.upgrade(alembic_config(url), "head")
            figures, _people, probe = load_and_match(url, folder, args)
            print(f"  {json.dumps(figures)}", flush=True)
            if not args.no_splink:
                print("  running Splink", flush=True)
                figures["splink"] = run_splink(url, folder, probe)
                print(f"  splink: {json.dumps(figures['splink'])}", flush=True)
            if not args.no_http:
                print("  HTTP", flush=True)
                figures.update(http_figures(url, folder, args))
        finally:
            if label == "postgresql":
                drop_scratch_database(url)
    load = os.getloadavg()
    at = datetime.now(UTC).isoformat()
    common = {"bench": "civil_dedup", "database": label, "residents": args.residents, "probe_rows": args.probe,
              "commit": git_commit(), "load_average": [round(x, 2) for x in load], "at": at}
    lines: list[dict[str, Any]] = []
    for name in ("load_seconds", "load_residents_per_second", "dedup_check_p95_ms", "dedup_check_median_ms",
                 "register_birth_api_p95_ms", "declare_birth_api_p95_ms", "create_birth_api_p95_ms",
                 "birth_four_requests_p95_ms", "name_search_api_p95_ms", "name_search_api_median_ms"):
        if name in figures:
            lines.append({**common, "figure": name, "value": figures[name]})
    for matcher in ("nokor", "splink"):
        if matcher in figures:
            for measure in ("precision", "recall", "f1"):
                lines.append({**common, "figure": f"{matcher}_{measure}", "value": figures[matcher][measure],
                              "detail": figures[matcher]})
    print(f"\ncivil_dedup on {label}, {args.residents:,} residents, {args.probe:,} probe rows, "
          f"threshold {figures.get('threshold')}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'figure':<34}{'value':>14}")
    for line in lines:
        print(f"{line['figure']:<34}{line['value']!s:>14}")
    for matcher in ("nokor", "splink"):
        if matcher in figures:
            print(f"{matcher}: {json.dumps(figures[matcher])}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
