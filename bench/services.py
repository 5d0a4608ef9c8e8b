"""E-services: submit-application p95, the officer's queue page p95 over 100,000 applications, notifications
sent per second through the outbox (to a real local SMTP server), and the weight of a rendered portal page.

On a fresh SQLite file and, when NOKOR_DATABASE_URL points at PostgreSQL, on a scratch database beside it.
Submitting is the service path a citizen's "submit" runs (draft saved, form checked, deadline set, the
applicant's portal message and e-mail queued), one commit each. The queue page is the real page through the
app (signed-in officer, HTML rendered). Page weight is the HTML of the service catalogue plus the CSS and
JavaScript it loads, without fonts. Bounded counts; prints a table and writes JSON lines to
bench/results/services.json.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "services.json"
COUNTS = os.environ.get("BENCH_SERVICES_COUNTS", "300,100000,200,1000")  # submits, rows, pages, notices
SUBMITS, QUEUE_ROWS, QUEUE_PAGES, NOTICES = (int(x) for x in COUNTS.split(","))


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(url: str, label: str, folder: Path) -> list[dict[str, Any]]:
    from aiosmtpd.controller import Controller
    from fastapi.testclient import TestClient
    from sqlalchemy import insert, select
    from tests.conftest import make_officer, sign_in
    from tests.services.conftest import load_country

    from nokor import messaging, models, services
    from nokor.app import create_app
    from nokor.config import Settings
    from nokor.db import make_engine, make_session_factory
    from nokor.kit.actor import Actor
    from nokor.kit.ids import damm_digit
    from nokor.services.models import Application
    from nokor.worker import Worker

    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # the civil register's name search (its migration makes it too)
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    models.metadata.create_all(engine)
    factory = make_session_factory(engine)
    system = Actor.system("bench")
    with factory() as session:
        load_country(session)
        make_officer(session, username="bench.officer", org_unit="MOI-PNH", roles=["service_officer"])
        session.commit()
    at = datetime.now(UTC).isoformat()
    figures: list[dict[str, Any]] = []

    # 1. submit an application (change of address: no fee, no document), one commit each
    timings = []
    values = {"national_id": "123456789012", "new_address_code": "12010101", "moved_on": "2026-01-02"}
    for i in range(SUBMITS):
        person = services.Applicant(subject=f"bench|{i}", name="Chan Dara", email=f"dara{i}@example.org", locale="km")
        with factory() as session:
            began = time.perf_counter()
            draft = services.start_application(session, person, service_code="change-of-address", values=values)
            services.submit_application(session, person, number=draft.number)
            session.commit()
            timings.append((time.perf_counter() - began) * 1000)
    figures.append({"bench": "services", "database": label, "figure": "submit_application_p95_ms",
                    "value": round(_p95(timings), 2), "median_ms": round(statistics.median(timings), 2),
                    "count": SUBMITS, "goal": "<= 100", "at": at})

    # 2. the officer's queue page over 100,000 applications of the unit
    with factory() as session:
        service = services.get_service(session, code="change-of-address")
        now = datetime.now(UTC)
        states = ["submitted", "submitted", "in_review", "needs_information", "completed", "rejected"]
        # Numbers drawn the way the service draws them (the year, eight random digits, a check digit), never
        # one already taken: a counting range would collide with the numbers the submits above drew.
        taken = set(session.scalars(select(Application.number)))
        batch: list[dict[str, Any]] = []
        for i in range(QUEUE_ROWS):
            number = ""
            while not number or number in taken:
                body = f"{now.year % 100:02d}{secrets.randbelow(10**8):08d}"
                number = "E" + body + damm_digit(body)
            taken.add(number)
            batch.append({"number": number, "service_id": service.id,
                          "service_version_id": service.version_id, "org_unit_id": service.org_unit_id,
                          "state": states[i % len(states)], "channel": "online", "applicant_subject": f"bulk|{i}",
                          "applicant_name": "Sok Dara", "applicant_locale": "km", "data": values, "result": {},
                          "submitted_at": now, "due_at": now + timedelta(days=5 - i % 10), "created_at": now,
                          "updated_at": now,  # the deadline's clock stands still while the applicant has to answer
                          "clock_paused_at": now if states[i % len(states)] == "needs_information" else None})
            if len(batch) == 5000:
                session.execute(insert(Application), batch)
                batch = []
        if batch:
            session.execute(insert(Application), batch)
        session.commit()
    settings = Settings(environment="test", data_dir=folder / "var", database_url=url, log_level="WARNING",
                        secret_key="bench-secret-key-" + "x" * 32, default_locale="km")  # type: ignore[arg-type]
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        sign_in(client, "bench.officer")
        for view in ("unassigned", "overdue"):
            for _ in range(5):  # templates and catalogues are compiled on first use
                client.get(f"/admin/services?view={view}", headers={"accept": "text/html"})
            timings = []
            for _ in range(QUEUE_PAGES):
                began = time.perf_counter()
                page = client.get(f"/admin/services?view={view}", headers={"accept": "text/html"})
                timings.append((time.perf_counter() - began) * 1000)
                assert page.status_code == 200 and f"E{now.year % 100:02d}" in page.text
            figures.append({"bench": "services", "database": label, "figure": f"queue_page_{view}_p95_ms",
                            "value": round(_p95(timings), 2), "median_ms": round(statistics.median(timings), 2),
                            "rows": QUEUE_ROWS + SUBMITS, "count": QUEUE_PAGES, "goal": "<= 100", "at": at})
        # 4. page weight of the portal's service catalogue (HTML + CSS + JavaScript, no fonts)
        html = client.get("/services", headers={"accept": "text/html"}).content
        css = client.get("/static/css/nokor.css").content
        js = client.get("/static/vendor/htmx.min.js").content
        svg = client.get("/static/images/nokor.svg").content
        figures.append({"bench": "services", "database": label, "figure": "portal_page_weight_kb",
                        "value": round((len(html) + len(css) + len(js) + len(svg)) / 1024, 1),
                        "html_kb": round(len(html) / 1024, 1), "css_kb": round(len(css) / 1024, 1),
                        "js_kb": round(len(js) / 1024, 1), "goal": "<= 100 (without fonts)", "at": at})
    app.state.engine.dispose()

    # 3. notifications through the outbox to a real SMTP server on loopback
    with factory() as session:
        for i in range(NOTICES):
            messaging.notify_person(session, system, template="services.submitted", locale="en",
                                    context={"number": f"E{i}", "service": "Bench", "link": "http://x/", "due": "-"},
                                    email=f"person{i}@example.org")
        session.commit()

    class Sink:
        count = 0

        async def handle_DATA(self, server: Any, smtp_session: Any, envelope: Any) -> str:
            Sink.count += 1
            return "250 OK"

    port = _free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    smtp = settings.model_copy(update={"messaging_email_transport": "smtp", "messaging_smtp_port": port,
                                       "outbox_batch_size": 100})
    worker = Worker(smtp, factory)
    for channel, deliverer in messaging.deliverers(smtp, factory).items():
        worker.register(channel, deliverer)
    pending = SUBMITS + NOTICES  # the submissions' e-mails are in the outbox too
    began = time.perf_counter()
    delivered = 0
    while delivered < pending:
        done = worker.run_once()
        if done == 0:
            break
        delivered += done
    elapsed = time.perf_counter() - began
    worker.close()
    controller.stop()
    figures.append({"bench": "services", "database": label, "figure": "notifications_sent_per_second",
                    "value": round(delivered / elapsed, 1), "delivered": delivered, "smtp_received": Sink.count,
                    "at": at})
    engine.dispose()
    return figures


def main() -> None:
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if os.environ.get("BENCH_SERVICES_DATABASES", "sqlite,postgresql") != "postgresql":
            figures += run(f"sqlite:///{tmp}/bench.db", "sqlite", Path(tmp))
        configured = os.environ.get("NOKOR_DATABASE_URL", "")
        if configured.startswith("postgresql"):
            from tests.conftest import create_scratch_database, drop_scratch_database

            url = create_scratch_database(configured, "bench")
            try:
                figures += run(url, "postgresql", Path(tmp))
            finally:
                drop_scratch_database(url)
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{'database':<12}{'figure':<34}{'value':>10}")
    for f in figures:
        f["load"] = load
        print(f"{f['database']!s:<12}{f['figure']!s:<34}{f['value']!s:>10}")
    print(load)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        for f in figures:
            out.write(json.dumps(f) + "\n")


if __name__ == "__main__":
    main()
