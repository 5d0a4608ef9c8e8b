"""The shell's own files: served from the platform itself, obeying the CSP, mirrored by logical CSS."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nokor.web import STATIC_DIR

SRC = Path(__file__).resolve().parents[2] / "src" / "nokor"
CSS = STATIC_DIR / "css" / "nokor.css"
FONT_FILES = sorted((STATIC_DIR / "fonts").glob("*.woff2"))
TEMPLATES = sorted(SRC.glob("**/templates/**/*.html"))
STYLESHEETS = sorted(STATIC_DIR.glob("**/*.css"))


def _css_without_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def _template_without_comments(text: str) -> str:
    return re.sub(r"\{#.*?#\}|<!--.*?-->", " ", text, flags=re.S)


def _template_id(path: Path) -> str:
    return str(path.relative_to(SRC))


class TestServedLocally:
    @pytest.mark.parametrize(("path", "content_type"), [
        ("/static/css/nokor.css", "text/css"),
        ("/static/vendor/htmx.min.js", "javascript"),
        ("/static/images/nokor.svg", "image/svg+xml"),
    ])
    def test_shell_file_is_served(self, client, path, content_type):
        answer = client.get(path)
        assert answer.status_code == 200
        assert content_type in answer.headers["content-type"]
        assert answer.content

    def test_the_four_scripts_have_their_fonts(self):
        names = {p.name for p in FONT_FILES}
        for subset in ("noto-sans-latin", "noto-sans-latin-ext", "noto-sans-khmer-khmer", "noto-sans-arabic-arabic"):
            for weight in (400, 700):
                assert f"{subset}-{weight}-normal.woff2" in names

    @pytest.mark.parametrize("font", FONT_FILES, ids=lambda p: p.name)
    def test_font_is_served_as_woff2(self, client, font):
        answer = client.get(f"/static/fonts/{font.name}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "font/woff2"
        assert answer.content[:4] == b"wOF2"

    def test_every_font_the_css_names_is_served_and_every_font_file_is_used(self, client):
        urls = re.findall(r'url\("\.\./fonts/([^"]+)"\)', CSS.read_text())
        assert sorted(set(urls)) == [p.name for p in FONT_FILES]
        for name in urls:
            assert client.get(f"/static/fonts/{name}").status_code == 200

    def test_font_faces_swap_and_load_only_their_script(self):
        faces = re.findall(r"@font-face\s*\{(.*?)\}", _css_without_comments(CSS.read_text()), flags=re.S)
        assert len(faces) == len(FONT_FILES)
        for face in faces:
            assert "font-display: swap" in face
            assert "unicode-range: U+" in face

    def test_fonts_carry_their_licence(self):
        for family in ("noto-sans", "noto-sans-khmer", "noto-sans-arabic"):
            licence = STATIC_DIR / "fonts" / f"OFL-{family}.txt"
            assert "SIL OPEN FONT LICENSE Version 1.1" in licence.read_text()

    def test_htmx_is_version_2_with_its_licence(self):
        assert 'version:"2.' in (STATIC_DIR / "vendor" / "htmx.min.js").read_text()
        assert (STATIC_DIR / "vendor" / "htmx.LICENSE.txt").read_text().strip()

    def test_stylesheet_stays_small(self):
        assert CSS.stat().st_size < 25_000


class TestNothingComesFromElsewhere:
    @pytest.mark.parametrize("template", TEMPLATES, ids=_template_id)
    def test_template_names_no_external_url(self, template):
        assert re.findall(r"https?://\S+", _template_without_comments(template.read_text())) == []

    @pytest.mark.parametrize("stylesheet", STYLESHEETS, ids=lambda p: p.name)
    def test_stylesheet_names_no_external_url(self, stylesheet):
        text = _css_without_comments(stylesheet.read_text())
        assert re.findall(r"https?://\S+|url\(\s*['\"]?//", text) == []
        assert "@import" not in text

    def test_page_loads_its_css_and_script_from_the_platform(self, client):
        html = client.get("/login").text
        for tag in re.findall(r"<(?:link|script)\b[^>]*>", html):
            for url in re.findall(r'(?:href|src)="([^"]*)"', tag):
                assert url.startswith("/static/"), tag


class TestTemplatesObeyTheCsp:
    """The CSP allows no inline style or script; the browser would silently drop them."""

    @pytest.mark.parametrize("template", TEMPLATES, ids=_template_id)
    def test_no_inline_style_or_script(self, template):
        text = _template_without_comments(template.read_text())
        assert not re.search(r"<style\b", text, re.I)
        assert not re.search(r"\sstyle\s*=", text, re.I)
        assert not re.search(r"\son[a-z]+\s*=", text, re.I), "inline event handler"
        assert not re.search(r"\shx-on", text, re.I), "hx-on needs eval, which the CSP forbids"
        for script in re.findall(r"<script\b[^>]*>(.*?)</script>", text, flags=re.S | re.I):
            assert script.strip() == "", "inline script"
        assert "javascript:" not in text.lower()

    def test_htmx_is_told_not_to_inject_styles(self, client):
        html = client.get("/login").text
        match = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
        assert match, "no htmx-config meta tag"
        config = json.loads(match.group(1))
        assert config["includeIndicatorStyles"] is False
        assert config["allowEval"] is False
        assert config["historyCacheSize"] == 0, "pages with personal data must not be copied to localStorage"


PHYSICAL = re.compile(
    r"\b(?:margin|padding|border)-(?:left|right)\b"
    r"|(?<![\w-])(?:left|right)\s*:"
    r"|\b(?:text-align|float|clear)\s*:\s*(?:left|right)\b"
    r"|\bborder-(?:top|bottom)-(?:left|right)-radius\b"
)


class TestLogicalCss:
    @pytest.mark.parametrize("snippet", [
        "a { margin-left: 1px }", ".x{padding-right:0}", "b { left: 0 }", "i { text-align: right }",
        "u { float: left }", "p { border-left: 5px solid }", "s { right:2px }",
    ])
    def test_the_check_catches_physical_properties(self, snippet):
        assert PHYSICAL.search(snippet)

    @pytest.mark.parametrize("snippet", [
        "a { margin-inline-start: 1px }", "b { inset-inline-start: 0 }", "i { text-align: start }",
        "p { border-inline-start: 5px solid }", ".tag--left-aligned { color: red }",
    ])
    def test_the_check_lets_logical_properties_pass(self, snippet):
        assert not PHYSICAL.search(snippet)

    @pytest.mark.parametrize("stylesheet", STYLESHEETS, ids=lambda p: p.name)
    def test_stylesheet_uses_only_logical_properties(self, stylesheet):
        text = _css_without_comments(stylesheet.read_text())
        found = [m.group(0) for m in PHYSICAL.finditer(text)]
        assert found == [], "use logical properties so that dir=rtl mirrors the page"
