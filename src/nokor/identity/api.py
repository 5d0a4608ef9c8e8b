"""JSON routes of the digital identity: the OIDC token, UserInfo, discovery and JWKS endpoints (at the paths
the GovStack Identity specification names), e-KYC, yes/no verification and the administrators' registry of
relying parties and consent agreements."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import FormData

from nokor import trust
from nokor.identity import oidc, service
from nokor.identity.schemas import (
    AgreementCreate,
    AgreementRead,
    IdentityRules,
    RelyingPartyCreate,
    RelyingPartyIssued,
    RelyingPartyRead,
    VerificationRequest,
    VerificationResult,
)
from nokor.kit.errors import problem_responses
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(tags=["identity"])
PROBLEMS = problem_responses(401, 403, 404, 409, 422)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def rules_of(request: Request) -> IdentityRules:
    s = request.app.state.settings
    return IdentityRules(code_minutes=s.identity_code_minutes, code_attempts=s.identity_code_attempts,
                         codes_per_hour=s.identity_codes_per_hour, logins_per_minute=s.identity_logins_per_minute,
                         max_failures=s.identity_max_failures, lockout_minutes=s.identity_lockout_minutes,
                         session_minutes=s.identity_session_minutes, token_minutes=s.identity_token_minutes,
                         name_threshold=s.identity_name_threshold, secret=s.effective_secret_key,
                         issuer=s.base_url.rstrip("/"))


def oauth_request(request: Request, form: FormData | None = None) -> oidc.Request:
    """The request as Authlib reads it; its address is the configured public one (https in production)."""
    base = request.app.state.settings.base_url.rstrip("/")
    uri = base + request.url.path + (("?" + request.url.query) if request.url.query else "")
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)] if form is not None else []
    return oidc.Request(method=request.method, uri=uri, headers=request.headers,
                        query=list(request.query_params.multi_items()), form=items)


def oauth_response(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    merged = {**dict(headers), **NO_STORE}
    if status in (301, 302, 303):
        merged.pop("Content-Type", None)
        return Response(status_code=302, headers=merged)
    return JSONResponse(body if isinstance(body, dict) else {}, status_code=status, headers=merged)


async def posted_form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


@router.post("/oauth/token", summary="OIDC token endpoint: exchange an authorization code (with its PKCE "
             "verifier) for an access token and an ID token")
def token(request: Request, session: DbSession, form: PostedForm) -> Response:
    provider = oidc.Provider(session, rules=rules_of(request), ring=trust.key_ring(request.app.state.settings))
    return oauth_response(*provider.create_token_response(oauth_request(request, form)))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _invalid_token(description: str) -> Response:
    return JSONResponse({"error": "invalid_token", "error_description": description}, status_code=401, headers={
        "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"', **NO_STORE})


@router.get("/oidc/userinfo", summary="OIDC UserInfo: the pairwise subject and the claims of the token's scope "
            "the person consents to share now")
def userinfo(request: Request, session: DbSession) -> Response:
    token_value = _bearer(request)
    if token_value is None:
        return JSONResponse({"error": "invalid_request", "error_description": "Send the access token as Bearer."},
                            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="nokor"', **NO_STORE})
    try:
        claims = oidc.userinfo(session, token=token_value, rules=rules_of(request),
                               ring=trust.key_ring(request.app.state.settings))
    except oidc.InvalidToken as exc:
        return _invalid_token(exc.description)
    return JSONResponse(claims, headers=NO_STORE)


@router.get("/.well-known/openid-configuration", summary="OpenID Provider configuration")
def openid_configuration(request: Request) -> dict[str, Any]:
    return oidc.discovery(request.app.state.settings.base_url)


@router.get("/.well-known/jwks.json", summary="The keys ID tokens and e-KYC answers are signed with "
            "(the trust services' platform seal)")
def jwks(session: DbSession) -> dict[str, Any]:
    return oidc.jwks(session)


class EkycBody(BaseModel):
    access_token: str = Field(min_length=10, max_length=200)
    purpose: str = Field(min_length=3, max_length=64, description="Code of the consent agreement")


def _client_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _colon, secret = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if client_id and secret else None


@router.post("/api/v1/identity/ekyc", summary="e-KYC: the attributes the person consented to share with this "
             "relying party for this purpose, signed (JWS) by the platform seal; client authenticates with HTTP Basic",
             responses={401: {"description": "invalid_client or invalid_token"},
                        403: {"description": "consent_required"}})
def ekyc(request: Request, session: DbSession, body: EkycBody) -> Response:
    credentials = _client_credentials(request)
    if credentials is None or not service.check_client_secret(session, client_id=credentials[0],
                                                              secret=credentials[1]):
        oidc.record_refusal(session, client_id=credentials[0] if credentials else None, error="invalid_client",
                            description="Client authentication failed.", detail=None, endpoint="ekyc")
        return JSONResponse({"error": "invalid_client", "error_description": "Client authentication failed."},
                            status_code=401, headers={"WWW-Authenticate": 'Basic realm="nokor"', **NO_STORE})
    try:
        signed, payload = oidc.ekyc(session, client_id=credentials[0], token=body.access_token, purpose=body.purpose,
                                    rules=rules_of(request), ring=trust.key_ring(request.app.state.settings))
    except oidc.InvalidToken as exc:
        return _invalid_token(exc.description)
    except PermissionError:
        return JSONResponse({"error": "consent_required", "error_description":
                             "The person has not consented to share attributes for this purpose."},
                            status_code=403, headers=NO_STORE)
    return JSONResponse({"kyc": signed, "transaction_id": payload["txn"], "claims": payload["claims"]},
                        headers=NO_STORE)


@router.post("/api/v1/identity/verify", response_model=VerificationResult, responses=PROBLEMS,
             summary="Yes/no: do these attributes match the person with this national ID number or virtual ID? "
             "Never returns register data; the call goes into the person's data-access log")
def verify(request: Request, session: DbSession, actor: CurrentActor, body: VerificationRequest) -> VerificationResult:
    return service.verify_identity(session, actor, data=body, rules=rules_of(request))


@router.post("/api/v1/identity/relying-parties", response_model=RelyingPartyIssued, status_code=201,
             responses=PROBLEMS, summary="Register a relying party (its client secret is shown once)")
def register_relying_party(session: DbSession, actor: CurrentActor, body: RelyingPartyCreate) -> RelyingPartyIssued:
    return service.register_relying_party(session, actor, data=body)


@router.get("/api/v1/identity/relying-parties", response_model=list[RelyingPartyRead], responses=PROBLEMS)
def relying_parties(session: DbSession, actor: CurrentActor) -> list[RelyingPartyRead]:
    return service.list_relying_parties(session, actor)


@router.post("/api/v1/identity/agreements", response_model=AgreementRead, status_code=201, responses=PROBLEMS,
             summary="Create a consent agreement: attributes, relying party, purpose, duration")
def create_agreement(session: DbSession, actor: CurrentActor, body: AgreementCreate) -> AgreementRead:
    return service.create_agreement(session, actor, data=body)


@router.get("/api/v1/identity/agreements", response_model=list[AgreementRead])
def agreements(session: DbSession, client_id: str | None = None) -> list[AgreementRead]:
    return service.list_agreements(session, client_id=client_id)
