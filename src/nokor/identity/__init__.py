"""Digital identity: citizen sign-in (OpenID Connect provider), yes/no verification, e-KYC and consent.

Other domains use only what is listed here. Citizen pages of any domain take the signed-in resident with
``CurrentCitizen`` (or ``MaybeCitizen``) and their posted forms with ``CitizenForm``; ``Citizen.actor()`` is
the person acting for themself.
"""

from nokor.identity.demo import load_demo
from nokor.identity.deps import (
    CITIZEN_COOKIE,
    CitizenForm,
    CurrentCitizen,
    MaybeCitizen,
    citizen_form,
    current_citizen,
    require_citizen,
)
from nokor.identity.schemas import (
    ATTRIBUTES,
    SCOPE_CLAIMS,
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
from nokor.identity.service import (
    IDENTITY_CONSENT_READ,
    IDENTITY_MANAGE,
    IDENTITY_VERIFY,
    check_login_code,
    check_login_totp,
    create_agreement,
    create_my_virtual_id,
    disable_totp,
    enable_totp,
    end_session,
    get_agreement,
    get_relying_party,
    give_consent,
    list_agreements,
    list_relying_parties,
    my_access_log,
    my_certificates,
    my_consents,
    my_corrections,
    my_record,
    my_virtual_ids,
    new_totp_secret,
    open_session,
    register_relying_party,
    request_my_correction,
    resolve_session,
    revoke_consent,
    revoke_my_virtual_id,
    start_login,
    totp_enabled,
    totp_uri,
    verify_identity,
)

__all__ = [
    "ATTRIBUTES", "CITIZEN_COOKIE", "IDENTITY_CONSENT_READ", "IDENTITY_MANAGE", "IDENTITY_VERIFY", "SCOPE_CLAIMS",
    "AccessEntry", "AgreementCreate", "AgreementRead", "Citizen", "CitizenForm", "ConsentRead", "ConsentView",
    "CurrentCitizen", "IdentityRules", "LoginOutcome", "LoginStarted", "MaybeCitizen", "RelyingPartyCreate",
    "RelyingPartyIssued", "RelyingPartyRead", "VerificationRequest", "VerificationResult", "check_login_code",
    "check_login_totp", "citizen_form", "create_agreement", "create_my_virtual_id", "current_citizen",
    "disable_totp", "enable_totp", "end_session", "get_agreement", "get_relying_party", "give_consent",
    "list_agreements", "list_relying_parties", "load_demo", "my_access_log", "my_certificates", "my_consents",
    "my_corrections",
    "my_record", "my_virtual_ids", "new_totp_secret", "open_session", "register_relying_party",
    "request_my_correction", "require_citizen", "resolve_session", "revoke_consent", "revoke_my_virtual_id",
    "start_login", "totp_enabled", "totp_uri", "verify_identity",
]
