"""The rules of registries: define and publish schemas, write and read records with their history,
search, log reads of personal data, and grant agency systems access."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import jsonschema_rs
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.exc import StaleDataError

from nokor import accounts, audit
from nokor.db import new_id
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from nokor.kit.i18n import current_locale
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.pagination import MAX_LIMIT
from nokor.kit.time import utcnow
from nokor.registries import repository, schema_rules
from nokor.registries.models import AccessGrant, FieldValue, Record, RecordVersion, Registry, SchemaVersion
from nokor.registries.schemas import (
    AccessGrantRead,
    FieldChange,
    FormFieldPreview,
    PersonalDataUsageRead,
    RecordDiff,
    RecordPage,
    RecordRead,
    RecordVersionRead,
    RegistryCreate,
    RegistryRead,
    SchemaVersionRead,
    SearchFilter,
)

REGISTRIES_MANAGE = declare_permission(
    "registries.manage", _l("Define registries, edit and publish their schemas, and give agency systems access")
)
REGISTRIES_READ = declare_permission("registries.read", _l("Search and read the records of registries"))
REGISTRIES_WRITE = declare_permission(
    "registries.write", _l("Create, change, delete and import the records of registries")
)

RECORD = "registry_record"
_validators: dict[uuid.UUID, jsonschema_rs.Draft202012Validator] = {}


@dataclass(frozen=True)
class _Definition:
    """A registry as each process keeps it in memory: detached copies of the registry and its schema
    versions, and its grants (client identity → may write). Current while ``tag`` is the stored one."""

    tag: str
    registry: Registry
    versions: tuple[SchemaVersion, ...]
    grants: dict[str, bool]


_definitions: dict[str, _Definition] = {}


def _detached(model: type[_M], row: _M) -> _M:
    """A copy of an ORM row that belongs to no session, safe to share between requests and threads."""
    return model(**{column.key: getattr(row, column.key) for column in model.__table__.columns})


def _definition(session: Session, name: str) -> _Definition:
    """The registry ``name`` with its versions and grants: from memory when the stored tag says it is
    current (one small query), loaded again when any process changed it."""
    tag = repository.definition_tag(session, name)
    if tag is None:
        raise NotFound(_("There is no registry named “%(name)s”.", name=name))
    cached = _definitions.get(name)
    if cached is not None and cached.tag == tag:
        return cached
    registry = _registry(session, name)
    definition = _Definition(
        tag=registry.definition_tag, registry=_detached(Registry, registry),
        versions=tuple(_detached(SchemaVersion, v) for v in repository.versions_of(session, registry.id)),
        grants={g.client_identity: g.can_write for g in repository.grants_of(session, registry.id)})
    _definitions[name] = definition
    return definition


def _changed(registry: Registry) -> None:
    """The registry's definition (versions, grants) changed: every process reloads it at its next use."""
    registry.definition_tag = uuid.uuid4().hex


_M = TypeVar("_M", Registry, SchemaVersion)


# --- access -------------------------------------------------------------------------------------


def _registry(session: Session, name: str) -> Registry:
    registry = repository.registry_by_name(session, name)
    if registry is None:
        raise NotFound(_("There is no registry named “%(name)s”.", name=name))
    return registry


def _require(session: Session, actor: Actor, registry: Registry, permission: str,
             grants: dict[str, bool] | None = None) -> None:
    """The permission in the owner's unit; agency systems reading or writing records also need a grant
    (looked up in ``grants`` when the caller has them in memory)."""
    if actor.kind == "client" and permission != REGISTRIES_MANAGE:
        actor.require(permission)
        if grants is not None:
            can_write = grants.get(actor.identity or "")
        else:
            grant = repository.grant_for(session, registry.id, actor.identity or "")
            can_write = None if grant is None else grant.can_write
        if can_write is None or (permission == REGISTRIES_WRITE and not can_write):
            raise Forbidden(_("This system has no access to the registry “%(name)s”.", name=registry.name))
        return
    actor.require(permission, registry.owner_org_unit_id)


def can_access(session: Session, actor: Actor, *, name: str, permission: str) -> bool:
    """Whether ``actor`` may use the registry with ``permission`` (for showing links and buttons)."""
    registry = repository.registry_by_name(session, name)
    if registry is None:
        return False
    try:
        _require(session, actor, registry, permission)
    except Forbidden:
        return False
    return True


# --- registries and schema versions ---------------------------------------------------------------


def _state_of(versions: Sequence[SchemaVersion]) -> str:
    states = {v.state for v in versions}
    for state in ("published", "deprecated"):
        if state in states:
            return state
    if states == {"archived"}:
        return "archived"
    return "draft"


def _registry_read(session: Session, registry: Registry) -> RegistryRead:
    versions = repository.versions_of(session, registry.id)
    published = [v for v in versions if v.state == "published"]
    drafts = [v for v in versions if v.state == "draft"]
    return RegistryRead(
        id=registry.id, number=registry.number, name=registry.name, title=registry.title,
        description=registry.description, owner_org_unit_id=registry.owner_org_unit_id,
        state=_state_of(versions),
        current_version=published[-1].version if published else None,
        draft_version=drafts[-1].version if drafts else None,
        versions=[SchemaVersionRead.model_validate(v) for v in versions],
        created_at=registry.created_at, created_by=registry.created_by,
    )


def _owner_unit(session: Session, actor: Actor, code: str | None) -> uuid.UUID | None:
    if code is None:
        return None
    for unit in accounts.list_org_units(session, actor):
        if unit.code == code:
            return unit.id
    raise ValidationFailed(errors=[field_error(["owner_org_unit_code"], _("There is no organisation unit with this "
                                                                          "code."), "unknown_org_unit")])


def create_registry(session: Session, actor: Actor, *, data: RegistryCreate) -> RegistryRead:
    """Define a new registry owned by an organisation unit, optionally with a first schema draft."""
    owner = _owner_unit(session, actor, data.owner_org_unit_code)
    if owner is None:
        actor.require_everywhere(REGISTRIES_MANAGE)
    else:
        actor.require(REGISTRIES_MANAGE, owner)
    if repository.registry_by_name(session, data.name) is not None:
        raise ValidationFailed(errors=[field_error(["name"], _("A registry with this name already exists."),
                                                   "name_taken")])
    title = data.title.as_dict()
    if not title:
        raise ValidationFailed(errors=[field_error(["title"], _("Give at least one title."), "title_required")])
    registry = Registry(number=repository.next_registry_number(session), name=data.name, title=title,
                        description=data.description.as_dict(), owner_org_unit_id=owner, created_by=actor.name)
    session.add(registry)
    session.flush()
    audit.record_change(session, actor, action="registry.create", subject_type="registry", subject_id=registry.id,
                        after={"name": registry.name, "title": title,
                               "owner_org_unit_id": str(owner) if owner else None})
    if actor.kind == "client" and actor.identity:
        # The system that defines a registry is the one that fills it.
        session.add(AccessGrant(registry_id=registry.id, client_identity=actor.identity, can_write=True))
        session.flush()
    if data.json_schema is not None:
        save_schema_draft(session, actor, name=registry.name, json_schema=data.json_schema)
    return _registry_read(session, registry)


def list_registries(session: Session, actor: Actor) -> list[RegistryRead]:
    """The registries the actor may read or manage (agency systems: those granted to them)."""
    out = []
    for registry in repository.all_registries(session):
        if any(_allowed(session, actor, registry, p) for p in (REGISTRIES_READ, REGISTRIES_MANAGE)):
            out.append(_registry_read(session, registry))
    return out


def _allowed(session: Session, actor: Actor, registry: Registry, permission: str) -> bool:
    try:
        _require(session, actor, registry, permission)
    except Forbidden:
        return False
    return True


def get_registry(session: Session, actor: Actor, *, name: str) -> RegistryRead:
    """One registry with its versions; 404 when unknown, 403 without read or manage access."""
    registry = _registry(session, name)
    if not _allowed(session, actor, registry, REGISTRIES_MANAGE):
        _require(session, actor, registry, REGISTRIES_READ)
    return _registry_read(session, registry)


def get_registry_by_number(session: Session, actor: Actor, *, number: int) -> RegistryRead:
    """A registry by the integer id the GovStack Database API uses."""
    registry = repository.registry_by_number(session, number)
    if registry is None:
        raise NotFound(_("There is no registry number %(number)s.", number=number))
    return get_registry(session, actor, name=registry.name)


def _next_label(versions: Sequence[SchemaVersion]) -> str:
    majors = [int(v.version.split(".")[0]) for v in versions if v.version.split(".")[0].isdigit()]
    return f"{max(majors, default=0) + 1}.0"


def _apply_facts(version: SchemaVersion, schema: dict[str, Any]) -> None:
    facts, _errors = schema_rules.check_schema(schema)
    version.searchable_fields = facts.searchable if facts else []
    version.personal_fields = facts.personal if facts else []
    version.subject_field = facts.subject if facts else None
    version.key_field = facts.key if facts else None


def save_schema_draft(session: Session, actor: Actor, *, name: str, json_schema: Any) -> SchemaVersionRead:
    """Save the registry's schema draft (creating a new draft version after a published one).

    A draft may still be incomplete; it is checked in full when it is published.
    """
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_MANAGE)
    if not isinstance(json_schema, dict):
        raise ValidationFailed(errors=[field_error(["json_schema"], _("The schema must be a JSON object."),
                                                   "schema_not_object")])
    versions = repository.versions_of(session, registry.id)
    draft = next((v for v in versions if v.state == "draft"), None)
    before = dict(draft.json_schema) if draft else None
    if draft is None:
        draft = SchemaVersion(registry_id=registry.id, version=_next_label(versions), state="draft",
                              json_schema=json_schema)
        session.add(draft)
    draft.json_schema = json_schema
    draft.updated_at = utcnow()
    _apply_facts(draft, json_schema)
    _changed(registry)
    session.flush()
    audit.record_change(session, actor, action="registry.save_draft", subject_type="registry",
                        subject_id=registry.id, before={"schema": before} if before else None,
                        after={"version": draft.version, "schema": json_schema})
    return SchemaVersionRead.model_validate(draft)


def check_schema(json_schema: Any) -> list[dict[str, Any]]:
    """The problems that would stop this schema from being published (empty when there are none)."""
    _facts, errors = schema_rules.check_schema(json_schema)
    return errors


def preview_form(json_schema: Any) -> list[FormFieldPreview]:
    """The inputs of the form a schema produces, in the reader's language (for the editor's preview)."""
    if not isinstance(json_schema, dict) or not isinstance(json_schema.get("properties"), dict):
        return []
    required = set(json_schema.get("required") or [])
    locale = current_locale()
    out = []
    for name, spec in json_schema["properties"].items():
        if not isinstance(spec, dict):
            continue
        out.append(FormFieldPreview(
            name=str(name), label=schema_rules.label_of(str(name), spec, locale),
            widget=schema_rules.widget_of(spec),
            required=name in required,
            options=[str(o) for o in spec.get("enum", []) if o is not None],
            hint=spec.get("description") if isinstance(spec.get("description"), str) else None,
            searchable=spec.get("x-searchable") is True or spec.get("x-key") is True,
            personal=spec.get("x-personal") is True or spec.get("x-subject") is True,
        ))
    return out


def publish_version(session: Session, actor: Actor, *, name: str) -> SchemaVersionRead:
    """Publish the registry's draft: from now on it never changes, and records can be written under it."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_MANAGE)
    draft = next((v for v in repository.versions_of(session, registry.id) if v.state == "draft"), None)
    if draft is None:
        raise Conflict(_("This registry has no draft to publish."))
    facts, errors = schema_rules.check_schema(draft.json_schema)
    if errors or facts is None:
        raise ValidationFailed(_("The schema cannot be published until these problems are fixed."), errors=errors)
    try:
        schema_rules.compile_validator(draft.json_schema)
    except Exception as exc:
        raise ValidationFailed(errors=[field_error(["json_schema"], _("This is not valid JSON Schema: %(reason)s",
                                                                      reason=str(exc)), "schema_invalid")]) from exc
    _apply_facts(draft, draft.json_schema)
    draft.state = "published"
    draft.published_at = draft.updated_at = utcnow()
    _changed(registry)
    session.flush()
    audit.record_change(session, actor, action="registry.publish", subject_type="registry", subject_id=registry.id,
                        after={"version": draft.version})
    return SchemaVersionRead.model_validate(draft)


_TRANSITIONS = {("published", "deprecated"), ("deprecated", "published"), ("published", "archived"),
                ("deprecated", "archived")}


def set_version_state(session: Session, actor: Actor, *, name: str, version: str, state: str,
                      reason: str | None = None) -> SchemaVersionRead:
    """Deprecate a published version (read-only for records), publish it again, or archive it for good."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_MANAGE)
    found = next((v for v in repository.versions_of(session, registry.id) if v.version == version), None)
    if found is None:
        raise NotFound(_("Registry “%(name)s” has no version %(version)s.", name=name, version=version))
    if found.state == state:
        return SchemaVersionRead.model_validate(found)
    if (found.state, state) not in _TRANSITIONS:
        raise Conflict(_("A %(current)s version cannot become %(target)s.", current=found.state, target=state))
    before = found.state
    found.state = state
    found.retired_at = None if state == "published" else utcnow()
    _changed(registry)
    session.flush()
    audit.record_change(session, actor, action="registry.version_state", subject_type="registry",
                        subject_id=registry.id, before={"version": version, "state": before},
                        after={"version": version, "state": state}, reason=reason)
    return SchemaVersionRead.model_validate(found)


def archive_registry(session: Session, actor: Actor, *, name: str, reason: str | None = None) -> RegistryRead:
    """Archive every version of a registry: its records stay readable, no one can write any more."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_MANAGE)
    for version in repository.versions_of(session, registry.id):
        if version.state in ("published", "deprecated"):
            set_version_state(session, actor, name=name, version=version.version, state="archived", reason=reason)
    return _registry_read(session, registry)


def _version(session: Session, registry: Registry, label: str | None, *, write: bool = False,
             known: Sequence[SchemaVersion] | None = None) -> SchemaVersion:
    every = known if known is not None else repository.versions_of(session, registry.id)
    versions = [v for v in every if v.state != "draft"]
    if label is None:
        live = [v for v in versions if v.state == "published"] or versions
        if not live:
            raise NotFound(_("Registry “%(name)s” has no published version yet.", name=registry.name))
        found = live[-1]
    else:
        match = next((v for v in versions if v.version == label), None)
        if match is None:
            raise NotFound(_("Registry “%(name)s” has no version %(version)s.", name=registry.name, version=label))
        found = match
    if write and found.state != "published":
        raise Conflict(_("Records are written only under a published version; version %(version)s is "
                         "%(state)s.", version=found.version, state=found.state))
    return found


def _validator(version: SchemaVersion) -> jsonschema_rs.Draft202012Validator:
    validator = _validators.get(version.id)
    if validator is None:
        validator = schema_rules.compile_validator(version.json_schema)
        if version.state != "draft":
            _validators[version.id] = validator
    return validator


def get_version(session: Session, actor: Actor, *, name: str, version: str | None = None) -> SchemaVersionRead:
    """One published (or retired) version of a registry's schema; the newest published one by default."""
    registry = _registry(session, name)
    if not _allowed(session, actor, registry, REGISTRIES_MANAGE):
        _require(session, actor, registry, REGISTRIES_READ)
    if version is not None:
        match = next((v for v in repository.versions_of(session, registry.id) if v.version == version), None)
        if match is not None and match.state == "draft" and _allowed(session, actor, registry, REGISTRIES_MANAGE):
            return SchemaVersionRead.model_validate(match)
    return SchemaVersionRead.model_validate(_version(session, registry, version))


# --- access grants for agency systems ---------------------------------------------------------


def grant_access(session: Session, actor: Actor, *, name: str, client_identity: str,
                 can_write: bool = False) -> AccessGrantRead:
    """Let an agency system (by its GovStack client identity) read, or read and write, a registry."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_MANAGE)
    identity = client_identity.strip()
    if not identity or len(identity) > 400:
        raise ValidationFailed(errors=[field_error(["client_identity"], _("Give the system's client identity."),
                                                   "identity_required")])
    grant = repository.grant_for(session, registry.id, identity)
    before = {"can_write": grant.can_write} if grant else None
    if grant is None:
        grant = AccessGrant(registry_id=registry.id, client_identity=identity, can_write=can_write)
        session.add(grant)
    grant.can_write = can_write
    _changed(registry)
    session.flush()
    audit.record_change(session, actor, action="registry.grant_access", subject_type="registry",
                        subject_id=registry.id, before=before,
                        after={"client_identity": identity, "can_write": can_write})
    return AccessGrantRead.model_validate(grant)


def revoke_access(session: Session, actor: Actor, *, name: str, client_identity: str) -> None:
    """Take a registry away from an agency system."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_MANAGE)
    grant = repository.grant_for(session, registry.id, client_identity)
    if grant is None:
        raise NotFound(_("This system has no access to the registry “%(name)s”.", name=name))
    session.delete(grant)
    _changed(registry)
    session.flush()
    audit.record_change(session, actor, action="registry.revoke_access", subject_type="registry",
                        subject_id=registry.id, before={"client_identity": client_identity})


def list_access(session: Session, actor: Actor, *, name: str) -> list[AccessGrantRead]:
    """The agency systems that may read or write the registry."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_MANAGE)
    return [AccessGrantRead.model_validate(g) for g in repository.grants_of(session, registry.id)]


# --- records ---------------------------------------------------------------------------------------


def _personal_fields(session: Session, registry: Registry,
                     versions: Sequence[SchemaVersion] | None = None) -> set[str]:
    fields: set[str] = set()
    for version in versions if versions is not None else repository.versions_of(session, registry.id):
        fields.update(version.personal_fields)
    return fields


def _log_access(session: Session, actor: Actor, record_id: uuid.UUID, purpose: str, fields: Iterable[str]) -> None:
    audit.record_access(session, actor, subject_type=RECORD, subject_id=record_id, purpose=purpose,
                        fields=sorted(fields))


def _shown(session: Session, actor: Actor, record_id: uuid.UUID, data: dict[str, Any], personal: set[str],
           purpose: str | None, *, log: bool = True) -> tuple[dict[str, Any], list[str]]:
    """The data a caller sees: personal fields only with a purpose (and then the reading is logged)."""
    present = sorted(f for f in personal if f in data)
    if not present:
        return data, []
    if purpose and purpose.strip():
        if log:
            _log_access(session, actor, record_id, purpose, present)
        return data, []
    return {k: v for k, v in data.items() if k not in personal}, present


def _record_read(session: Session, actor: Actor, registry: Registry, record: Record, purpose: str | None,
                 personal: set[str], labels: dict[uuid.UUID, str]) -> RecordRead:
    data, withheld = _shown(session, actor, record.id, record.data, personal, purpose)
    return RecordRead(id=record.id, registry=registry.name, version=labels.get(record.schema_version_id, "?"),
                      revision=record.revision, data=data, withheld_fields=withheld, written_at=record.written_at,
                      written_by=record.written_by, reason=record.reason, deleted=record.deleted_at is not None)


def _labels(session: Session, registry: Registry,
            versions: Sequence[SchemaVersion] | None = None) -> dict[uuid.UUID, str]:
    return {v.id: v.version for v in (versions if versions is not None else repository.versions_of(session,
                                                                                                     registry.id))}


def _check_data(version: SchemaVersion, data: Any, where: list[str | int]) -> None:
    if not isinstance(data, dict):
        raise ValidationFailed(errors=[field_error(where, _("A record is a JSON object."), "record_not_object")])
    errors = schema_rules.record_errors(_validator(version), data, where)
    if errors:
        raise ValidationFailed(errors=errors)


def _key_taken(session: Session, registry: Registry, version: SchemaVersion, data: dict[str, Any],
               exclude: uuid.UUID | None, where: list[str | int]) -> None:
    key = version.key_field
    if key is None or data.get(key) is None:
        return
    text, number = schema_rules.index_value(version.json_schema["properties"][key], data[key])
    stmt = repository.records_query(registry.id)
    condition = FieldValue.value_text == text if text is not None else FieldValue.value_num == number
    stmt = repository.with_field_condition(stmt, registry.id, key, condition)
    if exclude is not None:
        stmt = stmt.where(Record.id != exclude)
    if session.scalars(stmt.limit(1)).first() is not None:
        raise Conflict(_("A record with this %(field)s already exists.", field=key),
                       errors=[field_error([*where, key], _("This value is already used by another record."),
                                           "key_taken")])


def _index_rows(registry_id: uuid.UUID, record_id: uuid.UUID, version: SchemaVersion,
                data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    properties = version.json_schema.get("properties", {})
    for field in version.searchable_fields:
        if data.get(field) is None:
            continue
        text, number = schema_rules.index_value(properties.get(field, {}), data[field])
        rows.append({"record_id": record_id, "field": field, "registry_id": registry_id,
                     "value_text": text, "value_num": number})
    return rows


def _subject(version: SchemaVersion, data: dict[str, Any]) -> str | None:
    if version.subject_field and data.get(version.subject_field) is not None:
        return str(data[version.subject_field])[:128]
    return None


def _insert_record(session: Session, actor: Actor, registry: Registry, version: SchemaVersion,
                   data: dict[str, Any], reason: str | None, where: list[str | int]) -> Record:
    _check_data(version, data, where)
    _key_taken(session, registry, version, data, None, where)
    record = Record(id=new_id(), registry_id=registry.id, schema_version_id=version.id, data=data,
                    subject_id=_subject(version, data), written_at=utcnow(), written_by=actor.name,
                    reason=reason, operation="create")
    session.add(record)
    session.flush()
    repository.replace_field_values(session, record.id, _index_rows(registry.id, record.id, version, data))
    audit.record_change(session, actor, action="registry_record.create", subject_type=RECORD, subject_id=record.id,
                        after={"registry": registry.name, "version": version.version, "data": data}, reason=reason)
    return record


def check_record(session: Session, actor: Actor, *, name: str, data: Any,
                 version: str | None = None) -> list[dict[str, Any]]:
    """Every way ``data`` breaks the schema (pointers under ``/data``), without writing anything."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    if not isinstance(data, dict):
        return [field_error(["data"], _("A record is a JSON object."), "record_not_object")]
    return schema_rules.record_errors(_validator(found), data, ["data"])


def create_record(session: Session, actor: Actor, *, name: str, data: dict[str, Any], version: str | None = None,
                  reason: str | None = None, purpose: str | None = None) -> RecordRead:
    """Add a record, checked against the schema version (the newest published one by default)."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    record = _insert_record(session, actor, registry, found, data, reason, ["data"])
    # The writer supplied the data; returning it to them is not a reading of someone's data.
    return _record_read(session, actor, registry, record, purpose or "returned to its writer",
                        set(), _labels(session, registry))


def create_records(session: Session, actor: Actor, *, name: str, items: list[dict[str, Any]],
                   version: str | None = None, reason: str | None = None) -> list[RecordRead]:
    """Add several records at once: all of them, or none when one is not valid."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    labels = _labels(session, registry)
    records = [_insert_record(session, actor, registry, found, item, reason, ["write", index, "content"])
               for index, item in enumerate(items)]
    return [_record_read(session, actor, registry, r, None, set(), labels) for r in records]


def _find(session: Session, registry: Registry, record_ref: str | uuid.UUID,
          version: SchemaVersion | None = None, *, include_deleted: bool = False) -> Record:
    """A record by its id, or by the value of the schema's key field."""
    record: Record | None = None
    try:
        record_id = record_ref if isinstance(record_ref, uuid.UUID) else uuid.UUID(str(record_ref))
    except ValueError:
        record_id = None
    if record_id is not None:
        record = repository.record_in(session, registry.id, record_id)
    if record is None and version is not None and version.key_field and not isinstance(record_ref, uuid.UUID):
        spec = version.json_schema["properties"][version.key_field]
        text, number = schema_rules.index_value(spec, schema_rules.coerce_cell(spec, str(record_ref)))
        condition = FieldValue.value_text == text if text is not None else FieldValue.value_num == number
        stmt = repository.with_field_condition(repository.records_query(registry.id), registry.id,
                                               version.key_field, condition)
        record = session.scalars(stmt.limit(1)).first()
    if record is None or (record.deleted_at is not None and not include_deleted):
        raise NotFound(_("There is no such record in the registry “%(name)s”.", name=registry.name))
    return record


def read_record(session: Session, actor: Actor, *, name: str, record_id: str | uuid.UUID,
                version: str | None = None, purpose: str | None = None) -> RecordRead:
    """One record; its personal-data fields only when a purpose is given, and that reading is logged."""
    definition = _definition(session, name)
    registry, versions = definition.registry, definition.versions
    _require(session, actor, registry, REGISTRIES_READ, definition.grants)
    found = _version(session, registry, version, known=versions)
    record = _find(session, registry, record_id, found, include_deleted=True)
    return _record_read(session, actor, registry, record, purpose, _personal_fields(session, registry, versions),
                        _labels(session, registry, versions))


def _apply(session: Session, actor: Actor, registry: Registry, version: SchemaVersion, record: Record,
           data: dict[str, Any], *, reason: str | None, expected_revision: int | None, operation: str = "update",
           where: list[str | int]) -> Record:
    """Write a new version of ``record``, keeping the one it replaces."""
    if record.deleted_at is not None:
        raise Conflict(_("This record has been deleted."))
    if expected_revision is not None and expected_revision != record.revision:
        raise Conflict(_("Someone else changed this record first (it is now at revision %(revision)s). Read it "
                         "again and repeat your change.", revision=record.revision), current_revision=record.revision)
    if operation != "delete":
        _check_data(version, data, where)
        _key_taken(session, registry, version, data, record.id, where)
        if data == record.data and version.id == record.schema_version_id:
            return record
    old = RecordVersion(record_id=record.id, revision=record.revision, schema_version_id=record.schema_version_id,
                        data=record.data, written_at=record.written_at, written_by=record.written_by,
                        reason=record.reason, operation=record.operation, deleted=False)
    before = record.data
    now = utcnow()
    record.data = data
    record.schema_version_id = version.id
    record.subject_id = _subject(version, data) or record.subject_id
    record.written_at = now
    record.written_by = actor.name
    record.reason = reason
    record.operation = operation
    if operation == "delete":
        record.deleted_at = now
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(_("Someone else changed this record at the same moment. Read it again and repeat your "
                         "change.")) from exc
    session.add(old)
    session.flush()
    rows = [] if operation == "delete" else _index_rows(registry.id, record.id, version, data)
    repository.replace_field_values(session, record.id, rows)
    audit.record_change(session, actor, action=f"registry_record.{operation}", subject_type=RECORD,
                        subject_id=record.id, before={"revision": old.revision, "data": before},
                        after={"revision": record.revision, "version": version.version, "data": data,
                               "deleted": operation == "delete"}, reason=reason)
    return record


def update_record(session: Session, actor: Actor, *, name: str, record_id: str | uuid.UUID, data: dict[str, Any],
                  version: str | None = None, revision: int | None = None, merge: bool = False,
                  reason: str | None = None) -> RecordRead:
    """Replace (or, with ``merge``, change some fields of) a record; 409 if ``revision`` is no longer current."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    record = _find(session, registry, record_id, found)
    new_data = {**record.data, **data} if merge else data
    record = _apply(session, actor, registry, found, record, new_data, reason=reason, expected_revision=revision,
                    where=["data"])
    return _record_read(session, actor, registry, record, "returned to its writer", set(), _labels(session, registry))


def delete_record(session: Session, actor: Actor, *, name: str, record_id: str | uuid.UUID, reason: str,
                  revision: int | None = None, version: str | None = None) -> RecordRead:
    """Delete a record softly: it leaves searches, and its history and a last version remain."""
    if not reason or not reason.strip():
        raise ValidationFailed(errors=[field_error(["reason"], _("Say why the record is deleted."),
                                                   "reason_required")])
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    record = _find(session, registry, record_id, _version(session, registry, version))
    current = next(v for v in repository.versions_of(session, registry.id) if v.id == record.schema_version_id)
    record = _apply(session, actor, registry, current, record, record.data, reason=reason.strip(),
                    expected_revision=revision, operation="delete", where=["data"])
    return _record_read(session, actor, registry, record, None, _personal_fields(session, registry),
                        _labels(session, registry))


# --- matching by content (GovStack read, exists, update, update-or-create, update-entries) --------


def _matching(session: Session, registry: Registry, version: SchemaVersion, content: Any,
              where: list[str | int]) -> list[Record]:
    """The live records whose fields equal every field of ``content``."""
    if not isinstance(content, dict) or not content:
        raise ValidationFailed(errors=[field_error(where, _("Name at least one field to look for."),
                                                   "query_empty")])
    properties = version.json_schema.get("properties", {})
    stmt = repository.records_query(registry.id)
    nested: dict[str, Any] = {}
    for field, value in content.items():
        if field not in properties:
            if field.lower() in ("id", "uuid"):
                try:
                    stmt = stmt.where(Record.id == uuid.UUID(str(value)))
                    continue
                except ValueError:
                    return []
            raise ValidationFailed(errors=[field_error([*where, field], _("This field is not part of the "
                                                                          "registry's schema."), "unknown_field")])
        if field in version.searchable_fields and not isinstance(value, dict | list):
            text, number = schema_rules.index_value(properties[field], value)
            if text is None and number is None:
                return []
            condition = FieldValue.value_text == text if text is not None else FieldValue.value_num == number
            stmt = repository.with_field_condition(stmt, registry.id, field, condition)
        elif isinstance(value, bool):
            stmt = stmt.where(Record.data[field].as_boolean() == value)
        elif isinstance(value, int | float):
            stmt = stmt.where(Record.data[field].as_float() == float(value))
        elif isinstance(value, str):
            stmt = stmt.where(Record.data[field].as_string() == value)
        else:
            nested[field] = value
    rows = session.scalars(stmt.order_by(Record.id)).all()
    if nested:
        rows = [r for r in rows if all(r.data.get(k) == v for k, v in nested.items())]
    # The index ignores case; an exact answer compares the stored text too.
    exact = {k: v for k, v in content.items() if k in properties and isinstance(v, str)}
    return [r for r in rows if all(str(r.data.get(k)) == v for k, v in exact.items())]


def find_record(session: Session, actor: Actor, *, name: str, query: Any, version: str | None = None,
                purpose: str | None = None) -> RecordRead:
    """The first record whose fields equal those of ``query``; 404 when none does."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    found = _version(session, registry, version)
    rows = _matching(session, registry, found, query, ["query", "content"])
    if not rows:
        raise NotFound(_("No record matches."))
    return _record_read(session, actor, registry, rows[0], purpose, _personal_fields(session, registry),
                        _labels(session, registry))


def record_exists(session: Session, actor: Actor, *, name: str, query: Any, version: str | None = None) -> bool:
    """Whether a record with these field values exists (nothing personal is returned)."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    found = _version(session, registry, version)
    return bool(_matching(session, registry, found, query, ["query", "content"]))


def update_matching(session: Session, actor: Actor, *, name: str, query: Any, changes: dict[str, Any],
                    version: str | None = None, reason: str | None = None, many: bool = False) -> int:
    """Change the fields in ``changes`` of the first record (or, with ``many``, every record) matching
    ``query``; returns how many were changed. All or none: one invalid result refuses the whole change."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    rows = _matching(session, registry, found, query, ["query", "content"])
    if not rows:
        raise NotFound(_("No record matches."))
    for record in rows if many else rows[:1]:
        _apply(session, actor, registry, found, record, {**record.data, **changes}, reason=reason,
               expected_revision=None, where=["write", "content"])
    return len(rows) if many else 1


def update_or_create_record(session: Session, actor: Actor, *, name: str, query: Any, changes: dict[str, Any],
                            version: str | None = None, reason: str | None = None) -> tuple[RecordRead, bool]:
    """Change the record matching ``query``, or create one from the query's and the changes' fields;
    returns the record and whether it was created."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    rows = _matching(session, registry, found, query, ["query", "content"]) if query else []
    labels = _labels(session, registry)
    if rows:
        record = _apply(session, actor, registry, found, rows[0], {**rows[0].data, **changes}, reason=reason,
                        expected_revision=None, where=["write", "content"])
        return _record_read(session, actor, registry, record, "returned to its writer", set(), labels), False
    fields = {k: v for k, v in (query or {}).items() if k in found.json_schema.get("properties", {})}
    record = _insert_record(session, actor, registry, found, {**fields, **changes}, reason, ["write", "content"])
    return _record_read(session, actor, registry, record, None, set(), labels), True


def read_value(session: Session, actor: Actor, *, name: str, record_id: str, field: str,
               version: str | None = None, purpose: str | None = None) -> Any:
    """One field of one record; a personal-data field needs a purpose, and its reading is logged."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    found = _version(session, registry, version)
    record = _find(session, registry, record_id, found)
    if field not in record.data and field not in found.json_schema.get("properties", {}):
        raise NotFound(_("The registry has no field “%(field)s”.", field=field))
    if field in _personal_fields(session, registry):
        if not purpose or not purpose.strip():
            raise ValidationFailed(errors=[field_error(["purpose"], _("Say why the personal data is read."),
                                                       "purpose_required")])
        _log_access(session, actor, record.id, purpose, [field])
    return record.data.get(field)


# --- history ----------------------------------------------------------------------------------------


def record_history(session: Session, actor: Actor, *, name: str, record_id: str | uuid.UUID,
                   purpose: str | None = None) -> list[RecordVersionRead]:
    """Every version of a record, oldest first: what it held, and who wrote it, when and why."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    record = _find(session, registry, record_id, None, include_deleted=True)
    labels = _labels(session, registry)
    personal = _personal_fields(session, registry)
    states: list[tuple[int, uuid.UUID, str, dict[str, Any], Any, str, str | None, bool]] = [
        (v.revision, v.schema_version_id, v.operation, v.data, v.written_at, v.written_by, v.reason, v.deleted)
        for v in repository.history_of(session, record.id)
    ]
    states.append((record.revision, record.schema_version_id, record.operation, record.data, record.written_at,
                   record.written_by, record.reason, record.deleted_at is not None))
    shown_fields = sorted({f for s in states for f in s[3] if f in personal})
    if shown_fields and purpose and purpose.strip():
        _log_access(session, actor, record.id, purpose, shown_fields)
    out = []
    for revision, version_id, operation, data, at, by, reason, deleted in states:
        visible, withheld = _shown(session, actor, record.id, data, personal, purpose, log=False)
        out.append(RecordVersionRead(revision=revision, version=labels.get(version_id, "?"), operation=operation,
                                     data=visible, withheld_fields=withheld, written_at=at, written_by=by,
                                     reason=reason, deleted=deleted))
    return out


def diff_versions(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """Field by field, how ``after`` differs from ``before``."""
    changes = []
    for field in [*before, *[k for k in after if k not in before]]:
        if field not in after:
            changes.append(FieldChange(field=field, change="removed", before=before[field]))
        elif field not in before:
            changes.append(FieldChange(field=field, change="added", after=after[field]))
        elif before[field] != after[field]:
            changes.append(FieldChange(field=field, change="changed", before=before[field], after=after[field]))
    return changes


def diff_record(session: Session, actor: Actor, *, name: str, record_id: str | uuid.UUID, from_revision: int,
                to_revision: int, purpose: str | None = None) -> RecordDiff:
    """How a record changed between two of its versions."""
    history = {v.revision: v for v in record_history(session, actor, name=name, record_id=record_id,
                                                     purpose=purpose)}
    for where, revision in (("from", from_revision), ("to", to_revision)):
        if revision not in history:
            raise NotFound(_("This record has no revision %(revision)s.", revision=revision),
                           errors=[field_error(["query", where], _("No such revision."), "unknown_revision")])
    return RecordDiff(from_revision=from_revision, to_revision=to_revision,
                      changes=diff_versions(history[from_revision].data, history[to_revision].data))


# --- search ------------------------------------------------------------------------------------------


def _encode_cursor(value: Any, record_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, str(record_id)]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        value, record_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return value, uuid.UUID(record_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValidationFailed(errors=[field_error(["query", "cursor"], _("This cursor is not valid."),
                                                   "invalid_cursor")]) from exc


def _filtered(registry: Registry, version: SchemaVersion, filters: Sequence[SearchFilter],
              text: str | None, text_field: str | None) -> tuple[Select[Any], Any]:
    """The records matching the filters, and the column that holds their id in index order.

    The first equality filter drives the query: its index entries are already in record-id order, so
    a page in creation order reads only as many entries as it shows (instead of every match, sorted).
    """
    properties = version.json_schema.get("properties", {})
    stmt = repository.records_query(registry.id)
    id_column: Any = Record.id
    for item in filters:
        if item.field not in version.searchable_fields:
            raise ValidationFailed(errors=[field_error(["query", item.field], _("This field cannot be searched; "
                                                                                "searchable fields: %(fields)s",
                                                                                fields=", ".join(
                                                                                    version.searchable_fields)),
                                                       "not_searchable")])
        spec = properties.get(item.field, {})
        numeric = schema_rules.property_type(spec) in ("integer", "number")
        raw = item.value
        if numeric:
            try:
                value: Any = float(raw)
            except (TypeError, ValueError) as exc:
                raise ValidationFailed(errors=[field_error(["query", item.field], _("Enter a number."),
                                                           "not_a_number")]) from exc
            column: Any = FieldValue.value_num
        else:
            value = schema_rules.index_value(spec, schema_rules.coerce_cell(spec, str(raw)))[0] or ""
            column = FieldValue.value_text
        if item.op == "prefix" and not numeric:
            condition = repository.starts_with(column, str(value))
        elif item.op == "gte":
            condition = column >= value
        elif item.op == "lte":
            condition = column <= value
        else:
            condition = column == value
        if item.op not in ("prefix", "gte", "lte") and id_column is Record.id:
            driver = aliased(FieldValue)
            entry = getattr(driver, column.key)
            stmt = stmt.join(driver, and_(driver.record_id == Record.id, driver.registry_id == registry.id,
                                          driver.field == item.field, entry == value))
            id_column = driver.record_id
            continue
        stmt = repository.with_field_condition(stmt, registry.id, item.field, condition)
    if text:
        fields = [text_field] if text_field else [
            f for f in version.searchable_fields if schema_rules.property_type(properties.get(f, {})) == "string"]
        if text_field and text_field not in version.searchable_fields:
            raise ValidationFailed(errors=[field_error(["query", "filter"], _("This field cannot be searched."),
                                                       "not_searchable")])
        matching = repository.select_field_prefix(registry.id, fields, text.lower())
        stmt = stmt.where(Record.id.in_(matching))
    return stmt, id_column


def _sorted(registry: Registry, version: SchemaVersion, stmt: Select[Any], sort: str | None,
            id_column: Any = Record.id) -> tuple[Select[Any], Any, bool]:
    """The statement ordered by ``sort`` (a searchable field, ``-`` for descending; creation order by default),
    the column sorted on (None for the record id) and whether it is descending."""
    descending = bool(sort and sort.startswith("-"))
    field = (sort or "").lstrip("-+") or None
    if field in (None, "id"):
        return stmt.order_by(id_column.desc() if descending else id_column), None, descending
    if field not in version.searchable_fields:
        raise ValidationFailed(errors=[field_error(["query", "sort"], _("Records can be sorted only by a "
                                                                        "searchable field."), "not_sortable")])
    numeric = schema_rules.property_type(version.json_schema["properties"][field]) in ("integer", "number")
    sort_value = aliased(FieldValue)
    column = sort_value.value_num if numeric else sort_value.value_text
    stmt = stmt.join(sort_value, and_(sort_value.record_id == Record.id, sort_value.field == field))
    stmt = stmt.add_columns(column)
    order = (column.desc(), Record.id.desc()) if descending else (column, Record.id)
    return stmt.order_by(*order), column, descending


def search_records(session: Session, actor: Actor, *, name: str, version: str | None = None,
                   filters: Sequence[SearchFilter] = (), text: str | None = None, text_field: str | None = None,
                   sort: str | None = None, cursor: str | None = None, limit: int = 50,
                   purpose: str | None = None) -> RecordPage:
    """Records matching every filter on searchable fields (and ``text`` as a prefix of a text field),
    sorted, one page at a time with a cursor.

    With the registry's definition in memory, the search itself reads the stored definition tag (a
    column of the same statement) instead of asking for it first: one query, not two. Only when the
    tag differs, the page is empty, or the request fails on the definition in memory is the tag read
    on its own, and the search made again on the current definition.
    """
    query = _SearchQuery(version, filters, text, text_field, sort, cursor, max(1, min(limit, MAX_LIMIT)), purpose)
    cached = _definitions.get(name)
    if cached is not None:
        try:
            page = _search(session, actor, name, cached, query, check_tag=True)
        except (ValidationFailed, Forbidden, NotFound):
            page = None  # perhaps only because the definition in memory is out of date: decided below
        if page is not None:
            return page
    page = _search(session, actor, name, _definition(session, name), query, check_tag=False)
    assert page is not None
    return page


@dataclass(frozen=True)
class _SearchQuery:
    version: str | None
    filters: Sequence[SearchFilter]
    text: str | None
    text_field: str | None
    sort: str | None
    cursor: str | None
    limit: int
    purpose: str | None


def _search(session: Session, actor: Actor, name: str, definition: _Definition, query: _SearchQuery, *,
            check_tag: bool) -> RecordPage | None:
    """One page of a search on ``definition``; None when ``check_tag`` finds it out of date (nothing was
    logged or returned then)."""
    registry, versions = definition.registry, definition.versions
    _require(session, actor, registry, REGISTRIES_READ, definition.grants)
    found = _version(session, registry, query.version, known=versions)
    limit = query.limit
    stmt, id_column = _filtered(registry, found, query.filters, query.text, query.text_field)
    stmt, column, descending = _sorted(registry, found, stmt, query.sort, id_column)
    if query.cursor:
        value, after = _decode_cursor(query.cursor)
        if column is None:
            stmt = stmt.where(id_column < after if descending else id_column > after)
        elif descending:
            stmt = stmt.where(or_(column < value, and_(column == value, Record.id < after)))
        else:
            stmt = stmt.where(or_(column > value, and_(column == value, Record.id > after)))
    if check_tag:
        stmt = stmt.add_columns(repository.definition_tag_of(registry.id))
    rows = session.execute(stmt.limit(limit + 1)).all()
    if check_tag:
        stored = rows[0][-1] if rows else repository.definition_tag(session, name)
        if stored != definition.tag:
            return None
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(last[1] if column is not None else None, last[0].id)
    personal = _personal_fields(session, registry, versions)
    labels = _labels(session, registry, versions)
    return RecordPage(items=[_record_read(session, actor, registry, row[0], query.purpose, personal, labels)
                             for row in rows], next_cursor=next_cursor)


def list_records_page(session: Session, actor: Actor, *, name: str, version: str | None = None,
                      filters: Sequence[SearchFilter] = (), text: str | None = None, text_field: str | None = None,
                      sort: str | None = None, page: int = 1, page_size: int = 10,
                      purpose: str | None = None) -> tuple[int, list[RecordRead]]:
    """Records matching the filters by page number (the GovStack list): the total count and one page."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    found = _version(session, registry, version)
    page_size = max(1, min(page_size, MAX_LIMIT))
    stmt, id_column = _filtered(registry, found, filters, text, text_field)
    total = repository.count(session, stmt)
    stmt, _column, _descending = _sorted(registry, found, stmt, sort, id_column)
    rows = session.execute(stmt.offset((max(page, 1) - 1) * page_size).limit(page_size)).all()
    personal = _personal_fields(session, registry)
    labels = _labels(session, registry)
    return total, [_record_read(session, actor, registry, row[0], purpose, personal, labels) for row in rows]


def count_records(session: Session, actor: Actor, *, name: str) -> int:
    """How many live records a registry holds."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    return repository.count(session, repository.records_query(registry.id))


# --- who read my data ---------------------------------------------------------------------------------


def personal_data_usage(session: Session, actor: Actor, *, name: str, subject_id: str) -> list[PersonalDataUsageRead]:
    """Who read the personal data of the person ``subject_id`` in this registry, when and why, newest first."""
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    reader = Actor.system("registries")
    out: list[PersonalDataUsageRead] = []
    for record_id in repository.records_of_subject(session, registry.id, subject_id):
        cursor: str | None = None
        while True:
            page = audit.list_entries(session, reader, subject_type=RECORD, subject_id=str(record_id),
                                      category="access", cursor=cursor, limit=MAX_LIMIT)
            out += [PersonalDataUsageRead(
                id=str(e.id), reader_id=e.actor_id, reader_name=e.actor_name, reader_kind=e.actor_kind,
                purpose=e.reason, read_at=e.at, record_id=str(record_id),
                fields=list((e.after or {}).get("fields", []))) for e in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    out.sort(key=lambda u: u.read_at, reverse=True)
    return out


def registry_openapi(session: Session, actor: Actor, *, name: str, version: str,
                     govstack_prefix: str = "/govstack/registries") -> dict[str, Any]:
    """The generated OpenAPI document of one registry version."""
    from nokor.registries.openapi import registry_openapi as build

    registry = get_registry(session, actor, name=name)
    return build(registry, get_version(session, actor, name=name, version=version), govstack_prefix=govstack_prefix)
