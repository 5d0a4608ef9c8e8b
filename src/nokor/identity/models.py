"""Tables of the digital identity: citizen sign-in, sessions, relying parties, OIDC codes and tokens,
consent agreements and records, and the log of yes/no verifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nokor.db import Base, JSONType, UTCDateTime, new_id, utcnow


class CitizenAccount(Base):
    """A resident's sign-in settings: the optional TOTP second factor and the lockout after failed codes."""

    __tablename__ = "identity_citizen_account"

    resident_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    totp_secret: Mapped[str | None] = mapped_column(String(400))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginChallenge(Base):
    """One sign-in attempt: a one-time code sent to the phone or e-mail on record, kept only as a keyed hash.

    It expires, can be used once, and allows a few wrong guesses before it is spent.
    """

    __tablename__ = "identity_login_challenge"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    resident_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="sent")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class CitizenSession(Base):
    """A signed-in citizen's browser session; the cookie holds a random token, the table only its hash."""

    __tablename__ = "identity_citizen_session"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(index=True)
    display_name: Mapped[str] = mapped_column(String(400))
    csrf_token: Mapped[str] = mapped_column(String(64))
    methods: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RelyingParty(Base):
    """A system that signs people in with their national identity (an agency portal, a bank), registered by
    an administrator with its exact redirect URIs and the scopes it may ask for."""

    __tablename__ = "identity_relying_party"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[dict[str, str]] = mapped_column(JSONType)
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    auth_method: Mapped[str] = mapped_column(String(32))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType)
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    sector: Mapped[str] = mapped_column(String(200))
    api_identity: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthorizationCode(Base):
    """An OIDC authorization code: short-lived, single use, bound to the client, redirect URI and PKCE challenge."""

    __tablename__ = "identity_authorization_code"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    resident_id: Mapped[uuid.UUID] = mapped_column()
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[int] = mapped_column(Integer)
    amr: Mapped[list[str]] = mapped_column(JSONType, default=list)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessToken(Base):
    """An access token issued to a relying party for one person; the table keeps only its hash."""

    __tablename__ = "identity_access_token"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    resident_id: Mapped[uuid.UUID] = mapped_column(index=True)
    scope: Mapped[str] = mapped_column(Text)
    code_id: Mapped[uuid.UUID | None] = mapped_column()
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsentAgreement(Base):
    """What may be shared, with whom, for which purpose and for how long (GovStack Consent "data agreement")."""

    __tablename__ = "identity_consent_agreement"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("identity_relying_party.client_id"), index=True)
    purpose: Mapped[dict[str, str]] = mapped_column(JSONType)
    attributes: Mapped[list[str]] = mapped_column(JSONType)
    lawful_basis: Mapped[str] = mapped_column(String(32), default="consent")
    duration_days: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentRecord(Base):
    """A person's consent to one agreement: given (until it expires) or revoked; revoking stops sharing at once."""

    __tablename__ = "identity_consent_record"
    __table_args__ = (UniqueConstraint("agreement_id", "resident_id"),
                      Index("ix_identity_consent_record_resident", "resident_id", "state"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_consent_agreement.id"))
    resident_id: Mapped[uuid.UUID] = mapped_column()
    agreement_version: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[list[str]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Verification(Base):
    """One yes/no identity verification asked by an agency: what was compared and the answer, never the data."""

    __tablename__ = "identity_verification"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    requester: Mapped[str] = mapped_column(String(200))
    resident_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    attributes: Mapped[list[str]] = mapped_column(JSONType)
    matched: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
