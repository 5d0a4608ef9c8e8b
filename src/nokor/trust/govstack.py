"""The parts of the GovStack e-Signature API (Remote SCD API 1.0.0) that fit Nokor, under
/govstack/esignature/{version}.

Served: certificate creation from a CSR (for agency systems), the certificate list, status changes
(ACTIVATE, SUSPEND, REVOKE), signing a hash with a certificate Nokor holds (an organisation's seal
or an officer's certificate), and the audit log of signatures. Callers authenticate with their Nokor
API key in ``Authorization``; the README lists what is not served and why.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from nokor.kit.errors import NotFound, ValidationFailed, field_error, problem_responses
from nokor.kit.i18n import gettext as _
from nokor.kit.time import utcnow
from nokor.trust import service
from nokor.trust.keyring import key_ring
from nokor.web.deps import CurrentActor, DbSession

PREFIX = "/govstack/esignature"
router = APIRouter(prefix=PREFIX, tags=["GovStack e-Signature"],
                   responses=problem_responses(400, 401, 403, 404, 409, 422))


def _version(version: str) -> None:
    if version != "v1":
        raise NotFound(_("This API version is not served; use v1."))


class Status(BaseModel):
    code: str
    message: str


class CertCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    CSR: str = Field(min_length=1, max_length=20_000, description="Certificate signing request, PEM or base64 DER")
    pseudonym: str | None = Field(None, max_length=400, alias="pseudonym",
                                  description="Here: the agency system's GovStack identity "
                                  "INSTANCE/CLASS/MEMBER/SUBSYSTEM")
    SCDType: str | None = None
    SCDRemoteId: str | None = None
    SCDKeyId: float | None = None
    requestTimestamp: datetime | None = None


class CertCreated(BaseModel):
    certificateId: str
    pseudonym: str | None
    certificate: str
    responseTimestamp: datetime
    status: Status


class CertListed(BaseModel):
    certificateId: str
    certificate: str
    status: Status


class StatusUpdate(BaseModel):
    code: Literal["ACTIVATE", "SUSPEND", "REVOKE"]
    message: str | None = Field(None, max_length=400)


class CertUpdate(BaseModel):
    requestTimestamp: datetime | None = None
    status: StatusUpdate


class CertUpdated(BaseModel):
    responseTimestamp: datetime
    status: Status


class SignRequest(BaseModel):
    format: Literal["XAdES", "CAdES", "ASIC", "JWS", "PAdES"] | None = None
    hash: str = Field(min_length=1, max_length=200)
    hashType: Literal["SHA2-256", "SHA2-384", "SHA2-512", "SHA3-256", "SHA3-384", "SHA3-512", "BLAKE2B"]
    dataToBeDisplayed: str | None = Field(None, max_length=400)
    requestTimestamp: datetime | None = None


class SignResponse(BaseModel):
    signature: str
    certificate: str
    responseTimestamp: datetime
    signatureTimestamp: str
    status: Status


class AuditLogEntry(BaseModel):
    signatureId: str
    certificateId: str
    signer: str
    kind: str
    hash: str
    timestamp: datetime
    requestedBy: str


STATUS_CODES = {"active": "ACTIVE", "suspended": "SUSPENDED", "revoked": "REVOKED"}


def _listed_status(status: str, not_after: datetime) -> Status:
    if status == "active" and not_after < utcnow():
        return Status(code="EXPIRED", message=_("The certificate has expired."))
    return Status(code=STATUS_CODES[status], message={
        "active": _("The certificate is active."), "suspended": _("The certificate is suspended."),
        "revoked": _("The certificate is revoked.")}[status])


@router.post("/{version}/cert/create", response_model=CertCreated, summary="Create certificate (from a CSR)")
def cert_create(version: str, data: CertCreate, request: Request, session: DbSession,
                actor: CurrentActor) -> CertCreated:
    _version(version)
    identity = (data.pseudonym or actor.identity or "").strip()
    if not identity:
        raise ValidationFailed(errors=[field_error(["pseudonym"], _("Give the agency system's identity."),
                                                   "identity_required")])
    cert = service.issue_agency_certificate(session, actor, ring=key_ring(request.app.state.settings),
                                            csr_pem=data.CSR, identity=identity)
    return CertCreated(certificateId=cert.serial, pseudonym=identity, certificate=cert.pem, responseTimestamp=utcnow(),
                       status=Status(code="OK", message=_("The certificate was issued.")))


@router.get("/{version}/cert/list", response_model=list[CertListed], summary="Get list of certificates")
def cert_list(version: str, session: DbSession, actor: CurrentActor,
              filter: Literal["ALL", "ACTIVATED", "EXPIRED", "REVOKED", "SUSPENDED"] = "ALL") -> list[CertListed]:
    _version(version)
    rows = service.list_certificates(session, actor, kinds=("seal", "officer", "agency"))
    out = [CertListed(certificateId=r.serial, certificate=r.pem, status=_listed_status(r.status, r.not_after))
           for r in rows]
    wanted = {"ACTIVATED": "ACTIVE", "EXPIRED": "EXPIRED", "REVOKED": "REVOKED", "SUSPENDED": "SUSPENDED"}.get(filter)
    return [c for c in out if wanted is None or c.status.code == wanted]


@router.patch("/{version}/cert/{certificateId}", response_model=CertUpdated, summary="Update certificate status")
def cert_update(version: str, certificateId: str, data: CertUpdate, request: Request, session: DbSession,
                actor: CurrentActor) -> CertUpdated:
    _version(version)
    status: Literal["active", "suspended", "revoked"] = {
        "ACTIVATE": "active", "SUSPEND": "suspended", "REVOKE": "revoked"}[data.status.code]  # type: ignore[assignment]
    cert = service.set_certificate_status(session, actor, ring=key_ring(request.app.state.settings),
                                          serial=certificateId, status=status, reason=data.status.message)
    code = {"active": "ACTIVATED", "suspended": "SUSPENDED", "revoked": "REVOKED"}[cert.status]
    return CertUpdated(responseTimestamp=utcnow(), status=Status(code=code, message=cert.status_reason or code))


@router.post("/{version}/sign/certificateId/{certificateId}", response_model=SignResponse,
             summary="Sign a hash with a certificate Nokor holds (seal or officer)")
def sign_with_certificate(version: str, certificateId: str, data: SignRequest, request: Request,
                          session: DbSession, actor: CurrentActor) -> SignResponse:
    _version(version)
    signed = service.sign_hash(session, actor, ring=key_ring(request.app.state.settings),
                               certificate_serial=certificateId, digest_b64=data.hash, hash_type=data.hashType,
                               display=data.dataToBeDisplayed)
    return SignResponse(signature=base64.b64encode(signed.signature).decode(), certificate=signed.certificate_pem,
                        responseTimestamp=utcnow(),
                        signatureTimestamp=base64.b64encode(signed.timestamp_token).decode(),
                        status=Status(code="OK", message=_("The signature was created.")))


@router.get("/{version}/audit/log", response_model=list[AuditLogEntry], summary="Audit transactions")
def audit_log(version: str, session: DbSession, actor: CurrentActor,
              start: Annotated[datetime | None, Query()] = None,
              end: Annotated[datetime | None, Query()] = None) -> list[AuditLogEntry]:
    _version(version)
    start, end = (m.replace(tzinfo=UTC) if m is not None and m.tzinfo is None else m for m in (start, end))
    return [AuditLogEntry(signatureId=str(r.id), certificateId=r.certificate_serial, signer=r.signer_name, kind=r.kind,
                          hash=r.document_sha256, timestamp=r.signed_at, requestedBy=r.actor_name)
            for r in service.list_signature_records(session, actor, start=start, end=end)]
