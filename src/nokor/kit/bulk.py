"""Many rows in one statement: the batch writes of hot paths (payment confirmations, audit entries).

An executemany sends one bind and execute per row; under a busy batch that per-row work is most of
the CPU a row costs. On PostgreSQL ``insert_rows`` sends every row of a batch as one array per column,
``INSERT ... SELECT * FROM unnest(...)``, and ``in_values`` compares with ``= ANY(array)``, so the
statement and its parameters are the same whatever the batch size (one prepared statement). Elsewhere
(SQLite) they fall back to an executemany and an ``IN`` list.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session

_STATEMENTS: dict[tuple[str, tuple[str, ...]], Any] = {}


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with the same columns, given as Python values) into ``table`` in one statement.

    Values go through each column's type as they would in an ORM insert (time zones, JSON, UUIDs).
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    names = tuple(rows[0])
    key = (table.name, names)
    statement = _STATEMENTS.get(key)
    if statement is None:
        arrays = ", ".join(f"CAST(:c{i} AS {table.c[name].type.compile(dialect)}[])" for i, name in enumerate(names))
        columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
        statement = _STATEMENTS[key] = text(
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({columns}) "  # noqa: S608 (names from the table)
            f"SELECT * FROM unnest({arrays})")
    session.execute(statement, _arrays(table, names, rows, dialect))


def update_rows(session: Session, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
    """Set the columns given in ``rows`` (each with the same columns, ``key`` among them) of the row whose
    ``key`` column matches, one statement for all."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    names = tuple(rows[0])
    if dialect.name != "postgresql":
        session.execute(update(table).where(table.c[key] == bindparam(f"b_{key}")).values(
            {name: bindparam(f"b_{name}") for name in names if name != key}),
            [{f"b_{name}": value for name, value in row.items()} for row in rows])
        return
    cache_key = (f"update {table.name} by {key}", names)
    statement = _STATEMENTS.get(cache_key)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        arrays = ", ".join(f"CAST(:c{i} AS {table.c[name].type.compile(dialect)}[])" for i, name in enumerate(names))
        sets = ", ".join(f"{quote(name)} = v.c{i}" for i, name in enumerate(names) if name != key)
        statement = _STATEMENTS[cache_key] = text(
            f"UPDATE {dialect.identifier_preparer.format_table(table)} AS t SET {sets} "  # noqa: S608 (names from the table)
            f"FROM unnest({arrays}) AS v({', '.join(f'c{i}' for i in range(len(names)))}) "
            f"WHERE t.{quote(key)} = v.c{names.index(key)}")
    session.execute(statement, _arrays(table, names, rows, dialect))


def _arrays(table: Table, names: tuple[str, ...], rows: list[dict[str, Any]], dialect: Any) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {}
    for i, name in enumerate(names):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[name] for row in rows]
        params[f"c{i}"] = [process(v) for v in values] if process else values
    return params


def in_values(session: Session, column: ColumnElement[Any] | QueryableAttribute[Any],
              values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN values``: on PostgreSQL ``column = ANY(:array)``, one parameter whatever the count."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(sorted(values))
