"""Every query of the trust domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nokor.trust.models import Certificate, PublishedCrl, SignatureRecord


def certificate_by_serial(session: Session, serial: str) -> Certificate | None:
    return session.scalars(select(Certificate).where(Certificate.serial == serial.lower())).first()


def certificate_by_id(session: Session, certificate_id: uuid.UUID) -> Certificate | None:
    return session.get(Certificate, certificate_id)


def certificates_of_kind(session: Session, kind: str) -> list[Certificate]:
    return list(session.scalars(select(Certificate).where(Certificate.kind == kind).order_by(Certificate.created_at)))


def ca_certificates(session: Session) -> list[Certificate]:
    kinds = ("root_ca", "documents_ca", "agencies_ca", "timestamping_ca")
    query = select(Certificate).where(Certificate.kind.in_(kinds))
    return list(session.scalars(query.order_by(Certificate.created_at)))


def active_certificate(session: Session, *, kind: str, org_unit_id: uuid.UUID | None = None,
                       officer_id: uuid.UUID | None = None) -> Certificate | None:
    query = select(Certificate).where(Certificate.kind == kind, Certificate.status == "active")
    query = query.where(
        Certificate.org_unit_id.is_(None) if org_unit_id is None else Certificate.org_unit_id == org_unit_id)
    if officer_id is not None:
        query = query.where(Certificate.officer_id == officer_id)
    return session.scalars(query.order_by(Certificate.created_at.desc())).first()


def all_certificates(session: Session, *, status: str | None = None,
                     kinds: tuple[str, ...] | None = None) -> list[Certificate]:
    query = select(Certificate)
    if status is not None:
        query = query.where(Certificate.status == status)
    if kinds is not None:
        query = query.where(Certificate.kind.in_(kinds))
    return list(session.scalars(query.order_by(Certificate.created_at)))


def withdrawn_under(session: Session, issuer_serial: str) -> list[Certificate]:
    """Certificates of one CA that a CRL must list (revoked, or suspended: on hold)."""
    return list(session.scalars(select(Certificate).where(
        Certificate.issuer_serial == issuer_serial, Certificate.status.in_(("revoked", "suspended")))))


def crl_of(session: Session, issuer_serial: str) -> PublishedCrl | None:
    return session.scalars(select(PublishedCrl).where(PublishedCrl.issuer_serial == issuer_serial)).first()


def signature_record(session: Session, record_id: uuid.UUID) -> SignatureRecord | None:
    return session.get(SignatureRecord, record_id)


def signature_records(session: Session, *, start: datetime | None, end: datetime | None,
                      limit: int) -> list[SignatureRecord]:
    query = select(SignatureRecord)
    if start is not None:
        query = query.where(SignatureRecord.signed_at >= start)
    if end is not None:
        query = query.where(SignatureRecord.signed_at <= end)
    return list(session.scalars(query.order_by(SignatureRecord.signed_at.desc()).limit(limit)))
