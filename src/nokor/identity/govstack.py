"""GovStack Consent building block, the parts that fit Nokor's consent model: data agreements (read) and
consent records (verification by data consumers), under /govstack/consent.

A data agreement is Nokor's consent agreement; a consent record is a person's consent to one. Policies,
revisions and their hashes' signatures, the individual's own record endpoints, the configuration endpoints
and webhooks are not served (the README says why).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from fastapi import APIRouter, Query

from nokor.identity import service
from nokor.identity.schemas import AgreementRead, ConsentRead
from nokor.kit.errors import problem_responses
from nokor.web.deps import CurrentActor, DbSession

PREFIX = "/govstack/consent"
router = APIRouter(prefix=PREFIX, tags=["GovStack Consent"], responses=problem_responses(401, 403, 404, 422))


def agreement_hash(agreement: AgreementRead) -> str:
    """The SHA-256 of the agreement's terms as the person saw them (its revision hash)."""
    terms = {"id": str(agreement.id), "version": agreement.version, "purpose": agreement.purpose,
             "attributes": agreement.attributes, "lawfulBasis": agreement.lawful_basis,
             "durationDays": agreement.duration_days}
    return hashlib.sha256(json.dumps(terms, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def data_agreement(agreement: AgreementRead) -> dict[str, Any]:
    return {"id": str(agreement.id), "version": str(agreement.version),
            "purpose": agreement.purpose.get("en") or next(iter(agreement.purpose.values()), ""),
            "purposeDescription": agreement.purpose, "lawfulBasis": agreement.lawful_basis,
            "dataUse": "data_using_service", "dpia": "", "active": agreement.active,
            "controller": {"id": agreement.client_id, "name": agreement.client_id},
            "dataAttributes": [{"name": name} for name in agreement.attributes],
            "expiryDays": agreement.duration_days}


def consent_record(record: ConsentRead, agreement: AgreementRead) -> dict[str, Any]:
    return {"id": str(record.id), "dataAgreementId": str(record.agreement_id),
            "dataAgreementRevisionHash": agreement_hash(agreement), "individualId": str(record.resident_id),
            "optIn": record.state == "given", "state": "signed" if record.state == "given" else record.state,
            "givenAt": record.given_at.isoformat(), "expiresAt": record.expires_at.isoformat(),
            "withdrawnAt": record.revoked_at.isoformat() if record.revoked_at else None}


@router.get("/service/verification/data-agreements/", summary="LIST the active data agreements")
def list_data_agreements(session: DbSession, offset: int = Query(0, ge=0, le=1_000_000_000),
                         limit: int = Query(100, ge=1, le=200)) -> dict[str, Any]:
    return {"dataAgreements": [data_agreement(a) for a in service.list_agreements(session, offset=offset,
                                                                                   limit=limit)]}


@router.get("/service/data-agreement/{dataAgreementId}/", summary="READ one data agreement")
def read_data_agreement(session: DbSession, dataAgreementId: uuid.UUID) -> dict[str, Any]:
    return {"dataAgreement": data_agreement(service.get_agreement(session, agreement_id=dataAgreementId))}


@router.get("/service/verification/consent-records/", summary="LIST consent records (is there consent?), "
            "filtered by data agreement and individual; needs identity.consent_read")
def list_consent_records(session: DbSession, actor: CurrentActor,
                         dataAgreementId: uuid.UUID | None = None,
                         individualId: uuid.UUID | None = None,
                         offset: int = Query(0, ge=0, le=1_000_000_000),
                         limit: int = Query(100, ge=1, le=200)) -> dict[str, Any]:
    records = service.list_consent_records(session, actor, agreement_id=dataAgreementId, resident_id=individualId,
                                           offset=offset, limit=limit)
    agreements = {r.agreement_id: service.get_agreement(session, agreement_id=r.agreement_id) for r in records}
    return {"consentRecords": [consent_record(r, agreements[r.agreement_id]) for r in records]}


@router.get("/service/verification/consent-record/{consentRecordId}/", summary="READ one consent record")
def read_consent_record(session: DbSession, actor: CurrentActor,
                        consentRecordId: uuid.UUID) -> dict[str, Any]:
    record = service.get_consent_record(session, actor, consent_id=consentRecordId)
    agreement = service.get_agreement(session, agreement_id=record.agreement_id)
    return {"consentRecord": consent_record(record, agreement), "revision": None}
