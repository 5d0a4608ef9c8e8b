"""Many rows in one statement (``nokor.kit.bulk``): what goes in and comes back out is what an ORM insert
or update would store, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from nokor.db import new_id
from nokor.kit.bulk import in_values, insert_rows, update_rows
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
