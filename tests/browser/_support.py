"""What every browser journey needs: a real `nokor serve` over a fresh demo country, and headless Chromium.

A journey starts its processes with `start()`, waits for them with `wait_ready()`, stops them with `stop()`
and opens the browser with `launch()`; Chromium missing skips on a developer's machine and fails in CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
NOKOR = Path(sys.executable).with_name("nokor")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def require_chromium() -> None:
    """Skip on a developer's machine without Chromium; in CI a missing browser is a failure."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Playwright for Python is not installed (make venv)"
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {missing}")
    pytest.skip(missing)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a site in `folder`: this process's, without its NOKOR_ settings, on a fresh SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
    env.update({"NOKOR_DATA_DIR": str(folder / "var"), "NOKOR_DATABASE_URL": f"sqlite:///{folder / 'var' / 'nokor.db'}",
                "NOKOR_LOG_LEVEL": "WARNING", **extra})
    return env


class Process:
    """A `nokor` sub-command running in the background, its output in a log file beside the site."""

    def __init__(self, arguments: list[str], *, folder: Path, env: dict[str, str], log_name: str) -> None:
        self.log_path = folder / log_name
        self._log: IO[str] = self.log_path.open("w")
        self.popen = subprocess.Popen([str(NOKOR), *arguments], cwd=folder, env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, url: str, *, seconds: float = 60) -> None:
        """Poll `url` until it answers 200; fail with the log when the process exits or time runs out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"exited with {self.popen.returncode}:\n{self.log_path.read_text()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"not ready in {seconds:.0f} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    """Stop every process on the way out, whatever happened inside."""
    try:
        yield
    finally:
        for process in processes:
            process.stop()


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright; screenshots go to var/screenshots/."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
