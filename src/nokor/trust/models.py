"""Tables of the trust domain: the certificate status table, published CRLs and the signature log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, UTCDateTime, new_id, utcnow


class Certificate(Base):
    """Every certificate Nokor's CAs issued (and the CAs themselves), with its current status.

    This is the status table that CRLs and OCSP answers are made from; a key stays where
    ``key_ref`` points (an encrypted file or an HSM label), never in the database.
    """

    __tablename__ = "trust_certificate"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    serial: Mapped[str] = mapped_column(String(48), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    issuer_serial: Mapped[str | None] = mapped_column(String(48), index=True)
    subject: Mapped[str] = mapped_column(String(400))
    pem: Mapped[str] = mapped_column(Text)
    key_ref: Mapped[str | None] = mapped_column(String(200))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(400))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    officer_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    identity: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PublishedCrl(Base):
    """The latest CRL of one CA, served at a stable URL and regenerated at every status change."""

    __tablename__ = "trust_crl"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    issuer_serial: Mapped[str] = mapped_column(String(48), unique=True)
    number: Mapped[int] = mapped_column(Integer)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)


class SignatureRecord(Base):
    """One signature Nokor made (PDF, JWS or a bare hash): what, with which certificate, when and for whom.

    The QR code on a signed PDF points at this record; it holds digests, never the document.
    """

    __tablename__ = "trust_signature"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(16))
    certificate_serial: Mapped[str] = mapped_column(String(48), index=True)
    signer_name: Mapped[str] = mapped_column(String(400))
    document_name: Mapped[str | None] = mapped_column(String(400))
    document_sha256: Mapped[str] = mapped_column(String(64), index=True)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(400))
