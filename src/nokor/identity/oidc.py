"""The OpenID Connect provider, built on Authlib's authorization server and grants.

Authorization code flow only, with PKCE (S256) required of every client, exact redirect URIs, pairwise
subjects, ID tokens signed by the trust services' platform seal (so the JWKS is the seal's key), and
claims released only under the person's consent. Every refusal is answered with the standard OAuth/OIDC
error and recorded in the audit trail.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from nokor import audit, trust
from nokor.identity import repository, service
from nokor.identity.models import AccessToken, AuthorizationCode, RelyingParty
from nokor.identity.schemas import ATTRIBUTES, SCOPES, IdentityRules
from nokor.kit.actor import Actor
from nokor.kit.time import utcnow

CODE_SECONDS = 60
CURVE_ALG = {"secp256r1": ("P-256", "ES256"), "secp384r1": ("P-384", "ES384")}


class Payload(OAuth2Payload):
    """The parameters of an OAuth request, from the query string or the form (a repeated one is kept as a list)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = {}
        for key, value in items:
            self._datalist.setdefault(key, []).append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):
    """An OAuth request as Authlib reads it, built from what the route received."""

    def __init__(self, *, method: str, uri: str, headers: Mapping[str, str], query: list[tuple[str, str]],
                 form: list[tuple[str, str]]) -> None:
        super().__init__(method=method, uri=uri, headers=headers)  # case-insensitive, as HTTP headers are
        self._args = dict(query)
        self._form = dict(form)
        self.payload = Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Client(ClientMixin):
    """A registered relying party as Authlib sees it: exact redirect URIs, code flow only."""

    def __init__(self, row: RelyingParty) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str:
        return self.row.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.split() if s in self.row.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # character for character, no prefix matching

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.row.secret_hash) and secrets.compare_digest(
            self.row.secret_hash or "", service.token_hash(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.auth_method == "none":
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass(frozen=True)
class EndUser:
    """The signed-in person granting the request."""

    resident_id: uuid.UUID
    auth_time: int
    methods: tuple[str, ...]

    def get_user_id(self) -> str:
        return str(self.resident_id)


class Code(AuthorizationCodeMixin):
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str]:
        return list(self.row.amr)


class RequireS256:
    """PKCE is required of every client, confidential or public, and only with S256."""

    def __call__(self, grant: grants.AuthorizationCodeGrant) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.check)

    def check(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is accepted.", redirect_uri=redirect_uri)
        if not data.get("nonce") and "openid" in (data.get("scope") or "").split():
            raise InvalidRequestError("A nonce is required.", redirect_uri=redirect_uri)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: Provider

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        user: EndUser = request.user
        self.server.session.add(AuthorizationCode(
            code_hash=service.token_hash(code), client_id=request.client.get_client_id(), resident_id=user.resident_id,
            redirect_uri=data.get("redirect_uri") or request.client.get_default_redirect_uri(),
            scope=request.scope or "", nonce=data.get("nonce"), code_challenge=data["code_challenge"],
            code_challenge_method=data.get("code_challenge_method", "S256"), auth_time=user.auth_time,
            amr=list(user.methods), expires_at=utcnow() + timedelta(seconds=CODE_SECONDS)))
        self.server.session.flush()

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        row = repository.code_by_hash(self.server.session, service.token_hash(code))
        if row is None or row.client_id != client.get_client_id():
            return None
        if row.used_at is not None:
            # A code used twice: refuse, and revoke what the first use gave (RFC 6749 section 4.1.2).
            for token in repository.tokens_of_code(self.server.session, row.id):
                token.revoked_at = token.revoked_at or utcnow()
            self.server.refusal_reason = "code_replayed"
            return None
        if row.expires_at <= utcnow():
            self.server.refusal_reason = "code_expired"
            return None
        self.server.current_code_id = row.id
        return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        authorization_code.row.used_at = utcnow()
        self.server.session.flush()

    def authenticate_user(self, authorization_code: Code) -> EndUser:
        row = authorization_code.row
        return EndUser(resident_id=row.resident_id, auth_time=row.auth_time, methods=tuple(row.amr))


class SignedIdToken(OpenIDCode):
    """ID tokens signed by the trust services' platform seal, with only consented claims."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # a nonce is checked by the relying party against its own session; codes are single use

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, Any]:
        client_id = self.provider.current_client_id
        return self.provider.released_claims(client_id=client_id, resident_id=user.resident_id, scope=scope,
                                             purpose="ID token")

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        code: Code = request.authorization_code
        now = int(time.time())
        client_id = request.client.get_client_id()
        self.provider.current_client_id = client_id
        claims: dict[str, Any] = {"iss": self.provider.rules.issuer, "aud": client_id, "iat": now,
                                  "exp": now + self.provider.rules.token_minutes * 60,
                                  "auth_time": code.get_auth_time(), "amr": code.get_amr()}
        if code.get_nonce():
            claims["nonce"] = code.get_nonce()
        digest = hashlib.sha256(token["access_token"].encode()).digest()
        claims["at_hash"] = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        claims.update(self.generate_user_info(request.user, token["scope"]))
        return trust.sign_jwt(self.provider.session, service.SYSTEM, ring=self.provider.ring, claims=claims)


class Provider(AuthorizationServer):
    """One request's authorization server: Authlib's rules on Nokor's tables, in the request's transaction."""

    def __init__(self, session: Session, *, rules: IdentityRules, ring: trust.KeyRing) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.session, self.rules, self.ring = session, rules, ring
        self.current_client_id = ""
        self.current_code_id: uuid.UUID | None = None
        self.refusal_reason: str | None = None
        self.register_token_generator("default", self._generate_token)
        self.register_grant(CodeGrant, [CodeChallenge(required=True), RequireS256(), SignedIdToken(self)])

    def query_client(self, client_id: str) -> Client | None:
        row = repository.relying_party(self.session, client_id)
        return Client(row) if row is not None and row.active else None

    def _generate_token(self, grant_type: str, client: Client, user: EndUser | None = None, scope: str | None = None,
                        expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        return {"token_type": "Bearer", "access_token": secrets.token_urlsafe(32),
                "expires_in": self.rules.token_minutes * 60, "scope": scope or ""}

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.session.add(AccessToken(
            token_hash=service.token_hash(token["access_token"]), client_id=request.client.get_client_id(),
            resident_id=request.user.resident_id, scope=token.get("scope", ""), code_id=self.current_code_id,
            expires_at=utcnow() + timedelta(seconds=int(token["expires_in"]))))
        self.session.flush()

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build a nokor.identity.oidc.Request first")

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers.items() if isinstance(headers, dict) else headers)

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Any:
        record_refusal(self.session, client_id=request.payload.client_id if request.payload else None,
                       error=error.error, description=error.description, detail=self.refusal_reason,
                       endpoint="token" if request.method == "POST" and request.payload and
                       request.payload.grant_type else "authorize")
        return super().handle_error_response(request, error)

    def released_claims(self, *, client_id: str, resident_id: uuid.UUID, scope: str, purpose: str) -> dict[str, Any]:
        """``sub`` (pairwise) and the claims both asked for in ``scope`` and consented to now; the release of
        any personal attribute goes into the person's access log."""
        party = repository.relying_party(self.session, client_id)
        assert party is not None
        claims: dict[str, Any] = {"sub": service.pairwise_subject(self.rules, sector=party.sector,
                                                                  resident_id=resident_id)}
        consented, codes = service.consented_attributes(self.session, resident_id=resident_id, client_id=client_id)
        wanted = service.scope_claims(scope) & consented
        resident = service.resident_for_token(self.session, resident_id=resident_id)
        if wanted and resident is not None:
            released = service.claims_of(resident, wanted)
            claims.update(released)
            audit.record_access(self.session, relying_party_actor(party), subject_type="civil_resident",
                                subject_id=resident_id, purpose=f"{purpose} under consent ({', '.join(codes)})",
                                fields=sorted(released))
        return claims


def relying_party_actor(party: RelyingParty) -> Actor:
    """The relying party as the actor the person's access log names."""
    name = party.name.get("en") or next(iter(party.name.values()), party.client_id)
    return Actor(kind="client", id=party.id, name=f"{name} ({party.client_id})", identity=party.client_id)


def record_refusal(session: Session, *, client_id: str | None, error: str, description: str | None,
                   detail: str | None, endpoint: str) -> None:
    """Put a refused OAuth/OIDC request into the audit trail (who asked, which error, why)."""
    audit.record_change(session, Actor.public(), action=f"oidc.{endpoint}.refused", subject_type="identity_client",
                        subject_id=(client_id or "unknown")[:128],
                        after={"error": error, "description": description, "detail": detail}, reason=error)


# --- userinfo and e-KYC ------------------------------------------------------------------------


class InvalidToken(Exception):
    """The access token is unknown, expired, revoked, or was issued to another client (RFC 6750 invalid_token)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _valid_token(session: Session, token: str) -> AccessToken:
    row = repository.token_by_hash(session, service.token_hash(token))
    if row is None:
        raise InvalidToken("The access token is not known.")
    if row.revoked_at is not None:
        raise InvalidToken("The access token has been revoked.")
    if row.expires_at <= utcnow():
        raise InvalidToken("The access token has expired.")
    return row


def userinfo(session: Session, *, token: str, rules: IdentityRules, ring: trust.KeyRing) -> dict[str, Any]:
    """The UserInfo answer for an access token: the pairwise ``sub`` and the consented claims of its scope.

    Consent is read at every call, so a consent revoked a moment ago releases nothing more.
    """
    try:
        row = _valid_token(session, token)
    except InvalidToken as exc:
        record_refusal(session, client_id=None, error="invalid_token", description=exc.description, detail=None,
                       endpoint="userinfo")
        raise
    provider = Provider(session, rules=rules, ring=ring)
    return provider.released_claims(client_id=row.client_id, resident_id=row.resident_id, scope=row.scope,
                                    purpose="UserInfo")


def ekyc(session: Session, *, client_id: str, token: str, purpose: str, rules: IdentityRules,
         ring: trust.KeyRing) -> tuple[str, dict[str, Any]]:
    """e-KYC: exactly the attributes the person consented to share with this relying party under the agreement
    ``purpose``, as a JWS signed by the platform seal (so the receiver can prove where they came from).

    The access token must have been issued to the authenticated client; otherwise ``InvalidToken``.
    Returns the compact JWS and its payload; ``PermissionError`` when there is no consent for the purpose.
    """
    try:
        row = _valid_token(session, token)
        if row.client_id != client_id:
            raise InvalidToken("The access token was issued to another client.")
    except InvalidToken as exc:
        record_refusal(session, client_id=client_id, error="invalid_token", description=exc.description, detail=None,
                       endpoint="ekyc")
        raise
    party = repository.relying_party(session, client_id)
    assert party is not None
    attributes, codes = service.consented_attributes(session, resident_id=row.resident_id, client_id=client_id,
                                                     agreement_code=purpose)
    resident = service.resident_for_token(session, resident_id=row.resident_id)
    if not attributes or resident is None:
        record_refusal(session, client_id=client_id, error="consent_required",
                       description="No consent for this purpose.", detail=purpose, endpoint="ekyc")
        raise PermissionError(purpose)
    released = service.claims_of(resident, attributes)
    transaction_id = uuid.uuid4().hex
    payload = {"iss": rules.issuer, "aud": client_id, "iat": int(time.time()), "txn": transaction_id,
               "sub": service.pairwise_subject(rules, sector=party.sector, resident_id=row.resident_id),
               "purpose": purpose, "consent": codes, "claims": released}
    audit.record_access(session, relying_party_actor(party), subject_type="civil_resident",
                        subject_id=row.resident_id, purpose=f"e-KYC under consent ({purpose}), transaction "
                        f"{transaction_id}", fields=sorted(released))
    return trust.sign_jwt(session, service.SYSTEM, ring=ring, claims=payload), payload


# --- discovery and keys -----------------------------------------------------------------------


def jwks(session: Session) -> dict[str, Any]:
    """The public keys ID tokens and e-KYC answers are signed with: the trust services' active platform seals."""
    keys = []
    for cert in trust.list_certificates(session, service.SYSTEM, status="active", kinds=("seal",)):
        if cert.org_unit_id is not None:
            continue
        public = x509.load_pem_x509_certificate(cert.pem.encode()).public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in CURVE_ALG:
            continue
        crv, alg = CURVE_ALG[public.curve.name]
        size = (public.curve.key_size + 7) // 8
        numbers = public.public_numbers()
        der = x509.load_pem_x509_certificate(cert.pem.encode()).public_bytes(serialization.Encoding.DER)
        keys.append({"kty": "EC", "crv": crv, "alg": alg, "use": "sig", "kid": cert.serial,
                     "x": _b64(numbers.x.to_bytes(size, "big")), "y": _b64(numbers.y.to_bytes(size, "big")),
                     "x5c": [base64.b64encode(der).decode()]})
    return {"keys": keys}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def discovery(issuer: str) -> dict[str, Any]:
    """The OpenID Provider configuration document."""
    base = issuer.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "ES384"],
        "userinfo_signing_alg_values_supported": [],
        "scopes_supported": list(SCOPES),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash",
                             *ATTRIBUTES],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "ui_locales_supported": ["km", "en", "ar", "de"],
        "claims_locales_supported": ["km", "en"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "service_documentation": f"{base}/my",
    }
