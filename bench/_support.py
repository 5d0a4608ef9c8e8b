"""What the benchmarks share: waiting for a server to answer, and naming the commit measured.

Not a benchmark itself (`make bench` skips files starting with an underscore).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def wait_ready(base_url: str, server: subprocess.Popen[bytes], log: Path, *, timeout: float = 30) -> None:
    """Return once ``/health/ready`` answers 200; exit with the server's log if it dies or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit(f"the server did not get ready in {timeout:.0f} s:\n{log.read_text()}")


def git_commit() -> str:
    """The short hash of the commit being measured, or "unknown" outside a checkout."""
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or "unknown"
