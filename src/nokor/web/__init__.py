"""The web shell: Jinja2 environment, page rendering, flash messages and form errors.

Domains render their pages through ``render``; every page gets the reader's language and text
direction, the signed-in officer, the CSRF token and the flash messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse

from nokor.kit import i18n
from nokor.kit.errors import Problem

PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _template_dirs() -> list[str]:
    dirs = [str(Path(__file__).resolve().parent / "templates")]
    dirs += sorted(str(p) for p in PACKAGE_DIR.glob("*/templates") if p.parent.name != "web")
    return dirs


def make_environment() -> Environment:
    """The Jinja2 environment shared by every page: autoescaped, with gettext and locale formatting."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(_template_dirs())]),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.gettext(message),
        lambda singular, plural, n: i18n.ngettext(singular, plural, n),
        newstyle=True,
    )
    env.globals.update(
        format_datetime=i18n.format_datetime,
        format_date=i18n.format_date,
        format_number=i18n.format_number,
        format_money=i18n.format_money,
        localized=localized,
        LOCALES=i18n.LOCALES,
        LANGUAGE_NAMES=i18n.LANGUAGE_NAMES,
    )
    env.filters["localized"] = localized
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    return env


def localized(value: Mapping[str, str] | None, locale: str | None = None) -> str:
    """Pick the reader's language from an officer-written ``{"km": ..., "en": ...}`` text."""
    if not value:
        return ""
    locale = locale or i18n.current_locale()
    for candidate in (locale, "en", "km", *i18n.LOCALES):
        if value.get(candidate):
            return value[candidate]
    return next(iter(value.values()), "")


_environment: Environment | None = None


def environment() -> Environment:
    global _environment
    if _environment is None:
        _environment = make_environment()
    return _environment


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with the shell's context; the page's own values come in ``context``."""
    locale = i18n.current_locale()
    state = request.state
    flashes = pop_flashes(request)
    values: dict[str, Any] = {
        "request": request,
        "locale": locale,
        "dir": "rtl" if i18n.is_rtl(locale) else "ltr",
        "officer": getattr(state, "officer", None),
        "actor": getattr(state, "actor", None),
        "csrf_token": getattr(state, "csrf_token", ""),
        "flashes": flashes,
        "site_name": getattr(state, "site_name", "Nokor"),
        "current_path": request.url.path,
        "current_url": str(request.url.path) + (("?" + request.url.query) if request.url.query else ""),
        "errors": {},
        "values": {},
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    if flashes:
        response.delete_cookie(FLASH_COOKIE, path="/")
    for cookie in getattr(state, "set_cookies", []):
        response.set_cookie(**cookie)
    return response


# --- flash messages ---------------------------------------------------------------------------

FLASH_COOKIE = "nokor_flash"


def flash(request: Request, message: str, category: str = "success") -> None:
    """Queue a message for the next page (kept in a signed cookie set on the redirect)."""
    pending: list[dict[str, str]] | None = getattr(request.state, "new_flashes", None)
    if pending is None:
        pending = request.state.new_flashes = []
    pending.append({"message": message, "category": category})


def pop_flashes(request: Request) -> list[dict[str, str]]:
    signer = getattr(request.state, "flash_signer", None)
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or signer is None:
        return []
    try:
        data = signer.loads(raw)
    except Exception:
        return []
    return [d for d in data if isinstance(d, dict)][:10] if isinstance(data, list) else []


# --- form errors ------------------------------------------------------------------------------


def form_errors(error: ValidationError | Problem) -> dict[str, str]:
    """Field name → message to show beside the field, from a validation error or a problem."""
    out: dict[str, str] = {}
    if isinstance(error, ValidationError):
        for item in error.errors():
            field = ".".join(str(p) for p in item["loc"]) or "__all__"
            out.setdefault(field, translate_validation(item))
        return out
    for problem_item in error.errors or []:
        field = str(problem_item.get("pointer", "/")).strip("/").replace("/", ".") or "__all__"
        out.setdefault(field, str(problem_item.get("detail", "")))
    if not out:
        out["__all__"] = error.detail or error.title
    return out


def translate_validation(item: Mapping[str, Any]) -> str:
    """A pydantic error in the reader's language (pydantic itself only speaks English)."""
    _ = i18n.gettext
    kind = item.get("type", "")
    ctx = item.get("ctx") or {}
    if kind == "missing":
        return _("This field is required.")
    if kind == "string_too_short":
        return _("Enter at least %(min)s characters.", min=ctx.get("min_length", 1))
    if kind == "string_too_long":
        return _("Enter at most %(max)s characters.", max=ctx.get("max_length", 0))
    if kind == "string_pattern_mismatch":
        return _("This is not in the expected format.")
    if kind in ("literal_error", "enum"):
        return _("Choose one of the options.")
    if kind in ("int_parsing", "float_parsing", "decimal_parsing"):
        return _("Enter a number.")
    if kind in ("uuid_parsing", "uuid_type"):
        return _("This is not a valid identifier.")
    if kind in ("bool_parsing", "bool_type"):
        return _("Choose yes or no.")
    if kind == "string_type":
        return _("Enter text here.")
    if kind in ("date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact"):
        return _("Enter a date as YYYY-MM-DD.")
    if kind == "json_invalid":
        return _("The request body is not valid JSON.")
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        return _("This has the wrong shape.")
    if kind in ("greater_than_equal", "greater_than"):
        return _("Enter a number of at least %(min)s.", min=ctx.get("ge", ctx.get("gt", "")))
    if kind in ("less_than_equal", "less_than"):
        return _("Enter a number of at most %(max)s.", max=ctx.get("le", ctx.get("lt", "")))
    if kind in ("too_long", "too_short"):
        return _("This has the wrong number of items.")
    if kind == "value_error":
        # Our validators raise messages already translated into the reader's language.
        return str(ctx.get("error", "")) or _("This value is not valid.")
    return _("This value is not valid.")
