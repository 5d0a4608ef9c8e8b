"""Nokor's own JSON routes of the registries domain under /api/v1/registries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from nokor.kit.errors import ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.registries import bulk, service
from nokor.registries.schemas import (
    AccessGrantRead,
    ImportReport,
    PersonalDataUsageRead,
    RecordDiff,
    RecordPage,
    RecordRead,
    RecordUpdate,
    RecordVersionRead,
    RecordWrite,
    RegistryCreate,
    RegistryRead,
    SchemaVersionRead,
    SearchFilter,
)
from nokor.web.deps import CurrentActor, DbSession, require_actor

router = APIRouter(prefix="/api/v1/registries", tags=["registries"])
PROBLEMS = problem_responses(401, 403, 404, 422)
WRITES = problem_responses(401, 403, 404, 409, 422)
Purpose = Annotated[str | None, Query(max_length=500, description="Why personal data is read (it is logged); "
                                                                   "without it personal-data fields are left out")]
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
OPS = ("eq", "gte", "lte", "prefix")


class DraftWrite(BaseModel):
    json_schema: dict[str, Any] = Field(description="The JSON Schema (draft 2020-12) of the registry's records")


class StateChange(BaseModel):
    state: Literal["published", "deprecated", "archived"]
    reason: str | None = Field(None, max_length=2000)


class AccessWrite(BaseModel):
    client_identity: str = Field(min_length=3, max_length=400)
    can_write: bool = False


def filters_of(request: Request) -> list[SearchFilter]:
    """``f.<field>=value`` and ``f.<field>.<op>=value`` query parameters as search filters."""
    out = []
    for key, value in request.query_params.multi_items():
        if not key.startswith("f."):
            continue
        field, _sep, op = key[2:].partition(".")
        if op and op not in OPS:
            raise ValidationFailed(errors=[field_error(["query", key], _("Use eq, gte, lte or prefix."),
                                                       "unknown_operator")])
        out.append(SearchFilter(field=field, op=op or "eq", value=value))
    return out


@router.get("", response_model=list[RegistryRead], responses=PROBLEMS, summary="Registries the caller may use")
def list_registries(session: DbSession, actor: CurrentActor) -> list[RegistryRead]:
    return service.list_registries(session, actor)


@router.post("", response_model=RegistryRead, status_code=201, responses=PROBLEMS, summary="Define a registry")
def create_registry(data: RegistryCreate, session: DbSession, actor: CurrentActor) -> RegistryRead:
    return service.create_registry(session, actor, data=data)


@router.get("/{name}", response_model=RegistryRead, responses=PROBLEMS)
def get_registry(name: str, session: DbSession, actor: CurrentActor) -> RegistryRead:
    return service.get_registry(session, actor, name=name)


@router.put("/{name}/draft", response_model=SchemaVersionRead, responses=PROBLEMS,
            summary="Save the schema draft (a published version never changes)")
def save_draft(name: str, data: DraftWrite, session: DbSession, actor: CurrentActor) -> SchemaVersionRead:
    return service.save_schema_draft(session, actor, name=name, json_schema=data.json_schema)


@router.post("/{name}/publish", response_model=SchemaVersionRead, responses=WRITES,
             summary="Publish the draft; a malformed schema is refused with 422")
def publish(name: str, session: DbSession, actor: CurrentActor) -> SchemaVersionRead:
    return service.publish_version(session, actor, name=name)


@router.get("/{name}/versions/{version}", response_model=SchemaVersionRead, responses=PROBLEMS)
def get_version(name: str, version: str, session: DbSession, actor: CurrentActor) -> SchemaVersionRead:
    return service.get_version(session, actor, name=name, version=version)


@router.post("/{name}/versions/{version}/state", response_model=SchemaVersionRead, responses=WRITES,
             summary="Deprecate, publish again or archive a version")
def set_state(name: str, version: str, data: StateChange, session: DbSession,
              actor: CurrentActor) -> SchemaVersionRead:
    return service.set_version_state(session, actor, name=name, version=version, state=data.state,
                                     reason=data.reason)


@router.get("/{name}/versions/{version}/openapi.json", responses=PROBLEMS,
            summary="The generated OpenAPI document of this registry version")
def version_openapi(name: str, version: str, session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    return service.registry_openapi(session, actor, name=name, version=version)


@router.get("/{name}/access", response_model=list[AccessGrantRead], responses=PROBLEMS)
def list_access(name: str, session: DbSession, actor: CurrentActor) -> list[AccessGrantRead]:
    return service.list_access(session, actor, name=name)


@router.post("/{name}/access", response_model=AccessGrantRead, responses=PROBLEMS,
             summary="Let an agency system (by client identity) read, or read and write, this registry")
def grant_access(name: str, data: AccessWrite, session: DbSession, actor: CurrentActor) -> AccessGrantRead:
    return service.grant_access(session, actor, name=name, client_identity=data.client_identity,
                                can_write=data.can_write)


@router.delete("/{name}/access", status_code=204, responses=PROBLEMS)
def revoke_access(name: str, session: DbSession, actor: CurrentActor,
                  client_identity: Annotated[str, Query(max_length=400)]) -> None:
    service.revoke_access(session, actor, name=name, client_identity=client_identity)


@router.get("/{name}/records", response_model=RecordPage, responses=PROBLEMS,
            summary="Search records: f.<field>[.gte|.lte|.prefix]=value on searchable fields")
def search_records(
    name: str, request: Request, session: DbSession, actor: CurrentActor, purpose: Purpose = None,
    q: Annotated[str | None, Query(max_length=200, description="Prefix of any searchable text field")] = None,
    sort: Annotated[str | None, Query(max_length=70)] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    version: Annotated[str | None, Query(max_length=16)] = None,
) -> RecordPage:
    return service.search_records(session, actor, name=name, version=version, filters=filters_of(request), text=q,
                                  sort=sort, cursor=cursor, limit=limit, purpose=purpose)


@router.post("/{name}/records", response_model=RecordRead, status_code=201, responses=WRITES)
def create_record(name: str, data: RecordWrite, session: DbSession, actor: CurrentActor,
                  version: Annotated[str | None, Query(max_length=16)] = None) -> RecordRead:
    return service.create_record(session, actor, name=name, data=data.data, version=version, reason=data.reason)


@router.get("/{name}/records/{record_id}", response_model=RecordRead, responses=PROBLEMS)
def read_record(name: str, record_id: str, session: DbSession, actor: CurrentActor,
                purpose: Purpose = None) -> Response:
    record = service.read_record(session, actor, name=name, record_id=record_id, purpose=purpose)
    return JSONResponse(record.model_dump(mode="json"), headers={"ETag": f'"{record.revision}"'})


def _revision(body: int | None, if_match: str | None) -> int | None:
    if body is not None or not if_match:
        return body
    try:
        return int(if_match.strip().strip('W/').strip('"'))
    except ValueError as exc:
        raise ValidationFailed(errors=[field_error(["header", "If-Match"], _("Give the revision you read."),
                                                   "bad_if_match")]) from exc


@router.put("/{name}/records/{record_id}", response_model=RecordRead, responses=WRITES,
            summary="Replace a record; send the revision you read (or If-Match) to be refused with 409 if stale")
def replace_record(name: str, record_id: str, data: RecordUpdate, session: DbSession, actor: CurrentActor,
                   if_match: Annotated[str | None, Header()] = None,
                   version: Annotated[str | None, Query(max_length=16)] = None) -> RecordRead:
    return service.update_record(session, actor, name=name, record_id=record_id, data=data.data, version=version,
                                 revision=_revision(data.revision, if_match), reason=data.reason)


@router.patch("/{name}/records/{record_id}", response_model=RecordRead, responses=WRITES,
              summary="Change some fields of a record")
def patch_record(name: str, record_id: str, data: RecordUpdate, session: DbSession, actor: CurrentActor,
                 if_match: Annotated[str | None, Header()] = None,
                 version: Annotated[str | None, Query(max_length=16)] = None) -> RecordRead:
    return service.update_record(session, actor, name=name, record_id=record_id, data=data.data, version=version,
                                 revision=_revision(data.revision, if_match), merge=True, reason=data.reason)


@router.delete("/{name}/records/{record_id}", response_model=RecordRead, responses=WRITES,
               summary="Delete a record (softly; its history stays)")
def delete_record(name: str, record_id: str, session: DbSession, actor: CurrentActor,
                  reason: Annotated[str, Query(min_length=1, max_length=2000)],
                  revision: Annotated[int | None, Query(ge=1)] = None) -> RecordRead:
    return service.delete_record(session, actor, name=name, record_id=record_id, reason=reason, revision=revision)


@router.get("/{name}/records/{record_id}/history", response_model=list[RecordVersionRead], responses=PROBLEMS)
def record_history(name: str, record_id: str, session: DbSession, actor: CurrentActor,
                   purpose: Purpose = None) -> list[RecordVersionRead]:
    return service.record_history(session, actor, name=name, record_id=record_id, purpose=purpose)


@router.get("/{name}/records/{record_id}/diff", response_model=RecordDiff, responses=PROBLEMS)
def record_diff(name: str, record_id: str, session: DbSession, actor: CurrentActor,
                from_revision: Annotated[int, Query(alias="from", ge=1)],
                to_revision: Annotated[int, Query(alias="to", ge=1)], purpose: Purpose = None) -> RecordDiff:
    return service.diff_record(session, actor, name=name, record_id=record_id, from_revision=from_revision,
                               to_revision=to_revision, purpose=purpose)


@router.get("/{name}/personal-data-usage", response_model=list[PersonalDataUsageRead], responses=PROBLEMS,
            summary="Who read the personal data of one person in this registry")
def personal_data_usage(name: str, session: DbSession, actor: CurrentActor,
                        subject_id: Annotated[str, Query(min_length=1, max_length=128)]) -> list[PersonalDataUsageRead]:
    return service.personal_data_usage(session, actor, name=name, subject_id=subject_id)


@router.get("/{name}/export.{fmt}", responses=PROBLEMS, response_class=StreamingResponse,
            summary="Stream every live record as CSV, JSON Lines or Parquet")
def export_records(name: str, fmt: Literal["csv", "jsonl", "parquet"], request: Request,
                   purpose: Purpose = None) -> StreamingResponse:
    # A session of its own, which lives as long as the streamed body (the request's closes first).
    session = request.app.state.session_factory()
    try:
        actor = require_actor(request, session)
        chunks = bulk.export_records(session, actor, name=name, fmt=fmt, purpose=purpose)
        session.commit()
    except BaseException:
        session.rollback()
        session.close()
        raise

    def stream() -> Any:
        try:
            yield from chunks
        finally:
            session.close()

    return StreamingResponse(stream(), media_type=MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@router.post("/{name}/import", response_model=ImportReport, responses=WRITES,
             summary="Import a CSV or JSON Lines body; all or nothing unless skip_invalid")
async def import_records(name: str, request: Request,
                         fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
                         skip_invalid: bool = False,
                         reason: Annotated[str | None, Query(max_length=2000)] = None) -> ImportReport:
    import io

    from starlette.concurrency import run_in_threadpool

    body = await request.body()

    def run() -> ImportReport:
        session = request.app.state.session_factory()
        try:
            actor = require_actor(request, session)
            report = bulk.import_records(session, actor, name=name, stream=io.BytesIO(body), fmt=fmt,
                                         skip_invalid=skip_invalid, reason=reason)
            session.commit()
            return report
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    result: ImportReport = await run_in_threadpool(run)
    return result
