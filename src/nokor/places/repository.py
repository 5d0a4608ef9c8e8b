"""Every query of the places domain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from nokor.places.models import Division

LEVEL_ORDER = case({"province": 0, "district": 1, "commune": 2, "village": 3}, value=Division.level, else_=4)


def valid_on(on: date) -> ColumnElement[bool]:
    """Versions valid on the day ``on`` (``valid_to`` is exclusive)."""
    return and_(Division.valid_from <= on, or_(Division.valid_to.is_(None), Division.valid_to > on))


def current(session: Session, code: str, on: date) -> Division | None:
    return session.scalars(select(Division).where(Division.code == code, valid_on(on))).first()


def versions(session: Session, code: str) -> Sequence[Division]:
    return session.scalars(select(Division).where(Division.code == code).order_by(Division.valid_from)).all()


def children(session: Session, parent_code: str | None, on: date, *, level: str | None = None) -> Sequence[Division]:
    where = Division.parent_code.is_(None) if parent_code is None else Division.parent_code == parent_code
    query = select(Division).where(where, valid_on(on))
    if level is not None:
        query = query.where(Division.level == level)
    return session.scalars(query.order_by(Division.code)).all()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, *, column: str, key: str, on: date, level: str | None, limit: int,
           code_prefix: str | None = None) -> Sequence[Division]:
    """Units whose normalised name equals, starts with or contains ``key`` (ranked in that order),
    or whose code starts with ``code_prefix``; then higher levels first."""
    name = getattr(Division, column)
    escaped = _like_escape(key)
    matches: list[ColumnElement[bool]] = [name.like(f"%{escaped}%", escape="\\")]
    rank = case((name == key, 0), (name.like(f"{escaped}%", escape="\\"), 1), else_=2)
    if code_prefix:
        matches.append(Division.code.like(f"{_like_escape(code_prefix)}%", escape="\\"))
        rank = case((Division.code == code_prefix, 0), (name == key, 0),
                    (Division.code.like(f"{_like_escape(code_prefix)}%", escape="\\"), 1),
                    (name.like(f"{escaped}%", escape="\\"), 1), else_=2)
    query = select(Division).where(or_(*matches), valid_on(on))
    if level is not None:
        query = query.where(Division.level == level)
    query = query.order_by(rank, LEVEL_ORDER, func.length(name), Division.name_en, Division.code).limit(limit)
    return session.scalars(query).all()


def open_versions(session: Session, country: str) -> dict[str, Division]:
    """The open (not closed) version of every unit of ``country``, by code."""
    rows = session.scalars(select(Division).where(Division.country == country, Division.valid_to.is_(None)))
    return {row.code: row for row in rows}


def open_codes_elsewhere(session: Session, country: str, codes: Iterable[str]) -> dict[str, str]:
    """Codes of the list that another country's open units already use: code → that country."""
    wanted = list(codes)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 900):
        batch = wanted[start:start + 900]
        query = select(Division.code, Division.country).where(
            Division.code.in_(batch), Division.country != country, Division.valid_to.is_(None))
        found.update({code: other for code, other in session.execute(query)})
    return found


def close_versions(session: Session, ids: Sequence[uuid.UUID], valid_to: date) -> None:
    for start in range(0, len(ids), 900):
        session.execute(update(Division).where(Division.id.in_(ids[start:start + 900])).values(valid_to=valid_to),
                        execution_options={"synchronize_session": False})


def insert_versions(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many versions in one statement (SQLAlchemy batches it: insertmanyvalues)."""
    if rows:
        session.execute(insert(Division), rows)


def count_by_level(session: Session, on: date) -> dict[str, int]:
    query = select(Division.level, func.count()).where(valid_on(on)).group_by(Division.level)
    return {level: count for level, count in session.execute(query)}


def any_division(session: Session) -> bool:
    return session.scalar(select(literal(1)).select_from(Division).limit(1)) is not None


def sources(session: Session, on: date) -> list[str]:
    query = select(Division.source).where(valid_on(on)).distinct().order_by(Division.source)
    return list(session.scalars(query))


def codes_at_level(session: Session, level: str, on: date) -> set[str]:
    return set(session.scalars(select(Division.code).where(Division.level == level, valid_on(on))))
