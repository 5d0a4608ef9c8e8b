"""The rules of the audit trail: append to the hash chain, verify it, and read it back."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from nokor.audit import repository
from nokor.audit.models import AuditChainHead, AuditEntry
from nokor.audit.schemas import AuditEntryRead, ChainReport
from nokor.db import new_id
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.context import current_client_ip, current_request_id
from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.pagination import Page, paginate
from nokor.kit.time import utcnow

AUDIT_READ = declare_permission("audit.read", _l("Read the audit trail and the personal-data access log"))
GENESIS_HASH = "0" * 64


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def digest_of(data: dict[str, Any] | None) -> str | None:
    """SHA-256 of the canonical JSON form of a record's state (None for no state)."""
    if data is None:
        return None
    return hashlib.sha256(_canonical(data)).hexdigest()


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_entry_hash(entry: AuditEntry) -> str:
    """The hash that chains ``entry`` to its predecessor: over every field and the previous hash."""
    fields = {
        "seq": entry.seq,
        "id": str(entry.id),
        "at": _stamp(entry.at),
        "category": entry.category,
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "reason": entry.reason,
        "request_id": entry.request_id,
        "client_ip": entry.client_ip,
        "before_digest": entry.before_digest,
        "after_digest": entry.after_digest,
        "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(_canonical(fields)).hexdigest()


def _append(
    session: Session,
    actor: Actor,
    *,
    category: str,
    action: str,
    subject_type: str,
    subject_id: str | uuid.UUID,
    reason: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    head = repository.lock_head(session)
    if head is None:
        head = AuditChainHead(id=1, last_seq=0, last_hash=GENESIS_HASH)
        session.add(head)
    entry = AuditEntry(
        seq=head.last_seq + 1,
        id=new_id(),
        at=utcnow(),
        category=category,
        actor_kind=actor.kind,
        actor_id=str(actor.id) if actor.id else None,
        actor_name=actor.name,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        reason=reason,
        request_id=current_request_id(),
        client_ip=current_client_ip(),
        before=before,
        after=after,
        before_digest=digest_of(before),
        after_digest=digest_of(after),
        prev_hash=head.last_hash,
    )
    entry.entry_hash = compute_entry_hash(entry)
    session.add(entry)
    head.last_seq = entry.seq
    head.last_hash = entry.entry_hash
    session.flush()
    return entry


def record_change(
    session: Session,
    actor: Actor,
    *,
    action: str,
    subject_type: str,
    subject_id: str | uuid.UUID,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntryRead:
    """Record who changed which record, when, why, and its state before and after.

    Call it in the same transaction as the change, so the change and its record stand or fall together.
    """
    entry = _append(
        session,
        actor,
        category="change",
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason,
        before=before,
        after=after,
    )
    return AuditEntryRead.model_validate(entry)


def record_access(
    session: Session,
    actor: Actor,
    *,
    subject_type: str,
    subject_id: str | uuid.UUID,
    purpose: str,
    fields: list[str] | None = None,
) -> AuditEntryRead:
    """Record that ``actor`` read a person's data, for which purpose and which fields.

    Every service that returns personal data calls this; the person can later see who looked.
    """
    if not purpose or not purpose.strip():
        raise ValidationFailed(
            errors=[field_error(["purpose"], _("Say why the personal data is read."), "purpose_required")]
        )
    entry = _append(
        session,
        actor,
        category="access",
        action="personal_data.read",
        subject_type=subject_type,
        subject_id=subject_id,
        reason=purpose.strip(),
        before=None,
        after={"fields": sorted(fields)} if fields else None,
    )
    return AuditEntryRead.model_validate(entry)


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain from the first entry and name the first one that was edited, removed or moved."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in repository.iter_entries(session):
        problem: str | None = None
        if entry.seq != expected_seq:
            problem = f"entry {expected_seq} is missing (found {entry.seq} in its place)"
        elif entry.prev_hash != expected_prev:
            problem = "its link to the previous entry does not match (entries removed or reordered)"
        elif compute_entry_hash(entry) != entry.entry_hash:
            problem = "its content does not match its hash (the entry was edited)"
        elif entry.before is not None and digest_of(entry.before) != entry.before_digest:
            problem = "its before-state does not match its digest (the entry was edited)"
        elif entry.after is not None and digest_of(entry.after) != entry.after_digest:
            problem = "its after-state does not match its digest (the entry was edited)"
        if problem:
            return ChainReport(ok=False, count=count, broken_seq=entry.seq, broken_id=entry.id, problem=problem)
        expected_prev = entry.entry_hash
        expected_seq += 1
        count += 1
    head = repository.get_head(session)
    if head is not None and (head.last_seq != count or head.last_hash != expected_prev):
        return ChainReport(
            ok=False,
            count=count,
            broken_seq=count + 1 if head.last_seq > count else head.last_seq,
            problem=f"the chain head names entry {head.last_seq}, but the chain ends at entry {count} "
            "(entries removed from the end)",
        )
    if head is None and count:
        return ChainReport(ok=False, count=count, problem="the chain head is missing")
    return ChainReport(ok=True, count=count)


def list_entries(
    session: Session,
    actor: Actor,
    *,
    subject_type: str | None = None,
    subject_id: str | None = None,
    category: str | None = None,
    actor_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[AuditEntryRead]:
    """Entries newest first, filtered; needs ``audit.read``."""
    actor.require(AUDIT_READ)
    stmt = repository.entries_query(
        subject_type=subject_type, subject_id=subject_id, category=category, actor_id=actor_id
    )
    rows, next_cursor = paginate(session, stmt, AuditEntry.id, cursor=cursor, limit=limit, newest_first=True)
    return Page[AuditEntryRead](
        items=[AuditEntryRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )
