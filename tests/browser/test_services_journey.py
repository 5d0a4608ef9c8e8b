"""E-services end to end in headless Chromium against the real server (`nokor serve --with-worker`) and the
sandbox bank (`nokor payments sandbox-bank`), over a fresh demo country.

The counter: an officer applies for a person (a copy of a birth certificate, with an ID card upload), the fee
is paid by KHQR in the sandbox bank, the officer takes the application, approves it and downloads the sealed
copy; the applicant's e-mail is in the local mailbox. Registering a small business needs two officers (four
eyes) and ends with a record in the SME registry and a sealed certificate. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.browser._support import NOKOR, SCREENSHOTS, Process, chromium, free_port, require_chromium, running, site_env

pytestmark = pytest.mark.browser
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Site:
    def __init__(self, base_url: str, bank_url: str, env: dict[str, str], folder: Path) -> None:
        self.base_url, self.bank_url, self.env, self.folder = base_url, bank_url, env, folder

    def python(self, code: str) -> str:
        """Run a line of Python against the site's database (to look up a demo resident's number)."""
        done = subprocess.run([str(NOKOR.with_name("python")), "-c", code], env=self.env, cwd=self.folder,
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_chromium()
    folder = tmp_path_factory.mktemp("services-site")
    port, bank_port = free_port(), free_port()
    base_url, bank_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bank_port}"
    env = site_env(folder, NOKOR_BASE_URL=base_url, NOKOR_WORKER_POLL_SECONDS="0.5")
    for command in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([str(NOKOR), *command], cwd=folder, env=env, check=True, capture_output=True, timeout=300)
    server = Process(["serve", "--host", "127.0.0.1", "--port", str(port), "--with-worker"], folder=folder, env=env,
                     log_name="server.log")
    bank = Process(["payments", "sandbox-bank", "--port", str(bank_port), "--chaos", "0",
                    "--callback-url", f"{base_url}/api/v1/payments/callbacks/sandbox"], folder=folder, env=env,
                   log_name="bank.log")
    with running(server, bank):
        server.wait_ready(f"{base_url}/health/ready")
        bank.wait_ready(f"{bank_url}/health")
        yield Site(base_url, bank_url, env, folder)


@pytest.fixture
def browser(site: Site) -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def new_page(browser: Any, site: Site, *, phone: bool = False, javascript: bool = True) -> Any:
    viewport = {"width": 360, "height": 740} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(base_url=site.base_url, locale="en-US", viewport=viewport, accept_downloads=True,
                                  java_script_enabled=javascript)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/language/en?next=/login")
    return page


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"services-{name}.png"), full_page=True)


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))


def pay_in_sandbox_bank(browser: Any, site: Site, bill: str) -> None:
    """The payer's bank app: the KHQR payload from the bill page, paid in the sandbox bank; Nokor hears back."""
    payer = browser.new_context(base_url=site.base_url, locale="en-US")
    page = payer.new_page()
    page.goto(f"/pay/{bill}")
    page.locator("details summary").first.click()
    payload = page.locator("details p.break").first.inner_text().strip()
    page.goto(f"{site.bank_url}/")
    page.fill("textarea[name=qr]", payload)
    page.select_option("select[name=behaviour]", "normal")
    page.locator("button[type=submit]").click()
    page.wait_for_selector("text=Nokor is being called back")
    deadline = time.monotonic() + 30
    while "notice--success" not in httpx.get(f"{site.base_url}/pay/{bill}/status", timeout=5).text:
        assert time.monotonic() < deadline, "the sandbox bank's callback never paid the bill"
        time.sleep(0.5)
    payer.close()


def test_counter_birth_certificate_copy_paid_by_khqr_decided_and_downloaded(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    nin = site.python(
        "from nokor.db import cli_session_scope\nfrom nokor import civil\nfrom nokor.kit.actor import Actor\n"
        "with cli_session_scope() as s:\n"
        "    r = civil.search_residents(s, Actor.system('t'), purpose='test', name='Dara Chan')\n"
        "    print(next(x.nin for x in r if x.nin))")
    assert re.fullmatch(r"\d{9,12}", nin), nin
    page = new_page(browser, site, phone=True)
    sign_in(page, "counter.pnh", "Royal-Palace-2026-demo")
    page.goto("/admin/services/counter/birth-certificate-copy")
    page.fill("input[name='applicant.name']", "Sok Sreyneang")
    page.fill("input[name='applicant.national_id']", nin)
    page.fill("input[name='applicant.email']", "sreyneang@example.org")
    page.fill("input[name=national_id]", "12")  # a mistake first: the message is beside the field
    page.locator("label:has-text(\"My child's\")").click()
    page.locator("button[value=submit]").click()
    expect(page.locator("#error-national_id")).to_contain_text("9 to 12 digits")
    expect(page.locator("#error-documents-id_card")).to_be_visible()
    expect(page.locator("input[name='applicant.national_id']")).to_have_count(0)  # the draft keeps the applicant
    shoot(page, "counter-1-errors-phone")
    page.fill("input[name=national_id]", nin)
    page.set_input_files("input[name='document.id_card']", files=[
        {"name": "id-card.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.locator("button[value=submit]").click()
    page.wait_for_url(re.compile(r"/admin/services/applications/E\d+$"))
    number = page.url.rsplit("/", 1)[1]
    expect(page.locator("main")).to_contain_text("At a counter")
    bill = re.search(r"\((\d{13})\)", page.locator("main").inner_text())
    assert bill, "the application has a bill for its fee"
    shoot(page, "counter-2-submitted")

    page.locator("button:has-text('Take it for review')").click()
    page.fill("form[action$='/approve'] input[name=reason]", "Mother of the child, ID card seen.")
    page.locator("form[action$='/approve'] button").click()
    expect(page.locator(".notice--error")).to_contain_text("fee has not been paid")
    pay_in_sandbox_bank(browser, site, bill.group(1))
    page.fill("form[action$='/approve'] input[name=reason]", "Mother of the child, ID card seen.")
    page.locator("form[action$='/approve'] button").click()
    expect(page.locator("main")).to_contain_text("Completed")
    with page.expect_download() as download_info:
        page.locator("a:has-text('Download the signed result')").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and b"/ByteRange" in pdf
    shoot(page, "counter-3-completed")

    deadline = time.monotonic() + 30
    mailbox = ""
    while number not in mailbox or mailbox.count(number) < 2:
        assert time.monotonic() < deadline, "the applicant's e-mails never reached the mailbox"
        mailbox = httpx.get(f"{site.base_url}/messaging/mailbox", params={"to": "sreyneang@example.org"},
                            headers={"accept": "text/html"}).text
        time.sleep(0.5)


def test_sme_registration_needs_two_officers_and_lands_in_the_registry(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, site)
    sign_in(page, "reviewer.mef", "Kampot-Pepper-2026-demo")
    page.goto("/admin/services/counter/sme-registration")
    page.fill("input[name='applicant.name']", "Keo Sopheap")
    page.fill("input[name='applicant.national_id']", "123456789")
    page.fill("input[name=business_name]", "Kampot Pepper Garden")
    page.select_option("select[name=sector]", "agriculture")
    page.select_option("select[name=province_code]", "07")
    page.fill("input[name=employees]", "4")
    page.fill("input[name=owner_national_id]", "123456789")
    page.locator("input[name=women_owned]").check()
    page.locator("button[value=submit]").click()
    page.wait_for_url(re.compile(r"/admin/services/applications/E\d+$"))
    number = page.url.rsplit("/", 1)[1]
    page.locator("button:has-text('Take it for review')").click()
    page.fill("form[action$='/approve'] input[name=reason]", "All details complete.")
    page.locator("form[action$='/approve'] button").click()
    expect(page.locator("main")).to_contain_text("First approval")
    shoot(page, "sme-1-first-approval")

    chief = new_page(browser, site)
    sign_in(chief, "chief.mef", "Trakai-Castle-2026-demo")
    chief.goto("/admin/services?view=second_approval")
    chief.locator(f"a:has-text('{number}')").click()
    chief.fill("form[action$='/approve'] input[name=reason]", "Agreed.")
    chief.locator("form[action$='/approve'] button:has-text('Give the second approval')").click()
    expect(chief.locator("main")).to_contain_text("Completed")
    registration = re.search(r"Registration number: (\d{8})", chief.locator("main").inner_text())
    assert registration
    with chief.expect_download() as download_info:
        chief.locator("a:has-text('Download the signed result')").click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")
    shoot(chief, "sme-2-completed")
    found = site.python(
        "from nokor.db import cli_session_scope\nfrom nokor import registries\nfrom nokor.kit.actor import Actor\n"
        "with cli_session_scope() as s:\n"
        f"    print(registries.find_record(s, Actor.system('t'), name='sme', "
        f"query={{'registration_number': '{registration.group(1)}'}}).data['name'])")
    assert found == "Kampot Pepper Garden"


def _resident_with_contact(site: Site, name: str, email: str) -> str:
    """A demo resident's national ID number, after a registrar recorded their e-mail address."""
    return site.python(
        "from nokor.db import cli_session_scope\nfrom nokor import civil\nfrom nokor.kit.actor import Actor\n"
        "with cli_session_scope() as s:\n"
        f"    found = civil.search_residents(s, Actor.system('t'), purpose='test', name={name!r})\n"
        "    r = next(x for x in found if x.nin)\n"
        f"    civil.update_contact(s, Actor.system('t'), resident_id=r.id, data=civil.ContactDetails("
        f"email={email!r}), reason='test')\n"
        "    print(r.nin)")


def _mailbox(site: Site, email: str) -> str:
    return httpx.get(f"{site.base_url}/messaging/mailbox", params={"to": email},
                     headers={"accept": "text/html", "accept-language": "en"}).text


def citizen_sign_in(browser: Any, site: Site, nin: str, email: str, *, next_url: str = "/services",
                    javascript: bool = True) -> Any:
    """A resident signs in with their national ID number and the one-time code sent to their e-mail."""
    page = new_page(browser, site, phone=True, javascript=javascript)
    page.goto(f"/my/login?next={next_url}")
    page.fill("input[name=identifier]", nin)
    page.locator("label[for=channel-email]").click()
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("input[name=code]")
    # The worker delivers the outbox within a second or two; the mailbox shows it once delivered.
    deadline = time.monotonic() + 30
    while not (codes := re.findall(r"\b(\d{6})\b", _mailbox(site, email))):
        assert time.monotonic() < deadline, "no sign-in code reached the mailbox"
        time.sleep(0.5)
    page.fill("input[name=code]", codes[0])
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))
    return page


def officer_decides(browser: Any, site: Site, number: str, username: str, password: str) -> None:
    from playwright.sync_api import expect

    officer = new_page(browser, site)
    sign_in(officer, username, password)
    officer.goto(f"/admin/services/applications/{number}")
    officer.locator("button:has-text('Take it for review')").click()
    officer.fill("form[action$='/approve'] input[name=reason]", "Checked against the register.")
    officer.locator("form[action$='/approve'] button").click()
    expect(officer.locator("main")).to_contain_text("Completed")
    officer.context.close()


def _wait_for_mail(site: Site, email: str, *needles: str) -> None:
    deadline = time.monotonic() + 30
    while not all(n in _mailbox(site, email) for n in needles):
        assert time.monotonic() < deadline, f"the e-mails {needles} never reached {email}"
        time.sleep(0.5)


def test_a_citizen_gets_a_birth_certificate_copy_paid_by_khqr(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    email = "sreyneang@example.org"
    nin = _resident_with_contact(site, "Sreyneang Sok", email)
    child = site.python(
        "from nokor.db import cli_session_scope\nfrom nokor import civil\nfrom nokor.kit.actor import Actor\n"
        "with cli_session_scope() as s:\n"
        "    print(next(x.nin for x in civil.search_residents(s, Actor.system('t'), purpose='t', name='Dara Chan')"
        " if x.nin))")
    page = citizen_sign_in(browser, site, nin, email)
    page.fill("input[name=q]", "birth")
    page.locator("form.search button").click()
    page.locator("a:has-text('Copy of a birth certificate')").click()
    page.locator("a:has-text('Apply online')").click()
    page.fill("input[name=national_id]", child)
    page.locator("label:has-text(\"My child's\")").click()
    page.set_input_files("input[name='document.id_card']", files=[
        {"name": "id-card.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.locator("button[value=submit]").click()
    page.wait_for_url(re.compile(r"/my/applications/E\d+$"))
    number = page.url.rsplit("/", 1)[1]
    shoot(page, "citizen-birth-1-submitted-phone")
    bill = page.locator("a:has-text('Pay the fee by KHQR')").get_attribute("href")
    assert bill and bill.startswith("/pay/")
    pay_in_sandbox_bank(browser, site, bill.removeprefix("/pay/"))
    officer_decides(browser, site, number, "counter.pnh", "Royal-Palace-2026-demo")
    page.reload()
    expect(page.locator("main")).to_contain_text("Completed")
    with page.expect_download() as download_info:
        page.locator("a:has-text('Download the signed result')").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and b"/ByteRange" in pdf
    shoot(page, "citizen-birth-2-completed-phone")
    _wait_for_mail(site, email, f"{number}", "approved")


def test_a_citizen_registers_a_small_business(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    email = "sopheap@example.org"
    nin = _resident_with_contact(site, "Sopheap Keo", email)
    page = citizen_sign_in(browser, site, nin, email)
    page.goto("/services/sme-registration/apply")
    page.fill("input[name=business_name]", "Riverside Silk Weaving")
    page.select_option("select[name=sector]", "handicrafts")
    page.select_option("select[name=province_code]", "12")
    page.fill("input[name=employees]", "6")
    page.fill("input[name=owner_national_id]", nin)
    page.locator("button[value=submit]").click()
    page.wait_for_url(re.compile(r"/my/applications/E\d+$"))
    number = page.url.rsplit("/", 1)[1]
    first = new_page(browser, site)
    sign_in(first, "reviewer.mef", "Kampot-Pepper-2026-demo")
    first.goto(f"/admin/services/applications/{number}")
    first.locator("button:has-text('Take it for review')").click()
    first.fill("form[action$='/approve'] input[name=reason]", "Complete.")
    first.locator("form[action$='/approve'] button").click()
    expect(first.locator("main")).to_contain_text("First approval")
    first.context.close()
    second = new_page(browser, site)
    sign_in(second, "chief.mef", "Trakai-Castle-2026-demo")
    second.goto(f"/admin/services/applications/{number}")
    second.fill("form[action$='/approve'] input[name=reason]", "Agreed.")
    second.locator("form[action$='/approve'] button").click()
    expect(second.locator("main")).to_contain_text("Completed")
    second.context.close()
    page.reload()
    expect(page.locator("main")).to_contain_text("Registration number")
    with page.expect_download() as download_info:
        page.locator("a:has-text('Download the signed result')").click()
    assert Path(download_info.value.path()).read_bytes().startswith(b"%PDF")
    _wait_for_mail(site, email, number, "approved")
    # The SME register holds the owner's 12-digit national ID number, under its version 2.0.
    record = site.python(
        "from nokor.db import cli_session_scope\nfrom nokor import registries, services\n"
        "from nokor.kit.actor import Actor\n"
        "with cli_session_scope() as s:\n"
        f"    a = services.get_application(s, Actor.system('t'), number={number!r})\n"
        "    r = registries.find_record(s, Actor.system('t'), name='sme', purpose='test',"
        " query={'registration_number': a.result['registration_number']})\n"
        "    print(r.version, r.data['owner_national_id'])")
    assert len(nin) == 12 and record == f"2.0 {nin}"


def test_the_portal_home_works_on_a_phone_without_javascript(browser: Any, site: Site) -> None:
    email = "vibol@example.org"
    nin = _resident_with_contact(site, "Vibol Chan", email)
    page = citizen_sign_in(browser, site, nin, email, next_url="/my", javascript=False)
    search = page.locator("main form.search input[name=q]")
    box = search.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360  # nothing runs off a 360-pixel screen
    assert page.locator("main a[href='/my/applications']").count() >= 1
    assert page.locator("main a[href='/my/messages']").count() >= 1
    shoot(page, "portal-home-phone-no-js")
    search.fill("Geburtsurkunde")  # any of the four languages
    page.locator("main form.search button").click()
    page.wait_for_url(re.compile(r"/services\?q="))
    assert page.locator("a:has-text('Copy of a birth certificate')").count() == 1
    page.context.close()


def test_a_citizen_reports_a_change_of_address_for_the_registrars(browser: Any, site: Site) -> None:
    from playwright.sync_api import expect

    email = "chantha@example.org"
    nin = _resident_with_contact(site, "Chantha Heng", email)
    page = citizen_sign_in(browser, site, nin, email)
    page.goto("/services/change-of-address/apply")
    expect(page.locator("input[name=national_id]")).to_have_value(nin)
    for level, code in (("province", "12"), ("district", "1201"), ("commune", "120101"), ("village", "12010101")):
        select = page.locator(f"select[name='new_address_code.{level}']")
        if select.count() == 0:  # without the htmx swap, the picker's own button opens the next level
            page.locator("button[name='new_address_code.step']").click()
        page.locator(f"select[name='new_address_code.{level}']").select_option(code)
    page.fill("textarea[name=new_address_text], input[name=new_address_text]", "House 3, Street 21")
    page.fill("input[name=moved_on]", "2026-11-01")
    page.locator("button[value=submit]").click()
    page.wait_for_url(re.compile(r"/my/applications/E\d+$"))
    number = page.url.rsplit("/", 1)[1]
    officer_decides(browser, site, number, "counter.pnh", "Royal-Palace-2026-demo")
    page.reload()
    expect(page.locator("main")).to_contain_text("civil registrars")
    shoot(page, "citizen-address-completed-phone")
    event = site.python(
        "from nokor.db import cli_session_scope\nfrom nokor import civil\nfrom nokor.kit.actor import Actor\n"
        "with cli_session_scope() as s:\n"
        "    print([e.state for e in civil.list_events(s, Actor.system('t'), state='declared') "
        "if e.kind == 'change_of_address'])")
    assert "declared" in event
    _wait_for_mail(site, email, number, "approved")
