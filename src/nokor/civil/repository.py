"""Every query of the civil register."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nokor.civil.models import Correction, IssuedCertificate, LifeEvent, Resident, ResidentVersion, VirtualId


def resident_by_nin(session: Session, nin: str) -> Resident | None:
    return session.scalars(select(Resident).where(Resident.nin == nin)).first()


def search_residents(session: Session, *, latin: str | None, birth_date: date | None,
                     limit: int) -> Sequence[Resident]:
    stmt = select(Resident)
    if latin:
        for word in latin.split():
            pattern = f"%{word}%"
            stmt = stmt.where(func.lower(Resident.given_name_latin).like(pattern)
                              | func.lower(Resident.family_name_latin).like(pattern))
    if birth_date:
        stmt = stmt.where(Resident.birth_date == birth_date)
    return session.scalars(stmt.order_by(Resident.family_name_latin, Resident.given_name_latin).limit(limit)).all()


def versions_of(session: Session, resident_id: uuid.UUID) -> Sequence[ResidentVersion]:
    return session.scalars(select(ResidentVersion).where(ResidentVersion.resident_id == resident_id)
                           .order_by(ResidentVersion.version.desc())).all()


def events(session: Session, *, state: str | None, subject_id: uuid.UUID | None, limit: int) -> Sequence[LifeEvent]:
    stmt = select(LifeEvent)
    if state:
        stmt = stmt.where(LifeEvent.state == state)
    if subject_id:
        stmt = stmt.where((LifeEvent.subject_id == subject_id) | (LifeEvent.partner_id == subject_id))
    return session.scalars(stmt.order_by(LifeEvent.created_at.desc()).limit(limit)).all()


def count_events_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(LifeEvent.state, func.count()).group_by(LifeEvent.state))
    return {state: int(count) for state, count in rows}


def virtual_id_by_number(session: Session, number: str) -> VirtualId | None:
    return session.scalars(select(VirtualId).where(VirtualId.number == number)).first()


def virtual_ids_of(session: Session, resident_id: uuid.UUID) -> Sequence[VirtualId]:
    return session.scalars(select(VirtualId).where(VirtualId.resident_id == resident_id)
                           .order_by(VirtualId.issued_at.desc(), VirtualId.number)).all()


def corrections(session: Session, *, state: str | None, resident_id: uuid.UUID | None) -> Sequence[Correction]:
    stmt = select(Correction)
    if state:
        stmt = stmt.where(Correction.state == state)
    if resident_id:
        stmt = stmt.where(Correction.resident_id == resident_id)
    return session.scalars(stmt.order_by(Correction.created_at.desc()).limit(200)).all()


def certificate_by_serial(session: Session, serial: str) -> IssuedCertificate | None:
    return session.scalars(select(IssuedCertificate).where(IssuedCertificate.serial == serial)).first()


def certificates_of(session: Session, event_id: uuid.UUID) -> Sequence[IssuedCertificate]:
    return session.scalars(select(IssuedCertificate).where(IssuedCertificate.event_id == event_id)
                           .order_by(IssuedCertificate.issued_at, IssuedCertificate.copy_number)).all()
