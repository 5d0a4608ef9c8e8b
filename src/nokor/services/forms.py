"""E-forms: a JSON Schema says what the data is, a small UI schema says how the page asks for it.

The UI schema holds ``sections`` (a title by language and the fields in order) and ``widgets``
(``textarea``, ``date``, ``select``, ``radio``, ``checkbox``, ``place`` for the village picker, ``nin``,
``email``, ``tel``, ``number``). Labels and hints are ``x-label`` / ``x-hint`` of each property, by
language; choices of an ``enum`` are named by ``x-enum-labels``. ``x-not-future`` on a date refuses a
day after today (a date of birth, a moving day).

``parse_form`` turns what a browser posted (all text) into typed data and one translated message per
bad field, so the page can show each error beside its field and keep what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jsonschema_rs

from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import current_locale
from nokor.kit.i18n import gettext as _
from nokor.kit.time import utcnow

WIDGETS = ("text", "textarea", "date", "select", "radio", "checkbox", "place", "nin", "email", "tel", "number")
TYPES = ("string", "integer", "number", "boolean")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class FormField:
    """One question of a form, as the page shows it."""

    name: str
    label: dict[str, str]
    hint: dict[str, str]
    widget: str
    required: bool
    options: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@dataclass
class FormSection:
    title: dict[str, str]
    fields: list[FormField]


def _widget(name: str, prop: Mapping[str, Any], ui: Mapping[str, Any]) -> str:
    chosen = (ui.get("widgets") or {}).get(name)
    if chosen:
        return str(chosen)
    kind = prop.get("type")
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if "enum" in prop:
        return "select"
    if prop.get("format") == "date":
        return "date"
    if prop.get("format") == "email":
        return "email"
    return "text"


def layout(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> list[FormSection]:
    """The form's sections and fields in the order the UI schema gives (the rest at the end)."""
    props: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    sections_spec = list(ui.get("sections") or [])
    placed: set[str] = set()
    sections: list[FormSection] = []

    def make(name: str) -> FormField:
        prop = props[name]
        labels = prop.get("x-enum-labels") or {}
        options = [(str(v), labels.get(str(v)) or {"en": str(v)}) for v in prop.get("enum") or []]
        return FormField(name=name, label=prop.get("x-label") or {"en": name}, hint=prop.get("x-hint") or {},
                         widget=_widget(name, prop, ui), required=name in required, options=options)

    for spec in sections_spec:
        names = [n for n in spec.get("fields") or [] if n in props and n not in placed]
        placed.update(names)
        sections.append(FormSection(title=spec.get("title") or {}, fields=[make(n) for n in names]))
    rest = [n for n in props if n not in placed]
    if rest:
        sections.append(FormSection(title={}, fields=[make(n) for n in rest]))
    return sections


def check_definition(schema: Mapping[str, Any], ui: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Problems of a form definition, as problem+json error entries (empty when it can be used)."""
    errors: list[dict[str, Any]] = []
    try:
        jsonschema_rs.meta.validate(dict(schema))
    except jsonschema_rs.ValidationError as exc:
        errors.append(field_error(["form_schema"], _("This is not a valid JSON Schema: %(reason)s",
                                                      reason=str(exc.message)[:200]), "invalid_schema"))
        return errors
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        errors.append(field_error(["form_schema"], _("A form is a JSON Schema object with properties."),
                                  "not_an_object"))
        return errors
    for name, prop in schema["properties"].items():
        if not isinstance(prop, dict) or prop.get("type") not in TYPES:
            errors.append(field_error(["form_schema", "properties", name],
                                      _("Each field must be a string, an integer, a number or a boolean."),
                                      "unsupported_type"))
    for name, widget in (ui.get("widgets") or {}).items():
        if name not in schema["properties"] or widget not in WIDGETS:
            errors.append(field_error(["ui_schema", "widgets", name], _("This widget or field is not known."),
                                      "unknown_widget"))
    return errors


def pick(texts: Mapping[str, str] | None) -> str:
    """The reader's language from a ``{"km": ..., "en": ...}`` text written by officers."""
    if not texts:
        return ""
    for candidate in (current_locale(), "en", "km"):
        if texts.get(candidate):
            return texts[candidate]
    return next(iter(texts.values()), "")


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def _one(name: str, prop: Mapping[str, Any], text: str, today: date) -> tuple[Any, str | None]:
    """The typed value of one field and the message to show when it is not valid."""
    kind = prop.get("type")
    if kind == "integer":
        try:
            value: Any = int(text)
        except ValueError:
            return None, _("Enter a whole number.")
    elif kind == "number":
        try:
            value = float(text)
        except ValueError:
            return None, _("Enter a number.")
    else:
        value = text
    if kind in ("integer", "number"):
        if "minimum" in prop and value < prop["minimum"]:
            return None, _("Enter a number of at least %(min)s.", min=prop["minimum"])
        if "maximum" in prop and value > prop["maximum"]:
            return None, _("Enter a number of at most %(max)s.", max=prop["maximum"])
        return value, None
    if "enum" in prop and value not in [str(v) for v in prop["enum"]]:
        return None, _("Choose one of the options.")
    if "minLength" in prop and len(value) < prop["minLength"]:
        return None, _("Enter at least %(min)s characters.", min=prop["minLength"])
    if "maxLength" in prop and len(value) > prop["maxLength"]:
        return None, _("Enter at most %(max)s characters.", max=prop["maxLength"])
    if prop.get("format") == "date":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None, _("Enter a date as year-month-day, for example 2024-03-15.")
        if prop.get("x-not-future") and day > today:
            return None, _("The date cannot be in the future.")
    if prop.get("format") == "email" and not EMAIL_RE.match(value):
        return None, _("Enter an e-mail address such as name@example.com.")
    if "pattern" in prop and not re.search(str(prop["pattern"]), value):
        return None, pick(prop.get("x-pattern-message")) or _("This is not in the expected format.")
    return value, None


def parse_form(schema: Mapping[str, Any], raw: Mapping[str, Any], *, partial: bool = False
               ) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed data and field → message for what was posted; ``partial`` (a draft) skips missing fields."""
    props: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    today = utcnow().date()
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, prop in props.items():
        if prop.get("type") == "boolean":
            value = raw.get(name)
            data[name] = value is True or (isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"))
            continue
        text = _text(raw, name)
        if not text:
            if name in required and not partial:
                errors[name] = _("This field is required.")
            continue
        value, message = _one(name, prop, text, today)
        if message:
            errors[name] = message
            data[name] = text
        else:
            data[name] = value
    if not errors and not partial:
        problems = list(jsonschema_rs.Draft202012Validator(dict(schema)).iter_errors(data))
        for problem in problems:
            path = [str(p) for p in problem.instance_path] or ["__all__"]
            errors.setdefault(path[0], _("This value is not valid."))
    return data, errors


def require_valid(schema: Mapping[str, Any], raw: Mapping[str, Any], *, pointer: str = "data") -> dict[str, Any]:
    """The typed data, or ``ValidationFailed`` with one entry per bad field (``/data/<field>``)."""
    data, errors = parse_form(schema, raw)
    if errors:
        raise ValidationFailed(errors=[field_error([pointer, name], message, "invalid_field")
                                       for name, message in errors.items()])
    return data


def as_form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """Stored data as the text a form shows again (booleans as "1")."""
    out: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, bool):
            out[name] = "1" if value else ""
        elif value is not None:
            out[name] = str(value)
    return out
