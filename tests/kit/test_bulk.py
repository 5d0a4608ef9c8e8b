"""Many rows in one statement (``nokor.kit.bulk``): what goes in and comes back out is what an ORM insert
or update would store, on SQLite and on PostgreSQL alike; writes queued with their commit stand or fall
together, and several reads answer in one go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from nokor.db import new_id
from nokor.kit.bulk import in_values, insert_rows, read_together, update_rows, writes_then_commit
from nokor.kit.outbox import OutboxMessage

TABLE = OutboxMessage.__table__
assert isinstance(TABLE, Table)
PHNOM_PENH = timezone(timedelta(hours=7))


def _row(i: int, **changes: object) -> dict[str, object]:
    at = datetime(2026, 12, 2, 15, i, tzinfo=PHNOM_PENH)
    row: dict[str, object] = {
        "id": new_id(), "channel": "pubsub", "destination": f"topic.{i}", "idempotency_key": f"k{i}",
        "payload": {"n": i, "text": "ក្រសួង", "list": [1, None]}, "headers": {}, "status": "pending", "attempts": i,
        "available_at": at, "leased_until": None, "last_error": None if i % 2 else "it's \"quoted\", {braced}",
        "created_at": at, "delivered_at": None, "dead_at": None}
    row.update(changes)
    return row


def test_inserted_rows_read_back_as_given(db: Session) -> None:
    rows = [_row(i) for i in range(5)]
    insert_rows(db, TABLE, rows)
    db.commit()
    stored = {m.id: m for m in db.scalars(select(OutboxMessage))}
    assert len(stored) == 5
    for row in rows:
        message = stored[row["id"]]  # type: ignore[index]
        assert message.payload == row["payload"] and message.last_error == row["last_error"]
        assert message.attempts == row["attempts"] and message.leased_until is None
        assert message.available_at == row["available_at"] and message.available_at.utcoffset() is not None
    insert_rows(db, TABLE, [])  # nothing to write is no statement at all


def test_updated_rows_change_only_the_rows_named(db: Session) -> None:
    rows = [_row(i) for i in range(4)]
    insert_rows(db, TABLE, rows)
    when = datetime(2026, 12, 3, tzinfo=UTC)
    update_rows(db, TABLE, "id", [{"id": rows[i]["id"], "status": "delivered", "delivered_at": when,
                                   "payload": {"done": i}} for i in (1, 3)])
    db.commit()
    by_key = {m.idempotency_key: m for m in db.scalars(select(OutboxMessage))}
    assert [by_key[f"k{i}"].status for i in range(4)] == ["pending", "delivered", "pending", "delivered"]
    assert by_key["k3"].delivered_at == when and by_key["k3"].payload == {"done": 3}
    assert by_key["k2"].payload == rows[2]["payload"] and by_key["k2"].delivered_at is None


def test_in_values_finds_the_rows_whatever_the_count(db: Session) -> None:
    insert_rows(db, TABLE, [_row(i) for i in range(6)])
    db.commit()
    for wanted in ({"k1"}, {"k0", "k4", "k5", "nope"}, set()):
        found = set(db.scalars(select(OutboxMessage.idempotency_key).where(
            in_values(db, OutboxMessage.idempotency_key, wanted))))
        assert found == wanted - {"nope"}


def test_writes_then_commit_commits_the_writes_of_the_block(db: Session, session_factory) -> None:  # type: ignore[no-untyped-def]
    with writes_then_commit(db):
        insert_rows(db, TABLE, [_row(i) for i in range(3)])
        update_rows(db, TABLE, "id", [])
    with session_factory() as other:
        assert sorted(other.scalars(select(OutboxMessage.idempotency_key))) == ["k0", "k1", "k2"]


def test_writes_then_commit_commits_nothing_when_a_write_fails(db: Session, session_factory) -> None:  # type: ignore[no-untyped-def]
    taken = _row(0)
    insert_rows(db, TABLE, [taken])
    db.commit()
    with pytest.raises(Exception), writes_then_commit(db):  # each driver names the error its own way
        insert_rows(db, TABLE, [_row(1)])
        insert_rows(db, TABLE, [_row(2, id=taken["id"])])  # the same primary key again
    db.rollback()
    with session_factory() as other:
        assert list(other.scalars(select(OutboxMessage.idempotency_key))) == ["k0"]


def test_nothing_but_the_bulk_helpers_may_query_in_writes_then_commit(db: Session) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("only PostgreSQL queues the writes")
    with pytest.raises(RuntimeError, match="writes_then_commit"), writes_then_commit(db):
        db.scalars(select(OutboxMessage.id)).all()
    db.rollback()
    with pytest.raises(RuntimeError, match="writes_then_commit"), writes_then_commit(db):
        insert_rows(db, TABLE, [_row(1)])
        db.add(OutboxMessage(**_row(2)))
    db.rollback()
    assert list(db.scalars(select(OutboxMessage.id))) == []


def test_read_together_answers_each_read(db: Session) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL pipeline")
    insert_rows(db, TABLE, [_row(i) for i in range(3)])
    first, second = read_together(db, [
        ("SELECT idempotency_key FROM outbox_message WHERE attempts = ANY(CAST(%b AS integer[]))"
         " ORDER BY idempotency_key", [[0, 2]]),
        ("SELECT count(*) FROM outbox_message", [])])
    assert first == [("k0",), ("k2",)] and second == [(3,)]
