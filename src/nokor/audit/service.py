"""The rules of the audit trail: append entries, seal them into the hash chain, verify it, read it back."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy.orm import Session, sessionmaker

from nokor.audit import repository
from nokor.audit.models import AuditEntry
from nokor.audit.schemas import AuditEntryRead, ChainReport
from nokor.db import new_id, session_scope
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.context import current_client_ip, current_request_id
from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.pagination import Page, paginate
from nokor.kit.time import utcnow

AUDIT_READ = declare_permission("audit.read", _l("Read the audit trail and the personal-data access log"))
GENESIS_HASH = repository.GENESIS_HASH


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def digest_of(data: dict[str, Any] | None) -> str | None:
    """SHA-256 of the canonical JSON form of a record's state (None for no state)."""
    if data is None:
        return None
    return hashlib.sha256(_canonical(data)).hexdigest()


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Chained(Protocol):
    """What the hashes are computed over: an entry, or a row of its columns read by the sealer."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def at(self) -> datetime: ...
    @property
    def category(self) -> str: ...
    @property
    def actor_kind(self) -> str: ...
    @property
    def actor_id(self) -> str | None: ...
    @property
    def actor_name(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject_type(self) -> str: ...
    @property
    def subject_id(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def client_ip(self) -> str | None: ...
    @property
    def before_digest(self) -> str | None: ...
    @property
    def after_digest(self) -> str | None: ...


def _content_fields(entry: _Chained) -> dict[str, Any]:
    return {
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
    }


def compute_content_hash(entry: _Chained) -> str:
    """The hash of an entry's own content, fixed when it is written (before it has a place in the chain)."""
    return hashlib.sha256(_canonical(_content_fields(entry))).hexdigest()


def compute_entry_hash(entry: _Chained, *, seq: int | None, prev_hash: str | None) -> str:
    """The hash that chains ``entry`` to its predecessor: over every field, its place and the previous hash."""
    fields = _content_fields(entry)
    fields["seq"] = seq
    fields["prev_hash"] = prev_hash
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
    # No lock and no read: the entry goes in unchained, and the sealer chains it once committed, so
    # audited transactions never queue behind each other for the head of the chain.
    entry = AuditEntry(
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
    )
    entry.content_hash = compute_content_hash(entry)
    session.add(entry)
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


@dataclass(frozen=True, slots=True)
class Access:
    """One reading of a person's data, for ``record_accesses``: who, whose record, why, which fields.

    The request id and client address default to those of the request (context) the access is made in.
    """

    actor: Actor
    subject_type: str
    subject_id: str | uuid.UUID
    purpose: str
    fields: Sequence[str] | None = None
    request_id: str | None = field(default_factory=current_request_id)
    client_ip: str | None = field(default_factory=current_client_ip)


def record_accesses(session: Session, accesses: Sequence[Access]) -> list[uuid.UUID]:
    """Record many readings of personal data at once (a batch of calls answered together); returns the entries' ids.

    The same entries ``record_access`` writes, each with its content hash, in one multi-row insert rather than
    one ORM object each; they are sealed into the chain later in the order given (their ids are time-ordered),
    and, like every writer's, they take no lock. Call it in the transaction that answers the calls, so an
    answer never leaves without its entry. Refuses the whole batch, writing nothing, if one has no purpose.
    """
    for number, access in enumerate(accesses):
        if not access.purpose or not access.purpose.strip():
            raise ValidationFailed(errors=[field_error([number, "purpose"], _("Say why the personal data is read."),
                                                       "purpose_required")])
    rows: list[dict[str, Any]] = []
    at = utcnow()
    for access in accesses:
        actor = access.actor
        after = {"fields": sorted(access.fields)} if access.fields else None
        row = _NewEntry(
            id=new_id(), at=at, category="access", actor_kind=actor.kind,
            actor_id=str(actor.id) if actor.id else None, actor_name=actor.name, action="personal_data.read",
            subject_type=access.subject_type, subject_id=str(access.subject_id), reason=access.purpose.strip(),
            request_id=access.request_id, client_ip=access.client_ip, before_digest=None,
            after_digest=digest_of(after))
        rows.append({**row._asdict(), "before": None, "after": after, "content_hash": compute_content_hash(row)})
    if rows:
        repository.insert_entries(session, rows)
    return [row["id"] for row in rows]


class _NewEntry(NamedTuple):
    """The chained fields of an entry about to be inserted (what ``compute_content_hash`` reads)."""

    id: uuid.UUID
    at: datetime
    category: str
    actor_kind: str
    actor_id: str | None
    actor_name: str
    action: str
    subject_type: str
    subject_id: str
    reason: str | None
    request_id: str | None
    client_ip: str | None
    before_digest: str | None
    after_digest: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One change to a record, for ``record_changes``: what ``record_change`` takes, as a value."""

    actor: Actor
    action: str
    subject_type: str
    subject_id: str | uuid.UUID
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None


def record_changes(session: Session, changes: Sequence[Change]) -> list[uuid.UUID]:
    """Record many changes at once, each exactly as ``record_change`` would; returns the entries' ids.

    For a service that changes many records in one transaction (a batch of payments): the entries go to
    the database in one multi-row insert instead of one ORM object each. Like every writer's they take no
    lock; they are sealed into the chain later in the order given (their ids are time-ordered). Call it
    in the same transaction as the changes, so the changes and their records stand or fall together.
    """
    rows: list[dict[str, Any]] = []
    at, request_id, client_ip = utcnow(), current_request_id(), current_client_ip()
    for change in changes:
        actor = change.actor
        row = _NewEntry(
            id=new_id(), at=at, category="change", actor_kind=actor.kind,
            actor_id=str(actor.id) if actor.id else None, actor_name=actor.name, action=change.action,
            subject_type=change.subject_type, subject_id=str(change.subject_id), reason=change.reason,
            request_id=request_id, client_ip=client_ip, before_digest=digest_of(change.before),
            after_digest=digest_of(change.after))
        rows.append({**row._asdict(), "before": change.before, "after": change.after,
                     "content_hash": compute_content_hash(row)})
    if rows:
        repository.insert_entries(session, rows)
    return [row["id"] for row in rows]


def seal_entries(session: Session, *, limit: int = 10_000) -> int:
    """Give up to ``limit`` committed, unsealed entries their place in the chain; returns how many.

    Only sealers wait for the chain head's lock, never the transactions that write entries. Entries
    are sealed in the order they were written (their time-ordered ids); an entry whose transaction
    commits late is sealed in a later round. An entry edited while it waited is sealed as it is
    found, and ``verify_chain`` still names it, because its content no longer matches its content hash.
    """
    head = repository.lock_head(session)
    last_seq, last_hash = head.last_seq, head.last_hash
    changes: list[dict[str, Any]] = []
    for row in repository.unsealed_rows(session, limit=limit):
        last_seq += 1
        entry_hash = compute_entry_hash(row, seq=last_seq, prev_hash=last_hash)
        changes.append({"b_id": row.id, "b_seq": last_seq, "b_prev": last_hash, "b_hash": entry_hash})
        last_hash = entry_hash
    if not changes:
        return 0
    repository.write_seals(session, changes)
    head.last_seq, head.last_hash = last_seq, last_hash
    session.flush()
    return len(changes)


def seal_all(session_factory: sessionmaker[Session], *, batch: int = 10_000) -> int:
    """Seal every committed entry, one short transaction per batch; returns how many were sealed."""
    total = 0
    while True:
        with session_scope(session_factory) as session:
            sealed = seal_entries(session, limit=batch)
        total += sealed
        if sealed < batch:
            return total


def _content_problem(entry: AuditEntry) -> str | None:
    if entry.content_hash is None:
        if entry.seq is None:
            return "it has no content hash (the entry was edited)"
    elif compute_content_hash(entry) != entry.content_hash:
        return "its content does not match its hash (the entry was edited)"
    if entry.before is not None and digest_of(entry.before) != entry.before_digest:
        return "its before-state does not match its digest (the entry was edited)"
    if entry.after is not None and digest_of(entry.after) != entry.after_digest:
        return "its after-state does not match its digest (the entry was edited)"
    return None


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain from the first entry and name the first one that was edited, removed or moved.

    Entries not yet sealed are checked against their own content hash, so an edit is found there too.
    """
    expected_prev: str | None = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in repository.iter_entries(session):
        problem: str | None = None
        if entry.seq != expected_seq:
            problem = f"entry {expected_seq} is missing (found {entry.seq} in its place)"
        elif entry.prev_hash != expected_prev:
            problem = "its link to the previous entry does not match (entries removed or reordered)"
        elif compute_entry_hash(entry, seq=entry.seq, prev_hash=entry.prev_hash) != entry.entry_hash:
            problem = "its content does not match its hash (the entry was edited)"
        else:
            problem = _content_problem(entry)
        if problem:
            return ChainReport(ok=False, count=count, broken_seq=entry.seq, broken_id=entry.id, problem=problem)
        expected_prev = entry.entry_hash
        expected_seq += 1
        count += 1
    sealed = count
    head = repository.get_head(session)
    if head is not None and (head.last_seq != sealed or head.last_hash != expected_prev):
        return ChainReport(
            ok=False,
            count=count,
            broken_seq=sealed + 1 if head.last_seq > sealed else head.last_seq,
            problem=f"the chain head names entry {head.last_seq}, but the chain ends at entry {sealed} "
            "(entries removed from the end)",
        )
    if head is None and sealed:
        return ChainReport(ok=False, count=count, problem="the chain head is missing")
    for entry in repository.iter_unsealed(session):
        problem = _content_problem(entry)
        if entry.prev_hash is not None or entry.entry_hash is not None:
            problem = "it carries a link but has no place in the chain (entries removed or reordered)"
        if problem:
            return ChainReport(ok=False, count=count, broken_id=entry.id, problem=problem, unsealed=count - sealed)
        count += 1
    return ChainReport(ok=True, count=count, unsealed=count - sealed)


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
