"""Digital identity under load: yes/no verification, token issuance and e-KYC, one app process.

Uses a PostgreSQL database holding the population (``--database-url``, by default ``nokor_identity_bench`` on
the local server) and the data dir of its trust keys (``--data-dir``, by default var/bench-identity). When
that database does not exist yet, the benchmark makes it first with ``nokor db upgrade``, ``nokor places
load``, ``nokor trust init`` and ``nokor civil generate --residents N`` (``--residents``, 1,000,000: about a
quarter of an hour). The benchmark registers its own relying party,
consent agreement and API key (names carry a random suffix, so it can run again), then starts ``nokor
serve`` (uvicorn, one process) and measures over HTTP:

* verification: ``POST /api/v1/identity/verify`` for random residents (name in Khmer or Latin script and
  date of birth), ``--concurrency`` keep-alive connections each with one request in flight (a lean HTTP/1.1
  client, so the load generator does not take the CPU the server needs), after 50 to warm up: throughput,
  latency percentiles and the server process's CPU time per call;
* verification at a fixed rate: ``--rate`` calls per second (1,000, the goal) for ``--rate-seconds``, each
  due at its own time and timed from then over up to 64 connections (open loop): the latency percentiles a
  relying party sees at that throughput;
* token issuance: for signed-in citizens, one after the other after 5 to warm up, the consent answer
  (``POST /authorize``, which issues the code) followed by ``POST /oauth/token`` (PKCE, client secret, ES256
  ID token sealed by the platform key); the server's CPU per flow counts the consent page too;
* e-KYC: ``POST /api/v1/identity/ekyc`` with those tokens, latency percentiles.

Prints a table with the load average (the machine is shared: the server's CPU per call is the figure that
depends least on it) and appends JSON lines to bench/results/identity.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results" / "identity.json"
HOST = "127.0.0.1"

from _support import git_commit, wait_ready  # noqa: E402


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 100 else max(values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def ensure_population(database_url: str, data_dir: Path, residents: int) -> None:
    """Create and fill the database when it does not exist yet (an existing one is used as it is)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    dsn = f"host={url.host or HOST} port={url.port or 5432} user={url.username or 'postgres'} dbname=postgres"
    if url.password:
        dsn += f" password={url.password}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone():
            return
        print(f"creating {url.database} with {residents:,} residents (data dir {data_dir})", flush=True)
        conn.execute(f'CREATE DATABASE "{url.database}"')  # type: ignore[arg-type]
    env = {**os.environ, "NOKOR_DATABASE_URL": database_url, "NOKOR_DATA_DIR": str(data_dir)}
    nokor = str(Path(sys.executable).with_name("nokor"))
    for command in (["db", "upgrade"], ["places", "load"], ["trust", "init"],
                    ["civil", "generate", "--residents", str(residents)]):
        subprocess.run([nokor, *command], env=env, check=True, stdout=subprocess.DEVNULL)


def prepare(database_url: str, data_dir: Path, citizens: int, sample: int) -> dict[str, Any]:
    """Relying party, agreement, API key, citizen sessions and a sample of residents to verify."""
    os.environ["NOKOR_DATABASE_URL"], os.environ["NOKOR_DATA_DIR"] = database_url, str(data_dir)
    from sqlalchemy import text

    from nokor import accounts, identity
    from nokor.config import get_settings
    from nokor.db import make_engine, make_session_factory, session_scope
    from nokor.kit.actor import Actor

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    system = Actor.system("bench")
    suffix = secrets.token_hex(3)
    rules = identity.IdentityRules(secret=settings.effective_secret_key, issuer=settings.base_url)
    with session_scope(make_session_factory(engine)) as session:
        count = session.execute(text("SELECT count(*) FROM civil_resident")).scalar_one()
        rows = session.execute(text(
            "SELECT id, nin, given_name, family_name, given_name_latin, family_name_latin, birth_date "
            "FROM civil_resident TABLESAMPLE SYSTEM (1) WHERE nin IS NOT NULL AND status = 'alive' LIMIT :n"),
            {"n": sample + citizens}).all()
        party = identity.register_relying_party(session, system, data=identity.RelyingPartyCreate(
            client_id=f"bench-{suffix}", name={"en": "Bench bank"}, redirect_uris=["http://127.0.0.1:9/cb"],
            scopes=["openid", "profile", "national_id"]))
        agreement = identity.create_agreement(session, system, data=identity.AgreementCreate(
            code=f"bench-{suffix}-kyc", client_id=party.relying_party.client_id, purpose={"en": "KYC"},
            attributes=["name", "birthdate", "individual_id"]))
        key = accounts.create_api_client(session, system, data=accounts.ApiClientCreate(
            name="Bench verifier", identity=f"KH/BENCH/{suffix}/verify", permissions=["identity.verify"])).api_key
        sessions = []
        for row in rows[:citizens]:
            token, _citizen = identity.open_session(session, resident_id=row.id, methods=["otp"], rules=rules)
            sessions.append(token)
    engine.dispose()
    probes = []
    for row in rows[citizens:]:
        name = (f"{row.given_name} {row.family_name}" if random.random() < 0.5
                else f"{row.given_name_latin} {row.family_name_latin}")
        probes.append({"individual_id": row.nin, "name": name, "birth_date": row.birth_date.isoformat()})
    return {"residents": count, "client_id": party.relying_party.client_id, "secret": party.client_secret,
            "agreement": agreement.code, "key": key, "sessions": sessions, "probes": probes}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far: the server's cost per request, whatever else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class KeepAliveConnection:
    """One HTTP/1.1 keep-alive connection that sends ready-made requests and reads their answers.

    The verification load comes from the same two cores as the server; httpx spent about 3 ms of CPU per call,
    more than the server, and capped the figure at some 300 calls/s. This reads just what a JSON answer needs
    (status line, Content-Length, body), so the load generator costs a small fraction of the server's time.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> KeepAliveConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _sep, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return status, body

    def close(self) -> None:
        self.writer.close()


def verify_request(host: str, port: int, key: str, probe: dict[str, Any]) -> bytes:
    body = json.dumps(probe).encode()
    return (f"POST /api/v1/identity/verify HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def verification(base: str, key: str, probes: list[dict[str, Any]], total: int,
                       concurrency: int, server_pid: int) -> dict[str, float]:
    host, port = HOST, int(base.rsplit(":", 1)[1])
    requests = [verify_request(host, port, key, probe) for probe in probes]
    latencies: list[float] = []
    matches = 0
    queue = list(range(total))
    connections = [await KeepAliveConnection.open(host, port) for _ in range(concurrency)]

    async def worker(connection: KeepAliveConnection) -> None:
        nonlocal matches
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            status, body = await connection.send(requests[i % len(requests)])
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"verification answered {status}: {body[:300]!r}")
            matches += bool(json.loads(body)["match"])

    try:
        for _ in range(50):  # warm up
            await connections[0].send(requests[0])
        started, cpu = time.perf_counter(), cpu_seconds(server_pid)
        await asyncio.gather(*(worker(connection) for connection in connections))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(server_pid) - cpu
    finally:
        for connection in connections:
            connection.close()
    return {"per_second": total / elapsed, "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95),
            "p99_ms": pct(latencies, 99), "match_share": matches / total, "cpu_ms": cpu * 1000 / total}


async def verification_at_rate(base: str, key: str, probes: list[dict[str, Any]], rate: float, seconds: float,
                               connections_max: int, server_pid: int) -> dict[str, float]:
    """Verification offered at a fixed rate (open loop, as a relying party's traffic arrives), not as fast as
    the server answers: call i is due at ``i / rate`` and its latency counts from then, so a call that waits
    for a free connection is charged for the wait (no coordinated omission). This is the latency at that
    throughput; the closed-loop phase above measures the throughput ceiling, where every call queues."""
    host, port = HOST, int(base.rsplit(":", 1)[1])
    requests = [verify_request(host, port, key, probe) for probe in probes]
    total = int(rate * seconds)
    idle: asyncio.Queue[KeepAliveConnection] = asyncio.Queue()
    opened = [await KeepAliveConnection.open(host, port) for _ in range(connections_max)]
    for connection in opened:
        idle.put_nowait(connection)
    latencies: list[float] = []
    failures = 0

    async def call(i: int, due: float) -> None:
        nonlocal failures
        connection = await idle.get()
        try:
            status, _body = await connection.send(requests[i % len(requests)])
        finally:
            idle.put_nowait(connection)
        latencies.append((time.perf_counter() - due) * 1000)
        failures += status != 200

    tasks: list[asyncio.Task[None]] = []
    try:
        for _ in range(50):  # warm up
            await opened[0].send(requests[0])
        started, cpu = time.perf_counter(), cpu_seconds(server_pid)
        sent = 0
        while sent < total:
            now = time.perf_counter()
            due_now = min(total, int((now - started) * rate) + 1)
            for i in range(sent, due_now):
                tasks.append(asyncio.create_task(call(i, started + i / rate)))
            sent = due_now
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(server_pid) - cpu
    finally:
        for connection in opened:
            connection.close()
    if failures:
        raise RuntimeError(f"{failures} of {total} verifications at {rate:.0f}/s did not answer 200")
    return {"offered_per_second": rate, "per_second": total / elapsed, "p50_ms": pct(latencies, 50),
            "p95_ms": pct(latencies, 95), "p99_ms": pct(latencies, 99), "cpu_ms": cpu * 1000 / total}


WARM_UP_FLOWS = 5


def code_flow(base: str, setup: dict[str, Any], session_token: str, api: httpx.Client) -> tuple[str, float]:
    """One citizen's consent answer and token request (by the relying party's client ``api``, which keeps its
    connection as a relying party's server does); returns the access token and the milliseconds both took."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": setup["client_id"], "redirect_uri": "http://127.0.0.1:9/cb",
              "scope": "openid profile national_id", "state": "s", "nonce": secrets.token_hex(8),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    with httpx.Client(base_url=base, cookies={"nokor_citizen": session_token},
                      headers={"accept": "text/html"}) as browser:
        page = browser.get("/authorize", params=params)
        form: dict[str, Any] = {k: unescape(v) for k, v in
                                re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
        form["agreement"] = re.findall(r'name="agreement" value="([^"]+)"', page.text)
        form["decision"] = "allow"
        started = time.perf_counter()
        back = browser.post("/authorize", data=form)
        code = re.search(r"code=([^&]+)", back.headers["location"])
        assert code, back.headers.get("location")
        answer = api.post("/oauth/token", auth=(setup["client_id"], setup["secret"]), data={
            "grant_type": "authorization_code", "code": code.group(1), "redirect_uri": "http://127.0.0.1:9/cb",
            "code_verifier": verifier})
        elapsed = (time.perf_counter() - started) * 1000
        answer.raise_for_status()
    return str(answer.json()["access_token"]), elapsed


def issue_tokens(base: str, setup: dict[str, Any], server_pid: int) -> tuple[list[str], dict[str, float]]:
    """Code flows one after the other, after a few to warm up (templates compiled, routes resolved), as the
    verification phase warms up too."""
    tokens: list[str] = []
    latencies: list[float] = []
    with httpx.Client(base_url=base) as api:
        for session_token in setup["sessions"][:WARM_UP_FLOWS]:
            code_flow(base, setup, session_token, api)
        started_all, cpu = time.perf_counter(), cpu_seconds(server_pid)
        for session_token in setup["sessions"][WARM_UP_FLOWS:]:
            token, elapsed = code_flow(base, setup, session_token, api)
            tokens.append(token)
            latencies.append(elapsed)
        elapsed_all, cpu = time.perf_counter() - started_all, cpu_seconds(server_pid) - cpu
    return tokens, {"per_second_sequential": len(tokens) / sum(latencies) * 1000,
                    "cpu_ms": cpu * 1000 / len(tokens),
                    "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "wall_s": elapsed_all}


def ekyc(base: str, setup: dict[str, Any], tokens: list[str], rounds: int) -> dict[str, float]:
    latencies: list[float] = []
    with httpx.Client(base_url=base, auth=(setup["client_id"], setup["secret"])) as client:
        for i in range(rounds):
            started = time.perf_counter()
            response = client.post("/api/v1/identity/ekyc", json={"access_token": tokens[i % len(tokens)],
                                                                   "purpose": setup["agreement"]})
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return {"p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=f"postgresql+psycopg://postgres@{HOST}/nokor_identity_bench")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench-identity")
    parser.add_argument("--residents", type=int, default=1_000_000,
                        help="population to generate when the database does not exist yet")
    parser.add_argument("--verifications", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000,
                        help="verifications offered per second in the fixed-rate phase (the goal's throughput)")
    parser.add_argument("--rate-seconds", type=float, default=10, help="length of the fixed-rate phase")
    parser.add_argument("--citizens", type=int, default=200, help="code flows (token issuance)")
    parser.add_argument("--ekyc", type=int, default=1000)
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_population(args.database_url, args.data_dir, args.residents)
    setup = prepare(args.database_url, args.data_dir, args.citizens + WARM_UP_FLOWS, sample=2000)
    port = free_port()
    base = f"http://{HOST}:{port}"
    env = {**os.environ, "NOKOR_DATABASE_URL": args.database_url, "NOKOR_DATA_DIR": str(args.data_dir),
           "NOKOR_LOG_LEVEL": "WARNING", "NOKOR_BASE_URL": base}
    log = Path(args.data_dir) / "bench-identity-server.log"
    nokor = Path(sys.executable).with_name("nokor")
    with log.open("w") as out:
        server = subprocess.Popen([str(nokor), "serve", "--host", HOST, "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(base, server, log, timeout=120)
        verified = asyncio.run(verification(base, setup["key"], setup["probes"], args.verifications,
                                            args.concurrency, server.pid))
        at_rate = asyncio.run(verification_at_rate(base, setup["key"], setup["probes"], args.rate,
                                                   args.rate_seconds, 64, server.pid))
        tokens, issued = issue_tokens(base, setup, server.pid)
        kyc = ekyc(base, setup, tokens, args.ekyc)
    finally:
        server.terminate()
        server.wait(timeout=15)
    load = os.getloadavg()
    figures = [
        ("verification", "requests_per_second", verified["per_second"]),
        ("verification", "p50_ms", verified["p50_ms"]), ("verification", "p95_ms", verified["p95_ms"]),
        ("verification", "p99_ms", verified["p99_ms"]),
        ("verification", "server_cpu_ms_per_call", verified["cpu_ms"]),
        ("verification", "match_share", verified["match_share"]),
        ("verification_at_rate", "offered_per_second", at_rate["offered_per_second"]),
        ("verification_at_rate", "answered_per_second", at_rate["per_second"]),
        ("verification_at_rate", "p50_ms", at_rate["p50_ms"]), ("verification_at_rate", "p95_ms", at_rate["p95_ms"]),
        ("verification_at_rate", "p99_ms", at_rate["p99_ms"]),
        ("verification_at_rate", "server_cpu_ms_per_call", at_rate["cpu_ms"]),
        ("token_issuance", "per_second_sequential", issued["per_second_sequential"]),
        ("token_issuance", "p50_ms", issued["p50_ms"]), ("token_issuance", "p95_ms", issued["p95_ms"]),
        ("token_issuance", "server_cpu_ms_per_flow", issued["cpu_ms"]),
        ("ekyc", "p50_ms", kyc["p50_ms"]), ("ekyc", "p95_ms", kyc["p95_ms"]),
    ]
    context = {"residents": setup["residents"], "concurrency": args.concurrency,
               "verifications": args.verifications, "code_flows": args.citizens, "ekyc_calls": args.ekyc,
               "database": "postgresql", "app_processes": 1, "load_average": [round(x, 2) for x in load],
               "commit": git_commit(), "at": datetime.now(UTC).isoformat(timespec="seconds")}
    print(f"identity benchmark: {setup['residents']:,} residents, PostgreSQL, one uvicorn process, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'what':<16} {'figure':<24} {'value':>12}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        for what, figure, value in figures:
            print(f"{what:<16} {figure:<24} {value:>12.2f}")
            out.write(json.dumps({"bench": "identity", "what": what, "figure": figure, "value": round(value, 3),
                                  **context}) + "\n")


if __name__ == "__main__":
    main()
