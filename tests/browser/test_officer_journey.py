"""An officer's first visit, in headless Chromium against the real server (`nokor serve`).

Khmer sign-in, the home page greeting, a switch to Arabic (right to left), a translated 404 and
signing out. Screenshots of every step go to var/screenshots/ so a person can look at them.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from tests.browser._support import NOKOR, SCREENSHOTS, Process, chromium, free_port, require_chromium, running, site_env

pytestmark = pytest.mark.browser

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "Tonle-Sap-2026-demo"  # the demo officer's password, printed by `nokor demo load`
ADMIN_NAME = "សុខ ចាន់ថា"
ARABIC = re.compile(r"[\u0600-\u06FF]")
KHMER = re.compile(r"[\u1780-\u17FF]")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nokor serve` on a free loopback port, over a fresh SQLite database holding the demo country."""
    require_chromium()
    folder = tmp_path_factory.mktemp("browser-site")
    env = site_env(folder)
    for command in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([str(NOKOR), *command], cwd=folder, env=env, check=True, capture_output=True, timeout=300)
    base_url = f"http://127.0.0.1:{free_port()}"
    process = Process(["serve", "--host", "127.0.0.1", "--port", base_url.rsplit(":", 1)[1]], folder=folder, env=env,
                      log_name="server.log")
    with running(process):
        process.wait_ready(f"{base_url}/health/ready")
        yield base_url


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(base_url=server, locale="en-US", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()


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
