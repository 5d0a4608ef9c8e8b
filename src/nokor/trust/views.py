"""Pages of the trust services: the public verification portal (upload a PDF, paste a JWS, or open
the QR link printed on a signed document)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from nokor.kit.errors import Problem
from nokor.kit.i18n import gettext as _
from nokor.trust import service
from nokor.trust.api import limit_public
from nokor.trust.schemas import VerificationReport
from nokor.web import form_errors, render
from nokor.web.deps import DbSession, VisitorForm, csrf_token_for

router = APIRouter(include_in_schema=False)


def _page(request: Request, *, report: VerificationReport | None = None, errors: dict[str, str] | None = None,
          record: object = None, values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    csrf_token_for(request)
    return render(request, "trust/verify.html", {"report": report, "errors": errors or {}, "record": record,
                                                 "values": values or {}}, status_code=status_code)


@router.get("/trust/verify")
def verify_page(request: Request, session: DbSession, jws: str | None = None) -> Response:
    if not jws:
        return _page(request)
    limit_public(request)
    try:
        report = service.verify_jws(session, token=jws[:200_000])
    except Problem as exc:
        return _page(request, errors=form_errors(exc), values={"jws": jws[:2000]}, status_code=exc.status)
    return _page(request, report=report)


@router.post("/trust/verify")
async def verify(request: Request, session: DbSession, form: VisitorForm) -> Response:
    limit_public(request)
    upload = form.get("file")
    token = form.get("jws")
    record_id = form.get("record_id")
    record = None
    if isinstance(record_id, str) and record_id:
        try:
            record = service.get_signature_record(session, record_id=uuid.UUID(record_id))
        except (ValueError, Problem):
            record = None
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read()
            report = await run_in_threadpool(service.verify_pdf, session, data=data)
        elif isinstance(token, str) and token.strip():
            report = service.verify_jws(session, token=token.strip()[:200_000])
        else:
            return _page(request, record=record, errors={"file": _("Choose a PDF file, or paste a signed code.")},
                         status_code=422)
    except Problem as exc:
        values = {"jws": token[:2000]} if isinstance(token, str) else {}
        return _page(request, record=record, errors=form_errors(exc), values=values, status_code=exc.status)
    return _page(request, report=report, record=record)


@router.get("/trust/verify/{record_id}")
def record_page(request: Request, session: DbSession, record_id: uuid.UUID) -> Response:
    record = service.get_signature_record(session, record_id=record_id)
    return _page(request, record=record)
