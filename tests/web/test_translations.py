"""Every text a person reads exists in Khmer, English, Arabic and German.

The messages are extracted afresh from the sources on every run, with the same babel.cfg the catalogue
update uses, so a developer who adds ``_("...")`` without translating it gets a failing test that names
the message and where it is. The English catalogue repeats each msgid, so every check is the same for
the four languages.

A message counts as translated when any catalogue the platform loads translates it: the shell's
(``nokor/web/locale``) or a domain's own (``nokor/<domain>/locale``), as ``i18n.translations_for``
merges them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from gettext import c2py
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from nokor.kit import i18n

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "src"
BABEL_CFG = ROOT / "babel.cfg"
CATALOGUE_DIR = i18n.CATALOGUE_DIR
TEMPLATE = CATALOGUE_DIR / "messages.pot"
TRANSLATED = tuple(lang for lang in i18n.LOCALES if lang != "en")
# the keywords of `pybabel extract -k _l -k lazy_gettext`
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
UPDATE_HINT = (
    "Update the catalogues (pybabel extract -F babel.cfg -k _l -k lazy_gettext ... src, then pybabel update "
    "--no-fuzzy-matching --ignore-obsolete) and translate the new messages in all four messages.po files."
)

MessageId = str | tuple[str, ...]


# --- the checks --------------------------------------------------------------------------------


def read_mapping(path: Path = BABEL_CFG) -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """The extraction method map of babel.cfg, read the way `pybabel extract -F` reads it."""
    try:
        from babel.messages.frontend import parse_mapping_cfg as parse
    except ImportError:  # Babel < 2.16
        from babel.messages.frontend import parse_mapping as parse  # type: ignore[attr-defined,no-redef]
    with path.open(encoding="utf-8") as fh:
        return parse(fh, filename=str(path))  # type: ignore[no-any-return]


def extract_messages(source_dir: Path, mapping_file: Path = BABEL_CFG) -> dict[MessageId, list[str]]:
    """Every translatable message under ``source_dir`` → where it is used (``path:line``)."""
    method_map, options_map = read_mapping(mapping_file)
    found: dict[MessageId, list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(source_dir), method_map, options_map, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=False
    ):
        assert context is None, f"{filename}:{lineno}: message contexts are not used in Nokor"
        key: MessageId = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, []).append(f"{source_dir.name}/{filename}:{lineno}")
    return found


@cache
def source_messages() -> dict[MessageId, list[str]]:
    return extract_messages(SOURCE_DIR)


def catalogue_path(lang: str, folder: Path = CATALOGUE_DIR) -> Path:
    return folder / lang / "LC_MESSAGES" / "messages.po"


def catalogue_paths(lang: str) -> list[Path]:
    """The catalogues of one language the platform merges, the shell's first (it must exist)."""
    paths = [catalogue_path(lang, folder) for folder in i18n.catalogue_dirs()]
    return [p for p in paths if p == catalogue_path(lang) or p.exists()]


def load_catalogues(lang: str) -> list[tuple[Path, Catalog]]:
    return [(path, load_catalogue(path, lang)) for path in catalogue_paths(lang)]


def merged_translations(catalogs: Iterable[Catalog]) -> dict[str, str]:
    """msgid → the translation a reader gets, later catalogues winning as in ``translations_for``."""
    merged: dict[str, str] = {}
    for catalog in catalogs:
        for message in catalog:
            if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                merged[message.id] = message.string
    return merged


def relative(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def load_catalogue(path: Path, lang: str | None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=lang)


def is_translated(catalog: Catalog, message_id: MessageId) -> str | None:
    """None when ``message_id`` has a usable translation, else what is wrong with it."""
    message = catalog.get(message_id)
    if message is None:
        return "not in the catalogue"
    if message.fuzzy:
        return "marked fuzzy"
    forms = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    if not forms or not all(form and form.strip() for form in forms):
        return "empty translation"
    if isinstance(message_id, tuple) and len(forms) != catalog.num_plurals:
        return f"{len(forms)} plural forms where the catalogue has {catalog.num_plurals}"
    return None


def untranslated(messages: dict[MessageId, list[str]], catalogs: Catalog | list[Catalog]) -> list[str]:
    """One line per message of the source that none of ``catalogs`` translates."""
    catalogs = catalogs if isinstance(catalogs, list) else [catalogs]
    problems = []
    for message_id, places in sorted(messages.items(), key=lambda item: str(item[0])):
        reasons = [is_translated(catalog, message_id) for catalog in catalogs]
        reason = None if None in reasons else reasons[0]
        if reason:
            where = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
            problems.append(f"  {message_id!r} ({where}): {reason}")
    return problems


def messages_of_other_domains(path: Path, catalog: Catalog, sources: dict[MessageId, list[str]]) -> list[str]:
    """A domain's catalogue is merged over the shell's: it may translate only its own domain's texts,
    or it would silently replace another domain's wording."""
    package = CATALOGUE_DIR.parent.parent
    if path == catalogue_path(str(catalog.locale), CATALOGUE_DIR) or not path.is_relative_to(package):
        return []
    domain = path.relative_to(package).parts[0]
    return sorted(str(m.id) for m in catalog if m.id and m.id in sources and not any(
        place.startswith(f"src/nokor/{domain}/") for place in sources[m.id]))


# `%(name)s`, `%s`, `%%` and any other %-sequence, including a lone "%" that would break formatting
PERCENT_RE = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[a-zA-Z%]|%")
MARKUP_RE = re.compile(r"[<>&]")


def percent_sequences(text: str) -> Counter[str]:
    return Counter(PERCENT_RE.findall(text))


def placeholder_problems(catalog: Catalog) -> list[str]:
    """Translations whose placeholders (or HTML-special characters) differ from their msgid."""
    problems = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        wanted = percent_sequences(ids[0])
        allowed = set().union(*(percent_sequences(i) for i in ids))
        for form in strings:
            if not form:
                continue
            got = percent_sequences(form)
            if len(ids) == 1 and got != wanted:
                problems.append(f"  {message.id!r} → {form!r}: placeholders {sorted(got.elements())} "
                                f"instead of {sorted(wanted.elements())}")
            elif len(ids) > 1 and not set(got) <= allowed:
                problems.append(f"  {message.id!r} → {form!r}: placeholders {sorted(set(got) - allowed)} "
                                "are not in the msgid")
            # templates mark translations safe, so a translation must not bring markup of its own
            if Counter(MARKUP_RE.findall(form)) != Counter(MARKUP_RE.findall(ids[0])):
                problems.append(f"  {message.id!r} → {form!r}: contains <, > or & that the msgid does not")
    return problems


CLDR_ORDER = ("zero", "one", "two", "few", "many", "other")


def plural_form_problems(catalog: Catalog, lang: str) -> list[str]:
    """The header's Plural-Forms must pick the CLDR category of every count, in gettext's order."""
    rule = Locale.parse(lang).plural_form
    categories = [c for c in CLDR_ORDER if c in rule.tags or c == "other"]
    if catalog.num_plurals != len(categories):
        return [f"  nplurals={catalog.num_plurals}, CLDR has {len(categories)} forms ({', '.join(categories)})"]
    choose = c2py(catalog.plural_expr)
    wrong = [n for n in range(0, 1201) if choose(n) != categories.index(rule(n))]
    if wrong:
        return [f"  plural={catalog.plural_expr} puts {wrong[:8]} in the wrong form "
                f"(expected order: {', '.join(categories)})"]
    return []


def visible_texts(html: str) -> list[str]:
    """The text a reader sees or hears: text nodes and the labels screen readers announce."""

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.texts: list[str] = []
            self._skip = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("script", "style"):
                self._skip += 1
            for name, value in attrs:
                if name in ("aria-label", "title", "alt", "placeholder") and value:
                    self.texts.append(value)

        def handle_endtag(self, tag: str) -> None:
            if tag in ("script", "style") and self._skip:
                self._skip -= 1

        def handle_data(self, data: str) -> None:
            if not self._skip and data.strip():
                self.texts.append(" ".join(data.split()))

    collector = Collector()
    collector.feed(html)
    return collector.texts


def message_pattern(message_id: str) -> re.Pattern[str]:
    """A msgid as it may appear on a page: placeholders filled with anything, whole words only."""
    parts = re.split(r"%\([^)]*\)[a-z]|%[a-z]", message_id)
    body = ".+?".join(re.escape(" ".join(p.split())) for p in parts)
    return re.compile(r"(?<!\w)" + body + r"(?!\w)")


def english_leaks(html: str, translations: dict[str, str]) -> list[str]:
    """English msgids shown on a page in another language (where the translation differs from it)."""
    text = "\n".join(visible_texts(html))
    return [message_id for message_id, string in translations.items()
            if string != message_id and message_pattern(message_id).search(text)]


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sources() -> dict[MessageId, list[str]]:
    messages = source_messages()
    assert len(messages) > 100, "the extraction found almost nothing: is babel.cfg still right?"
    return messages


@pytest.mark.parametrize("lang", i18n.LOCALES)
class TestEveryMessageIsTranslated:
    def test_every_message_in_the_source_has_a_translation(self, lang, sources):
        catalogs = load_catalogues(lang)
        problems = untranslated(sources, [catalog for _path, catalog in catalogs])
        where = " or ".join(str(relative(path)) for path, _catalog in catalogs)
        assert not problems, (
            f"{len(problems)} message(s) of the source lack a translation in {where}:\n"
            + "\n".join(problems) + "\n" + UPDATE_HINT
        )

    def test_placeholders_match_the_msgid(self, lang):
        problems = [f"{relative(path)}:\n" + "\n".join(found) for path, catalog in load_catalogues(lang)
                    if (found := placeholder_problems(catalog))]
        assert not problems, "translations that would break or change formatting:\n" + "\n".join(problems)

    def test_catalogues_have_no_obsolete_or_stale_entries(self, lang, sources):
        for path, catalog in load_catalogues(lang):
            obsolete = sorted(str(k) for k in catalog.obsolete)
            assert not obsolete, f"{relative(path)}: obsolete (#~) entries, remove them:\n  " + "\n  ".join(obsolete)
            stale = sorted(str(m.id) for m in catalog if m.id and m.id not in sources)
            assert not stale, (f"{relative(path)}: entries no source uses any more:\n  " + "\n  ".join(stale)
                               + "\n" + UPDATE_HINT)
            assert not catalog.fuzzy, f"{relative(path)}: the catalogue header is marked fuzzy"
            foreign = messages_of_other_domains(path, catalog, sources)
            assert not foreign, f"{relative(path)}: messages its domain does not use:\n  " + "\n  ".join(foreign)

    def test_plural_forms_follow_cldr(self, lang):
        for path, catalog in load_catalogues(lang):
            assert catalog.locale is not None and str(catalog.locale) == lang, f"{relative(path)}: Language header"
            problems = plural_form_problems(catalog, lang)
            assert not problems, f"{relative(path)}: Plural-Forms header is wrong:\n" + "\n".join(problems)


def test_english_catalogues_repeat_every_msgid():
    for path, catalog in load_catalogues("en"):
        different = [m.id for m in catalog if m.id and m.string != m.id]
        assert not different, f"{relative(path)} must repeat the msgid: {different}"


def test_template_matches_the_sources(sources):
    template = load_catalogue(TEMPLATE, None)
    in_template = {m.id for m in template if m.id}
    missing = sorted(map(str, set(sources) - in_template))
    unused = sorted(map(str, in_template - set(sources)))
    assert not missing, f"missing from messages.pot: {missing}\n{UPDATE_HINT}"
    assert not unused, f"messages.pot has messages no source uses: {unused}\n{UPDATE_HINT}"


# A translation chosen for the platform is used every time the term appears (case-insensitive
# regex on the msgid → substrings of which the translation must contain one).
GLOSSARY: dict[str, dict[str, tuple[str, ...]]] = {
    r"\bofficers?\b": {"km": ("មន្ត្រី",), "ar": ("موظف",)},  # de rephrases around "Bedienstetenkonto"
    r"\borganisation units?\b": {"km": ("អង្គភាព",), "ar": ("وحدة تنظيمية", "الوحدة التنظيمية", "الوحدات التنظيمية"),
                                 "de": ("Organisationseinheit",)},
    r"\boffices?\b": {"km": ("អង្គភាព",), "ar": ("جهة", "جهت"), "de": ("Dienststelle",)},
    r"\broles?\b": {"km": ("តួនាទី",), "ar": ("دور", "أدوار"), "de": ("Rolle",)},
    r"\bpermissions?\b": {"km": ("សិទ្ធិ",), "ar": ("صلاحي",), "de": ("Berechtigung",)},
    r"\bAPI clients?\b": {"km": ("កម្មវិធីភ្ញៀវ API",), "ar": ("عميل API", "عملاء API"), "de": ("API-Client",)},
    r"\bAPI key\b": {"km": ("កូនសោ API",), "ar": ("مفتاح API",), "de": ("API-Schlüssel",)},
    r"\baudit trail\b": {"km": ("កំណត់ត្រាសវនកម្ម",), "ar": ("سجل التدقيق",), "de": ("Prüfprotokoll",)},
    r"\bpersonal[- ]data\b": {"km": ("ទិន្នន័យផ្ទាល់ខ្លួន",), "ar": ("البيانات الشخصية",),
                              "de": ("personenbezogene",)},
    r"\bsign(?:ed)?[- ]ins?\b": {"km": ("ចូលប្រព័ន្ធ",), "ar": ("دخول",), "de": ("meld",)},
    r"\bsign(?:ed)? out\b": {"km": ("ចាកចេញ",), "ar": ("خروج",), "de": ("abmeld", "abgemeld")},
    r"\bagency\b": {"km": ("ស្ថាប័ន",), "ar": ("جهة", "جهات"), "de": ("Behörde",)},
    r"\bdead letters?\b": {"km": ("ផ្ញើមិនបាន",), "ar": ("تعذّر",), "de": ("unzustellbar",)},
    r"(?<!-)\bregistr(?:y|ies)\b": {"km": ("បញ្ជីទិន្នន័យ",), "ar": ("سجل",), "de": ("Register",)},
    r"(?-i:\bschemas?\b)": {"km": ("គ្រោងទិន្នន័យ",), "ar": ("مخطط",), "de": ("Schema",)},
    # German keeps two words: a Zertifikat (PKI) and an Urkunde (a birth or marriage certificate).
    r"\bcertificates?\b": {"km": ("វិញ្ញាបនបត្រ",), "ar": ("شهاد",), "de": ("zertifikat", "urkunde")},
    r"\bcertification authorit(?:y|ies)\b": {"km": ("អាជ្ញាធរផ្តល់វិញ្ញាបនបត្រ",), "ar": ("التصديق",),
                                              "de": ("Zertifizierungsstelle",)},
    r"\bsignatures?\b": {"km": ("ហត្ថលេខា",), "ar": ("توقيع",), "de": ("signatur",)},
    r"(?<![/-])\btimestamps?\b(?!-)": {"km": ("ត្រាពេលវេលា",), "ar": ("زمني",), "de": ("zeitstempel",)},
    r"\bseals?\b": {"km": ("ត្រា",), "ar": ("ختم",), "de": ("Siegel",)},
}
# words a formal government text in German must not use: the informal "du", and the other words for an
# officer than "Bedienstete" (German texts say "Bedienstetenkonto" or "bedienstete Person" where English
# says "the officer", so no required term can be checked there)
FORBIDDEN = {"de": re.compile(r"\b(?:du|dich|dir|dein\w*|Beamt\w*|Mitarbeiter\w*|Amtsperson\w*|"
                              r"einlogg\w*|ausgelogg\w*)\b", re.IGNORECASE)}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_terms_are_translated_consistently(lang):
    problems = []
    for path, message in ((p, m) for p, catalog in load_catalogues(lang) for m in catalog):
        if not message.id or not isinstance(message.string, str) or not message.string:
            continue  # a missing translation is reported by the test above
        where = f"  {relative(path)}: {message.id!r} → {message.string!r}"
        for term, choices in GLOSSARY.items():
            wanted = choices.get(lang)
            if wanted and re.search(term, message.id, re.IGNORECASE) and not any(
                w.casefold() in message.string.casefold() for w in wanted
            ):
                problems.append(f"{where}: use {' / '.join(wanted)}")
        if lang in FORBIDDEN and (match := FORBIDDEN[lang].search(message.string)):
            problems.append(f"{where}: avoid {match.group(0)!r}")
    assert not problems, f"{lang}: terms off the glossary:\n" + "\n".join(problems)


# the texts of the sign-in page (the layout without a signed-in officer, and the form)
SIGN_IN_PAGE = (
    "Sign in",
    "Sign in with the username and password your administrator gave you.",
    "Username",
    "Password",
    "Skip to main content",
    "Language",
    "An open digital-government platform",
)


@pytest.mark.parametrize("lang", i18n.LOCALES)
def test_sign_in_page_speaks_only_the_chosen_language(client, lang):
    answer = client.get(f"/login?lang={lang}", headers={"accept": "text/html"})
    assert answer.status_code == 200
    assert f'lang="{lang}"' in answer.text
    assert f'dir="{"rtl" if lang == "ar" else "ltr"}"' in answer.text
    translations = merged_translations(catalog for _path, catalog in load_catalogues(lang))
    text = "\n".join(visible_texts(answer.text))
    for message_id in SIGN_IN_PAGE:
        translation = translations[message_id]
        assert translation in text, f"{lang}: {translation!r} (for {message_id!r}) is not on the sign-in page"
    if lang != "en":
        leaks = english_leaks(answer.text, translations)
        assert not leaks, f"{lang}: English left on the sign-in page: {leaks}"


# --- the checks themselves can fail --------------------------------------------------------------


class TestTheChecksCatchMistakes:
    """The checks above run on throw-away sources and catalogues, to show that each one can fail."""

    @pytest.fixture
    def tree(self, tmp_path: Path) -> Path:
        package = tmp_path / "src" / "sample"
        (package / "templates" / "sample").mkdir(parents=True)
        (package / "service.py").write_text(
            "from nokor.kit.i18n import gettext as _, lazy_gettext as _l\n"
            "TITLE = _l('A title nobody translated.')\n"
            "def greet(name):\n"
            "    return _('Hello, %(name)s.', name=name)\n",
            encoding="utf-8",
        )
        (package / "templates" / "sample" / "page.html").write_text(
            '{% extends "base.html" %}{% block content %}'
            '<p>{{ _("Hello, %(name)s.", name=officer.full_name) }}</p>'
            '<p>{{ ngettext("%(num)s message", "%(num)s messages", count) }}</p>'
            "{% endblock %}",
            encoding="utf-8",
        )
        return tmp_path / "src"

    def test_fresh_extraction_names_the_untranslated_message_and_its_place(self, tree):
        messages = extract_messages(tree)
        assert set(messages) == {"A title nobody translated.", "Hello, %(name)s.",
                                 ("%(num)s message", "%(num)s messages")}
        catalog = Catalog(locale="de")
        catalog.add("Hello, %(name)s.", "Guten Tag, %(name)s.")
        catalog.add(("%(num)s message", "%(num)s messages"), ("%(num)s Nachricht", ""))
        problems = untranslated(messages, catalog)
        assert len(problems) == 2
        assert "'A title nobody translated.' (src/sample/service.py:2): not in the catalogue" in problems[1]
        assert "empty translation" in problems[0]

    def test_a_template_that_does_not_parse_stops_the_extraction(self, tree):
        (tree / "sample" / "templates" / "sample" / "broken.html").write_text("{{ _('Open' }}", encoding="utf-8")
        with pytest.raises(Exception, match="unexpected"):
            extract_messages(tree)

    def test_a_translation_in_a_domain_catalogue_counts(self):
        shell, domain = Catalog(locale="km"), Catalog(locale="km")
        shell.add("Draft", "")
        domain.add("Draft", "សេចក្តីព្រាង")
        assert untranslated({"Draft": ["src/x.py:1"]}, [shell, domain]) == []
        assert untranslated({"Draft": ["src/x.py:1"]}, [shell]) == ["  'Draft' (src/x.py:1): empty translation"]
        assert merged_translations([shell, domain]) == {"Draft": "សេចក្តីព្រាង"}

    def test_a_domain_catalogue_may_not_reword_other_domains(self):
        sources = {"Sign in": ["src/nokor/accounts/templates/accounts/login.html:3"],
                   "Tag %(tag)s is required.": ["src/nokor/payments/emvqr.py:331"]}
        catalog = Catalog(locale="de")
        catalog.add("Sign in", "Einloggen")
        catalog.add("Tag %(tag)s is required.", "Tag %(tag)s ist erforderlich.")
        domain_path = CATALOGUE_DIR.parent.parent / "payments" / "locale" / "de" / "LC_MESSAGES" / "messages.po"
        assert messages_of_other_domains(domain_path, catalog, sources) == ["Sign in"]
        assert messages_of_other_domains(catalogue_path("de"), catalog, sources) == []

    def test_fuzzy_translations_do_not_count(self):
        catalog = Catalog(locale="km")
        catalog.add("Sign in", "ចូលប្រព័ន្ធ", flags=["fuzzy"])
        assert is_translated(catalog, "Sign in") == "marked fuzzy"

    def test_lost_renamed_or_stray_placeholders_are_found(self):
        catalog = Catalog(locale="de")
        catalog.add("Welcome, %(name)s", "Willkommen")
        catalog.add("Locked until %(when)s", "Gesperrt bis %(wann)s")
        catalog.add("Use at least 12 characters.", "Mindestens 12 % der Zeichen.")
        catalog.add("Kept in the audit trail.", "Wird im <b>Prüfprotokoll</b> festgehalten.")
        catalog.add("Signed in as %(username)s.", "Angemeldet als %(username)s.")
        problems = "\n".join(placeholder_problems(catalog))
        for message_id in ("Welcome", "Locked until", "Use at least", "Kept in the audit trail"):
            assert message_id in problems
        assert "Signed in as" not in problems

    def test_babels_own_arabic_plural_rule_would_be_refused(self):
        catalog = Catalog(locale="ar")
        catalog._num_plurals, catalog._plural_expr = 6, (  # what `pybabel init -l ar` writes (babel#816)
            "(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=0 && n%100<=2 ? 4 : 5)")
        assert plural_form_problems(catalog, "ar")

    def test_an_untranslated_page_is_caught(self):
        translations = merged_translations(catalog for _path, catalog in load_catalogues("de"))
        html = ('<html><body><nav aria-label="Language"></nav><h1>Anmelden</h1>'
                "<p>Sign in with the username and password your administrator gave you.</p></body></html>")
        assert sorted(english_leaks(html, translations)) == [
            "Language", "Sign in", "Sign in with the username and password your administrator gave you."]
        page = "<p>Willkommen, Sok Dara</p><p>Welcome, Sok Dara</p>"
        assert english_leaks(page, translations) == ["Welcome, %(name)s"]


def _all_translations(lang: str) -> Iterable[tuple[str, str]]:
    for message in (m for _path, catalog in load_catalogues(lang) for m in catalog):
        if message.id:  # empty ones are reported by test_every_message_in_the_source_has_a_translation
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            for string in [message.string] if isinstance(message.string, str) else message.string:
                yield msgid, string


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_are_written_in_the_language_of_the_catalogue(lang):
    """A translation pasted into the wrong catalogue (Arabic into Khmer, ...) is caught."""
    script = {"km": r"[\u1780-\u17FF]", "ar": r"[\u0600-\u06FF]", "de": r"[A-Za-zÄÖÜäöüß]"}[lang]
    foreign = {"km": r"[\u0600-\u06FF]", "ar": r"[\u1780-\u17FF]", "de": r"[\u0600-\u06FF\u1780-\u17FF]"}[lang]
    wrong = [t for msgid, t in _all_translations(lang)
             if t and (set(re.findall(foreign, t)) - set(re.findall(foreign, msgid)) or not re.search(script, t))]
    assert not wrong, f"{lang}: translations not in the script of the language: {wrong}"
