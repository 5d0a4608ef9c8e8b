"""Many rows in one statement: the batch writes of hot paths (payment confirmations, audit entries).

An executemany sends one bind and execute per row; under a busy batch that per-row work is most of
the CPU a row costs. On PostgreSQL ``insert_rows`` sends every row of a batch as one array per column,
``INSERT ... SELECT * FROM unnest(...)``, and ``in_values`` compares with ``= ANY(array)``, so the
statement and its parameters are the same whatever the batch size (one prepared statement). The arrays
of the writes go in psycopg's binary format: its text format escapes every element of an array with a
regular expression in Python (23 µs for each JSON body of a payment notification, against 0.2 µs).
Elsewhere (SQLite) they fall back to an executemany and an ``IN`` list.

Each statement is also a round trip, and on a busy process every round trip of a thread costs it the
wait to take the interpreter lock back from the event loop. ``read_together`` sends several reads at
once, and ``writes_then_commit`` queues the writes of these helpers and sends them with the COMMIT
(psycopg's pipeline mode), so a batch of work can be one round trip to read and one to write and commit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, event, insert, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session

_STATEMENTS: dict[tuple[str, tuple[str, ...]], str] = {}


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
        quote = dialect.identifier_preparer.quote
        statement = _STATEMENTS[key] = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608 (names of the table's columns)
            f"({', '.join(quote(name) for name in names)}) SELECT * FROM unnest({_arrays_sql(table, names, dialect)})")
    _execute_binary(session, statement, _arrays(table, names, rows, dialect))


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
        sets = ", ".join(f"{quote(name)} = v.c{i}" for i, name in enumerate(names) if name != key)
        statement = _STATEMENTS[cache_key] = (
            f"UPDATE {dialect.identifier_preparer.format_table(table)} AS t SET {sets} "  # noqa: S608 (names of the table's columns)
            f"FROM unnest({_arrays_sql(table, names, dialect)}) AS v({', '.join(f'c{i}' for i in range(len(names)))}) "
            f"WHERE t.{quote(key)} = v.c{names.index(key)}")
    _execute_binary(session, statement, _arrays(table, names, rows, dialect))


def _arrays_sql(table: Table, names: tuple[str, ...], dialect: Any) -> str:
    """One binary array parameter per column, cast to the column's type."""
    return ", ".join(f"CAST(%b AS {table.c[name].type.compile(dialect)}[])" for name in names)


def _driver(session: Session) -> Any:
    """The psycopg connection under the session's connection (its transaction)."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    return driver


def _execute_binary(session: Session, statement: str, arrays: list[list[Any]]) -> None:
    """Run ``statement`` on the session's connection (its transaction) with psycopg and binary parameters."""
    with _driver(session).cursor() as cursor:
        cursor.execute(statement, arrays)


def is_postgresql(session: Session) -> bool:
    return bool(session.get_bind().dialect.name == "postgresql")


def read_together(session: Session, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """PostgreSQL only: run read statements (psycopg SQL, ``%b`` parameters) in the session's transaction, all
    sent at once, in one round trip (with the transaction's BEGIN if it is the first); the rows of each, as
    psycopg gives the values (UUIDs, numbers, aware datetimes in the connection's time zone)."""
    driver = _driver(session)
    cursors = [driver.cursor() for _query in queries]
    try:
        with driver.pipeline():
            for cursor, (statement, params) in zip(cursors, queries, strict=True):
                cursor.execute(statement, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


@contextmanager
def writes_then_commit(session: Session) -> Iterator[None]:
    """Commit the session's transaction when the block ends normally.

    On PostgreSQL the statements ``insert_rows`` and ``update_rows`` send in the block (and
    ``read_together``'s, which still answer at once) are queued and go to the server with the COMMIT,
    in one round trip at the end of the block; an error in any of them is raised there, and nothing is
    committed. Nothing else may write or query the database in the block: a statement of SQLAlchemy's
    would not see its result in the middle of a pipeline, and ORM changes would be flushed after the
    COMMIT, so either raises ``RuntimeError`` instead.
    Elsewhere it is a plain commit at the end of the block.
    """
    if not is_postgresql(session):
        yield
        session.commit()
        return
    connection = session.connection()
    driver = _driver(session)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a SQLAlchemy statement inside writes_then_commit (use the kit.bulk helpers there)")

    event.listen(connection, "before_cursor_execute", refuse)
    try:
        with driver.pipeline():
            yield
            if session.new or session.dirty or session.deleted:
                # They would be flushed after the COMMIT, in a transaction of their own.
                raise RuntimeError("ORM changes inside writes_then_commit (use the kit.bulk helpers there)")
            driver.execute("COMMIT")  # queued behind the writes: psycopg's commit() would sync twice
    finally:
        event.remove(connection, "before_cursor_execute", refuse)
    session.commit()  # SQLAlchemy ends its transaction; psycopg has none open, so it sends nothing


def _arrays(table: Table, names: tuple[str, ...], rows: list[dict[str, Any]], dialect: Any) -> list[list[Any]]:
    """Each column's values, through the column's type as an ORM write would send them."""
    arrays: list[list[Any]] = []
    for name in names:
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values = [row[name] for row in rows]
        arrays.append([process(v) for v in values] if process else values)
    return arrays


def in_values(session: Session, column: ColumnElement[Any] | QueryableAttribute[Any],
              values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN values``: on PostgreSQL ``column = ANY(:array)``, one parameter whatever the count."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(sorted(values))
