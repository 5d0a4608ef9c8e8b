"""Every query of the registries domain."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, String, and_, any_, bindparam, cast, delete, func, insert, select, text
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


def select_field_prefix(registry_id: uuid.UUID, fields: list[str], prefix: str) -> Select[Any]:
    """Ids of records one of whose text ``fields`` starts with ``prefix`` (lower-case, as stored)."""
    return select(FieldValue.record_id).where(
        FieldValue.registry_id == registry_id, FieldValue.field.in_(fields), starts_with(FieldValue.value_text, prefix))


def starts_with(column: Any, prefix: str) -> Any:
    """``column`` starts with ``prefix``, as a range of byte-ordered text an index answers without reading
    the values before it: from ``prefix`` up to the first text that sorts after every text beginning with
    it. A LIKE alone is no range: not under a language's collation nor in the generic plan of a prepared
    statement on PostgreSQL, nor on SQLite (whose LIKE ignores case), so it read every value of the field
    before the matching ones. The LIKE stays as the exact test."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    condition = column.like(escaped + "%", escape="\\")
    if not prefix:
        return condition
    above = prefix_upper_bound(prefix)
    bounds = column >= prefix if above is None else and_(column >= prefix, column < above)
    return and_(bounds, condition)


def prefix_upper_bound(prefix: str) -> str | None:
    """The least text, in code-point order (UTF-8 byte order), above every text that starts with
    ``prefix``; None when there is none (the prefix is only U+10FFFF characters)."""
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return None
    following = ord(stem[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters; UTF-8 has no bytes for them
        following = 0xE000
    return stem[:-1] + chr(following)


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
BULK_TABLES = (Record.__tablename__, FieldValue.__tablename__)
"""The tables a bulk import writes: records, and the values of their searchable fields."""


def _bulk_tables_empty(session: Session) -> bool:
    return (session.execute(select(Record.id).limit(1)).first() is None
            and session.execute(select(FieldValue.record_id).limit(1)).first() is None)


def suspend_indexes(session: Session) -> list[str]:
    """Before a big import into an installation without any record yet (PostgreSQL): drop every index
    of ``registries_record`` and ``registries_field_value`` (their primary keys and the foreign key
    of the history that points at the records' one included) and return the statements that make them
    again, so that ``rebuild_indexes`` builds each once from the loaded rows (a sort) while the COPY
    only appends to the tables, instead of inserting every record and value into five B-trees (and
    logging each changed index page). Returns [] and leaves everything as it is when either table
    holds a row, on SQLite, or when another transaction is using one of the tables (nobody waits on
    the import for that).

    The drop is part of the caller's transaction: a rollback brings everything back. Until the
    transaction ends, other transactions that use the tables wait (they were empty, so only writes of
    records in other registries and reads of empty registries do).
    """
    if session.get_bind().dialect.name != "postgresql":
        return []
    if not _bulk_tables_empty(session):
        return []
    savepoint = session.begin_nested()
    try:
        session.execute(text(f"LOCK TABLE {', '.join(BULK_TABLES)}, {RecordVersion.__tablename__} "
                             "IN ACCESS EXCLUSIVE MODE NOWAIT"))
    except DBAPIError:
        savepoint.rollback()
        return []
    if not _bulk_tables_empty(session):  # a row arrived before the lock
        savepoint.rollback()  # and the lock goes with the savepoint
        return []
    # Foreign keys pointing at the tables first (they need the primary key), then primary and unique
    # keys, then plain indexes; made again in the opposite order.
    tables = {"records": BULK_TABLES[0], "field_values": BULK_TABLES[1]}
    constraints = session.execute(text(
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname), "
        "format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid)), "
        "k.contype = 'f' FROM pg_constraint k "
        "WHERE (k.contype = 'f' AND k.confrelid IN (CAST(:records AS regclass), CAST(:field_values AS regclass))) "
        "OR (k.contype IN ('p', 'u') AND k.conrelid IN (CAST(:records AS regclass), CAST(:field_values AS regclass))) "
        "ORDER BY k.contype = 'f' DESC, k.conname"), tables).all()
    indexes = session.execute(text(
        "SELECT format('DROP INDEX %I.%I', n.nspname, c.relname), pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.indrelid IN (CAST(:records AS regclass), CAST(:field_values AS regclass)) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
        "WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')) "
        "ORDER BY c.relname"), tables).all()
    connection = session.connection()
    for drop, _make, *_rest in [*constraints, *indexes]:
        connection.exec_driver_sql(drop)
    savepoint.commit()
    keys = [make for _drop, make, foreign in constraints if not foreign]
    foreign_keys = [make for _drop, make, foreign in constraints if foreign]
    return [*keys, *[make for _drop, make in indexes], *foreign_keys]


def rebuild_indexes(session: Session, definitions: list[str]) -> None:
    """Make again, in the same transaction, what ``suspend_indexes`` dropped."""
    if not definitions:
        return
    connection = session.connection()
    # Enough memory to sort the entries of a few million rows without spilling to disk (an external
    # sort was most of the build at a million records); for this transaction only.
    connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
    for definition in definitions:
        connection.exec_driver_sql(definition)


def preset_columns(session: Session, table: str, values: dict[str, str | None]) -> str:
    """Make ``values`` the defaults of those columns of ``table`` (PostgreSQL), so that a COPY can leave
    out what is the same on every row (PostgreSQL then parses a constant once per column instead of a
    text per row), and return the statement that puts the defaults back as they were.

    Only for a caller holding the table in ACCESS EXCLUSIVE mode (``suspend_indexes``): nobody else
    sees the changed defaults, and a rollback takes them away with everything else.
    """
    connection = session.connection()
    found: dict[str, str | None] = {name: expr for name, expr in connection.execute(text(
        "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = CAST(:table AS regclass) AND a.attname = ANY(:columns) AND NOT a.attisdropped"),
        {"table": table, "columns": list(values)}).all()}
    if set(found) != set(values):
        raise ValueError(f"{table} has no column {', '.join(sorted(set(values) - set(found)))}")
    preset = connection.execute(text(
        "SELECT format('ALTER TABLE %I ', CAST(:table AS text)) || string_agg(format('ALTER COLUMN %I SET DEFAULT %L', "
        "c.name, c.value), ', ') FROM json_each_text(CAST(:values AS json)) AS c(name, value)"),
        {"table": table, "values": json.dumps(values)}).scalar_one()
    restore = connection.execute(text(
        "SELECT format('ALTER TABLE %I ', CAST(:table AS text)) || string_agg(CASE WHEN c.value IS NULL "
        "THEN format('ALTER COLUMN %I DROP DEFAULT', c.name) ELSE format('ALTER COLUMN %I SET DEFAULT %s', "
        "c.name, c.value) END, ', ') FROM json_each_text(CAST(:found AS json)) AS c(name, value)"),
        {"table": table, "found": json.dumps(found)}).scalar_one()
    _execute_raw(session, str(preset))
    return str(restore)


def restore_columns(session: Session, statements: list[str]) -> None:
    """Put back the defaults ``preset_columns`` changed."""
    for statement in statements:
        _execute_raw(session, statement)


def _execute_raw(session: Session, statement: str) -> None:
    """A statement made by PostgreSQL's ``format`` (its quoted values may hold a ``%``), run as it is."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    driver.execute(statement)
