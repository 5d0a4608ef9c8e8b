"""The page shell as a person meets it: language and direction, keyboard order, labels, errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from tests.conftest import make_admin, make_org_unit, sign_in

from nokor.kit import i18n

LOCALES = [("km", "ltr"), ("en", "ltr"), ("ar", "rtl"), ("de", "ltr")]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def walk(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.walk()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.walk() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'} class={cls} {attrs}> in the page"
        return found[0]

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, parent=self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    return builder.root


def focusable(page: Element) -> list[Element]:
    """Elements the Tab key reaches, in document order (no positive tabindex is used)."""
    out = []
    for e in page.walk():
        if e.get("tabindex") == "-1" or e.get("disabled") is not None:
            continue
        if (e.tag == "a" and e.get("href") is not None) or e.tag in ("button", "select", "textarea") \
                or (e.tag == "input" and e.get("type") != "hidden") or e.get("tabindex") is not None:
            out.append(e)
    return out


def translated(locale: str, message: str) -> str:
    token = i18n.locale_var.set(locale)
    try:
        return i18n.gettext(message)
    finally:
        i18n.locale_var.reset(token)


def open_in(client, locale: str, path: str):  # type: ignore[no-untyped-def]
    """Open ``path`` the way a person does: through the language switcher's link."""
    answer = client.get(f"/language/{locale}?next={path}", headers={"accept": "text/html"})
    return answer, parse(answer.text)


def assert_every_control_is_labelled(page: Element) -> None:
    ids = [e["id"] for e in page.walk() if e.get("id")]
    assert len(ids) == len(set(ids)), "ids must be unique for labels and links to work"
    labels = {label.get("for") for label in page.find_all("label")}
    controls = [e for e in page.walk() if e.tag in ("select", "textarea")
                or (e.tag == "input" and e.get("type") not in ("hidden", "submit", "button"))]
    for control in controls:
        assert control.get("id"), f"<{control.tag} name={control.get('name')}> has no id"
        assert control["id"] in labels, f"<{control.tag} id={control['id']}> has no <label for>"


class TestSignInPageInEachLanguage:
    @pytest.mark.parametrize(("locale", "direction"), LOCALES)
    def test_language_and_direction_are_declared(self, client, locale, direction):
        answer, page = open_in(client, locale, "/login")
        assert answer.status_code == 200
        html = page.find("html")
        assert (html["lang"], html["dir"]) == (locale, direction)
        assert page.find("h1").text == translated(locale, "Sign in")

    @pytest.mark.parametrize(("locale", "direction"), LOCALES)
    def test_skip_link_is_the_first_thing_the_keyboard_reaches(self, client, locale, direction):
        _answer, page = open_in(client, locale, "/login")
        first = focusable(page)[0]
        assert "skip-link" in first.classes
        assert first["href"] == "#main"
        assert first.text == translated(locale, "Skip to main content")
        assert page.find("main", id="main").get("tabindex") == "-1"

    @pytest.mark.parametrize(("locale", "direction"), LOCALES)
    def test_language_switcher_offers_each_language_in_its_own_script(self, client, locale, direction):
        _answer, page = open_in(client, locale, "/login")
        switcher = page.find("nav", cls="language-switcher")
        assert switcher.get("aria-label") == translated(locale, "Language")
        links = switcher.find_all("a")
        assert [(a["lang"], a["hreflang"], a.text) for a in links] == \
            [(code, code, i18n.LANGUAGE_NAMES[code]) for code, _dir in LOCALES]
        assert [a["href"] for a in links] == [f"/language/{code}?next=%2Flogin" for code, _dir in LOCALES]
        assert [a.get("aria-current") for a in links].count("true") == 1
        assert switcher.find("a", aria_current="true")["lang"] == locale

    @pytest.mark.parametrize(("locale", "direction"), LOCALES)
    def test_every_field_has_a_label(self, client, locale, direction):
        _answer, page = open_in(client, locale, "/login")
        assert_every_control_is_labelled(page)
        assert page.find("label", for_="field-username").text == translated(locale, "Username")

    def test_switching_language_keeps_the_reader_on_the_same_page(self, client):
        answer = client.get("/language/ar?next=%2Flogin", headers={"accept": "text/html"})
        assert answer.url.path == "/login"
        assert 'dir="rtl"' in answer.text
        assert parse(client.get("/login").text).find("html")["lang"] == "ar"


class TestFormErrors:
    @pytest.fixture
    def failed_sign_in(self, client):  # type: ignore[no-untyped-def]
        def submit(locale: str) -> Element:
            _answer, page = open_in(client, locale, "/login")
            token = page.find("input", name="csrf_token")["value"]
            answer = client.post("/login", data={"csrf_token": token, "username": "", "password": "", "next": "/"},
                                 headers={"accept": "text/html"})
            assert answer.status_code == 422
            return parse(answer.text)
        return submit

    @pytest.mark.parametrize(("locale", "direction"), LOCALES)
    def test_error_summary_links_lead_to_the_fields(self, failed_sign_in, locale, direction):
        page = failed_sign_in(locale)
        summary = page.find("div", cls="error-summary")
        assert summary.get("role") == "alert"
        assert summary.get("autofocus") is not None, "the summary is read first and the next Tab enters it"
        assert summary.find("h2").text == translated(locale, "There is a problem")
        links = summary.find_all("a")
        assert [a["href"] for a in links] == ["#field-username", "#field-password"]
        for link in links:
            target = page.find(id=link["href"][1:])
            assert target.tag == "input"
        assert [a.text for a in links] == [translated(locale, "Enter your username."),
                                           translated(locale, "Enter your password.")]

    @pytest.mark.parametrize("name", ["username", "password"])
    def test_error_message_sits_beside_its_field_and_is_announced_with_it(self, failed_sign_in, name):
        page = failed_sign_in("en")
        field = page.find("input", name=name)
        message = page.find(id=f"error-{name}")
        assert "field__error" in message.classes
        assert message["id"] in (field.get("aria-describedby") or "").split()
        assert field.get("aria-invalid") == "true"
        wrapper = next(a for a in field.ancestors() if "field" in a.classes)
        assert "field--error" in wrapper.classes, "the field gets the red start border"
        assert message.parent is wrapper
        assert message.text.endswith("Enter your username." if name == "username" else "Enter your password.")

    def test_a_page_without_errors_shows_no_error_summary(self, client):
        _answer, page = open_in(client, "en", "/login")
        assert page.find_all(cls="error-summary") == []
        assert page.find_all(cls="field--error") == []


class TestNotFoundPage:
    @pytest.mark.parametrize(("locale", "direction"), LOCALES)
    def test_404_speaks_the_readers_language(self, client, locale, direction):
        client.get(f"/language/{locale}?next=/")
        answer = client.get("/no/such/page", headers={"accept": "text/html"})
        assert answer.status_code == 404
        page = parse(answer.text)
        assert (page.find("html")["lang"], page.find("html")["dir"]) == (locale, direction)
        assert page.find("h1").text == translated(locale, "Page not found")
        assert page.find("main").find("a", href="/").text == translated(locale, "Go to the home page")
        assert "skip-link" in focusable(page)[0].classes

    def test_api_clients_still_get_json(self, client):
        answer = client.get("/no/such/page", headers={"accept": "application/json"})
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")


class TestSignedInShell:
    @pytest.fixture
    def admin(self, client, db):  # type: ignore[no-untyped-def]
        unit = make_org_unit(db, code="MOI")
        officer = make_admin(db, org_unit=unit.code, username="chief")
        db.commit()
        sign_in(client, "chief")
        return officer

    PAGES = ["/", "/admin/officers", "/admin/officers/new", "/admin/roles", "/admin/roles/new", "/admin/clients",
             "/admin/clients/new", "/admin/audit", "/admin/outbox"]

    @pytest.mark.parametrize("path", PAGES)
    def test_every_page_starts_with_the_skip_link_and_labels_every_field(self, client, admin, path):
        answer, page = open_in(client, "km", path)
        assert answer.status_code == 200
        assert "skip-link" in focusable(page)[0].classes
        assert_every_control_is_labelled(page)

    def test_officer_page_labels_every_field(self, client, admin):
        _answer, page = open_in(client, "ar", f"/admin/officers/{admin.id}")
        assert_every_control_is_labelled(page)

    def test_navigation_marks_the_current_page(self, client, admin):
        _answer, page = open_in(client, "de", "/admin/roles")
        nav = page.find("nav", cls="site-nav")
        assert nav.get("aria-label") == translated("de", "Main navigation")
        assert [a["href"] for a in nav.find_all("a", aria_current="page")] == ["/admin/roles"]

    def test_sign_out_is_a_button_in_a_form_that_posts(self, client, admin):
        _answer, page = open_in(client, "en", "/")
        form = page.find("form", action="/logout")
        assert form["method"] == "post"
        assert form.find("button")["type"] == "submit"
        assert form.find("input", name="csrf_token")["value"]

    def test_keyboard_reaches_languages_and_sign_out_before_the_navigation(self, client, admin):
        _answer, page = open_in(client, "en", "/")
        order = focusable(page)
        position = {id(e): i for i, e in enumerate(order)}
        languages = page.find("nav", cls="language-switcher").find_all("a")
        sign_out = page.find("form", action="/logout").find("button")
        first_nav_link = page.find("nav", cls="site-nav").find("a")
        first_in_main = next(e for e in order if any(a.tag == "main" for a in e.ancestors()))
        assert position[id(languages[-1])] < position[id(sign_out)] < position[id(first_nav_link)] \
            < position[id(first_in_main)]

    def test_home_cards_are_headed_links(self, client, admin):
        _answer, page = open_in(client, "en", "/")
        cards = page.find_all("li", cls="card")
        assert [c.find("h2").find("a")["href"] for c in cards] == \
            ["/admin/officers", "/admin/roles", "/admin/clients", "/admin/audit", "/civil", "/registries",
             "/admin/payments", "/admin/outbox", "/admin/trust/certificates", "/places"]
