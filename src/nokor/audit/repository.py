"""Every query of the audit domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from nokor.audit.models import AuditChainHead, AuditEntry
from nokor.kit.bulk import insert_rows

GENESIS_HASH = "0" * 64


def lock_head(session: Session) -> AuditChainHead:
    """The chain head, created if missing and locked until the transaction ends (PostgreSQL row lock;
    SQLite's write lock). Only sealers take it; writers of entries never do."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(AuditChainHead).values(id=1, last_seq=0, last_hash=GENESIS_HASH).on_conflict_do_nothing()
    )
    head = session.scalars(
        select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update().execution_options(
            populate_existing=True)
    ).one()
    return head


def unsealed_rows(session: Session, *, limit: int) -> Sequence[Row[Any]]:
    """The committed entries not yet in the chain, oldest first, without their before/after data."""
    columns = [c for c in AuditEntry.__table__.c if c.name not in ("before", "after")]
    return session.execute(
        select(*columns).where(AuditEntry.seq.is_(None)).order_by(AuditEntry.id).limit(limit)
    ).all()


def write_seals(session: Session, changes: list[dict[str, Any]]) -> None:
    """Give each entry its place, link and chain hash in one batched statement.

    ``seq IS NULL`` in the condition means an entry is never sealed twice, whatever the timing.
    """
    table = AuditEntry.__table__
    assert isinstance(table, Table)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.seq.is_(None))
        .values(seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), entry_hash=bindparam("b_hash")),
        changes,
    )


def insert_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert new (unsealed) entries, given as column values, in one statement."""
    table = AuditEntry.__table__
    assert isinstance(table, Table)
    insert_rows(session, table, rows)


def get_head(session: Session) -> AuditChainHead | None:
    return session.get(AuditChainHead, 1)


def iter_entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    """All sealed entries in chain order, read in batches so a long chain does not fill memory."""
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq or 0
        session.expunge_all()


def iter_unsealed(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    """The entries not yet sealed into the chain, in the order they were written."""
    last: uuid.UUID | None = None
    while True:
        stmt = select(AuditEntry).where(AuditEntry.seq.is_(None)).order_by(AuditEntry.id).limit(batch)
        if last is not None:
            stmt = stmt.where(AuditEntry.id > last)
        rows = session.scalars(stmt).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def count_entries(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def entries_query(
    *, subject_type: str | None, subject_id: str | None, category: str | None, actor_id: str | None
) -> Select[Any]:
    stmt = select(AuditEntry)
    if subject_type:
        stmt = stmt.where(AuditEntry.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(AuditEntry.subject_id == subject_id)
    if category:
        stmt = stmt.where(AuditEntry.category == category)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    return stmt
