"""A demo citizen's visit in headless Chromium against the real server (`nokor serve --with-worker`).

Sign-in with the national ID number and the one-time code read in the local mailbox (the outbox worker
delivers it there), "My data", signing in to the demo bank through the consent page (the bank's callback is
answered by the test), withdrawing that consent, and signing out. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from tests.browser._support import NOKOR, SCREENSHOTS, Process, chromium, free_port, require_chromium, running, site_env

pytestmark = pytest.mark.browser
BANK_CALLBACK = "http://127.0.0.1:8090/callback"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The demo country served with the outbox worker; yields the address and Sreyneang Sok's ID number."""
    require_chromium()
    folder = tmp_path_factory.mktemp("citizen-site")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = site_env(folder, NOKOR_BASE_URL=base_url, COLUMNS="300")
    subprocess.run([str(NOKOR), "db", "upgrade"], cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    loaded = subprocess.run([str(NOKOR), "demo", "load"], cwd=folder, env=env, check=True, capture_output=True,
                            text=True, timeout=300)
    found = re.search(r"citizen Sreyneang Sok: national ID (\d+)", loaded.stdout)
    assert found, loaded.stdout
    process = Process(["serve", "--host", "127.0.0.1", "--port", str(port), "--with-worker"], folder=folder, env=env,
                      log_name="server.log")
    with running(process):
        process.wait_ready(f"{base_url}/health/ready")
        yield base_url, found.group(1)


@pytest.fixture
def page(site: tuple[str, str]) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(base_url=site[0], locale="en-US", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"citizen-journey-{name}.png"), full_page=True)


def read_code(page: Any, phone: str) -> str:
    """The newest one-time code in the local mailbox (the worker delivers within a second or two)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page.goto("/messaging/mailbox?" + urlencode({"to": phone}))
        found = re.search(r"\b(\d{6})\b", page.locator("pre.mailbox__body").first.inner_text()
                          if page.locator("pre.mailbox__body").count() else "")
        if found:
            return found.group(1)
        time.sleep(0.5)
    raise AssertionError("no code reached the mailbox")


class TestCitizenJourney:
    def test_signs_in_sees_my_data_signs_in_to_the_bank_and_withdraws_consent(self, page: Any,
                                                                             site: tuple[str, str]) -> None:
        from playwright.sync_api import expect

        _base, nin = site
        page.goto("/language/en?next=/my")
        expect(page).to_have_url(re.compile(r"/my/login"))
        page.fill("input[name=identifier]", nin)
        expect(page.locator("#channel-sms")).to_be_checked()
        shoot(page, "1-sign-in")
        page.locator("main form button[type=submit]").click()
        expect(page.locator("input[name=code]")).to_be_visible()
        code_page = page.url
        shoot(page, "2-code")

        mailbox = page.context.new_page()
        code = read_code(mailbox, "+85512000101")
        shoot(mailbox, "3-mailbox")
        mailbox.close()
        assert page.url == code_page
        page.fill("input[name=code]", code)
        page.locator("main form button[type=submit]").click()

        page.wait_for_url(re.compile(r"/my$"))
        expect(page.locator("h1")).to_contain_text("My record")
        expect(page.locator("main")).to_contain_text(nin)
        expect(page.locator("main")).to_contain_text("ស្រីនាង")
        shoot(page, "4-my-data")

        # The demo bank asks to sign the person in: the consent page, then back to the bank with a code.
        callbacks: list[str] = []

        def bank(route: Any) -> None:
            callbacks.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<h1>Tonle Bank: signed in</h1>")

        page.route(BANK_CALLBACK + "**", bank)
        params = {"response_type": "code", "client_id": "tonle-bank", "redirect_uri": BANK_CALLBACK,
                  "scope": "openid profile phone national_id", "state": "browser-state", "nonce": "browser-nonce",
                  "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}
        page.goto("/authorize?" + urlencode(params))
        expect(page.locator("h1")).to_contain_text("Tonle Bank")
        expect(page.locator("main")).to_contain_text("Open a bank account")
        shoot(page, "5-consent")
        page.locator("button[value=allow]").click()
        page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:8090/callback"))
        query = parse_qs(urlsplit(callbacks[-1]).query)
        assert query["state"] == ["browser-state"] and len(query["code"][0]) > 20

        # The consent is listed under "My consents" and can be withdrawn at once.
        page.goto("/my/consents")
        expect(page.locator("main table")).to_contain_text("Tonle Bank")
        page.locator("main table form button[type=submit]").first.click()
        expect(page.locator(".notice")).to_contain_text("withdrawn")
        shoot(page, "6-consent-withdrawn")

        # Who read my data: the bank's reading under consent is there.
        page.goto("/my/access-log")
        expect(page.locator("main")).to_contain_text("Who read my data")

        page.goto("/my")
        page.locator("nav.subnav form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/my/login"))
        page.goto("/my")
        expect(page).to_have_url(re.compile(r"/my/login"))
