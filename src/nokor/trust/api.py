"""JSON and binary routes of the trust services: verification, signing, certificates, and the public
PKI endpoints (timestamp authority, CRLs, CA certificates, OCSP)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from nokor.kit.errors import PayloadTooLarge, Problem, ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.trust import service
from nokor.trust.keyring import KeyRing, key_ring
from nokor.trust.ratelimit import RateLimiter
from nokor.trust.schemas import CertificateRead, SignatureRecordRead, SignedJws, VerificationReport
from nokor.web.deps import CurrentActor, DbSession

router = APIRouter(prefix="/api/v1/trust", tags=["trust"])
public_router = APIRouter(prefix="/trust", tags=["trust"])
PROBLEMS = problem_responses(400, 401, 403, 404, 409, 413, 422, 429)
PDF = "application/pdf"


class UnsupportedMediaType(Problem):
    status = 415
    slug = "unsupported-media-type"


def ring_of(request: Request) -> KeyRing:
    return key_ring(request.app.state.settings)


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "trust_limiter", None)
    if limiter is None:
        limiter = RateLimiter(request.app.state.settings.trust_public_rate_per_minute)
        request.app.state.trust_limiter = limiter
    return limiter


def limit_public(request: Request) -> None:
    limiter_of(request).check(request.client.host if request.client else "unknown")


class VerifyJwsRequest(BaseModel):
    jws: str = Field(min_length=1, max_length=200_000, description="Compact JWS")
    payload: str | None = Field(None, max_length=500_000,
                                description="For a detached JWS: the signed content, as UTF-8 text")


@router.post("/verify", response_model=VerificationReport, responses=problem_responses(400, 413, 415, 422, 429),
             summary="Verify a signed PDF (application/pdf or multipart field 'file') or a JWS (JSON)",
             openapi_extra={"requestBody": {"content": {
                 PDF: {"schema": {"type": "string", "format": "binary"}},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "file": {"type": "string", "format": "binary"}}}},
                 "application/json": {"schema": VerifyJwsRequest.model_json_schema()}}}})
async def verify(request: Request, session: DbSession) -> VerificationReport:
    limit_public(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == PDF:
        # pyHanko runs its own event loop, so PDF work happens on a worker thread.
        return await run_in_threadpool(service.verify_pdf, session, data=await request.body())
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationFailed(errors=[field_error(["file"], _("Choose a PDF file."), "file_missing")])
        return await run_in_threadpool(service.verify_pdf, session, data=await upload.read())
    if kind == "application/json":
        try:
            body = VerifyJwsRequest.model_validate_json(await request.body())
        except ValueError as exc:
            raise ValidationFailed(errors=[field_error(["body"], _("Send a JSON object with a “jws” field."),
                                                       "bad_body")]) from exc
        payload = body.payload.encode() if body.payload is not None else None
        return service.verify_jws(session, token=body.jws, payload=payload)
    raise UnsupportedMediaType(_("Send a PDF (application/pdf or a multipart upload) or a JWS as JSON."))


@router.post("/sign/pdf", responses={200: {"content": {PDF: {}}}, **PROBLEMS},
             response_class=Response, summary="Seal a PDF (PAdES B-LT, or B-LTA) with an organisation's seal")
async def sign_pdf(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    org_unit_id: uuid.UUID | None = None,
    level: Literal["B-LT", "B-LTA"] = "B-LT",
    as_officer: bool = False,
    document_name: Annotated[str | None, Query(max_length=400)] = None,
    reason: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != PDF:
        raise UnsupportedMediaType(_("Send the PDF as the request body with Content-Type application/pdf."))
    data = await request.body()
    signed = await run_in_threadpool(
        service.sign_pdf, session, actor, ring=ring_of(request), data=data, org_unit_id=org_unit_id,
        as_officer=as_officer, level=level, document_name=document_name, reason=reason)
    return Response(signed.pdf, media_type=PDF, headers={
        "X-Nokor-Signature-Id": str(signed.record.id),
        "Content-Disposition": 'attachment; filename="signed.pdf"'})


class SignJwsRequest(BaseModel):
    payload: Any = Field(description="JSON value to sign (serialised compactly), or a string signed as UTF-8 text")
    detached: bool = False
    org_unit_id: uuid.UUID | None = None
    document_name: str | None = Field(None, max_length=400)


@router.post("/sign/jws", response_model=SignedJws, responses=PROBLEMS,
             summary="Sign a JSON message or a QR payload as a compact JWS (ES256, x5c, kid, sigT)")
def sign_jws(request: Request, data: SignJwsRequest, session: DbSession, actor: CurrentActor) -> SignedJws:
    payload = (data.payload.encode() if isinstance(data.payload, str)
               else json.dumps(data.payload, separators=(",", ":"), ensure_ascii=False).encode())
    return service.sign_json(session, actor, ring=ring_of(request), payload=payload, org_unit_id=data.org_unit_id,
                             detached=data.detached, document_name=data.document_name)


@router.get("/certificates", response_model=list[CertificateRead], responses=PROBLEMS)
def certificates(session: DbSession, actor: CurrentActor,
                 status: Literal["active", "suspended", "revoked"] | None = None) -> list[CertificateRead]:
    return service.list_certificates(session, actor, status=status)


@router.get("/certificates/{serial}", response_model=CertificateRead, responses=PROBLEMS)
def certificate(serial: str, session: DbSession) -> CertificateRead:
    return service.get_certificate(session, serial=serial)


class StatusChange(BaseModel):
    status: Literal["active", "suspended", "revoked"]
    reason: str | None = Field(None, max_length=400)
    revocation_reason: Literal["unspecified", "key_compromise", "affiliation_changed", "superseded",
                               "cessation_of_operation"] = "unspecified"


@router.post("/certificates/{serial}/status", response_model=CertificateRead, responses=PROBLEMS,
             summary="Suspend, reactivate or revoke a certificate (the CRL is regenerated at once)")
def change_status(request: Request, serial: str, data: StatusChange, session: DbSession,
                  actor: CurrentActor) -> CertificateRead:
    return service.set_certificate_status(session, actor, ring=ring_of(request), serial=serial, status=data.status,
                                          reason=data.reason, revocation_reason=data.revocation_reason)


class SealRequest(BaseModel):
    org_unit_id: uuid.UUID
    organisation_name: str = Field(min_length=1, max_length=64)


@router.post("/seals", response_model=CertificateRead, status_code=201, responses=PROBLEMS,
             summary="Issue a seal (key and document-signing certificate) to an organisation unit")
def issue_seal(request: Request, data: SealRequest, session: DbSession, actor: CurrentActor) -> CertificateRead:
    return service.issue_seal_certificate(session, actor, ring=ring_of(request), org_unit_id=data.org_unit_id,
                                          organisation_name=data.organisation_name)


@router.get("/signatures/{record_id}", response_model=SignatureRecordRead, responses=problem_responses(404, 422))
def signature_record(record_id: uuid.UUID, session: DbSession) -> SignatureRecordRead:
    return service.get_signature_record(session, record_id=record_id)


# --- public PKI endpoints ------------------------------------------------------------------------


@public_router.post("/tsa", response_class=Response, responses={
    200: {"content": {"application/timestamp-reply": {}}}, **problem_responses(400, 413, 415, 429)},
    summary="RFC 3161 timestamp authority",
    description="The body is a DER TimeStampReq sent as application/timestamp-query.")
async def timestamp(request: Request, session: DbSession) -> Response:
    limit_public(request)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/timestamp-query":
        raise UnsupportedMediaType(_("Send an RFC 3161 query with Content-Type application/timestamp-query."))
    body = await request.body()
    if len(body) > 16_384:
        raise PayloadTooLarge()
    reply = service.answer_timestamp_query(session, ring=ring_of(request), query=body)
    return Response(reply, media_type="application/timestamp-reply")


@public_router.get("/crl/{slug}.crl", response_class=Response, responses={
    200: {"content": {"application/pkix-crl": {}}}, **problem_responses(404, 409, 422)},
    summary="The current CRL of one CA (root, documents, agencies, timestamping)")
def crl(slug: str, request: Request, session: DbSession) -> Response:
    return Response(service.current_crl(session, ring=ring_of(request), slug=slug), media_type="application/pkix-crl",
                    headers={"Cache-Control": "public, max-age=300"})


@public_router.get("/ca/{slug}.crt", response_class=Response, responses={
    200: {"content": {"application/pkix-cert": {}}}, **problem_responses(404, 409, 422)},
    summary="The certificate of one CA, in DER")
def ca_certificate(slug: str, session: DbSession) -> Response:
    return Response(service.ca_certificate(session, slug=slug), media_type="application/pkix-cert",
                    headers={"Cache-Control": "public, max-age=3600"})


@public_router.post("/ocsp", response_class=Response, responses={200: {"content": {"application/ocsp-response": {}}}},
                    summary="OCSP responder (RFC 6960), POST",
                    description="The body is a DER OCSPRequest sent as application/ocsp-request.")
async def ocsp_post(request: Request, session: DbSession) -> Response:
    answer = service.answer_ocsp(session, ring=ring_of(request), request_der=await request.body())
    return Response(answer, media_type="application/ocsp-response")


@public_router.get("/ocsp/{encoded:path}", response_class=Response,
                   responses={200: {"content": {"application/ocsp-response": {}}}},
                   summary="OCSP responder (RFC 6960), GET with the base64 request in the path")
def ocsp_get(encoded: str, request: Request, session: DbSession) -> Response:
    try:
        der = base64.b64decode(encoded.replace("%2F", "/").replace("%2B", "+").replace("%3D", "="), validate=False)
    except (binascii.Error, ValueError):
        der = b""
    answer = service.answer_ocsp(session, ring=ring_of(request), request_der=der)
    return Response(answer, media_type="application/ocsp-response", headers={"Cache-Control": "max-age=300"})
