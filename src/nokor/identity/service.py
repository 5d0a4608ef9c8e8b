"""The rules of the digital identity: citizen sign-in with one-time codes (and TOTP), citizen sessions,
relying parties, consent agreements and records, yes/no verification and the claims a person shares."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pyotp
from rapidfuzz import fuzz
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nokor import audit, civil, messaging
from nokor.db import new_id
from nokor.identity import repository
from nokor.identity.models import (
    CitizenAccount,
    CitizenSession,
    ConsentAgreement,
    ConsentRecord,
    LoginChallenge,
    RelyingParty,
)
from nokor.identity.schemas import (
    ATTRIBUTES,
    SCOPE_CLAIMS,
    SCOPES,
    AccessEntry,
    AgreementCreate,
    AgreementRead,
    Citizen,
    ConsentRead,
    ConsentView,
    IdentityRules,
    LoginOutcome,
    LoginStarted,
    RelyingPartyCreate,
    RelyingPartyIssued,
    RelyingPartyRead,
    VerificationRequest,
    VerificationResult,
)
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.time import utcnow

IDENTITY_MANAGE = declare_permission("identity.manage", _l("Register relying parties and consent agreements"))
IDENTITY_VERIFY = declare_permission("identity.verify", _l("Ask yes/no questions about a person's identity"))
IDENTITY_CONSENT_READ = declare_permission("identity.consent_read",
                                           _l("Check whether people have given consent (consent records)"))

LOGIN_TEMPLATE = messaging.register_template(
    "identity.login_code",
    subject=_l("Your sign-in code for %(site)s"),
    body=_l("Your one-time sign-in code is %(code)s. It is valid for %(minutes)s minutes.\n\n"
            "Never share this code: no official and no bank will ever ask you for it. If you did not try to "
            "sign in, you can ignore this message."),
    sms=_l("%(code)s is your %(site)s sign-in code, valid for %(minutes)s minutes. Never share it."),
)
SYSTEM = Actor.system("identity")
PUBLIC = Actor.public()


def _fail(field: str, message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[field_error([field], message, code)], code=code)


def _keyed_hash(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """The SHA-256 of a random token (sessions, codes, access tokens are stored only this way)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _display_name(resident: civil.ResidentRead) -> str:
    return f"{resident.given_name} {resident.family_name}"


# --- citizen sign-in --------------------------------------------------------------------------


def _account(session: Session, resident_id: uuid.UUID) -> CitizenAccount:
    account = repository.account(session, resident_id, lock=True)
    if account is None:
        account = CitizenAccount(resident_id=resident_id, totp_enabled=False, failed_attempts=0)
        session.add(account)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            account = repository.account(session, resident_id, lock=True)
            assert account is not None
    return account


def _locked(account: CitizenAccount) -> bool:
    return account.locked_until is not None and account.locked_until > utcnow()


def start_login(session: Session, *, identifier: str, channel: str, locale: str, client_ip: str | None,
                rules: IdentityRules, site: str = "Nokor") -> LoginStarted:
    """Begin a citizen's sign-in: send a one-time code to the phone or e-mail on record for the national ID
    number or virtual ID ``identifier``.

    Whether the number exists is not revealed: an unknown number, or one without that contact on record,
    gets a challenge too, which no code will ever open. Sending is limited per person and per address.
    """
    number = identifier.strip().replace(" ", "")
    if not number.isdigit() or not 8 <= len(number) <= 20:
        raise _fail("identifier", _("Give your national ID number or your 16-digit virtual ID."), "bad_identifier")
    if channel not in ("sms", "email"):
        raise _fail("channel", _("Choose where the code is sent: SMS or e-mail."), "bad_channel")
    now = utcnow()
    if client_ip and repository.starts_from_address_since(session, client_ip, now - timedelta(minutes=1)) >= \
            rules.logins_per_minute:
        audit.record_change(session, PUBLIC, action="citizen.sign_in_refused", subject_type="client_address",
                            subject_id=client_ip, after={"refused": "rate_limited"}, reason="rate_limited")
        raise TooManyRequests(_("Too many sign-in attempts from this address. Wait a minute and try again."),
                              headers={"Retry-After": "60"}, code="slow_down")
    resident = civil.resident_for_authentication(session, number=number)
    code = f"{secrets.randbelow(10**6):06d}"
    challenge = LoginChallenge(id=uuid.uuid4(), resident_id=resident.id if resident else None, channel=channel,
                               attempts=0, state="sent", expires_at=now + timedelta(minutes=rules.code_minutes),
                               client_ip=client_ip)
    challenge.code_hash = _keyed_hash(rules.secret, f"{challenge.id}:{code}")
    if resident is not None:
        account = _account(session, resident.id)
        if _locked(account):
            audit.record_change(session, PUBLIC, action="citizen.sign_in_refused", subject_type="civil_resident",
                                subject_id=resident.id, after={"refused": "locked"}, reason="locked")
            raise TooManyRequests(_("Too many wrong codes: sign-in is locked for %(minutes)s minutes.",
                                    minutes=rules.lockout_minutes), code="locked")
        if repository.codes_sent_since(session, resident.id, now - timedelta(hours=1)) >= rules.codes_per_hour:
            audit.record_change(session, PUBLIC, action="citizen.sign_in_refused", subject_type="civil_resident",
                                subject_id=resident.id, after={"refused": "too_many_codes"}, reason="too_many_codes")
            raise TooManyRequests(_("Too many codes were sent in the last hour. Try again later."),
                                  headers={"Retry-After": "3600"}, code="too_many_codes")
        address = resident.phone if channel == "sms" else resident.email
        if address:
            messaging.send_notification(session, SYSTEM, channel=channel, to=address, template=LOGIN_TEMPLATE.name,
                                        context={"code": code, "minutes": rules.code_minutes, "site": site},
                                        locale=locale, subject_type="civil_resident", subject_id=resident.id)
        else:
            challenge.state = "undeliverable"
    else:
        challenge.state = "undeliverable"
    session.add(challenge)
    session.flush()
    return LoginStarted(challenge_id=challenge.id, channel=channel, expires_at=challenge.expires_at)


def _challenge(session: Session, challenge_id: uuid.UUID) -> LoginChallenge:
    challenge = session.get(LoginChallenge, challenge_id, with_for_update=True)
    if challenge is None:
        raise _fail("code", _("This sign-in has expired. Start again."), "expired")
    return challenge


def _wrong(session: Session, challenge: LoginChallenge, account: CitizenAccount | None, rules: IdentityRules,
           reason: str) -> ValidationFailed:
    """Count a wrong code: spend the challenge after too many, lock the person out after too many in a row."""
    challenge.attempts += 1
    if challenge.attempts >= rules.code_attempts:
        challenge.state = "spent"
    subject = str(challenge.resident_id or "unknown")
    details: dict[str, Any] = {"refused": reason, "challenge": str(challenge.id), "attempt": challenge.attempts}
    if account is not None:
        account.failed_attempts += 1
        if account.failed_attempts >= rules.max_failures:
            account.locked_until = utcnow() + timedelta(minutes=rules.lockout_minutes)
            challenge.state = "spent"
            details["locked_until"] = account.locked_until.isoformat()
    session.flush()
    audit.record_change(session, PUBLIC, action="citizen.sign_in_refused", subject_type="civil_resident",
                        subject_id=subject, after=details, reason=reason)
    if account is not None and _locked(account):
        return _fail("code", _("Too many wrong codes: sign-in is locked for %(minutes)s minutes.",
                               minutes=rules.lockout_minutes), "locked")
    if challenge.state == "spent":
        return _fail("code", _("Too many wrong codes for this sign-in. Ask for a new code."), "spent")
    return _fail("code", _("This code is not right. Check it and try again."), "wrong_code")


def check_login_code(session: Session, *, challenge_id: uuid.UUID, code: str, rules: IdentityRules) -> LoginOutcome:
    """Check the one-time code of a sign-in; it works once, before it expires, for a person not locked out.

    Every refusal is counted and goes to the audit trail. Raises ``ValidationFailed`` (field ``code``) with the
    reason (``expired``, ``used``, ``spent``, ``locked``, ``wrong_code``); the transaction must be committed
    even then, so the count holds.
    """
    challenge = _challenge(session, challenge_id)
    account = _account(session, challenge.resident_id) if challenge.resident_id else None
    if account is not None and _locked(account):
        audit.record_change(session, PUBLIC, action="citizen.sign_in_refused", subject_type="civil_resident",
                            subject_id=str(challenge.resident_id), after={"refused": "locked"}, reason="locked")
        raise _fail("code", _("Too many wrong codes: sign-in is locked for %(minutes)s minutes.",
                              minutes=rules.lockout_minutes), "locked")
    if challenge.used_at is not None or challenge.state in ("used", "otp_ok"):
        audit.record_change(session, PUBLIC, action="citizen.sign_in_refused", subject_type="civil_resident",
                            subject_id=str(challenge.resident_id or "unknown"), after={"refused": "used"},
                            reason="used")
        raise _fail("code", _("This code has already been used. Ask for a new code."), "used")
    if challenge.state == "spent":
        raise _fail("code", _("Too many wrong codes for this sign-in. Ask for a new code."), "spent")
    if challenge.expires_at <= utcnow():
        challenge.state = "expired"
        audit.record_change(session, PUBLIC, action="citizen.sign_in_refused", subject_type="civil_resident",
                            subject_id=str(challenge.resident_id or "unknown"), after={"refused": "expired"},
                            reason="expired")
        raise _fail("code", _("This code has expired. Ask for a new code."), "expired")
    expected = challenge.code_hash
    given = _keyed_hash(rules.secret, f"{challenge.id}:{code.strip()}")
    if challenge.resident_id is None or challenge.state != "sent" or not hmac.compare_digest(expected, given):
        raise _wrong(session, challenge, account, rules, "wrong_code")
    assert account is not None
    account.failed_attempts = 0
    needs_totp = bool(account.totp_enabled)
    challenge.state = "otp_ok" if needs_totp else "used"
    challenge.used_at = utcnow()
    session.flush()
    return LoginOutcome(resident_id=challenge.resident_id, needs_totp=needs_totp)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def check_login_totp(session: Session, *, challenge_id: uuid.UUID, code: str, rules: IdentityRules) -> uuid.UUID:
    """Second step for a person who turned on an authenticator app: the current TOTP code."""
    challenge = _challenge(session, challenge_id)
    if challenge.state != "otp_ok" or challenge.resident_id is None:
        raise _fail("code", _("This sign-in has expired. Start again."), "expired")
    account = _account(session, challenge.resident_id)
    if _locked(account):
        raise _fail("code", _("Too many wrong codes: sign-in is locked for %(minutes)s minutes.",
                              minutes=rules.lockout_minutes), "locked")
    if challenge.expires_at <= utcnow():
        raise _fail("code", _("This code has expired. Ask for a new code."), "expired")
    if not account.totp_secret or not _totp(account.totp_secret).verify(code.strip(), valid_window=1):
        challenge.state = "otp_ok"
        raise _wrong(session, challenge, account, rules, "wrong_totp")
    account.failed_attempts = 0
    challenge.state = "used"
    session.flush()
    return challenge.resident_id


def open_session(session: Session, *, resident_id: uuid.UUID, methods: list[str],
                 rules: IdentityRules) -> tuple[str, Citizen]:
    """Start a citizen session after a successful sign-in; returns the cookie token (shown once) and the citizen."""
    resident = civil.get_resident(session, SYSTEM, resident_id=resident_id, purpose="citizen sign-in")
    token = secrets.token_urlsafe(32)
    row = CitizenSession(token_hash=token_hash(token), resident_id=resident_id, csrf_token=secrets.token_urlsafe(24),
                         methods=methods, display_name=_display_name(resident)[:400],
                         expires_at=utcnow() + timedelta(minutes=rules.session_minutes))
    session.add(row)
    account = _account(session, resident_id)
    account.last_login_at = utcnow()
    session.flush()
    citizen = Citizen(resident_id=resident_id, name=_display_name(resident), session_id=row.id,
                      csrf_token=row.csrf_token, methods=tuple(methods))
    audit.record_change(session, citizen.actor(), action="citizen.sign_in", subject_type="civil_resident",
                        subject_id=resident_id, after={"methods": methods, "session": str(row.id)})
    return token, citizen


def resolve_session(session: Session, *, token: str) -> Citizen | None:
    """The citizen behind a session cookie, or None when it is unknown, ended or expired."""
    row = repository.session_by_token_hash(session, token_hash(token))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    return Citizen(resident_id=row.resident_id, name=row.display_name, session_id=row.id, csrf_token=row.csrf_token,
                   methods=tuple(row.methods))


def session_started_at(session: Session, citizen: Citizen) -> int:
    """When the person signed in, in seconds since the epoch (the ID token's ``auth_time``)."""
    row = session.get(CitizenSession, citizen.session_id)
    return int(row.created_at.timestamp()) if row is not None else 0


def end_session(session: Session, citizen: Citizen) -> None:
    """Sign the citizen out: the session cookie no longer works."""
    row = session.get(CitizenSession, citizen.session_id)
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        session.flush()
        audit.record_change(session, citizen.actor(), action="citizen.sign_out", subject_type="civil_resident",
                            subject_id=citizen.resident_id, after={"session": str(row.id)})


# --- TOTP second factor -----------------------------------------------------------------------


def totp_enabled(session: Session, citizen: Citizen) -> bool:
    """Whether the person signs in with an authenticator app code after the one-time code."""
    account = repository.account(session, citizen.resident_id)
    return bool(account and account.totp_enabled)


def new_totp_secret() -> str:
    """A fresh base32 secret for an authenticator app (kept in the enrolment form until confirmed)."""
    return pyotp.random_base32()


def totp_uri(secret: str, *, label: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from a QR code."""
    return _totp(secret).provisioning_uri(name=label, issuer_name=issuer)


def enable_totp(session: Session, citizen: Citizen, *, secret: str, code: str) -> None:
    """Turn the TOTP second factor on, once the person proved their app shows the right code."""
    if len(secret) < 16 or not secret.isalnum():
        raise _fail("secret", _("Start the set-up again."), "bad_secret")
    if not _totp(secret).verify(code.strip(), valid_window=1):
        raise _fail("code", _("This code is not right. Check the time on your phone and try again."), "wrong_code")
    account = _account(session, citizen.resident_id)
    account.totp_secret, account.totp_enabled = secret, True
    session.flush()
    audit.record_change(session, citizen.actor(), action="citizen.totp_enable", subject_type="civil_resident",
                        subject_id=citizen.resident_id, after={"totp": True})


def disable_totp(session: Session, citizen: Citizen) -> None:
    """Turn the TOTP second factor off (the person is signed in, so they hold the phone or e-mail on record)."""
    account = _account(session, citizen.resident_id)
    if account.totp_enabled:
        account.totp_secret, account.totp_enabled = None, False
        session.flush()
        audit.record_change(session, citizen.actor(), action="citizen.totp_disable", subject_type="civil_resident",
                            subject_id=citizen.resident_id, before={"totp": True}, after={"totp": False})


# --- relying parties --------------------------------------------------------------------------


def _check_redirect_uri(uri: str, index: int) -> None:
    parts = urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.fragment or not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise ValidationFailed(errors=[field_error(["redirect_uris", index], _(
            "A redirect URI must be an https address (http only on this machine) without a fragment."),
            "bad_redirect_uri")])


def register_relying_party(session: Session, actor: Actor, *, data: RelyingPartyCreate) -> RelyingPartyIssued:
    """Register a relying party with its exact redirect URIs; a confidential one gets a client secret, shown once."""
    actor.require(IDENTITY_MANAGE)
    for index, uri in enumerate(data.redirect_uris):
        _check_redirect_uri(uri, index)
    unknown = sorted(set(data.scopes) - set(SCOPES))
    if unknown or "openid" not in data.scopes:
        raise _fail("scopes", _("Unknown scopes: %(scopes)s (openid is required).", scopes=", ".join(unknown) or "—"),
                    "bad_scope")
    if repository.relying_party(session, data.client_id) is not None:
        raise Conflict(_("A relying party with this client id exists already."))
    secret = secrets.token_urlsafe(32) if data.confidential else None
    party = RelyingParty(client_id=data.client_id, name=data.name, secret_hash=token_hash(secret) if secret else None,
                         auth_method="client_secret_basic" if secret else "none", redirect_uris=data.redirect_uris,
                         scopes=data.scopes, sector=data.client_id,
                         api_identity=data.api_identity, active=True)
    session.add(party)
    session.flush()
    audit.record_change(session, actor, action="relying_party.register", subject_type="identity_relying_party",
                        subject_id=party.id, after={"client_id": party.client_id, "redirect_uris": party.redirect_uris,
                                                    "scopes": party.scopes})
    return RelyingPartyIssued(relying_party=RelyingPartyRead.model_validate(party), client_secret=secret)


def get_relying_party(session: Session, *, client_id: str) -> RelyingPartyRead | None:
    """A relying party by client id (public facts: name, redirect URIs, scopes), or None."""
    party = repository.relying_party(session, client_id)
    return RelyingPartyRead.model_validate(party) if party else None


def list_relying_parties(session: Session, actor: Actor) -> list[RelyingPartyRead]:
    """Every relying party, for administrators."""
    actor.require(IDENTITY_MANAGE)
    return [RelyingPartyRead.model_validate(p) for p in repository.relying_parties(session)]


def check_client_secret(session: Session, *, client_id: str, secret: str) -> bool:
    """Whether ``secret`` is the client secret of an active confidential relying party."""
    party = repository.relying_party(session, client_id)
    return bool(party and party.active and party.secret_hash and
                hmac.compare_digest(party.secret_hash, token_hash(secret)))


def pairwise_subject(rules: IdentityRules, *, sector: str, resident_id: uuid.UUID) -> str:
    """The person's pseudonym for one relying party's sector: stable for it, unlinkable across parties."""
    digest = hmac.new(rules.secret.encode(), f"sub|{sector}|{resident_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- consent ----------------------------------------------------------------------------------


def create_agreement(session: Session, actor: Actor, *, data: AgreementCreate) -> AgreementRead:
    """A consent agreement: which attributes a relying party may receive, for which purpose, for how long."""
    actor.require(IDENTITY_MANAGE)
    unknown = sorted(set(data.attributes) - set(ATTRIBUTES))
    if unknown:
        raise _fail("attributes", _("Unknown attributes: %(names)s", names=", ".join(unknown)), "bad_attribute")
    if repository.relying_party(session, data.client_id) is None:
        raise _fail("client_id", _("There is no relying party with this client id."), "unknown_client")
    if repository.agreement_by_code(session, data.code) is not None:
        raise Conflict(_("A consent agreement with this code exists already."))
    row = ConsentAgreement(code=data.code, client_id=data.client_id, purpose=data.purpose,
                           attributes=sorted(set(data.attributes)), lawful_basis=data.lawful_basis,
                           duration_days=data.duration_days, version=1, active=True)
    session.add(row)
    session.flush()
    audit.record_change(session, actor, action="consent_agreement.create", subject_type="identity_consent_agreement",
                        subject_id=row.id, after={"code": row.code, "client_id": row.client_id,
                                                  "attributes": row.attributes, "duration_days": row.duration_days})
    return AgreementRead.model_validate(row)


def list_agreements(session: Session, *, client_id: str | None = None, offset: int = 0,
                    limit: int = 200) -> list[AgreementRead]:
    """Active consent agreements (public: anyone may know what an agency asks people to share, and why)."""
    return [AgreementRead.model_validate(a) for a in repository.agreements(session, client_id=client_id,
                                                                            offset=offset, limit=limit)]


def get_agreement(session: Session, *, agreement_id: uuid.UUID) -> AgreementRead:
    """One consent agreement."""
    row = repository.agreement(session, agreement_id)
    if row is None:
        raise NotFound(_("There is no such consent agreement."))
    return AgreementRead.model_validate(row)


def _expire(record: ConsentRecord) -> None:
    if record.state == "given" and record.expires_at <= utcnow():
        record.state = "expired"


def give_consent(session: Session, citizen: Citizen, *, agreement_id: uuid.UUID) -> ConsentRead:
    """The person consents to an agreement: its attributes may go to its relying party until it expires."""
    agreement = repository.agreement(session, agreement_id)
    if agreement is None or not agreement.active:
        raise NotFound(_("There is no such consent agreement."))
    record = repository.consent(session, agreement.id, citizen.resident_id)
    before = None
    now = utcnow()
    if record is None:
        record = ConsentRecord(agreement_id=agreement.id, resident_id=citizen.resident_id)
        session.add(record)
    else:
        before = {"state": record.state, "expires_at": record.expires_at.isoformat()}
    record.agreement_version, record.attributes, record.state = agreement.version, list(agreement.attributes), "given"
    record.given_at, record.expires_at, record.revoked_at = now, now + timedelta(days=agreement.duration_days), None
    session.flush()
    audit.record_change(session, citizen.actor(), action="consent.give", subject_type="civil_resident",
                        subject_id=citizen.resident_id, before=before,
                        after={"consent": str(record.id), "agreement": agreement.code, "attributes": record.attributes,
                               "expires_at": record.expires_at.isoformat()})
    return ConsentRead.model_validate(record)


def revoke_consent(session: Session, citizen: Citizen, *, consent_id: uuid.UUID) -> ConsentRead:
    """The person withdraws a consent: from this moment nothing more is shared under it."""
    record = session.get(ConsentRecord, consent_id, with_for_update=True)
    if record is None or record.resident_id != citizen.resident_id:
        raise NotFound(_("There is no such consent."))
    if record.state == "given":
        record.state, record.revoked_at = "revoked", utcnow()
        session.flush()
        audit.record_change(session, citizen.actor(), action="consent.revoke", subject_type="civil_resident",
                            subject_id=citizen.resident_id, before={"consent": str(record.id), "state": "given"},
                            after={"consent": str(record.id), "state": "revoked"})
    return ConsentRead.model_validate(record)


def my_consents(session: Session, citizen: Citizen) -> list[ConsentView]:
    """The person's consents with their agreements and relying parties, newest first."""
    out = []
    for record in repository.consents(session, resident_id=citizen.resident_id):
        _expire(record)
        agreement = repository.agreement(session, record.agreement_id)
        assert agreement is not None
        party = repository.relying_party(session, agreement.client_id)
        out.append(ConsentView(consent=ConsentRead.model_validate(record),
                               agreement=AgreementRead.model_validate(agreement),
                               relying_party_name=party.name if party else {"en": agreement.client_id},
                               active=record.state == "given"))
    return out


def consented_attributes(session: Session, *, resident_id: uuid.UUID, client_id: str,
                         agreement_code: str | None = None) -> tuple[set[str], list[str]]:
    """The attributes the person consents, now, to share with ``client_id`` (under one agreement when named),
    and the codes of the agreements that allow them. Expired consents count for nothing."""
    attributes: set[str] = set()
    codes: list[str] = []
    for record, agreement in repository.given_consents_for_client(session, resident_id=resident_id,
                                                                  client_id=client_id):
        if record.expires_at <= utcnow() or (agreement_code and agreement.code != agreement_code):
            continue
        attributes |= set(record.attributes) & set(agreement.attributes)
        codes.append(agreement.code)
    return attributes, codes


def list_consent_records(session: Session, actor: Actor, *, agreement_id: uuid.UUID | None = None,
                         resident_id: uuid.UUID | None = None, offset: int = 0,
                         limit: int = 200) -> list[ConsentRead]:
    """Consent records for consumers and auditors (GovStack Consent verification)."""
    actor.require(IDENTITY_CONSENT_READ)
    rows = repository.consents(session, agreement_id=agreement_id, resident_id=resident_id, offset=offset,
                               limit=min(limit, 500))
    for row in rows:
        _expire(row)
    return [ConsentRead.model_validate(r) for r in rows]


def get_consent_record(session: Session, actor: Actor, *, consent_id: uuid.UUID) -> ConsentRead:
    """One consent record (GovStack Consent verification)."""
    actor.require(IDENTITY_CONSENT_READ)
    row = session.get(ConsentRecord, consent_id)
    if row is None:
        raise NotFound(_("There is no such consent."))
    _expire(row)
    return ConsentRead.model_validate(row)


# --- the claims a person shares ---------------------------------------------------------------

GENDER = {"F": "female", "M": "male", "X": "other"}


def claims_of(resident: civil.ResidentRead, attributes: set[str] | list[str]) -> dict[str, Any]:
    """The OIDC claims of ``resident`` for exactly ``attributes`` (nothing else ever leaves)."""
    values: dict[str, Any] = {
        "name": _display_name(resident), "given_name": resident.given_name, "family_name": resident.family_name,
        "birthdate": resident.birth_date.isoformat(), "gender": GENDER.get(resident.sex, "other"),
        "address": {"formatted": resident.address_text or "", "locality": resident.address_code or "",
                    "country": resident.nationality},
        "phone_number": resident.phone, "email": resident.email, "individual_id": resident.nin,
    }
    return {name: values[name] for name in sorted(attributes) if name in values and values[name] is not None}


def scope_claims(scope: str) -> set[str]:
    """The claims a space-separated OIDC scope asks for."""
    return {claim for item in scope.split() for claim in SCOPE_CLAIMS.get(item, ())}


def resident_for_token(session: Session, *, resident_id: uuid.UUID) -> civil.ResidentRead | None:
    """The living resident an access token was issued for (the caller logs the access)."""
    return civil.resident_for_authentication(session, resident_id=resident_id)


# --- yes/no verification ----------------------------------------------------------------------


def _name_score(given: str, resident: civil.ResidentRead) -> float:
    latin_given = civil.latin_form(given).lower()
    latin_record = f"{resident.given_name_latin} {resident.family_name_latin}".lower()
    written_record = _display_name(resident).lower()
    return max(fuzz.token_sort_ratio(latin_given, latin_record),
               fuzz.token_sort_ratio(given.strip().lower(), written_record))


def _compared(data: VerificationRequest) -> list[str]:
    return [name for name, value in (("name", data.name), ("birth_date", data.birth_date), ("sex", data.sex),
                                     ("address_code", data.address_code)) if value]


def can_verify(actor: Actor, data: VerificationRequest) -> bool:
    """Whether ``answer_verification`` will answer this call rather than refuse it (permission, something to
    compare): the batched path takes only such calls and leaves the refusals to the request path."""
    return actor.can(IDENTITY_VERIFY) and bool(_compared(data))


def verification_subjects(session: Session, numbers: list[str]) -> dict[str, civil.ResidentRead]:
    """The living residents behind many verification calls' national ID numbers or virtual IDs, in one lookup."""
    return civil.residents_for_authentication(session, numbers=numbers)


@dataclass(frozen=True, slots=True)
class Judged:
    """One verification call compared, not yet written: the answer, and what its records will say."""

    result: VerificationResult
    requester: str
    resident_id: uuid.UUID | None
    compared: list[str]
    details: dict[str, Any]
    access: audit.Access | None  # the access-log entry (None when no living person has the number)


def judge_verification(actor: Actor, *, data: VerificationRequest, resident: civil.ResidentRead | None,
                       rules: IdentityRules) -> Judged:
    """Compare ``data`` with ``resident`` (the person the number names, None for no living person); writes nothing.

    Call it in the request's context: the access-log entry takes its request id and client address from it.
    ``record_verifications`` then writes what it decided, for one call or a batch.
    """
    actor.require(IDENTITY_VERIFY)
    compared = _compared(data)
    if not compared:
        raise _fail("name", _("Give at least one attribute to compare: name, date of birth, sex or address."),
                    "nothing_to_compare")
    transaction_id = uuid.uuid4().hex
    matched = resident is not None
    details: dict[str, Any] = {}
    access = None
    if resident is not None:
        if data.name:
            score = _name_score(data.name, resident)
            details["name_score"] = round(score, 1)
            matched = matched and score >= (data.name_threshold or rules.name_threshold)
        if data.birth_date:
            matched = matched and data.birth_date == resident.birth_date
        if data.sex:
            matched = matched and data.sex == resident.sex
        if data.address_code:
            matched = matched and data.address_code == resident.address_code
        access = audit.Access(actor=actor, subject_type="civil_resident", subject_id=resident.id,
                              purpose=f"identity verification (yes/no), transaction {transaction_id}",
                              fields=compared)
    return Judged(result=VerificationResult(transaction_id=transaction_id, match=matched),
                  requester=(actor.identity or actor.name)[:200], resident_id=resident.id if resident else None,
                  compared=compared, details=details, access=access)


def record_verifications(session: Session, judged: Sequence[Judged]) -> None:
    """Write the access-log entries and verification records of judged calls, one multi-row insert per table;
    the caller commits, and only then may the answers leave."""
    accesses = [item.access for item in judged if item.access is not None]
    if accesses:
        audit.record_accesses(session, accesses)
    if judged:
        now = utcnow()
        repository.insert_verifications(session, [
            {"id": new_id(), "transaction_id": item.result.transaction_id, "requester": item.requester,
             "resident_id": item.resident_id, "attributes": item.compared, "matched": item.result.match,
             "details": item.details, "created_at": now} for item in judged])


def answer_verification(session: Session, actor: Actor, *, data: VerificationRequest,
                        resident: civil.ResidentRead | None, rules: IdentityRules) -> VerificationResult:
    """Compare ``data`` with ``resident`` and write the access-log entry and the verification record in the
    session; the caller commits."""
    judged = judge_verification(actor, data=data, resident=resident, rules=rules)
    record_verifications(session, [judged])
    return judged.result


def verify_identity(session: Session, actor: Actor, *, data: VerificationRequest,
                    rules: IdentityRules) -> VerificationResult:
    """Answer an agency's "does this match?" with yes or no and a transaction id; never any register data.

    The name is compared in any script (both in Latin form and as written) with a similarity threshold;
    the reading goes into the person's access log with the agency's name and the attributes compared.
    """
    actor.require(IDENTITY_VERIFY)
    if not _compared(data):
        raise _fail("name", _("Give at least one attribute to compare: name, date of birth, sex or address."),
                    "nothing_to_compare")
    resident = civil.resident_for_authentication(session, number=data.individual_id)
    return answer_verification(session, actor, data=data, resident=resident, rules=rules)


# --- "my data" --------------------------------------------------------------------------------


def my_access_log(session: Session, citizen: Citizen, *, limit: int = 100) -> list[AccessEntry]:
    """Who read the person's data, when, why and which fields, newest first (their own reads left out)."""
    page = audit.list_entries(session, SYSTEM, subject_type="civil_resident", subject_id=str(citizen.resident_id),
                              category="access", limit=min(limit, 200))
    out = []
    for entry in page.items:
        if entry.actor_kind == "citizen" and entry.actor_id == str(citizen.resident_id):
            continue
        fields = (entry.after or {}).get("fields", []) if isinstance(entry.after, dict) else []
        out.append(AccessEntry(at=entry.at, actor_kind=entry.actor_kind, actor_name=entry.actor_name,
                               purpose=entry.reason, fields=list(fields)))
    return out


def require_own(citizen: Citizen, resident_id: uuid.UUID) -> None:
    """Refuse a citizen acting on another person's record."""
    if citizen.resident_id != resident_id:
        raise Forbidden(_("This is not your record."))


def _self_actor(citizen: Citizen, *permissions: str) -> Actor:
    """The person acting on their own record, holding just the civil permissions one step needs."""
    return Actor(kind="citizen", id=citizen.resident_id, name=f"{citizen.name} (self-service)",
                 grants={p: None for p in permissions})


def my_record(session: Session, citizen: Citizen) -> civil.ResidentRead:
    """The person's own record in the population register (the reading is logged as theirs)."""
    return civil.get_resident(session, _self_actor(citizen, "civil.read"), resident_id=citizen.resident_id,
                              purpose="the person viewing their own record")


def my_certificates(session: Session, citizen: Citizen) -> list[tuple[civil.EventRead, list[civil.CertificateRead]]]:
    """The life events registered about the person, each with its certificates (serials to verify)."""
    actor = _self_actor(citizen, "civil.read")
    events = civil.list_events(session, actor, subject_id=citizen.resident_id)
    return [(event, civil.list_certificates(session, actor, event_id=event.id)) for event in events
            if event.state in ("registered", "certified")]


def my_virtual_ids(session: Session, citizen: Citizen) -> list[civil.VirtualIdRead]:
    """The person's virtual IDs, revoked ones included."""
    return civil.list_virtual_ids(session, _self_actor(citizen, "civil.read"), resident_id=citizen.resident_id,
                                  purpose="the person viewing their own virtual IDs")


def create_my_virtual_id(session: Session, citizen: Citizen) -> civil.VirtualIdRead:
    """A new virtual ID the person can give instead of their national ID number."""
    return civil.issue_virtual_id(session, _self_actor(citizen, "civil.declare"), resident_id=citizen.resident_id)


def revoke_my_virtual_id(session: Session, citizen: Citizen, *, number: str) -> civil.VirtualIdRead:
    """Revoke one of the person's own virtual IDs (another person's number is refused as unknown)."""
    if number not in {v.number for v in my_virtual_ids(session, citizen)}:
        raise NotFound(_("There is no such virtual ID."))
    return civil.revoke_virtual_id(session, _self_actor(citizen, "civil.declare"), number=number)


def request_my_correction(session: Session, citizen: Citizen, *, field: str, value: str | None, reason: str,
                          evidence: str) -> civil.CorrectionRead:
    """The person asks for a correction of their record; it becomes a correction case for officers to decide."""
    data = civil.CorrectionCreate(changes={field: value or None}, reason=reason, evidence=evidence)
    return civil.request_correction(session, _self_actor(citizen, "civil.correct"), resident_id=citizen.resident_id,
                                    data=data)


def my_corrections(session: Session, citizen: Citizen) -> list[civil.CorrectionRead]:
    """The corrections asked for about the person's record, and their state."""
    return civil.list_corrections(session, _self_actor(citizen, "civil.read"), resident_id=citizen.resident_id)
