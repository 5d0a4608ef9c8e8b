"""Trust services throughput on one core: PDF certificates sealed per second (one page, PAdES B-LT with
a visible QR stamp and an RFC 3161 timestamp from Nokor's own TSA), JWS signed and verified per
second (ES256 with x5c), and timestamp replies per second (DER query in, DER reply out).

Runs the public service functions over a fresh SQLite database and a fresh hierarchy with key files
in a temporary data dir; nothing leaves the machine. Each figure is measured for a fixed time after a
warm-up, so the whole run is bounded (about 4 x DURATION seconds). Prints a table and writes one JSON
line per figure to bench/results/trust_signing.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from asn1crypto import tsp

from nokor import trust
from nokor.config import Settings
from nokor.db import make_engine, make_session_factory
from nokor.kit.actor import Actor
from nokor.trust.pdf import simple_pdf

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "trust_signing.json"


def measure(work: Callable[[], object], seconds: float, warmup: int = 3) -> tuple[int, float]:
    for _ in range(warmup):
        work()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        work()
        count += 1
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per figure (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.set_main_option("script_location", str(ROOT / "migrations"))
        cfg.attributes["database_url"] = url
        command.upgrade(cfg, "head")
        settings = Settings(data_dir=Path(folder) / "var", database_url=url, secret_key="bench-" + "x" * 40,  # type: ignore[arg-type]
                            log_level="WARNING")
        engine = make_engine(url)
        session = make_session_factory(engine)()
        actor = Actor.system("bench")
        ring = trust.key_ring(settings)
        trust.init_hierarchy(session, actor, ring=ring)
        session.commit()

        document = simple_pdf(["Certificate of birth", "Name: Sok Dara", "Born: 2024-03-01, Phnom Penh"],
                              title="Kingdom of Cambodia")

        def seal_pdf() -> None:
            trust.sign_pdf(session, actor, ring=ring, data=document, document_name="Birth certificate")
            session.commit()

        payload = json.dumps({"nid": "123456789", "name": "Sok Dara", "born": "2024-03-01"}).encode()
        token = trust.sign_json(session, actor, ring=ring, payload=payload).jws
        session.commit()

        def sign_jws() -> None:
            trust.sign_json(session, actor, ring=ring, payload=payload)
            session.commit()

        def verify_jws() -> None:
            assert trust.verify_jws(session, token=token).holds

        query = tsp.TimeStampReq({"version": 1, "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"message").digest()},
            "cert_req": True, "nonce": 12345}).dump()

        def timestamp() -> None:
            trust.answer_timestamp_query(session, ring=ring, query=query)

        rows = []
        for name, work in (("pdf_seal_b_lt", seal_pdf), ("jws_sign", sign_jws), ("jws_verify", verify_jws),
                           ("tsa_reply", timestamp)):
            count, elapsed = measure(work, args.duration)
            rows.append({"figure": name, "per_second": round(count / elapsed, 1), "count": count,
                         "seconds": round(elapsed, 2), "ms_each": round(1000 * elapsed / count, 2)})
        session.close()
        engine.dispose()

    print(f"{'figure':<16}{'per second':>12}{'ms each':>10}{'count':>8}")
    for row in rows:
        print(f"{row['figure']:<16}{row['per_second']:>12}{row['ms_each']:>10}{row['count']:>8}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with RESULTS.open("a") as fh:
        for row in rows:
            fh.write(json.dumps({"bench": "trust_signing", "at": stamp, "python": platform.python_version(),
                                 "machine": platform.machine(), "backend": "file keys, SQLite", **row}) + "\n")


if __name__ == "__main__":
    main()
