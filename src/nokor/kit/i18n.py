"""Translation and locale-aware formatting.

Messages are looked up in the Babel catalogues under ``nokor/web/locale`` for the locale of the
request being handled (a context variable set by the web layer, the CLI or the worker).
"""

from __future__ import annotations

import contextvars
import io
import logging
import threading
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_currency_precision
from babel.support import NullTranslations, Translations

LOCALES: tuple[str, ...] = ("km", "en", "ar", "de")
RTL_LOCALES = frozenset({"ar"})
LANGUAGE_NAMES: dict[str, str] = {"km": "ខ្មែរ", "en": "English", "ar": "العربية", "de": "Deutsch"}
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "web" / "locale"
DOMAIN = "messages"

locale_var: contextvars.ContextVar[str] = contextvars.ContextVar("nokor_locale", default="en")
timezone_var: contextvars.ContextVar[str] = contextvars.ContextVar("nokor_tz", default="Asia/Phnom_Penh")

_load_lock = threading.Lock()


def catalogue_dirs() -> list[Path]:
    """The shell's catalogue first, then each domain's own (``nokor/<domain>/locale``), so each
    domain translates its texts in files of its own."""
    package = CATALOGUE_DIR.parent.parent
    return [CATALOGUE_DIR, *sorted(p for p in package.glob("*/locale") if p != CATALOGUE_DIR)]


def _compile(po_path: Path, locale: str) -> Translations:
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


@cache
def translations_for(locale: str) -> NullTranslations:
    """Every catalogue of one locale merged (compiled in memory from the .po files, once)."""
    with _load_lock:
        merged: Translations | None = None
        for folder in catalogue_dirs():
            po_path = folder / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
            if not po_path.exists():
                continue
            try:
                compiled = _compile(po_path, locale)
            except Exception:
                # One broken catalogue must not take every page of the language down with it;
                # the translation tests name it, and the log says which file.
                logging.getLogger("nokor.i18n").exception("catalogue not loaded: %s", po_path)
                continue
            if merged is None:
                merged = compiled
            else:
                merged.merge(compiled)
    return merged if merged is not None else NullTranslations()


def current_locale() -> str:
    return locale_var.get()


def is_rtl(locale: str | None = None) -> bool:
    return (locale or current_locale()) in RTL_LOCALES


def gettext(message: str, **variables: Any) -> str:
    """Translate ``message`` into the current locale; ``%(name)s`` placeholders are filled in."""
    text = translations_for(current_locale()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = translations_for(current_locale()).ungettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


_ = gettext


class LazyString:
    """A message translated when it is turned into text, in the locale current at that moment."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return gettext(self.message)

    def __repr__(self) -> str:
        return f"LazyString({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.message)


def lazy_gettext(message: str) -> LazyString:
    return LazyString(message)


def negotiate_locale(accept_language: str | None, default: str) -> str:
    """Pick the first supported language from an Accept-Language header."""
    if not accept_language:
        return default
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        piece = part.strip()
        if not piece:
            continue
        lang, _sep, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, index, lang.strip().lower().split("-")[0]))
    for negative_quality, _i, lang in sorted(weighted):
        # q=0 means "not acceptable" (RFC 9110 section 12.4.2), never a last resort.
        if lang in LOCALES and negative_quality < 0:
            return lang
    return default


def _tz() -> ZoneInfo:
    return ZoneInfo(timezone_var.get())


def format_datetime(value: datetime, fmt: str = "medium") -> str:
    """A moment in the configured zone, written the way the reader's locale writes it."""
    return _babel_format_datetime(value, format=fmt, tzinfo=_tz(), locale=current_locale())


def format_date(value: date | datetime, fmt: str = "medium") -> str:
    if isinstance(value, datetime):
        value = value.astimezone(_tz()).date()
    return _babel_format_date(value, format=fmt, locale=current_locale())


def format_number(value: int | float | Decimal) -> str:
    return format_decimal(value, locale=current_locale())


def format_money(minor_units: int, currency: str) -> str:
    """An amount stored in minor units (cents, riel) written for the reader's locale."""
    digits = get_currency_precision(currency)
    amount = Decimal(minor_units).scaleb(-digits)
    return format_currency(amount, currency, locale=current_locale())


def locale_display_name(locale: str) -> str:
    return LANGUAGE_NAMES.get(locale) or (Locale.parse(locale).get_display_name(locale) or locale)
