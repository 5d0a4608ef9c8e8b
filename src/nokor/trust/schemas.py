"""Read schemas of the trust domain: certificates, signatures and verification reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CertificateStatus = Literal["active", "suspended", "revoked"]
SignatureLevel = Literal["B-LT", "B-LTA"]


class CertificateRead(BaseModel):
    """A certificate of Nokor's hierarchy and its current status."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    serial: str
    kind: str
    issuer_serial: str | None
    subject: str
    pem: str
    not_before: datetime
    not_after: datetime
    status: CertificateStatus
    status_reason: str | None
    revoked_at: datetime | None
    org_unit_id: uuid.UUID | None
    officer_id: uuid.UUID | None
    identity: str | None


class HierarchyRead(BaseModel):
    """The CAs, the timestamping certificate and the platform seal that ``nokor trust init`` made."""

    root: CertificateRead
    issuing: list[CertificateRead]
    tsa: CertificateRead
    platform_seal: CertificateRead


class SignatureRecordRead(BaseModel):
    """What Nokor signed, with which certificate and when; the QR code of a signed PDF points here."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    level: str | None
    certificate_serial: str
    signer_name: str
    document_name: str | None
    document_sha256: str
    signed_at: datetime
    actor_kind: str
    actor_name: str
    reason: str | None


class SignedPdf(BaseModel):
    """A signed PDF and the record of its signature."""

    record: SignatureRecordRead
    pdf: bytes = Field(repr=False)


class SignedJws(BaseModel):
    record: SignatureRecordRead
    jws: str
    detached: bool


class SignedHash(BaseModel):
    """A raw signature over a hash sent by a caller (GovStack e-Signature), with its timestamp token."""

    record: SignatureRecordRead
    signature: bytes
    certificate_pem: str
    timestamp_token: bytes


class Finding(BaseModel):
    """One reason a signature does not hold, or one thing worth knowing, in the reader's language."""

    code: str
    message: str


class SignatureCheck(BaseModel):
    """The verdict on one signature: who, when, intact, valid, and why not."""

    signer: str
    organisation: str | None = None
    certificate_serial: str | None = None
    certificate_status: str | None = None
    signed_at: datetime | None = None
    time_proven_by_timestamp: bool = False
    intact: bool
    valid: bool
    level: str | None = None
    problems: list[Finding] = Field(default_factory=list)
    notes: list[Finding] = Field(default_factory=list)


class VerificationReport(BaseModel):
    """The answer of the verification portal and of ``/api/v1/trust/verify``."""

    kind: Literal["pdf", "jws"]
    holds: bool
    summary: str
    signatures: list[SignatureCheck]
    document_sha256: str | None = None
    payload: str | None = None
    archive_timestamp: datetime | None = None


class StatusChange(BaseModel):
    """One entry of a certificate's history, from the audit trail: issued, suspended, reactivated, revoked."""

    at: datetime
    status: Literal["issued", "active", "suspended", "revoked"]
    actor_name: str
    reason: str | None = None


class CertificateDetails(BaseModel):
    """A certificate as the certificate officer's page shows it."""

    certificate: CertificateRead
    issuer_subject: str | None
    key_usages: list[str]
    extended_key_usages: list[str]
    history: list[StatusChange]
    allowed_statuses: list[CertificateStatus]
    manageable: bool  # whether the reader may change its status at all
