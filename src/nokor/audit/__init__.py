"""The audit trail: an append-only, hash-chained record of changes and of reads of personal data.

Other domains call ``record_change`` in the same transaction as every change that matters to a
person, and ``record_access`` whenever they return personal data (``record_accesses`` for a batch of
readings in one insert). Entries are written unchained and
sealed into the chain afterwards (``seal_entries``: the worker does it every few seconds).
"""

from nokor.audit.schemas import AuditEntryRead, ChainReport
from nokor.audit.service import (
    AUDIT_READ,
    Access,
    Change,
    digest_of,
    list_entries,
    record_access,
    record_accesses,
    record_change,
    record_changes,
    seal_all,
    seal_entries,
    verify_chain,
)

__all__ = [
    "AUDIT_READ",
    "Access",
    "AuditEntryRead",
    "ChainReport",
    "Change",
    "digest_of",
    "list_entries",
    "record_access",
    "record_accesses",
    "record_change",
    "record_changes",
    "seal_all",
    "seal_entries",
    "verify_chain",
]
