"""Create, update and read schemas of the registries domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nokor.kit.i18n import gettext as _

VersionState = Literal["draft", "published", "deprecated", "archived"]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{1,63}$"


class LocalizedText(BaseModel):
    """A text written by analysts, in each language they provide; at least one is required."""

    km: str | None = Field(None, max_length=500)
    en: str | None = Field(None, max_length=500)
    ar: str | None = Field(None, max_length=500)
    de: str | None = Field(None, max_length=500)

    @field_validator("km", "en", "ar", "de")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v}


class RegistryCreate(BaseModel):
    name: str = Field(min_length=2, max_length=64, pattern=NAME_PATTERN,
                      description="Short name used in URLs, for example `sme` or `health-facilities`")
    title: LocalizedText
    description: LocalizedText = Field(default_factory=LocalizedText)
    owner_org_unit_code: str | None = Field(None, description="The organisation unit that keeps the registry")
    json_schema: dict[str, Any] | None = Field(
        None, description="The first schema draft (JSON Schema draft 2020-12), optional"
    )


class SchemaVersionRead(BaseModel):
    """One version of a registry's schema."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: str
    state: VersionState
    json_schema: dict[str, Any]
    searchable_fields: list[str]
    personal_fields: list[str]
    subject_field: str | None
    key_field: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    retired_at: datetime | None


class RegistryRead(BaseModel):
    """A registry, with the state of its newest version and every version's summary."""

    id: uuid.UUID
    number: int
    name: str
    title: dict[str, str]
    description: dict[str, str]
    owner_org_unit_id: uuid.UUID | None
    state: VersionState
    current_version: str | None = Field(None, description="The newest published version, if any")
    draft_version: str | None = None
    versions: list[SchemaVersionRead] = Field(default_factory=list)
    created_at: datetime
    created_by: str


class RecordWrite(BaseModel):
    """The data of a record, and why it is written."""

    data: dict[str, Any]
    reason: str | None = Field(None, max_length=2000)


class RecordUpdate(BaseModel):
    """New data for a record; ``revision`` is the revision the caller read (optimistic lock)."""

    data: dict[str, Any]
    revision: int | None = Field(None, ge=1, description="Refused with 409 if the record has moved on")
    reason: str | None = Field(None, max_length=2000)


class RecordRead(BaseModel):
    """A record as a caller sees it; personal-data fields are left out unless a purpose was given."""

    id: uuid.UUID
    registry: str
    version: str = Field(description="The schema version the record was last written under")
    revision: int
    data: dict[str, Any]
    withheld_fields: list[str] = Field(default_factory=list,
                                       description="Personal-data fields left out (no purpose given)")
    written_at: datetime
    written_by: str
    reason: str | None
    deleted: bool


class RecordVersionRead(BaseModel):
    """One version of a record: what it held, and who wrote it, when and why."""

    revision: int
    version: str
    operation: str
    data: dict[str, Any]
    withheld_fields: list[str] = Field(default_factory=list)
    written_at: datetime
    written_by: str
    reason: str | None
    deleted: bool


class FieldChange(BaseModel):
    """How one field differs between two versions of a record."""

    field: str
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None


class RecordDiff(BaseModel):
    from_revision: int
    to_revision: int
    changes: list[FieldChange]


class SearchFilter(BaseModel):
    """One condition on a searchable field."""

    field: str
    op: Literal["eq", "prefix", "gte", "lte"] = "eq"
    value: Any


class RecordPage(BaseModel):
    """One page of a search and the cursor of the next one (null on the last page)."""

    items: list[RecordRead]
    next_cursor: str | None = None


class RowError(BaseModel):
    """One bad field of one row of an import file (rows count from 1, after a CSV header)."""

    row: int
    pointer: str
    message: str


class ImportReport(BaseModel):
    """What an import did: rows read, written and rejected, and why each rejected row was."""

    registry: str
    version: str
    rows_read: int = 0
    written: int = 0
    rejected: int = 0
    errors: list[RowError] = Field(default_factory=list)
    errors_truncated: bool = False
    reject_file: str | None = None
    seconds: float = 0.0


class AccessGrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_identity: str
    can_write: bool
    created_at: datetime


class PersonalDataUsageRead(BaseModel):
    """One reading of a person's data: who read it, when, why, and which record."""

    id: str
    reader_id: str | None
    reader_name: str
    reader_kind: str
    purpose: str | None
    read_at: datetime
    record_id: str
    fields: list[str]


class FormFieldPreview(BaseModel):
    """One input of the form a schema produces (for the schema editor's preview)."""

    name: str
    label: str
    widget: Literal["text", "number", "date", "select", "checkbox", "boolean", "textarea", "email"]
    required: bool
    options: list[str] = Field(default_factory=list)
    hint: str | None = None
    searchable: bool = False
    personal: bool = False


def describe_state(state: str) -> str:
    """A version state in the reader's language."""
    return {
        "draft": _("Draft"),
        "published": _("Published"),
        "deprecated": _("Deprecated"),
        "archived": _("Archived"),
    }.get(state, state)
