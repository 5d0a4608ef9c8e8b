"""Every page in every language: no text a person reads escapes translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from tests.conftest import SYSTEM, make_admin, make_officer, make_org_unit, sign_in

from nokor import audit
from nokor.kit import outbox

SRC = Path(__file__).resolve().parents[2] / "src" / "nokor"
LOCALE_DIR = SRC / "web" / "locale"
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
TAGS = re.compile(r"<[^>]+>")
# Words that are the same in every language: names, codes, and symbols.
ALLOWED = {"Nokor", "API", "nk_", "KH", "GOV", "MOI", "ID"}


def _templates() -> list[Path]:
    return sorted(SRC.glob("**/templates/**/*.html"))


@pytest.mark.parametrize("template", _templates(), ids=lambda p: str(p.relative_to(SRC)))
def test_templates_have_no_text_outside_gettext(template: Path):
    text = TAGS.sub(" ", JINJA.sub(" ", template.read_text()))
    text = re.sub(r'[\w-]+="[^"]*"', " ", text)  # attributes written by macros outside a literal tag
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'’-]{2,}", text) if w not in ALLOWED]
    assert words == [], f"untranslated text in {template.name}: {words[:10]}"


def _english_sentences() -> list[str]:
    with (LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    # Long, placeholder-free sentences only: short words such as "Role" may also be names.
    return [m.id for m in catalog if isinstance(m.id, str) and len(m.id) > 20 and "%(" not in m.id and " " in m.id]


BASE_PAGES = ["/", "/admin/officers", "/admin/officers/new", "/admin/roles", "/admin/roles/new", "/admin/clients",
              "/admin/clients/new", "/admin/audit", "/admin/outbox", "/no-such-page"]


@pytest.fixture
def admin_client(client, db):
    unit = make_org_unit(db, code="MOI")
    make_admin(db, org_unit=unit.code, username="chief")
    someone = make_officer(db, username="someone", org_unit=unit.code)
    audit.record_access(db, SYSTEM, subject_type="resident", subject_id="R1", purpose="check")
    outbox.enqueue(db, channel="webhook", destination="http://127.0.0.1:9/x", payload={})
    db.commit()
    sign_in(client, "chief")
    return client, [*BASE_PAGES, f"/admin/officers/{someone.id}"]


@pytest.mark.parametrize("locale", ["km", "ar", "de"])
def test_every_page_is_fully_translated(admin_client, locale):
    admin_client, pages = admin_client
    english = _english_sentences()
    assert english, "the English catalogue is empty"
    admin_client.get(f"/language/{locale}?next=/")
    for path in pages:
        page = admin_client.get(path, headers={"accept": "text/html"})
        assert page.status_code == (404 if path == "/no-such-page" else 200), path
        assert f'<html lang="{locale}" dir="{"rtl" if locale == "ar" else "ltr"}">' in page.text
        visible = TAGS.sub(" ", page.text)
        leaked = [sentence for sentence in english if sentence in visible]
        assert leaked == [], f"{path} in {locale} shows English: {leaked[:5]}"
