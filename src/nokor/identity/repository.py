"""Every query of the digital identity."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from nokor.identity.models import (
    AccessToken,
    AuthorizationCode,
    CitizenAccount,
    CitizenSession,
    ConsentAgreement,
    ConsentRecord,
    LoginChallenge,
    RelyingParty,
    Verification,
)
from nokor.kit.bulk import insert_rows


def account(session: Session, resident_id: uuid.UUID, *, lock: bool = False) -> CitizenAccount | None:
    return session.get(CitizenAccount, resident_id, with_for_update=lock)


def codes_sent_since(session: Session, resident_id: uuid.UUID, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(LoginChallenge).where(
        LoginChallenge.resident_id == resident_id, LoginChallenge.created_at >= since)) or 0


def starts_from_address_since(session: Session, client_ip: str, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(LoginChallenge).where(
        LoginChallenge.client_ip == client_ip, LoginChallenge.created_at >= since)) or 0


def session_by_token_hash(session: Session, token_hash: str) -> CitizenSession | None:
    return session.scalars(select(CitizenSession).where(CitizenSession.token_hash == token_hash)).first()


def relying_party(session: Session, client_id: str) -> RelyingParty | None:
    """The relying party by client id; asked for several times in one request (client authentication, the
    grant, the claims), it is read once per session."""
    known: dict[str, RelyingParty] = session.info.setdefault("identity_relying_parties", {})
    found = known.get(client_id)
    if found is None:
        found = session.scalars(select(RelyingParty).where(RelyingParty.client_id == client_id)).first()
        if found is not None:
            known[client_id] = found
    return found


def relying_parties(session: Session) -> Sequence[RelyingParty]:
    return session.scalars(select(RelyingParty).order_by(RelyingParty.client_id)).all()


def code_by_hash(session: Session, code_hash: str) -> AuthorizationCode | None:
    return session.scalars(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash)
                           .with_for_update()).first()


def token_by_hash(session: Session, token_hash: str) -> AccessToken | None:
    return session.scalars(select(AccessToken).where(AccessToken.token_hash == token_hash)).first()


def tokens_of_code(session: Session, code_id: uuid.UUID) -> Sequence[AccessToken]:
    return session.scalars(select(AccessToken).where(AccessToken.code_id == code_id)).all()


def agreement(session: Session, agreement_id: uuid.UUID) -> ConsentAgreement | None:
    return session.get(ConsentAgreement, agreement_id)


def agreement_by_code(session: Session, code: str) -> ConsentAgreement | None:
    return session.scalars(select(ConsentAgreement).where(ConsentAgreement.code == code)).first()


def agreements(session: Session, *, client_id: str | None = None, active_only: bool = True,
               offset: int = 0, limit: int = 200) -> Sequence[ConsentAgreement]:
    stmt = select(ConsentAgreement)
    if client_id is not None:
        stmt = stmt.where(ConsentAgreement.client_id == client_id)
    if active_only:
        stmt = stmt.where(ConsentAgreement.active.is_(True))
    return session.scalars(stmt.order_by(ConsentAgreement.code).offset(offset).limit(limit)).all()


def consent(session: Session, agreement_id: uuid.UUID, resident_id: uuid.UUID) -> ConsentRecord | None:
    return session.scalars(select(ConsentRecord).where(ConsentRecord.agreement_id == agreement_id,
                                                       ConsentRecord.resident_id == resident_id)).first()


def consents(session: Session, *, resident_id: uuid.UUID | None = None, agreement_id: uuid.UUID | None = None,
             offset: int = 0, limit: int = 200) -> Sequence[ConsentRecord]:
    stmt = select(ConsentRecord)
    if resident_id is not None:
        stmt = stmt.where(ConsentRecord.resident_id == resident_id)
    if agreement_id is not None:
        stmt = stmt.where(ConsentRecord.agreement_id == agreement_id)
    return session.scalars(stmt.order_by(ConsentRecord.given_at.desc()).offset(offset).limit(limit)).all()


def given_consents_for_client(session: Session, *, resident_id: uuid.UUID,
                              client_id: str) -> Sequence[tuple[ConsentRecord, ConsentAgreement]]:
    stmt = (select(ConsentRecord, ConsentAgreement)
            .join(ConsentAgreement, ConsentAgreement.id == ConsentRecord.agreement_id)
            .where(ConsentRecord.resident_id == resident_id, ConsentRecord.state == "given",
                   ConsentAgreement.client_id == client_id, ConsentAgreement.active.is_(True)))
    return [(row[0], row[1]) for row in session.execute(stmt)]


def insert_verifications(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert verification records, given as column values, in one statement."""
    table = Verification.__table__
    assert isinstance(table, Table)
    insert_rows(session, table, rows)
