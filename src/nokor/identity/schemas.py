"""Shapes of the digital identity's data as services take and return them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nokor.kit.actor import Actor
from nokor.kit.time import IsoDate

Channel = Literal["sms", "email"]
# The attributes a person may share, as OIDC claims; what the consent pages and e-KYC speak of.
ATTRIBUTES: tuple[str, ...] = ("name", "given_name", "family_name", "birthdate", "gender", "address",
                               "phone_number", "email", "individual_id")
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "given_name", "family_name", "birthdate", "gender"),
    "address": ("address",),
    "phone": ("phone_number",),
    "email": ("email",),
    "national_id": ("individual_id",),
}
SCOPES: tuple[str, ...] = ("openid", *SCOPE_CLAIMS)


@dataclass(frozen=True)
class IdentityRules:
    """The configurable rules of citizen sign-in (from the settings ``identity_*``)."""

    code_minutes: int = 5
    code_attempts: int = 3
    codes_per_hour: int = 5
    logins_per_minute: int = 10
    max_failures: int = 5
    lockout_minutes: int = 15
    session_minutes: int = 30
    token_minutes: int = 10
    name_threshold: int = 85
    secret: str = "development-only-secret"  # noqa: S105 - the app always passes its secret key
    issuer: str = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Citizen:
    """The signed-in resident behind a citizen session: what other domains' citizen pages may rely on."""

    resident_id: uuid.UUID
    name: str
    session_id: uuid.UUID
    csrf_token: str
    methods: tuple[str, ...] = field(default_factory=tuple)

    def actor(self) -> Actor:
        """The person acting for themself (the audit trail names them); holds no officer permission."""
        return Actor(kind="citizen", id=self.resident_id, name=f"{self.name} (self-service)")


class LoginStarted(BaseModel):
    challenge_id: uuid.UUID
    channel: str
    expires_at: datetime


class LoginOutcome(BaseModel):
    """The result of a correct one-time code: signed in, or one more step (the TOTP code) to go."""

    resident_id: uuid.UUID
    needs_totp: bool


class RelyingPartyCreate(BaseModel):
    """A relying party as an administrator registers it: redirect URIs are compared character for character."""

    client_id: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: dict[str, str] = Field(min_length=1)
    redirect_uris: list[str] = Field(min_length=1, max_length=10)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"])
    confidential: bool = True
    api_identity: str | None = Field(None, max_length=200)


class RelyingPartyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: str
    name: dict[str, str]
    auth_method: str
    redirect_uris: list[str]
    scopes: list[str]
    sector: str
    api_identity: str | None
    active: bool
    created_at: datetime


class RelyingPartyIssued(BaseModel):
    """A new relying party and its client secret, shown once (None for a public client using PKCE only)."""

    relying_party: RelyingPartyRead
    client_secret: str | None


class AgreementCreate(BaseModel):
    """A consent agreement: which attributes a relying party may receive, why, and for how long."""

    code: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._-]+$")
    client_id: str = Field(min_length=3, max_length=64)
    purpose: dict[str, str] = Field(min_length=1)
    attributes: list[str] = Field(min_length=1)
    lawful_basis: Literal["consent", "legal_obligation", "contract", "vital_interest", "public_task",
                          "legitimate_interest"] = "consent"
    duration_days: int = Field(365, ge=1, le=3650)


class AgreementRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    client_id: str
    purpose: dict[str, str]
    attributes: list[str]
    lawful_basis: str
    duration_days: int
    version: int
    active: bool
    created_at: datetime


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    agreement_id: uuid.UUID
    resident_id: uuid.UUID
    agreement_version: int
    attributes: list[str]
    state: str
    given_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class ConsentView(BaseModel):
    """A consent record with its agreement and relying party, as the person sees it on "My data"."""

    consent: ConsentRead
    agreement: AgreementRead
    relying_party_name: dict[str, str]
    active: bool


class VerificationRequest(BaseModel):
    """What an agency wants confirmed about a person; at least one attribute besides the number."""

    individual_id: str = Field(min_length=8, max_length=20, pattern=r"^[0-9]+$",
                               description="National ID number or virtual ID: digits only")
    name: str | None = Field(None, max_length=400, description="Full name, in any script")
    birth_date: IsoDate | None = None
    sex: Literal["F", "M", "X"] | None = None
    address_code: str | None = Field(None, max_length=16, description="Village code of the address")
    name_threshold: int | None = Field(None, ge=50, le=100, description="Similarity 0-100 a name must reach")


class VerificationResult(BaseModel):
    """Yes or no, and the transaction id to quote; never any data from the register."""

    transaction_id: str
    match: bool


class AccessEntry(BaseModel):
    """One reading of the person's data: who, when, why and which fields (for "My data")."""

    at: datetime
    actor_kind: str
    actor_name: str
    purpose: str | None
    fields: list[str]
