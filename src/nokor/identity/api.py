"""JSON routes of the digital identity: the OIDC token, UserInfo, discovery and JWKS endpoints (at the paths
the GovStack Identity specification names), e-KYC, yes/no verification and the administrators' registry of
relying parties and consent agreements."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nokor import accounts, trust
from nokor.config import Settings
from nokor.db import session_scope
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
from nokor.identity.verifier import BatchVerifier
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem, problem_responses
from nokor.web.deps import CurrentActor, DbSession
from nokor.web.middleware import replay_body

router = APIRouter(tags=["identity"])
PROBLEMS = problem_responses(401, 403, 404, 409, 422)
log = structlog.get_logger("nokor.identity.api")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def rules_of(request: Request) -> IdentityRules:
    return rules_from(request.app.state.settings)


def rules_from(s: Settings) -> IdentityRules:
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


VERIFY_PATH = "/api/v1/identity/verify"


class VerificationFastPath:
    """The lean path of ``POST /api/v1/identity/verify`` for an agency system calling again and again.

    A call with a good API key holding ``identity.verify`` and a JSON body that is a valid request with
    something to compare is answered here, through the ``BatchVerifier`` (one transaction for all calls
    waiting at that moment, the answer only after its access-log entry is committed), without the router,
    the dependencies and a thread per call. The key is one this process verified a moment ago
    (``accounts.cached_api_key``); when its cache entry has expired, or on its first use, one lookup checks it
    again for every call that carries it meanwhile, so the calls of a busy client never spill over to the
    slow path together. Every other call (wrong or revoked key, missing permission, bad body) goes on to the
    route below, which answers exactly as before, so refusals keep their problem+json answers and audit.
    """

    def __init__(self, app: ASGIApp, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        self.app = app
        self.session_factory = session_factory
        self.cache_seconds = settings.api_key_cache_seconds
        self.verifier = BatchVerifier(session_factory, rules_from(settings))
        self._lookups: dict[str, asyncio.Future[Actor | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == VERIFY_PATH and scope["method"] == "POST":
            await self._verify(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
        else:
            await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.verifier.stop()
            return message
        return wrapped

    async def _actor(self, key: str) -> Actor | None:
        """The actor of ``key`` if it is good: from the cache, or from one lookup shared by the calls waiting."""
        actor = accounts.cached_api_key(key)
        if actor is not None or self.cache_seconds <= 0:
            return actor
        pending = self._lookups.get(key)
        if pending is None:
            pending = self._lookups[key] = asyncio.ensure_future(asyncio.to_thread(self._authenticate, key))
            pending.add_done_callback(lambda _done: self._lookups.pop(key, None))
        return await asyncio.shield(pending)

    def _authenticate(self, key: str) -> Actor | None:
        try:
            with session_scope(self.session_factory) as session:
                return accounts.authenticate_api_key(session, key=key, cache_seconds=self.cache_seconds)
        except Exception:  # the route looks again and answers whatever happens
            log.warning("identity.key_lookup_failed", exc_info=True)
            return None

    async def _verify(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        key = _api_key_of(headers.get(b"authorization", b"").decode("latin-1"))
        if key is None or b"information-mediator-client" in headers or content_type != b"application/json":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        actor = await self._actor(key)
        try:
            data = _read_request(body)
        except (ValueError, ValidationError):
            data = None
        if actor is None or data is None or not service.can_verify(actor, data):
            await self.app(scope, replay_body(body, receive), send)
            return
        try:
            result = await self.verifier.verify(actor, data)
        except Problem:  # refused before anything was written: the route gives the refusal its usual answer
            await self.app(scope, replay_body(body, receive), send)
            return
        answer = orjson.dumps({"transaction_id": result.transaction_id, "match": result.match})
        await send({"type": "http.response.start", "status": 200, "headers": [
            *_JSON_HEADERS, (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


_JSON_HEADERS = ((b"content-type", b"application/json"),)
_read_request = VerificationRequest.__pydantic_validator__.validate_json


def _api_key_of(header: str) -> str | None:
    """The key of ``Authorization: Bearer KEY`` or of a bare ``Authorization: KEY``, as the request path reads it."""
    scheme, _sep, rest = header.strip().partition(" ")
    if rest:
        return rest.strip() if scheme.lower() == "bearer" else None
    return header.strip() or None


@router.post(VERIFY_PATH, response_model=VerificationResult, responses=PROBLEMS,
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
