"""Every query of the civil register."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, select, union_all
from sqlalchemy.orm import Session

from nokor.civil.models import (
    Correction,
    DuplicateCase,
    IssuedCertificate,
    LifeEvent,
    Resident,
    ResidentVersion,
    VirtualId,
)


def resident_by_nin(session: Session, nin: str) -> Resident | None:
    return session.scalars(select(Resident).where(Resident.nin == nin)).first()


def residents_by_id(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Resident]:
    return session.scalars(select(Resident).where(Resident.id.in_(ids))).all()


def residents_by_nin(session: Session, nins: Sequence[str]) -> Sequence[Resident]:
    return session.scalars(select(Resident).where(Resident.nin.in_(nins))).all()


def search_residents(session: Session, *, latin: str | None, birth_date: date | None,
                     limit: int) -> list[Resident]:
    """Up to ``limit`` residents matching every word, listed by name. When more match, those registered
    first are taken (ids grow with time): walking the primary key stops after ``limit`` matches for a
    common name and the trigram index serves a rare one, whereas picking the first by name had to
    sort every Sok in the country, or walk the name index through most of the register."""
    stmt = select(Resident)
    if latin:
        for word in latin.split():
            stmt = stmt.where(Resident.search_name.like(f"% {word}%"))
    if birth_date:
        stmt = stmt.where(Resident.birth_date == birth_date)
    found = list(session.scalars(stmt.order_by(Resident.id).limit(limit)))
    found.sort(key=lambda r: (r.family_name_latin, r.given_name_latin, r.id))
    return found


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


def count_residents(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Resident)) or 0)


def count_events_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(LifeEvent.state, func.count()).group_by(LifeEvent.state))
    return {state: int(count) for state, count in rows}


def virtual_id_by_number(session: Session, number: str) -> VirtualId | None:
    return session.scalars(select(VirtualId).where(VirtualId.number == number)).first()


def virtual_ids_by_number(session: Session, numbers: Sequence[str]) -> Sequence[VirtualId]:
    return session.scalars(select(VirtualId).where(VirtualId.number.in_(numbers))).all()


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


CANDIDATE_COLUMNS = (Resident.id, Resident.nin, Resident.given_name, Resident.family_name, Resident.given_name_latin,
                     Resident.family_name_latin, Resident.sex, Resident.birth_date, Resident.birth_date_precision,
                     Resident.birth_place_code, Resident.mother_name, Resident.father_name, Resident.status)


def duplicate_candidates(session: Session, *, dates: Sequence[date], year: int, place: str | None,
                         keys: Sequence[str], per_block: int = 200) -> list[Row[Any]]:
    """Residents in the blocks of a person: the same date of birth (or with day and month swapped),
    the same birth year and place, or the same name key born within a year. Residents found to be
    duplicates themselves are left out.

    One statement, each block with its own limit, so that a crowded block (everyone registered as
    born on the 1st of January of a year) cannot crowd out the others; a resident found in two
    blocks is returned once."""
    start, end = date(max(year - 1, 1), 1, 1), date(min(year + 1, 9999), 12, 31)
    blocks: list[ColumnElement[bool]] = []
    if dates:
        blocks.append(Resident.birth_date.in_(dates))
    if place:
        blocks.append(and_(Resident.birth_place_code == place,
                           Resident.birth_date.between(date(year, 1, 1), date(year, 12, 31))))
    if keys:
        blocks.append(and_(Resident.name_key.in_(keys), Resident.birth_date.between(start, end)))
    if not blocks:
        return []
    parts = [select(*CANDIDATE_COLUMNS).where(block, Resident.status != "duplicate").limit(per_block).subquery()
             for block in blocks]
    query = union_all(*(select(*part.c) for part in parts))
    rows: dict[uuid.UUID, Row[Any]] = {}
    for row in session.execute(query):
        rows.setdefault(row.id, row)
    return list(rows.values())


def duplicate_cases(session: Session, *, state: str | None = None, event_id: uuid.UUID | None = None,
                    resident_id: uuid.UUID | None = None, limit: int = 200) -> Sequence[DuplicateCase]:
    stmt = select(DuplicateCase)
    if state:
        stmt = stmt.where(DuplicateCase.state == state)
    if event_id:
        stmt = stmt.where(DuplicateCase.event_id == event_id)
    if resident_id:
        stmt = stmt.where(DuplicateCase.resident_id == resident_id)
    return session.scalars(stmt.order_by(DuplicateCase.created_at.desc()).limit(limit)).all()


def count_pending_cases(session: Session, *, event_id: uuid.UUID | None = None,
                        resident_id: uuid.UUID | None = None) -> int:
    stmt = select(func.count()).select_from(DuplicateCase).where(DuplicateCase.state == "pending")
    if event_id:
        stmt = stmt.where(DuplicateCase.event_id == event_id)
    if resident_id:
        stmt = stmt.where(DuplicateCase.resident_id == resident_id)
    return int(session.scalar(stmt) or 0)


def sample_residents(session: Session, *, count: int, seed: int) -> list[Resident]:
    """Up to ``count`` living residents with a number, picked at random (repeatable for a ``seed``)."""
    ids = list(session.scalars(select(Resident.id).where(Resident.nin.is_not(None), Resident.status == "alive")
                               .order_by(Resident.id)))
    chosen = random.Random(seed).sample(  # noqa: S311 - a repeatable sample, not a secret
        ids, min(count, len(ids)))
    rows: list[Resident] = []
    for start in range(0, len(chosen), 1000):
        rows.extend(session.scalars(select(Resident).where(Resident.id.in_(chosen[start:start + 1000]))))
    return rows
