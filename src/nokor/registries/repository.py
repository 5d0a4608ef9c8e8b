"""Every query of the registries domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, String, any_, bindparam, cast, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from nokor.registries.models import AccessGrant, FieldValue, Record, RecordVersion, Registry, SchemaVersion


def registry_by_name(session: Session, name: str) -> Registry | None:
    return session.scalars(select(Registry).where(Registry.name == name)).first()


def definition_tag(session: Session, name: str) -> str | None:
    """The registry's current definition tag (None when there is no such registry)."""
    return session.scalar(select(Registry.definition_tag).where(Registry.name == name))


def definition_tag_of(registry_id: uuid.UUID) -> Any:
    """The registry's stored definition tag, as a column another query can carry."""
    return select(Registry.definition_tag).where(Registry.id == registry_id).scalar_subquery()


def registry_by_number(session: Session, number: int) -> Registry | None:
    return session.scalars(select(Registry).where(Registry.number == number)).first()


def all_registries(session: Session) -> Sequence[Registry]:
    return session.scalars(select(Registry).order_by(Registry.name)).all()


def next_registry_number(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Registry.number), 0))) or 0) + 1


def versions_of(session: Session, registry_id: uuid.UUID) -> Sequence[SchemaVersion]:
    return session.scalars(
        select(SchemaVersion).where(SchemaVersion.registry_id == registry_id).order_by(SchemaVersion.created_at)
    ).all()


def versions_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SchemaVersion]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.scalars(select(SchemaVersion).where(SchemaVersion.id.in_(wanted))).all()
    return {v.id: v for v in rows}


def grant_for(session: Session, registry_id: uuid.UUID, identity: str) -> AccessGrant | None:
    return session.scalars(
        select(AccessGrant).where(AccessGrant.registry_id == registry_id, AccessGrant.client_identity == identity)
    ).first()


def grants_of(session: Session, registry_id: uuid.UUID) -> Sequence[AccessGrant]:
    return session.scalars(
        select(AccessGrant).where(AccessGrant.registry_id == registry_id).order_by(AccessGrant.client_identity)
    ).all()


def record_in(session: Session, registry_id: uuid.UUID, record_id: uuid.UUID) -> Record | None:
    record = session.get(Record, record_id)
    if record is None or record.registry_id != registry_id:
        return None
    return record


def records_query(registry_id: uuid.UUID, *, include_deleted: bool = False) -> Select[Any]:
    stmt = select(Record).where(Record.registry_id == registry_id)
    if not include_deleted:
        stmt = stmt.where(Record.deleted_at.is_(None))
    return stmt


def with_field_condition(stmt: Select[Any], registry_id: uuid.UUID, field: str, condition: Any) -> Select[Any]:
    """Keep the records whose indexed ``field`` meets ``condition`` (a clause on FieldValue)."""
    matching = select(FieldValue.record_id).where(
        FieldValue.registry_id == registry_id, FieldValue.field == field, condition
    )
    return stmt.where(Record.id.in_(matching))


def count(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def history_of(session: Session, record_id: uuid.UUID) -> Sequence[RecordVersion]:
    return session.scalars(
        select(RecordVersion).where(RecordVersion.record_id == record_id).order_by(RecordVersion.revision)
    ).all()


def records_of_subject(session: Session, registry_id: uuid.UUID, subject_id: str) -> Sequence[uuid.UUID]:
    return session.scalars(
        select(Record.id).where(Record.registry_id == registry_id, Record.subject_id == subject_id)
    ).all()


def replace_field_values(session: Session, record_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    session.execute(delete(FieldValue).where(FieldValue.record_id == record_id))
    if rows:
        session.execute(insert(FieldValue), rows)


def export_batch(session: Session, registry_id: uuid.UUID, after: uuid.UUID | None,
                 size: int) -> Sequence[Any]:
    """The next ``size`` live records after ``after`` (in creation order): id and data only."""
    stmt = select(Record.id, Record.data).where(Record.registry_id == registry_id, Record.deleted_at.is_(None))
    if after is not None:
        stmt = stmt.where(Record.id > after)
    return session.execute(stmt.order_by(Record.id).limit(size)).all()


def select_field_prefix(registry_id: uuid.UUID, fields: list[str], pattern: str) -> Select[Any]:
    """Ids of records one of whose text ``fields`` starts with the (escaped, lower-case) LIKE ``pattern``."""
    return select(FieldValue.record_id).where(
        FieldValue.registry_id == registry_id, FieldValue.field.in_(fields),
        FieldValue.value_text.like(pattern, escape="\\"),
    )


def existing_texts(session: Session, registry_id: uuid.UUID, field: str, texts: list[str]) -> set[str]:
    """Which of ``texts`` the indexed ``field`` already holds (for keys that must stay unique)."""
    if not texts:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: an IN list of hundreds of parameters costs PostgreSQL far more to plan.
        condition = FieldValue.value_text == any_(cast(bindparam("texts", value=texts, type_=ARRAY(String)),
                                                        ARRAY(String(200))))
    else:
        condition = FieldValue.value_text.in_(texts)
    found = session.scalars(select(FieldValue.value_text).where(
        FieldValue.registry_id == registry_id, FieldValue.field == field, condition)).all()
    return {t for t in found if t is not None}


def has_records(session: Session, registry_id: uuid.UUID) -> bool:
    return session.scalars(select(Record.id).where(Record.registry_id == registry_id).limit(1)).first() is not None


def refresh_statistics(session: Session) -> None:
    """Let PostgreSQL's planner see the index table as it is now (after bulk loads it may think it empty,
    and then scan every value of a field instead of probing the index)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE registries_field_value"))


VALUE_TABLE = FieldValue.__tablename__


def suspend_value_indexes(session: Session) -> list[str]:
    """Before a big import into an installation whose value index is still empty (PostgreSQL): drop
    the secondary indexes of ``registries_field_value`` and return their definitions, so that
    ``rebuild_indexes`` builds them once from the loaded rows (a sort) instead of inserting every value
    into two B-trees. Returns [] and leaves everything as it is when the table holds any value, on
    SQLite, or when another transaction is using the table (nobody waits on the import for that).

    The drop is part of the caller's transaction: a rollback brings the indexes back. Until the
    transaction ends, other transactions that use the table wait (it was empty, so only writes of
    searchable values in other registries do).
    """
    if session.get_bind().dialect.name != "postgresql":
        return []
    empty = select(FieldValue.record_id).limit(1)
    if session.execute(empty).first() is not None:
        return []
    savepoint = session.begin_nested()
    try:
        session.execute(text("LOCK TABLE registries_field_value IN ACCESS EXCLUSIVE MODE NOWAIT"))
    except DBAPIError:
        savepoint.rollback()
        return []
    if session.execute(empty).first() is not None:  # a value arrived before the lock
        savepoint.rollback()  # and the lock goes with the savepoint
        return []
    rows = session.execute(text(
        "SELECT format('DROP INDEX %I.%I', n.nspname, c.relname), pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisprimary ORDER BY c.relname"),
        {"table": VALUE_TABLE}).all()
    connection = session.connection()
    for drop, _definition in rows:
        connection.exec_driver_sql(drop)
    savepoint.commit()
    return [definition for _drop, definition in rows]


def rebuild_indexes(session: Session, definitions: list[str]) -> None:
    """Build the indexes ``suspend_value_indexes`` dropped, in the same transaction."""
    if not definitions:
        return
    connection = session.connection()
    # Enough memory to sort a few million entries without spilling to disk; for this transaction only.
    connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    for definition in definitions:
        connection.exec_driver_sql(definition)
