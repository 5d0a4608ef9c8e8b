"""Tables of the registries domain: registries, their schema versions, records, record history,
the narrow index of searchable field values, and which agency systems may use which registry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Registry(Base):
    """An authoritative list an agency keeps (businesses, schools, health facilities...), defined by a schema.

    ``number`` is the small integer the GovStack Database API uses as the database id.
    """

    __tablename__ = "registries_registry"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JSONType)
    description: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    owner_org_unit_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    # A new random tag whenever the registry, its schema versions or its access grants change: each
    # process keeps those in memory and compares this tag to know its copy is current. Random rather
    # than a counter, so that a tag seen in a transaction that was rolled back never comes back.
    definition_tag: Mapped[str] = mapped_column(String(32), default=lambda: uuid.uuid4().hex, server_default="0")


class SchemaVersion(Base):
    """One version of a registry's JSON Schema (draft 2020-12); published versions never change.

    The searchable, personal-data, subject and key fields are read from the schema's ``x-`` keywords
    when the draft is saved, and kept here so that reads need not parse the schema.
    """

    __tablename__ = "registries_schema_version"
    __table_args__ = (UniqueConstraint("registry_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    registry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registries_registry.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    # Plain JSON, not JSONB: PostgreSQL then keeps the analyst's order of fields (forms and CSV follow it).
    json_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    searchable_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    personal_fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    subject_field: Mapped[str | None] = mapped_column(String(64))
    key_field: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Record(Base):
    """The current state of one entry of a registry; earlier states live in ``RecordVersion``.

    ``revision`` counts the record's versions and is the optimistic lock: an update names the
    revision it read, and loses (409) when another update got there first.
    """

    __tablename__ = "registries_record"
    __table_args__ = (Index("ix_registries_record_registry_subject", "registry_id", "subject_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Indexed by (registry_id, subject_id) below, which serves lookups by registry as well. No foreign
    # keys: the service resolves both before every write, neither is ever deleted, and a key check per
    # row was a third of PostgreSQL's work in a bulk import.
    registry_id: Mapped[uuid.UUID] = mapped_column()
    schema_version_id: Mapped[uuid.UUID] = mapped_column()
    revision: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    subject_id: Mapped[str | None] = mapped_column(String(128))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    written_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(String(16), default="create")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": revision}


class RecordVersion(Base):
    """A superseded version of a record: its data as it was, and who wrote it, when and why."""

    __tablename__ = "registries_record_version"
    __table_args__ = (UniqueConstraint("record_id", "revision"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registries_record.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    schema_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registries_schema_version.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    written_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(String(16))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class FieldValue(Base):
    """The value of one searchable field of one record, so searches use an ordinary index.

    Text is stored lower-cased (searches ignore case); numbers in ``value_num`` so ranges and
    sorting work numerically.
    """

    __tablename__ = "registries_field_value"
    # Partial: a value is text or a number, so each index holds only the values it can answer for,
    # and a bulk import maintains two B-trees per value instead of three.
    __table_args__ = (
        Index("ix_registries_field_value_text", "registry_id", "field", "value_text", "record_id",
              postgresql_where=text("value_text IS NOT NULL"), sqlite_where=text("value_text IS NOT NULL")),
        Index("ix_registries_field_value_num", "registry_id", "field", "value_num", "record_id",
              postgresql_where=text("value_num IS NOT NULL"), sqlite_where=text("value_num IS NOT NULL")),
    )

    # No foreign key: records are never removed (deletion is soft), and bulk imports run faster
    # without a key check per value.
    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    registry_id: Mapped[uuid.UUID] = mapped_column()
    # Byte order ("C") on PostgreSQL, as SQLite compares text: a prefix search is then a range of the
    # index, and sorting and cursors follow the same order on both databases and whatever locale the
    # PostgreSQL cluster was made with (under a language's collation LIKE 'abc%' cannot use a B-tree).
    value_text: Mapped[str | None] = mapped_column(String(200).with_variant(String(200, collation="C"), "postgresql"))
    value_num: Mapped[float | None] = mapped_column(Float)


class AccessGrant(Base):
    """An agency system (by its GovStack client identity) may read, or read and write, one registry."""

    __tablename__ = "registries_access_grant"
    __table_args__ = (UniqueConstraint("registry_id", "client_identity"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    registry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registries_registry.id", ondelete="CASCADE"), index=True
    )
    client_identity: Mapped[str] = mapped_column(String(400))
    can_write: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
