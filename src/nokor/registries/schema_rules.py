"""What makes a registry schema acceptable, and how records are checked against it.

A registry schema is a JSON Schema (draft 2020-12) of an object. Nokor reads a few keywords of its
own on the top-level properties:

* ``"x-searchable": true`` — the field is indexed and can be filtered and sorted on (scalars only);
* ``"x-personal": true`` — the field is personal data: reading it is logged with a purpose;
* ``"x-subject": true`` — the field identifies the person the record is about (one field at most;
  it is personal data, and it is what ``myPersonalDataUsage`` looks people up by);
* ``"x-key": true`` (or GovStack's ``"primaryKey": true``) — the field is the record's business
  key: unique in the registry, indexed, and accepted wherever the GovStack API names a record;
* ``"x-label": {"km": ..., "en": ...}`` — the label the web form shows (``title`` otherwise).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs

from nokor.kit.errors import field_error
from nokor.kit.i18n import gettext as _

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
SCALAR_TYPES = ("string", "integer", "number", "boolean")


@dataclass(frozen=True)
class SchemaFacts:
    """What Nokor needs to know about a schema beyond validating records with it."""

    properties: dict[str, dict[str, Any]]
    required: list[str]
    searchable: list[str] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)
    subject: str | None = None
    key: str | None = None


def property_type(spec: dict[str, Any]) -> str:
    """The main JSON type of a property (the first non-null one of a list), or "any"."""
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "any")
    if kind is None and "enum" in spec:
        values = [v for v in spec["enum"] if v is not None]
        if values and all(isinstance(v, str) for v in values):
            return "string"
    return kind if isinstance(kind, str) else "any"


def check_schema(schema: Any) -> tuple[SchemaFacts | None, list[dict[str, Any]]]:
    """Check a registry schema; returns its facts, or the errors (each with its JSON pointer)."""
    errors: list[dict[str, Any]] = []
    where: list[str | int] = ["json_schema"]
    if not isinstance(schema, dict):
        return None, [field_error(where, _("The schema must be a JSON object."), "schema_not_object")]
    declared = schema.get("$schema", DRAFT_2020_12)
    if declared.rstrip("#") != DRAFT_2020_12:
        errors.append(field_error([*where, "$schema"], _("Use JSON Schema draft 2020-12."), "schema_draft"))
        return None, errors
    try:
        jsonschema_rs.meta.validate({**schema, "$schema": DRAFT_2020_12})
    except jsonschema_rs.ValidationError as exc:
        pointer: list[str | int] = [*where, *[str(p) for p in exc.instance_path]]
        errors.append(field_error(pointer, _("This is not valid JSON Schema: %(reason)s",
                                             reason=exc.message), "schema_invalid"))
        return None, errors
    except Exception as exc:
        return None, [field_error(where, _("This is not valid JSON Schema: %(reason)s", reason=str(exc)),
                                  "schema_invalid")]
    if schema.get("type") != "object":
        errors.append(field_error([*where, "type"], _("A registry schema describes an object: set \"type\" to "
                                                      "\"object\"."), "schema_type"))
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        errors.append(field_error([*where, "properties"], _("Describe at least one field under \"properties\"."),
                                  "schema_properties"))
        return None, errors
    facts = SchemaFacts(properties=properties, required=[r for r in schema.get("required", []) if r in properties])
    subjects: list[str] = []
    keys: list[str] = []
    for name, spec in properties.items():
        at = [*where, "properties", name]
        if not FIELD_NAME_RE.match(name):
            errors.append(field_error(at, _("Field names use Latin letters, digits and underscores, and start with "
                                            "a letter."), "field_name"))
            continue
        if not isinstance(spec, dict):
            continue
        kind = property_type(spec)
        flagged_subject = spec.get("x-subject") is True
        # GovStack's database schemas mark the key with "primaryKey".
        flagged_key = spec.get("x-key") is True or spec.get("primaryKey") is True
        if spec.get("x-searchable") is True or flagged_key:
            if kind not in SCALAR_TYPES:
                errors.append(field_error([*at, "x-searchable"], _("Only text, number and yes/no fields can be "
                                                                   "searchable."), "searchable_type"))
            else:
                facts.searchable.append(name)
        if spec.get("x-personal") is True or flagged_subject:
            facts.personal.append(name)
        if flagged_subject:
            if kind != "string":
                errors.append(field_error([*at, "x-subject"], _("The field that identifies the person must be "
                                                                "text."), "subject_type"))
            subjects.append(name)
        if flagged_key:
            keys.append(name)
        label = spec.get("x-label")
        if label is not None and (not isinstance(label, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in label.items())):
            errors.append(field_error([*at, "x-label"], _("A label gives a text per language, for example "
                                                          "{\"en\": \"Name\", \"km\": \"ឈ្មោះ\"}."), "label_shape"))
    if len(subjects) > 1:
        errors.append(field_error([*where, "properties", subjects[1], "x-subject"],
                                  _("Only one field can identify the person."), "subject_twice"))
    if len(keys) > 1:
        errors.append(field_error([*where, "properties", keys[1], "x-key"],
                                  _("Only one field can be the record's key."), "key_twice"))
    if errors:
        return None, errors
    return SchemaFacts(properties=properties, required=facts.required, searchable=facts.searchable,
                       personal=facts.personal, subject=subjects[0] if subjects else None,
                       key=keys[0] if keys else None), []


def compile_validator(schema: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    """A compiled validator of records (formats such as ``date`` and ``email`` are checked too)."""
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def _message(error: jsonschema_rs.ValidationError) -> tuple[str, str]:
    keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
    kind = error.kind
    if keyword == "required":
        return _("This field is required."), keyword
    if keyword == "type":
        return _("This has the wrong type of value."), keyword
    if keyword in ("enum", "const"):
        return _("Choose one of the allowed values."), keyword
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        return _("This number is outside the allowed range."), keyword
    if keyword in ("minLength", "maxLength"):
        return _("This text is too short or too long."), keyword
    if keyword == "pattern":
        return _("This is not in the expected format."), keyword
    if keyword == "format":
        return _("This is not a valid %(format)s.", format=str(getattr(kind, "format", ""))), keyword
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return _("This field is not part of the registry's schema."), keyword
    if keyword in ("minItems", "maxItems", "uniqueItems"):
        return _("This list has the wrong number of items."), keyword
    return _("This value does not match the registry's schema."), keyword


def record_errors(validator: jsonschema_rs.Draft202012Validator, data: Any,
                  where: list[str | int]) -> list[dict[str, Any]]:
    """Every way ``data`` breaks the schema, each with the JSON pointer of the bad field."""
    if validator.is_valid(data):
        return []
    out: list[dict[str, Any]] = []
    for error in validator.iter_errors(data):
        path: list[str | int] = [*where, *error.instance_path]
        keyword = str(error.schema_path[-1]) if error.schema_path else ""
        if keyword == "required":
            path.append(str(getattr(error.kind, "property", "")))
        elif keyword == "additionalProperties":
            unexpected = list(getattr(error.kind, "unexpected", []) or [])
            for name in unexpected:
                message, code = _message(error)
                out.append(field_error([*path, str(name)], message, f"schema.{code}"))
            if unexpected:
                continue
        message, code = _message(error)
        out.append(field_error(path, message, f"schema.{code}"))
    return out


def coerce_cell(spec: dict[str, Any], cell: str) -> Any:
    """A CSV cell as the JSON value its field expects; a value that cannot be read stays text,
    so the validator names it."""
    kind = property_type(spec)
    try:
        if kind == "integer":
            return int(cell)
        if kind == "number":
            number = float(cell)
            return int(number) if number.is_integer() and "." not in cell and "e" not in cell.lower() else number
        if kind == "boolean":
            lowered = cell.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            return cell
        if kind in ("object", "array"):
            return json.loads(cell)
    except ValueError:
        return cell
    return cell


def cell_of(value: Any) -> str:
    """A JSON value written into a CSV cell (objects and lists as JSON text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def index_value(spec: dict[str, Any], value: Any) -> tuple[str | None, float | None]:
    """How a searchable field's value is kept in the index: lower-cased text, or a number."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, int | float):
        return None, float(value)
    return str(value).lower()[:200], None


def label_of(name: str, spec: dict[str, Any], locale: str) -> str:
    label = spec.get("x-label")
    if isinstance(label, dict):
        for candidate in (locale, "en", "km"):
            if isinstance(label.get(candidate), str) and label[candidate]:
                return str(label[candidate])
    title = spec.get("title")
    return str(title) if isinstance(title, str) and title else name


def widget_of(spec: dict[str, Any]) -> str:
    kind = property_type(spec)
    if "enum" in spec:
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if spec.get("format") == "date":
        return "date"
    if spec.get("format") == "email":
        return "email"
    if kind in ("object", "array") or (spec.get("maxLength") or 0) > 200:
        return "textarea"
    return "text"
