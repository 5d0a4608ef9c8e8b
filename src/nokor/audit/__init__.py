"""The audit trail: an append-only, hash-chained record of changes and of reads of personal data.

Other domains call ``record_change`` in the same transaction as every change that matters to a
person, and ``record_access`` whenever they return personal data. Entries are written unchained and
sealed into the chain afterwards (``seal_entries``: the worker does it every few seconds).
"""

from nokor.audit.schemas import AuditEntryRead, ChainReport
from nokor.audit.service import (
    AUDIT_READ,
    digest_of,
    list_entries,
    record_access,
    record_change,
    seal_all,
    seal_entries,
    verify_chain,
)

__all__ = [
    "AUDIT_READ",
    "AuditEntryRead",
    "ChainReport",
    "digest_of",
    "list_entries",
    "record_access",
    "record_change",
    "seal_all",
    "seal_entries",
    "verify_chain",
]
