"""HTTP baseline: how many requests a second one uvicorn process of Nokor answers, and how fast.

Starts `uvicorn nokor.app:create_app --factory` on a free loopback port over a fresh SQLite database
(migrated, demo country loaded, one API client holding `audit.read`), then loads it from a separate
Python process (this file with `load`) with a fixed number of keep-alive connections, for a fixed time
after a warm-up, against:

* `GET /health/live`: a static JSON answer; the cost of the framework and the platform middleware.
* `GET /api/v1/me` with `Authorization: Bearer KEY`: authenticates the key, which reads one row (the
  API client, by its indexed key prefix) and checks its SHA-256; every API call pays this, so it is
  the floor under every authenticated endpoint.

Prints a table and writes one JSON line per figure to bench/results/http_baseline.json. Traffic goes
only to 127.0.0.1, and every loop stops by itself after its duration.
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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from _support import git_commit, wait_ready

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "http_baseline.json"
NOKOR = Path(sys.executable).with_name("nokor")
HOST = "127.0.0.1"


@dataclass
class LoadResult:
    """What one load run measured (the warm-up excluded)."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- the load generator (runs in its own process) ----------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; returns (status, whether the connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        raise ValueError("response without a length")
    return status, headers.get("connection") != "close"


async def _load(port: int, path: str, headers: dict[str, str], concurrency: int, warmup: float,
                duration: float) -> LoadResult:
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: application/json\r\n"
    request += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    payload = request.encode("latin-1")
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while time.perf_counter() < stop_at:
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                sent = time.perf_counter()
                writer.write(payload)
                status, keep_alive = await asyncio.wait_for(_read_response(reader), timeout=30)
                done = time.perf_counter()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                if measure_from <= time.perf_counter() <= stop_at:
                    errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            if measure_from <= done <= stop_at:
                latencies.append(done - sent)
                if not 200 <= status < 300:
                    errors += 1
            if not keep_alive:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    latencies.sort()

    def percentile(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return LoadResult(requests=len(latencies), errors=errors, seconds=duration,
                      p50_ms=percentile(0.50), p99_ms=percentile(0.99))


def load_main(argv: list[str]) -> None:
    """`http_baseline.py load`: generate the load and print the result as JSON (headers from the env)."""
    parser = argparse.ArgumentParser(prog="http_baseline.py load")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    args = parser.parse_args(argv)
    headers = json.loads(os.environ.get("BENCH_HEADERS", "{}"))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(_load(args.port, args.path, headers, args.concurrency, args.warmup, args.duration))
    print(json.dumps(asdict(result)))


# --- the bench: server, runs, table, JSON lines ------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _nokor(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([str(NOKOR), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        sys.exit(f"nokor {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32, help="open connections, each one request at a time")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per endpoint")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nokor-bench-") as tmp:
        folder = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
        env.update({"NOKOR_DATA_DIR": str(folder / "var"),
                    "NOKOR_DATABASE_URL": f"sqlite:///{folder / 'var' / 'nokor.db'}"})
        _nokor(env, folder, "db", "upgrade")
        _nokor(env, folder, "demo", "load")
        key = _nokor(env, folder, "accounts", "create-client", "Benchmark", "--identity", "KH/GOV/BENCH/load",
                     "--grant", "audit.read").strip().splitlines()[-1]

        port = _free_port()
        log = folder / "server.log"
        with log.open("wb") as log_file:
            server = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "nokor.app:create_app", "--factory", "--host", HOST,
                 "--port", str(port), "--no-access-log", "--log-level", "warning"],
                env=env, cwd=folder, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                wait_ready(f"http://{HOST}:{port}", server, log)
                targets = [
                    ("GET /health/live", "/health/live", {}),
                    ("GET /api/v1/me (API key)", "/api/v1/me", {"Authorization": f"Bearer {key}"}),
                ]
                rows: list[tuple[str, LoadResult]] = []
                for label, path, headers in targets:
                    print(f"loading {label}: {args.concurrency} connections, {args.warmup:g} s warm-up, "
                          f"{args.duration:g} s measured", flush=True)
                    done = subprocess.run(
                        [sys.executable, __file__, "load", "--port", str(port), "--path", path,
                         "--concurrency", str(args.concurrency), "--warmup", str(args.warmup),
                         "--duration", str(args.duration)],
                        env={**env, "BENCH_HEADERS": json.dumps(headers)}, capture_output=True, text=True,
                        timeout=args.warmup + args.duration + 120, check=False, stdin=subprocess.DEVNULL)
                    if done.returncode != 0:
                        sys.exit(f"the load generator failed:\n{done.stdout}{done.stderr}")
                    rows.append((label, LoadResult(**json.loads(done.stdout.strip().splitlines()[-1]))))
            finally:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()

    context = {
        "bench": "http_baseline",
        "server": "uvicorn, 1 process, SQLite file, default settings",
        "client": "bench/http_baseline.py load (asyncio, keep-alive), a separate process on the same machine",
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": git_commit(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as out:
        for label, result in rows:
            for figure, value, unit in (
                ("requests_per_second", round(result.requests_per_second, 1), "1/s"),
                ("latency_p50", round(result.p50_ms, 2), "ms"),
                ("latency_p99", round(result.p99_ms, 2), "ms"),
                ("errors", result.errors, "requests"),
            ):
                out.write(json.dumps({**context, "endpoint": label, "figure": figure, "value": value,
                                      "unit": unit}) + "\n")

    print()
    print(f"{'endpoint':<26} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'requests':>9}")
    for label, result in rows:
        print(f"{label:<26} {result.requests_per_second:>11.1f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f} "
              f"{result.errors:>7} {result.requests:>9}")
    print(f"\n{args.concurrency} connections, {args.duration:g} s per endpoint after {args.warmup:g} s warm-up; "
          f"server and load generator share {os.cpu_count()} cores. Written to {args.out.relative_to(ROOT)}")
    if any(result.errors for _, result in rows):
        sys.exit("some requests failed")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        load_main(sys.argv[2:])
    else:
        main()
