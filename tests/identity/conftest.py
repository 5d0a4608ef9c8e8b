"""Fixtures of the identity tests: the trust hierarchy (ID tokens are sealed), a bank and a public app as
relying parties with consent agreements, and a signed-in citizen."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session
from tests.identity.factories import SYSTEM

from nokor import identity, trust
from nokor.config import Settings

BANK_CALLBACK = "http://127.0.0.1:9911/callback"
APP_CALLBACK = "http://127.0.0.1:9912/cb"


@dataclass(frozen=True)
class Party:
    client_id: str
    secret: str | None
    redirect_uri: str
    kyc_agreement: identity.AgreementRead


@pytest.fixture
def hierarchy(db: Session, settings: Settings) -> trust.HierarchyRead:
    made = trust.init_hierarchy(db, SYSTEM, ring=trust.key_ring(settings))
    db.commit()
    return made


def _party(db: Session, client_id: str, redirect_uri: str, *, confidential: bool) -> Party:
    issued = identity.register_relying_party(db, SYSTEM, data=identity.RelyingPartyCreate(
        client_id=client_id, name={"en": f"{client_id.title()} Service", "km": "សេវា"}, redirect_uris=[redirect_uri],
        scopes=["openid", "profile", "phone", "email", "address", "national_id"], confidential=confidential))
    kyc = identity.create_agreement(db, SYSTEM, data=identity.AgreementCreate(
        code=f"{client_id}-kyc", client_id=client_id, purpose={"en": "Open an account (know your customer)"},
        attributes=["name", "birthdate", "individual_id", "phone_number"], duration_days=365))
    return Party(client_id, issued.client_secret, redirect_uri, kyc)


@pytest.fixture
def bank(db: Session, hierarchy: trust.HierarchyRead) -> Party:
    party = _party(db, "acleda-bank", BANK_CALLBACK, confidential=True)
    db.commit()
    return party


@pytest.fixture
def public_app(db: Session, hierarchy: trust.HierarchyRead) -> Party:
    party = _party(db, "moh-app", APP_CALLBACK, confidential=False)
    db.commit()
    return party


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge
