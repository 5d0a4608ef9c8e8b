"""The GovStack Digital Registries Data API and Database API (1.3.0), under /govstack/registries.

Both path spellings are served: the 1.3.0 one (``updateEntries``, ``updateOrCreate``, ``readValue``,
``myPersonalDataUsage``, ``pageSize``) and the ``branch-1.0-QA`` one (``update-entries``,
``update-or-create``, ``read-value``, ``MyPersonalDataUsage/1.0``, ``page_size``). Callers present an
API key in ``Authorization`` and their identity in ``Information-Mediator-Client``; the Database API
accepts both the camelCase and the snake_case body keys and answers in camelCase.

Personal data: the specs carry no purpose, so one may be given in a ``Purpose`` header or a
``purpose`` query parameter; without it the reading is logged with the purpose "GovStack <operation>"
and the caller's identity, so the person still sees who read their data.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from nokor.kit.actor import Actor
from nokor.kit.errors import BadRequest, NotFound, ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.registries import service
from nokor.registries.schemas import LocalizedText, RegistryCreate, RegistryRead, SearchFilter
from nokor.web.deps import IM_CLIENT_HEADER, DbSession, require_actor

PREFIX = "/govstack/registries"
PROBLEMS = problem_responses(400, 401, 403, 404, 409, 422)


def govstack_actor(request: Request, session: DbSession,
                   im_client: Annotated[str | None, Header(alias=IM_CLIENT_HEADER,
                                                           description="INSTANCE/CLASS/MEMBER/SUBSYSTEM")] = None
                   ) -> Actor:
    """The calling system: an API key whose client identity matches the Information-Mediator-Client header."""
    actor = require_actor(request, session)
    if not im_client:
        raise BadRequest(_("The Information-Mediator-Client header is required."), code="im_client_required")
    return actor


GovActor = Annotated[Actor, Depends(govstack_actor)]
router = APIRouter(prefix=PREFIX, tags=["GovStack Digital Registries"], responses=PROBLEMS)


def _purpose(request: Request, operation: str) -> str:
    given = request.headers.get("purpose") or request.query_params.get("purpose")
    return (given or f"GovStack {operation}").strip()[:500]


class Content(BaseModel):
    content: dict[str, Any]


class WriteBody(BaseModel):
    write: Content


class QueryBody(BaseModel):
    query: Content


class QueryWriteBody(BaseModel):
    query: Content | None = None
    write: Content


class EntriesBody(BaseModel):
    write: list[Content]


def _content(record: Any) -> dict[str, Any]:
    return {"content": record.data, "id": str(record.id), "revision": record.revision}


# --- Data API ----------------------------------------------------------------------------------------


def personal_data_usage(session: DbSession, actor: GovActor, user_id: str, database_id: str) -> list[dict[str, Any]]:
    usage = service.personal_data_usage(session, actor, name=database_id, subject_id=user_id)
    return [{
        "id": u.id, "readerId": u.reader_id, "readerInitials": "".join(p[:1].upper() for p in
                                                                        u.reader_name.replace(".", " ").split()),
        "readerInstitutionId": u.reader_id, "readerInstitutionName": u.reader_name,
        "readerApplicationName": u.reader_name, "searchDateTime": u.read_at.isoformat(), "purpose": u.purpose,
        "fields": u.fields, "refrences": [{"ReferenceID": u.record_id}],
    } for u in usage]


@router.get("/data/myPersonalDataUsage", summary="Who read my personal data (1.3.0 spelling)")
@router.get("/data/mypersonalDataUsage", summary="Who read my personal data (1.3.0 spec's exact path)")
def my_personal_data_usage(session: DbSession, actor: GovActor,
                           user_id: Annotated[str, Query(alias="userId", min_length=1, max_length=128)],
                           database_id: Annotated[str, Query(alias="databaseId", min_length=1, max_length=64)]
                           ) -> list[dict[str, Any]]:
    return personal_data_usage(session, actor, user_id, database_id)


@router.get("/data/MyPersonalDataUsage/1.0", summary="Who read my personal data (QA spelling)")
def my_personal_data_usage_qa(session: DbSession, actor: GovActor,
                              user_id: Annotated[str, Query(alias="userID", min_length=1, max_length=128)],
                              database_id: Annotated[str, Query(alias="DatabaseID", min_length=1, max_length=64)]
                              ) -> list[dict[str, Any]]:
    return personal_data_usage(session, actor, user_id, database_id)


@router.get("/data/{registry}/{version}", summary="list: search records by page")
def list_records(
    registry: str, version: str, request: Request, session: DbSession, actor: GovActor,
    search: Annotated[str | None, Query(max_length=200)] = None,
    filter: Annotated[str | None, Query(max_length=64, description="The field searched and ordered by")] = None,
    ordering: Annotated[str | None, Query(max_length=70, description="ascending, descending or [-]field")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int | None, Query(alias="pageSize", ge=1, le=200)] = None,
) -> dict[str, Any]:
    size = page_size or int(request.query_params.get("page_size") or 10)
    if not 1 <= size <= 200:
        raise ValidationFailed(errors=[field_error(["query", "page_size"], _("Use 1 to 200."), "page_size")])
    filters = [SearchFilter(field=k.split(".", 1)[1], value=v) for k, v in request.query_params.multi_items()
               if k.startswith("query.")]
    sort = None
    if ordering in ("descending", "desc", "-"):
        sort = f"-{filter}" if filter else "-id"
    elif ordering in ("ascending", "asc", None, ""):
        sort = filter
    else:
        sort = ordering
    total, rows = service.list_records_page(
        session, actor, name=registry, version=version, filters=filters, text=search,
        text_field=filter if search else None, sort=sort, page=page, page_size=size,
        purpose=_purpose(request, "list"))
    url = request.url

    def page_url(number: int) -> str:
        return str(url.include_query_params(page=number))

    return {"count": total, "next": page_url(page + 1) if page * size < total else None,
            "previous": page_url(page - 1) if page > 1 else None, "results": [r.data for r in rows]}


@router.post("/data/{registry}/{version}/create", summary="create")
def create(registry: str, version: str, body: WriteBody, session: DbSession, actor: GovActor) -> dict[str, Any]:
    record = service.create_record(session, actor, name=registry, version=version, data=body.write.content,
                                   reason="GovStack create")
    return _content(record)


def _create_entries(registry: str, version: str | None, body: EntriesBody, session: DbSession,
                    actor: Actor) -> dict[str, Any]:
    records = service.create_records(session, actor, name=registry, version=version,
                                     items=[item.content for item in body.write], reason="GovStack create-entries")
    return {"content": [r.data for r in records], "ids": [str(r.id) for r in records]}


@router.post("/data/{registry}/createEntries", summary="createEntries: several records at once (1.3.0)")
def create_entries(registry: str, body: EntriesBody, session: DbSession, actor: GovActor) -> dict[str, Any]:
    return _create_entries(registry, None, body, session, actor)


@router.post("/data/{registry}/{version}/create-entries", summary="create-entries (QA spelling)")
def create_entries_qa(registry: str, version: str, body: EntriesBody, session: DbSession,
                      actor: GovActor) -> dict[str, Any]:
    return _create_entries(registry, version, body, session, actor)


@router.post("/data/{registry}/{version}/exists", summary="exists")
def exists(registry: str, version: str, body: QueryBody, session: DbSession, actor: GovActor) -> dict[str, Any]:
    found = service.record_exists(session, actor, name=registry, version=version, query=body.query.content)
    message = _("Object found from database") if found else _("No object found")
    return {"answer": {"status": found, "message": message}}


@router.post("/data/{registry}/{version}/read", summary="read")
def read(registry: str, version: str, body: QueryBody, request: Request, session: DbSession,
         actor: GovActor) -> Response:
    try:
        record = service.find_record(session, actor, name=registry, version=version, query=body.query.content,
                                     purpose=_purpose(request, "read"))
    except NotFound as exc:
        if exc.detail and "registry" in exc.detail.lower():
            raise
        return JSONResponse({"detail": "no record found"}, status_code=404)
    return JSONResponse(_content(record) | {"id": str(record.id)})


@router.put("/data/{registry}/{version}/update", summary="update one record")
def update(registry: str, version: str, body: QueryWriteBody, session: DbSession, actor: GovActor) -> dict[str, Any]:
    if body.query is None:
        raise ValidationFailed(errors=[field_error(["body", "query"], _("Say which record to change."),
                                                   "query_required")])
    count = service.update_matching(session, actor, name=registry, version=version, query=body.query.content,
                                    changes=body.write.content, reason="GovStack update")
    return {"count": count}


def _update_entries(registry: str, version: str, body: QueryWriteBody, session: DbSession,
                    actor: Actor) -> dict[str, Any]:
    if body.query is None:
        raise ValidationFailed(errors=[field_error(["body", "query"], _("Say which records to change."),
                                                   "query_required")])
    count = service.update_matching(session, actor, name=registry, version=version, query=body.query.content,
                                    changes=body.write.content, reason="GovStack update-entries", many=True)
    return {"count": count}


@router.put("/data/{registry}/{version}/updateEntries", summary="updateEntries (1.3.0)")
def update_entries(registry: str, version: str, body: QueryWriteBody, session: DbSession,
                   actor: GovActor) -> dict[str, Any]:
    return _update_entries(registry, version, body, session, actor)


@router.put("/data/{registry}/{version}/update-entries", summary="update-entries (QA spelling)")
def update_entries_qa(registry: str, version: str, body: QueryWriteBody, session: DbSession,
                      actor: GovActor) -> dict[str, Any]:
    return _update_entries(registry, version, body, session, actor)


def _update_or_create(registry: str, version: str, body: QueryWriteBody, session: DbSession,
                      actor: Actor) -> dict[str, Any]:
    record, created = service.update_or_create_record(
        session, actor, name=registry, version=version, query=body.query.content if body.query else None,
        changes=body.write.content, reason="GovStack update-or-create")
    return _content(record) | {"created": created}


@router.post("/data/{registry}/{version}/updateOrCreate", summary="updateOrCreate (1.3.0)")
def update_or_create(registry: str, version: str, body: QueryWriteBody, session: DbSession,
                     actor: GovActor) -> dict[str, Any]:
    return _update_or_create(registry, version, body, session, actor)


@router.post("/data/{registry}/{version}/update-or-create", summary="update-or-create (QA spelling)")
def update_or_create_qa(registry: str, version: str, body: QueryWriteBody, session: DbSession,
                        actor: GovActor) -> dict[str, Any]:
    return _update_or_create(registry, version, body, session, actor)


@router.delete("/data/{registry}/{version}/{record_id}/delete", status_code=204, summary="delete (softly)")
def delete(registry: str, version: str, record_id: str, session: DbSession, actor: GovActor,
           reason: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    service.delete_record(session, actor, name=registry, version=version, record_id=record_id,
                          reason=reason or "deleted through the GovStack Data API")
    return Response(status_code=204)


def _read_value(registry: str, version: str, record_id: str, field: str, ext: str, request: Request,
                session: DbSession, actor: Actor) -> Response:
    if ext not in ("json", "txt", "text"):
        raise NotFound(_("Use .json or .txt."))
    value = service.read_value(session, actor, name=registry, version=version, record_id=record_id, field=field,
                               purpose=_purpose(request, "read-value"))
    if ext == "json":
        return JSONResponse({"value": value})
    return PlainTextResponse("" if value is None else str(value))


@router.get("/data/{registry}/{version}/{record_id}/readValue/{field}.{ext}", summary="readValue (1.3.0)")
def read_value(registry: str, version: str, record_id: str, field: str, ext: str, request: Request,
               session: DbSession, actor: GovActor) -> Response:
    return _read_value(registry, version, record_id, field, ext, request, session, actor)


@router.get("/data/{registry}/{version}/{record_id}/read-value/{field}.{ext}", summary="read-value (QA spelling)")
def read_value_qa(registry: str, version: str, record_id: str, field: str, ext: str, request: Request,
                  session: DbSession, actor: GovActor) -> Response:
    return _read_value(registry, version, record_id, field, ext, request, session, actor)


# --- Database API ----------------------------------------------------------------------------------


def database_info(registry: RegistryRead) -> dict[str, Any]:
    """A registry in the shape of the GovStack ``DatabaseInfo``."""
    current = next((v for v in reversed(registry.versions) if v.version == registry.current_version), None)
    shown = current or (registry.versions[-1] if registry.versions else None)
    schema = shown.json_schema if shown else {}
    flags = []
    if shown:
        flags += [{"name": "personal", "path": f"/{f}"} for f in shown.personal_fields]
        flags += [{"name": "primaryKey", "path": f"/{shown.key_field}"}] if shown.key_field else []
        flags += [{"name": "subject", "path": f"/{shown.subject_field}"}] if shown.subject_field else []
        flags += [{"name": "mandatory", "path": f"/{f}"} for f in schema.get("required", [])]
    return {
        "id": registry.number, "version": shown.version if shown else None, "name": registry.name,
        "description": registry.description.get("en") or registry.title.get("en") or next(
            iter(registry.title.values()), ""),
        "institution": str(registry.owner_org_unit_id) if registry.owner_org_unit_id else None,
        "schema": schema,
        "schemaTags": [{"name": f, "path": f"/{f}", "isFulltext": True} for f in (shown.searchable_fields
                                                                                  if shown else [])],
        "schemaFlags": flags,
        "fieldsUniques": [[shown.key_field]] if shown and shown.key_field else [],
        "isDraft": registry.state == "draft", "isDisabled": registry.state == "deprecated",
        "isArchived": registry.state == "archived",
        "modifiedAt": (shown.updated_at if shown else registry.created_at).isoformat(),
        "byUserName": registry.created_by,
        "versions": [{"version": v.version, "state": v.state} for v in registry.versions],
    }


def _registry_ref(session: DbSession, actor: Actor, ref: str) -> RegistryRead:
    if ref.isdigit():
        return service.get_registry_by_number(session, actor, number=int(ref))
    return service.get_registry(session, actor, name=ref)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def qa_spelling(info: dict[str, Any]) -> dict[str, Any]:
    """A Database API answer in the snake_case keys of the ``branch-1.0-QA`` spec (``is_draft``,
    ``schema_tags[].is_fulltext``, ``fields_uniques``...); the registry's own schema is left as it is."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key in ("schemaTags", "schemaFlags"):
            value = [{_snake(k): v for k, v in item.items()} for item in value]
        elif key == "databases":
            value = [qa_spelling(item) for item in value]
        out[_snake(key)] = value
    return out


def _databases(session: DbSession, actor: Actor) -> dict[str, Any]:
    return {"id": 1, "name": "Nokor registries", "code": "NOKOR", "groupId": 1, "order": 1,
            "databases": [database_info(r) for r in service.list_registries(session, actor)]}


@router.get("/databases", summary="Every registry the caller may use, with its schema")
def databases(session: DbSession, actor: GovActor) -> dict[str, Any]:
    return _databases(session, actor)


@router.get("/database/{ref}", summary="One registry (by number or name) with its current schema")
def database(ref: str, session: DbSession, actor: GovActor) -> dict[str, Any]:
    return database_info(_registry_ref(session, actor, ref))


@router.delete("/database/{ref}", summary="Archive a registry (its records stay readable)")
def delete_database(ref: str, session: DbSession, actor: GovActor) -> str:
    registry = _registry_ref(session, actor, ref)
    service.archive_registry(session, actor, name=registry.name, reason="archived through the GovStack Database API")
    return "Success"


class ModifyBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    group_name: str | None = Field(None, validation_alias=AliasChoices("groupName", "group_name"), max_length=200)
    catalog_name: str | None = Field(None, validation_alias=AliasChoices("catalogName", "catalog_name"),
                                     max_length=500)
    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_-]{1,63}$")
    json_schema: dict[str, Any] = Field(validation_alias=AliasChoices("schema", "json_schema"))


@router.post("/database/modify", summary="Create a registry, or publish a new version of its schema")
def modify_database(session: DbSession, actor: GovActor, body: Annotated[ModifyBody, Body()]) -> dict[str, Any]:
    try:
        service.get_registry(session, actor, name=body.code)
    except NotFound:
        service.create_registry(session, actor, data=RegistryCreate(
            name=body.code, title=LocalizedText(en=body.catalog_name or body.code),
            description=LocalizedText(en=body.group_name)))
    service.save_schema_draft(session, actor, name=body.code, json_schema=body.json_schema)
    published = service.publish_version(session, actor, name=body.code)
    return published.json_schema


# The branch-1.0-QA Database API has the same paths as 1.3.0 but answers in snake_case, so it is
# served under its own base URL: {PREFIX}/qa/databases, /qa/database/{id}, /qa/database/modify.
qa_router = APIRouter(prefix=f"{PREFIX}/qa", tags=["GovStack Digital Registries (branch-1.0-QA)"],
                      responses=PROBLEMS)


@qa_router.get("/databases", summary="Every registry the caller may use (QA spelling: snake_case)")
def databases_qa(session: DbSession, actor: GovActor) -> dict[str, Any]:
    return qa_spelling(_databases(session, actor))


@qa_router.get("/database/{ref}", summary="One registry by number or name (QA spelling: snake_case)")
def database_qa(ref: str, session: DbSession, actor: GovActor) -> dict[str, Any]:
    return qa_spelling(database_info(_registry_ref(session, actor, ref)))


@qa_router.delete("/database/{ref}", summary="Archive a registry (QA spelling)")
def delete_database_qa(ref: str, session: DbSession, actor: GovActor) -> str:
    return delete_database(ref, session, actor)


@qa_router.post("/database/modify", summary="Create a registry, or publish a new version of its schema (QA)")
def modify_database_qa(session: DbSession, actor: GovActor, body: Annotated[ModifyBody, Body()]) -> dict[str, Any]:
    return modify_database(session, actor, body)
