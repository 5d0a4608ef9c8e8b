"""Every query of the audit domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nokor.audit.models import AuditChainHead, AuditEntry


def lock_head(session: Session) -> AuditChainHead | None:
    """The chain head, locked until the transaction ends (PostgreSQL row lock; SQLite's write lock)."""
    return session.scalars(select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()).first()


def get_head(session: Session) -> AuditChainHead | None:
    return session.get(AuditChainHead, 1)


def iter_entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    """All entries in chain order, read in batches so a long chain does not fill memory."""
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
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
