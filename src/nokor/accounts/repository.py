"""Every query of the accounts domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from nokor.accounts.models import (
    ApiClient,
    LoginAttempt,
    LoginSession,
    Officer,
    OrgUnit,
    Role,
    RoleGrant,
)


def org_unit_by_code(session: Session, code: str) -> OrgUnit | None:
    return session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()


def all_org_units(session: Session) -> Sequence[OrgUnit]:
    return session.scalars(select(OrgUnit).order_by(OrgUnit.code)).all()


def org_unit_parents(session: Session) -> dict[uuid.UUID, uuid.UUID | None]:
    return {row.id: row.parent_id for row in session.execute(select(OrgUnit.id, OrgUnit.parent_id))}


def officer_by_username(session: Session, username: str) -> Officer | None:
    return session.scalars(select(Officer).where(Officer.username == username)).first()


def officers_query(*, org_unit_ids: set[uuid.UUID] | None, search: str | None) -> Select[Any]:
    stmt = select(Officer)
    if org_unit_ids is not None:
        stmt = stmt.where(Officer.org_unit_id.in_(org_unit_ids))
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(func.lower(Officer.username).like(pattern) | func.lower(Officer.full_name).like(pattern))
    return stmt


def role_by_code(session: Session, code: str) -> Role | None:
    return session.scalars(select(Role).where(Role.code == code)).first()


def all_roles(session: Session) -> Sequence[Role]:
    return session.scalars(select(Role).order_by(Role.code)).all()


def grants_of(session: Session, officer_id: uuid.UUID) -> Sequence[tuple[RoleGrant, Role, OrgUnit]]:
    stmt = (
        select(RoleGrant, Role, OrgUnit)
        .join(Role, Role.id == RoleGrant.role_id)
        .join(OrgUnit, OrgUnit.id == RoleGrant.org_unit_id)
        .where(RoleGrant.officer_id == officer_id)
        .order_by(Role.code, OrgUnit.code)
    )
    return [(g, r, o) for g, r, o in session.execute(stmt)]


def find_grant(
    session: Session, officer_id: uuid.UUID, role_id: uuid.UUID, org_unit_id: uuid.UUID
) -> RoleGrant | None:
    return session.scalars(
        select(RoleGrant).where(
            RoleGrant.officer_id == officer_id,
            RoleGrant.role_id == role_id,
            RoleGrant.org_unit_id == org_unit_id,
        )
    ).first()


def api_client_by_prefix(session: Session, prefix: str) -> ApiClient | None:
    return session.scalars(select(ApiClient).where(ApiClient.key_prefix == prefix)).first()


def api_client_by_identity(session: Session, identity: str) -> ApiClient | None:
    return session.scalars(select(ApiClient).where(ApiClient.identity == identity)).first()


def all_api_clients(session: Session) -> Sequence[ApiClient]:
    return session.scalars(select(ApiClient).order_by(ApiClient.name)).all()


def session_by_token_hash(session: Session, token_hash: str) -> LoginSession | None:
    return session.scalars(select(LoginSession).where(LoginSession.token_hash == token_hash)).first()


def delete_session(session: Session, token_hash: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash))


def delete_sessions_of(session: Session, officer_id: uuid.UUID) -> None:
    session.execute(delete(LoginSession).where(LoginSession.officer_id == officer_id))


def recent_failures_from(session: Session, client_ip: str, since: datetime) -> int:
    stmt = select(func.count()).where(
        LoginAttempt.client_ip == client_ip, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False)
    )
    return int(session.scalar(stmt) or 0)


def prune_attempts(session: Session, before: datetime) -> None:
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < before))


def prune_sessions(session: Session, now: datetime) -> None:
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
