"""Language choice, translation and locale-aware formatting (nokor.kit.i18n)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TypeVar

import pytest
from babel.numbers import get_currency_precision
from jinja2 import Environment

from nokor.kit import i18n
from nokor.kit.errors import Forbidden, NotFound
from nokor.kit.money import Money

T = TypeVar("T")

# 17:30 UTC on 5 January is half past midnight on 6 January in Phnom Penh (UTC+7, no summer time)
EVENING_UTC = datetime(2026, 1, 5, 17, 30, tzinfo=UTC)


@contextmanager
def reading_in(locale: str, timezone: str | None = None) -> Iterator[None]:
    """Run the block as a request in ``locale`` (and ``timezone``) would."""
    tokens: list[tuple[contextvars.ContextVar[str], contextvars.Token[str]]] = [
        (i18n.locale_var, i18n.locale_var.set(locale))
    ]
    if timezone:
        tokens.append((i18n.timezone_var, i18n.timezone_var.set(timezone)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def in_locale(locale: str, call: Callable[[], T]) -> T:
    with reading_in(locale):
        return call()


class TestNegotiateLocale:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("km", "km"),
            ("ar-EG", "ar"),
            ("de-DE,de;q=0.9,en;q=0.8", "de"),
            ("en-US,en;q=0.9", "en"),
            ("KM-kh", "km"),
            # the highest quality wins, whatever its place in the header
            ("fr-CH, fr;q=0.9, de;q=0.7, km;q=0.8", "km"),
            ("en;q=0.5, ar", "ar"),
            # on equal quality the header's order decides
            ("de, ar", "de"),
            ("ar;q=0.8, de;q=0.8", "ar"),
            # unsupported languages are skipped
            ("ja, zh-CN;q=0.9, de;q=0.1", "de"),
            # sloppy headers still work
            (" , en ;q=0.8,", "en"),
            ("de;q=nonsense, ar;q=0.2", "ar"),
        ],
    )
    def test_picks_the_preferred_supported_language(self, header, expected):
        assert i18n.negotiate_locale(header, "km") == expected

    @pytest.mark.parametrize("header", [None, "", "fr, ja", "*", "x-klingon"])
    def test_falls_back_to_the_site_default(self, header):
        assert i18n.negotiate_locale(header, "km") == "km"
        assert i18n.negotiate_locale(header, "ar") == "ar"

    def test_a_language_refused_with_q0_is_never_chosen(self):
        assert i18n.negotiate_locale("de;q=0", "km") == "km"


class TestGettext:
    def test_translates_into_the_current_locale(self):
        assert in_locale("km", lambda: i18n.gettext("Sign in")) == "ចូលប្រព័ន្ធ"
        assert in_locale("ar", lambda: i18n.gettext("Sign in")) == "تسجيل الدخول"
        assert in_locale("de", lambda: i18n.gettext("Sign in")) == "Anmelden"
        assert in_locale("en", lambda: i18n.gettext("Sign in")) == "Sign in"

    def test_fills_placeholders_after_translating(self):
        def welcome() -> str:
            return i18n.gettext("Welcome, %(name)s", name="Sok Dara")

        assert in_locale("de", welcome) == "Willkommen, Sok Dara"
        assert in_locale("ar", welcome) == "مرحبًا، Sok Dara"
        assert in_locale("km", welcome) == "សូមស្វាគមន៍ Sok Dara"

    def test_a_value_is_inserted_as_it_is(self):
        def created() -> str:
            return i18n.gettext("Officer %(username)s was created.", username="%(admin)s")

        assert in_locale("de", created) == "Das Bedienstetenkonto %(admin)s wurde angelegt."

    def test_a_message_without_variables_is_not_formatted(self):
        assert in_locale("de", lambda: i18n.gettext("100% done")) == "100% done"

    def test_unknown_messages_and_languages_fall_back_to_the_msgid(self):
        assert in_locale("de", lambda: i18n.gettext("Not in any catalogue, %(n)s", n=3)) == "Not in any catalogue, 3"
        assert in_locale("fr", lambda: i18n.gettext("Sign in")) == "Sign in"

    def test_ngettext_fills_num(self):
        def count(n: int) -> str:
            return i18n.ngettext("%(num)s message", "%(num)s messages", n)

        assert in_locale("en", lambda: count(1)) == "1 message"
        assert in_locale("en", lambda: count(3)) == "3 messages"

    def test_catalogues_are_compiled_once(self):
        assert i18n.translations_for("km") is i18n.translations_for("km")
        assert i18n.translations_for("km").gettext("Password") == "ពាក្យសម្ងាត់"


class TestLazyString:
    def test_translates_when_rendered_not_when_created(self):
        with reading_in("km"):
            title = i18n.lazy_gettext("Sign in")
        assert in_locale("de", lambda: str(title)) == "Anmelden"
        assert in_locale("ar", lambda: str(title)) == "تسجيل الدخول"
        assert in_locale("km", lambda: str(title)) == "ចូលប្រព័ន្ធ"

    def test_renders_in_a_template_in_the_locale_of_the_request(self):
        title = i18n.lazy_gettext("Audit trail")
        template = Environment(autoescape=True).from_string("<h1>{{ title }}</h1>")
        assert in_locale("de", lambda: template.render(title=title)) == "<h1>Prüfprotokoll</h1>"
        assert in_locale("km", lambda: template.render(title=title)) == "<h1>កំណត់ត្រាសវនកម្ម</h1>"

    def test_problem_titles_declared_at_import_follow_the_reader(self):
        assert in_locale("de", lambda: NotFound().title) == "Die Seite oder der Datensatz wurde nicht gefunden."
        assert in_locale("ar", lambda: Forbidden().to_dict()["title"]) == "ليست لديك صلاحية للقيام بهذا الإجراء."
        assert in_locale("en", lambda: NotFound().title) == "The page or record was not found."

    def test_compares_with_text_in_the_current_locale(self):
        title = i18n.lazy_gettext("Sign in")
        with reading_in("de"):
            assert title == "Anmelden"
            assert title != "Sign in"
        assert repr(title) == "LazyString('Sign in')"


class TestFormatMoney:
    def test_us_dollars_in_each_language(self):
        assert in_locale("en", lambda: i18n.format_money(12345, "USD")) == "$123.45"
        assert in_locale("de", lambda: i18n.format_money(12345, "USD")) == "123,45\xa0$"
        assert in_locale("km", lambda: i18n.format_money(12345, "USD")) == "123.45$"
        arabic = in_locale("ar", lambda: i18n.format_money(12345, "USD"))
        assert "US$" in arabic and arabic != "$123.45"
        assert in_locale("en", lambda: i18n.format_money(-12345, "USD")) == "-$123.45"

    def test_riel_have_two_minor_digits_as_iso_4217_and_babel_say(self):
        # Sen are not used in practice, but ISO 4217 (and so Babel) give KHR two decimals: amounts
        # in riel are stored in hundredths, and Money.parse agrees with format_money.
        assert get_currency_precision("KHR") == 2
        fee = Money.parse("4100", "KHR")
        assert fee.minor == 410000
        assert in_locale("km", lambda: i18n.format_money(fee.minor, "KHR")) == "4,100.00៛"
        assert in_locale("de", lambda: i18n.format_money(fee.minor, "KHR")) == "4.100,00\xa0KHR"

    def test_a_currency_without_minor_units(self):
        assert get_currency_precision("JPY") == 0
        assert in_locale("en", lambda: i18n.format_money(500, "JPY")) == "¥500"

    def test_numbers_follow_the_locale(self):
        assert in_locale("de", lambda: i18n.format_number(1234567.5)) == "1.234.567,5"
        assert in_locale("en", lambda: i18n.format_number(1234567.5)) == "1,234,567.5"


class TestFormatDatetime:
    def test_shows_the_time_in_phnom_penh(self):
        with reading_in("de"):
            assert i18n.format_datetime(EVENING_UTC) == "06.01.2026, 00:30:00"
            assert i18n.format_datetime(EVENING_UTC, "long") == "6. Januar 2026, 00:30:00 +0700"
        english = in_locale("en", lambda: i18n.format_datetime(EVENING_UTC))
        assert english.startswith("Jan 6, 2026, 12:30:00") and english.endswith("AM")
        khmer = in_locale("km", lambda: i18n.format_datetime(EVENING_UTC))
        assert "6 មករា 2026" in khmer and "12:30:00" in khmer

    def test_a_naive_time_is_read_as_utc(self):
        naive = EVENING_UTC.replace(tzinfo=None)
        assert in_locale("de", lambda: i18n.format_datetime(naive)) == "06.01.2026, 00:30:00"

    def test_the_configured_zone_is_used(self):
        with reading_in("de", timezone="Asia/Dubai"):
            assert i18n.format_datetime(EVENING_UTC) == "05.01.2026, 21:30:00"
            assert i18n.format_date(EVENING_UTC) == "05.01.2026"
        with reading_in("de", timezone="Europe/Vilnius"):
            assert i18n.format_datetime(datetime(2026, 7, 1, 9, 0, tzinfo=UTC)) == "01.07.2026, 12:00:00"

    def test_format_date_takes_the_day_in_the_zone(self):
        assert in_locale("de", lambda: i18n.format_date(EVENING_UTC)) == "06.01.2026"
        assert in_locale("de", lambda: i18n.format_date(date(2026, 1, 5))) == "05.01.2026"


class TestLanguages:
    def test_four_languages_and_arabic_is_right_to_left(self):
        assert set(i18n.LOCALES) == {"km", "en", "ar", "de"}
        assert [code for code in i18n.LOCALES if i18n.is_rtl(code)] == ["ar"]
        assert in_locale("ar", i18n.is_rtl) and not in_locale("km", i18n.is_rtl)

    def test_each_language_is_named_in_itself(self):
        assert [i18n.locale_display_name(code) for code in ("km", "en", "ar", "de")] == [
            "ខ្មែរ", "English", "العربية", "Deutsch"]
        assert i18n.locale_display_name("lt") == "lietuvių"
