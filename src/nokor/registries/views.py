"""Pages of the registries domain: define registries, edit and preview schema drafts, publish, browse,
search, read records with their history and differences, and import files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from nokor import accounts
from nokor.kit.errors import Problem, ValidationFailed
from nokor.kit.i18n import gettext as _
from nokor.registries import bulk, service
from nokor.registries.schema_rules import coerce_cell, property_type
from nokor.registries.schemas import FormFieldPreview, LocalizedText, RegistryCreate, SearchFilter, describe_state
from nokor.web import flash, form_errors, localized, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm

router = APIRouter(include_in_schema=False)

STARTER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["code", "name"],
    "properties": {
        "code": {"type": "string", "x-key": True, "x-label": {"en": "Code", "km": "លេខកូដ"}},
        "name": {"type": "string", "x-searchable": True, "x-label": {"en": "Name", "km": "ឈ្មោះ"}},
        "province": {"type": "string", "x-searchable": True, "x-label": {"en": "Province", "km": "ខេត្ត"}},
    },
}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _base(name: str) -> str:
    return f"/registries/{name}"


def _labels(json_schema: dict[str, Any]) -> dict[str, str]:
    return {f.name: f.label for f in service.preview_form(json_schema)}


# --- registries -----------------------------------------------------------------------------------


@router.get("/registries")
def registries_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    items = service.list_registries(session, actor)
    counts = {r.name: service.count_records(session, actor, name=r.name) if r.current_version and
              service.can_access(session, actor, name=r.name, permission=service.REGISTRIES_READ) else None
              for r in items}
    return render(request, "registries/list.html", {
        "items": items, "counts": counts, "describe_state": describe_state,
        "can_define": actor.can(service.REGISTRIES_MANAGE)})


def _unit_options(session: DbSession, actor: OfficerActor) -> list[tuple[str, str]]:
    return [(u.code, f"{localized(u.name)} ({u.code})") for u in accounts.list_org_units(session, actor)]


@router.get("/registries/new")
def new_registry_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    actor.require(service.REGISTRIES_MANAGE)
    return render(request, "registries/new.html", {
        "unit_options": _unit_options(session, actor),
        "values": {"json_schema": json.dumps(STARTER_SCHEMA, indent=2, ensure_ascii=False)}})


@router.post("/registries/new")
def create_registry(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    values = {k: _text(form, k) for k in ("name", "title.km", "title.en", "title.ar", "title.de",
                                          "owner_org_unit_code", "json_schema")}
    errors: dict[str, str] = {}
    json_schema: Any = None
    if values["json_schema"]:
        try:
            json_schema = json.loads(values["json_schema"])
        except ValueError:
            errors["json_schema"] = _("The schema is not valid JSON.")
    if not errors:
        try:
            created = service.create_registry(session, actor, data=RegistryCreate(
                name=values["name"], owner_org_unit_code=values["owner_org_unit_code"] or None,
                title=LocalizedText(**{code: values[f"title.{code}"] or None for code in ("km", "en", "ar", "de")}),
                json_schema=json_schema))
        except (ValidationError, Problem) as exc:
            if isinstance(exc, Problem) and exc.status == 403:
                raise
            errors = form_errors(exc)
        else:
            flash(request, _("The registry “%(name)s” was created. Edit its schema draft, then publish it.",
                             name=created.name))
            return RedirectResponse(f"{_base(created.name)}/draft", status_code=303)
    return render(request, "registries/new.html", {"errors": errors, "values": values,
                                                   "unit_options": _unit_options(session, actor)}, status_code=422)


@router.get("/registries/{name}")
def registry_page(request: Request, name: str, session: DbSession, actor: OfficerActor) -> Response:
    registry = service.get_registry(session, actor, name=name)
    manage = service.can_access(session, actor, name=name, permission=service.REGISTRIES_MANAGE)
    return render(request, "registries/registry.html", {
        "registry": registry, "describe_state": describe_state, "manage": manage,
        "write": service.can_access(session, actor, name=name, permission=service.REGISTRIES_WRITE),
        "grants": service.list_access(session, actor, name=name) if manage else []})


@router.post("/registries/{name}/versions/{version}/state")
def change_state(request: Request, name: str, version: str, session: DbSession, actor: OfficerActor,
                 form: OfficerForm) -> Response:
    try:
        service.set_version_state(session, actor, name=name, version=version, state=_text(form, "state"),
                                  reason=_text(form, "reason") or None)
    except Problem as problem:
        if problem.status in (403, 404):
            raise
        flash(request, problem.detail or problem.title, "error")
    else:
        flash(request, _("Version %(version)s is now %(state)s.", version=version,
                         state=describe_state(_text(form, "state"))))
    return RedirectResponse(_base(name), status_code=303)


@router.post("/registries/{name}/access")
def grant_access(request: Request, name: str, session: DbSession, actor: OfficerActor,
                 form: OfficerForm) -> Response:
    identity = _text(form, "client_identity")
    if _text(form, "revoke"):
        service.revoke_access(session, actor, name=name, client_identity=identity)
        flash(request, _("%(identity)s no longer has access.", identity=identity))
    else:
        try:
            service.grant_access(session, actor, name=name, client_identity=identity,
                                 can_write=_text(form, "can_write") == "yes")
        except Problem as problem:
            if problem.status in (403, 404):
                raise
            flash(request, problem.detail or next(iter(form_errors(problem).values()), problem.title), "error")
        else:
            flash(request, _("%(identity)s now has access.", identity=identity))
    return RedirectResponse(_base(name) + "#access", status_code=303)


# --- schema drafts ----------------------------------------------------------------------------------


@router.get("/registries/{name}/draft")
def draft_page(request: Request, name: str, session: DbSession, actor: OfficerActor) -> Response:
    registry = service.get_registry(session, actor, name=name)
    actor.require(service.REGISTRIES_MANAGE, registry.owner_org_unit_id)
    draft = next((v for v in registry.versions if v.state == "draft"), None)
    current = next((v for v in reversed(registry.versions) if v.state != "draft"), None)
    source = (draft or current).json_schema if (draft or current) else STARTER_SCHEMA  # type: ignore[union-attr]
    return _draft(request, registry.name, registry, json.dumps(source, indent=2, ensure_ascii=False), source, {})


def _draft(request: Request, name: str, registry: Any, text: str, parsed: Any, errors: dict[str, str],
           status_code: int = 200) -> Response:
    problems = service.check_schema(parsed) if parsed is not None else []
    return render(request, "registries/draft.html", {
        "registry": registry, "values": {"json_schema": text}, "errors": errors,
        "preview": service.preview_form(parsed) if parsed is not None else [], "problems": problems,
    }, status_code=status_code)


@router.post("/registries/{name}/draft")
def save_draft(request: Request, name: str, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    registry = service.get_registry(session, actor, name=name)
    action = _text(form, "action")
    text = _text(form, "json_schema")
    try:
        parsed = json.loads(text)
    except ValueError:
        return _draft(request, name, registry, text, None,
                      {"json_schema": _("The schema is not valid JSON.")}, status_code=422)
    if action == "preview":
        return _draft(request, name, registry, text, parsed, {})
    try:
        service.save_schema_draft(session, actor, name=name, json_schema=parsed)
        if action == "publish":
            published = service.publish_version(session, actor, name=name)
            flash(request, _("Version %(version)s is published.", version=published.version))
            return RedirectResponse(_base(name), status_code=303)
    except Problem as problem:
        if problem.status in (403, 404):
            raise
        session.rollback()
        return _draft(request, name, registry, text, parsed, form_errors(problem), status_code=422)
    flash(request, _("The draft is saved."))
    return RedirectResponse(f"{_base(name)}/draft", status_code=303)


# --- records ------------------------------------------------------------------------------------------


@router.get("/registries/{name}/records")
def records_page(request: Request, name: str, session: DbSession, actor: OfficerActor, q: str | None = None,
                 sort: str | None = None, cursor: str | None = None) -> Response:
    registry = service.get_registry(session, actor, name=name)
    version = service.get_version(session, actor, name=name)
    filters = [SearchFilter(field=f, value=request.query_params[f"f.{f}"].strip())
               for f in version.searchable_fields if (request.query_params.get(f"f.{f}") or "").strip()]
    errors: dict[str, str] = {}
    try:
        page = service.search_records(session, actor, name=name, filters=filters, text=(q or "").strip() or None,
                                      sort=sort or None, cursor=cursor)
    except Problem as problem:
        if problem.status in (403, 404):
            raise
        errors = form_errors(problem)
        page = service.search_records(session, actor, name=name)
    labels = _labels(version.json_schema)
    columns = version.searchable_fields[:5]
    keep = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return render(request, "registries/records.html", {
        "registry": registry, "version": version, "page": page, "labels": labels, "columns": columns,
        "values": {**{f"f.{f.field}": f.value for f in filters}, "q": q or "", "sort": sort or ""},
        "errors": errors, "keep": keep,
        "write": service.can_access(session, actor, name=name, permission=service.REGISTRIES_WRITE),
        "sort_options": [("", _("Oldest first")), ("-id", _("Newest first"))] + [
            (option, label) for f in version.searchable_fields
            for option, label in ((f, f"{labels.get(f, f)} ↑"), (f"-{f}", f"{labels.get(f, f)} ↓"))],
    })


# --- a record entered by hand -------------------------------------------------------------------------

EDITING_PURPOSE = "editing the record"


def _may_write(session: DbSession, actor: OfficerActor, name: str) -> None:
    registry = service.get_registry(session, actor, name=name)
    if not service.can_access(session, actor, name=name, permission=service.REGISTRIES_WRITE):
        actor.require(service.REGISTRIES_WRITE, registry.owner_org_unit_id)


def _form_value(field: FormFieldPreview, value: Any) -> str:
    """A stored value as the form shows it (the text the officer would type)."""
    if value is None:
        return ""
    if field.widget == "boolean":
        return "yes" if value is True else "no" if value is False else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _form_fields(json_schema: dict[str, Any]) -> list[FormFieldPreview]:
    """The fields of the form a schema produces; yes/no fields become a choice, so "not given" stays possible."""
    fields = service.preview_form(json_schema)
    for field in fields:
        if field.widget == "checkbox":
            field.widget = "boolean"
    return fields


def _data_from_form(form: FormData, fields: list[FormFieldPreview], json_schema: dict[str, Any]
                    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The record the form describes, the text typed in each field, and the errors found before validation."""
    properties: dict[str, Any] = json_schema.get("properties", {})
    data: dict[str, Any] = {}
    typed: dict[str, str] = {}
    errors: dict[str, str] = {}
    for field in fields:
        raw = form.get(f"data.{field.name}")
        text = raw if isinstance(raw, str) else ""
        typed[field.name] = text
        if not text.strip():
            continue
        spec = properties.get(field.name, {})
        kind = property_type(spec)
        if field.widget == "boolean":
            data[field.name] = text == "yes"
        elif field.widget == "select":
            data[field.name] = next((o for o in spec.get("enum", []) if str(o) == text), text)
        elif kind in ("integer", "number"):
            number = coerce_cell(spec, text.strip())
            if isinstance(number, str):
                errors[f"data.{field.name}"] = _("Enter a number.")
            data[field.name] = number
        elif kind in ("object", "array"):
            try:
                data[field.name] = json.loads(text)
            except ValueError:
                errors[f"data.{field.name}"] = _("Enter valid JSON, for example {\"key\": \"value\"} or [1, 2].")
        else:
            data[field.name] = text
    return data, typed, errors


def _record_form(request: Request, registry: Any, fields: list[FormFieldPreview], typed: dict[str, str],
                 errors: dict[str, str], *, record: Any = None, reason: str = "", status_code: int = 200
                 ) -> Response:
    return render(request, "registries/record_form.html", {
        "registry": registry, "fields": fields, "typed": typed, "errors": errors, "record": record,
        "reason": reason}, status_code=status_code)


@router.get("/registries/{name}/records/new")
def new_record_page(request: Request, name: str, session: DbSession, actor: OfficerActor) -> Response:
    _may_write(session, actor, name)
    registry = service.get_registry(session, actor, name=name)
    version = service.get_version(session, actor, name=name)
    return _record_form(request, registry, _form_fields(version.json_schema), {}, {})


@router.post("/registries/{name}/records/new")
def create_record(request: Request, name: str, session: DbSession, actor: OfficerActor,
                  form: OfficerForm) -> Response:
    _may_write(session, actor, name)
    registry = service.get_registry(session, actor, name=name)
    version = service.get_version(session, actor, name=name)
    fields = _form_fields(version.json_schema)
    data, typed, errors = _data_from_form(form, fields, version.json_schema)
    reason = _text(form, "reason")[:2000]
    if errors:
        errors = {**form_errors(ValidationFailed(errors=service.check_record(session, actor, name=name, data=data))),
                  **errors}
        errors.pop("__all__", None)
    else:
        try:
            created = service.create_record(session, actor, name=name, data=data, reason=reason or None)
        except Problem as problem:
            if problem.status in (403, 404):
                raise
            session.rollback()
            errors = form_errors(problem)
        else:
            flash(request, _("The record is saved."))
            return RedirectResponse(f"{_base(name)}/records/{created.id}", status_code=303)
    return _record_form(request, registry, fields, typed, errors, reason=reason, status_code=422)


@router.get("/registries/{name}/records/{record_id}/edit")
def edit_record_page(request: Request, name: str, record_id: str, session: DbSession,
                     actor: OfficerActor) -> Response:
    _may_write(session, actor, name)
    registry = service.get_registry(session, actor, name=name)
    version = service.get_version(session, actor, name=name)
    # The form shows every field, personal ones too: that reading is logged like any other.
    record = service.read_record(session, actor, name=name, record_id=record_id, purpose=EDITING_PURPOSE)
    if record.deleted:
        flash(request, _("This record has been deleted."), "error")
        return RedirectResponse(f"{_base(name)}/records/{record.id}", status_code=303)
    fields = _form_fields(version.json_schema)
    typed = {f.name: _form_value(f, record.data.get(f.name)) for f in fields}
    return _record_form(request, registry, fields, typed, {}, record=record)


@router.post("/registries/{name}/records/{record_id}/edit")
def update_record(request: Request, name: str, record_id: str, session: DbSession, actor: OfficerActor,
                  form: OfficerForm) -> Response:
    _may_write(session, actor, name)
    registry = service.get_registry(session, actor, name=name)
    version = service.get_version(session, actor, name=name)
    record = service.read_record(session, actor, name=name, record_id=record_id)
    fields = _form_fields(version.json_schema)
    data, typed, errors = _data_from_form(form, fields, version.json_schema)
    reason = _text(form, "reason")[:2000]
    if errors:
        errors = {**form_errors(ValidationFailed(errors=service.check_record(session, actor, name=name, data=data))),
                  **errors}
        errors.pop("__all__", None)
    if not reason:
        errors["reason"] = _("Say why the record is changed.")
    try:
        revision: int | None = int(_text(form, "revision"))
    except ValueError:
        revision = None
    if not errors:
        try:
            service.update_record(session, actor, name=name, record_id=record.id, data=data, revision=revision,
                                  reason=reason)
        except Problem as problem:
            if problem.status in (403, 404):
                raise
            session.rollback()
            errors = form_errors(problem)
        else:
            flash(request, _("The record is saved."))
            return RedirectResponse(f"{_base(name)}/records/{record.id}", status_code=303)
    shown = record.model_copy(update={"revision": revision or record.revision})
    return _record_form(request, registry, fields, typed, errors, record=shown, reason=reason, status_code=422)


@router.get("/registries/{name}/records/{record_id}")
def record_page(request: Request, name: str, record_id: str, session: DbSession, actor: OfficerActor,
                purpose: str | None = None) -> Response:
    registry = service.get_registry(session, actor, name=name)
    purpose = (purpose or "").strip()[:500] or None
    record = service.read_record(session, actor, name=name, record_id=record_id, purpose=purpose)
    history = service.record_history(session, actor, name=name, record_id=record.id, purpose=purpose)
    version = next(v for v in registry.versions if v.version == record.version)
    return render(request, "registries/record.html", {
        "registry": registry, "record": record, "history": list(reversed(history)), "purpose": purpose or "",
        "write": service.can_access(session, actor, name=name, permission=service.REGISTRIES_WRITE),
        "labels": _labels(version.json_schema), "fields": list(version.json_schema.get("properties", {}))})


@router.get("/registries/{name}/records/{record_id}/diff")
def diff_page(request: Request, name: str, record_id: str, session: DbSession, actor: OfficerActor,
              purpose: str | None = None) -> Response:
    registry = service.get_registry(session, actor, name=name)
    try:
        first, second = int(request.query_params.get("from", "1")), int(request.query_params.get("to", "2"))
    except ValueError:
        first, second = 1, 2
    purpose = (purpose or "").strip()[:500] or None
    diff = service.diff_record(session, actor, name=name, record_id=record_id, from_revision=first,
                               to_revision=second, purpose=purpose)
    labels: dict[str, str] = {}
    for version in registry.versions:
        labels.update(_labels(version.json_schema))
    return render(request, "registries/diff.html", {"registry": registry, "record_id": record_id, "diff": diff,
                                                    "labels": labels, "purpose": purpose or ""})


# --- import ----------------------------------------------------------------------------------------------


@router.get("/registries/{name}/import")
def import_page(request: Request, name: str, session: DbSession, actor: OfficerActor) -> Response:
    registry = service.get_registry(session, actor, name=name)
    if not service.can_access(session, actor, name=name, permission=service.REGISTRIES_WRITE):
        actor.require(service.REGISTRIES_WRITE, registry.owner_org_unit_id)
    return render(request, "registries/import.html", {"registry": registry})


@router.post("/registries/{name}/import")
async def import_upload(request: Request, name: str, session: DbSession, actor: OfficerActor,
                        form: OfficerForm) -> Response:
    from starlette.concurrency import run_in_threadpool

    registry = service.get_registry(session, actor, name=name)
    upload = form.get("file")
    skip_invalid = _text(form, "skip_invalid") == "yes"
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(request, "registries/import.html", {
            "registry": registry, "errors": {"file": _("Choose a CSV or JSON Lines file.")}}, status_code=422)
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        return render(request, "registries/import.html", {
            "registry": registry, "errors": {"file": _("Choose a CSV or JSON Lines file.")}}, status_code=422)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)

        def run() -> Any:
            return bulk.import_file(session, actor, name=name, path=path, skip_invalid=skip_invalid,
                                    reason=_("Imported from %(file)s", file=upload.filename))

        try:
            report = await run_in_threadpool(run)
        except bulk.ImportRejected as rejected:
            session.rollback()
            return render(request, "registries/import_report.html", {
                "registry": registry, "report": rejected.report, "refused": True}, status_code=422)
    return render(request, "registries/import_report.html", {"registry": registry, "report": report,
                                                             "refused": False})
