"""An officer's first visit, in headless Chromium against the real server (`nokor serve`).

Khmer sign-in, the home page greeting, a switch to Arabic (right to left), a translated 404 and
signing out. Screenshots of every step go to var/screenshots/ so a person can look at them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
NOKOR = Path(sys.executable).with_name("nokor")
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "Tonle-Sap-2026-demo"  # the demo officer's password, printed by `nokor demo load`
ADMIN_NAME = "សុខ ចាន់ថា"
ARABIC = re.compile(r"[\u0600-\u06FF]")
KHMER = re.compile(r"[\u1780-\u17FF]")


def _require_chromium() -> None:
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nokor serve` on a free loopback port, over a fresh SQLite database holding the demo country."""
    _require_chromium()
    folder = tmp_path_factory.mktemp("browser-site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
    env.update({"NOKOR_DATA_DIR": str(folder / "var"), "NOKOR_DATABASE_URL": f"sqlite:///{folder / 'var' / 'nokor.db'}",
                "NOKOR_LOG_LEVEL": "WARNING"})
    for command in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([str(NOKOR), *command], cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([str(NOKOR), "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"nokor serve exited with {process.returncode}:\n{(folder / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"nokor serve did not get ready in 30 s:\n{(folder / 'server.log').read_text()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        context = browser.new_context(base_url=server, locale="en-US", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"officer-journey-{name}.png"), full_page=True)


class TestOfficerJourney:
    def test_signs_in_in_khmer_switches_to_arabic_meets_a_404_and_signs_out(self, page: Any) -> None:
        from playwright.sync_api import expect

        # Khmer, chosen through the language link; the home page sends a visitor to the sign-in form.
        page.goto("/language/km")
        expect(page.locator("html")).to_have_attribute("lang", "km")
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.locator("input[name=username]")).to_be_visible()
        shoot(page, "1-sign-in-km")

        page.fill("input[name=username]", ADMIN_USERNAME)
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.locator("main form button[type=submit]").click()

        # Home: greets the officer by name, in Khmer.
        page.wait_for_url(re.compile(r"/$"))
        expect(page.locator("html")).to_have_attribute("lang", "km")
        heading = page.locator("h1")
        expect(heading).to_contain_text(ADMIN_NAME)
        assert KHMER.search(heading.inner_text().replace(ADMIN_NAME, "")), (
            f"the greeting is not in Khmer: {heading.inner_text()!r}")
        expect(page.locator("form.signout")).to_be_visible()
        shoot(page, "2-home-km")

        # Arabic through the language switcher: right to left, still signed in.
        page.locator(".language-switcher a[hreflang=ar]").click()
        page.wait_for_url(re.compile(r"/$"))
        expect(page.locator("html")).to_have_attribute("lang", "ar")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.locator("h1")).to_contain_text(ADMIN_NAME)
        shoot(page, "3-home-ar")

        # A page that does not exist: a 404 page in Arabic.
        response = page.goto("/no-such-page")
        assert response is not None and response.status == 404
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        not_found = page.locator("main h1").inner_text()
        assert ARABIC.search(not_found), f"the 404 heading is not in Arabic: {not_found!r}"
        shoot(page, "4-not-found-ar")

        # Sign out from the header: back on the sign-in page, no longer signed in.
        page.goto("/")
        page.locator("form.signout button[type=submit]").click()
        page.wait_for_url(re.compile(r"/login"))
        expect(page.locator("input[name=username]")).to_be_visible()
        expect(page.locator("form.signout")).to_have_count(0)
        shoot(page, "5-signed-out-ar")
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login"))
