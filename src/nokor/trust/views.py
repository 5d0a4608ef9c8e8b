"""Pages of the trust services: the public verification portal (upload a PDF, paste a JWS, or open
the QR link printed on a signed document) and the certificate officers' pages (``trust.manage``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from nokor.kit.errors import Forbidden, NotFound, Problem
from nokor.kit.i18n import gettext as _
from nokor.trust import service
from nokor.trust.api import limit_public
from nokor.trust.keyring import key_ring
from nokor.trust.schemas import VerificationReport
from nokor.web import flash, form_errors, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm, VisitorForm, csrf_token_for

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


# --- certificate officers: list, details, suspend / reactivate / revoke -------------------------------

# URL word → the status it leads to
ACTIONS: dict[str, Literal["suspended", "active", "revoked"]] = {
    "suspend": "suspended", "reactivate": "active", "revoke": "revoked",
}


def _labels() -> dict[str, dict[str, str]]:
    """Words for the codes the certificate pages show, in the reader's language."""
    return {
        "kind": {
            "root_ca": _("Root certification authority"), "documents_ca": _("Documents certification authority"),
            "agencies_ca": _("Agency systems certification authority"),
            "timestamping_ca": _("Timestamping certification authority"), "tsa": _("Timestamp authority"),
            "seal": _("Organisation seal"), "officer": _("Officer's signature"), "agency": _("Agency system"),
        },
        "status": {"active": _("Active"), "suspended": _("Suspended"), "revoked": _("Revoked")},
        "change": {"issued": _("Certificate issued"), "active": _("Reactivated"), "suspended": _("Suspended"),
                   "revoked": _("Revoked")},
        "usage": {
            "digital_signature": _("Digital signature"), "content_commitment": _("Non-repudiation"),
            "key_encipherment": _("Key encipherment"), "data_encipherment": _("Data encipherment"),
            "key_agreement": _("Key agreement"), "key_cert_sign": _("Signing certificates"),
            "crl_sign": _("Signing revocation lists"), "time_stamping": _("Timestamping"),
            "client_auth": _("Client authentication"), "server_auth": _("Server authentication"),
            "ocsp_signing": _("Signing OCSP answers"), "email_protection": _("E-mail protection"),
            "code_signing": _("Code signing"),
        },
        "reason": {
            "unspecified": _("No particular reason"), "key_compromise": _("The key was compromised"),
            "affiliation_changed": _("The holder left the organisation"),
            "superseded": _("Replaced by a new certificate"),
            "cessation_of_operation": _("The holder stopped operating"),
        },
    }


@router.get("/admin/trust/certificates")
def certificates_page(request: Request, session: DbSession, actor: OfficerActor, status: str | None = None) -> Response:
    actor.require(service.TRUST_MANAGE)
    labels = _labels()
    chosen = status if status in labels["status"] else None
    rows = service.list_certificates(session, actor, status=chosen)
    return render(request, "trust/certificates.html", {
        "certificates": list(reversed(rows)), "status": chosen or "", "labels": labels,
        "status_options": list(labels["status"].items()),
    })


@router.get("/admin/trust/certificates/{serial}")
def certificate_page(request: Request, session: DbSession, actor: OfficerActor, serial: str) -> Response:
    details = service.certificate_details(session, actor, serial=serial)
    return render(request, "trust/certificate.html", {"details": details, "labels": _labels(),
                                                      "actions": _actions_for(details.allowed_statuses)})


def _actions_for(allowed: Sequence[str]) -> list[str]:
    return [word for word, status in ACTIONS.items() if status in allowed]


def _confirm_page(request: Request, session: DbSession, actor: OfficerActor, serial: str, action: str, *,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    if action not in ACTIONS:
        raise NotFound(_("There is no such page."))
    details = service.certificate_details(session, actor, serial=serial)
    if not details.manageable:
        raise Forbidden(_("Only an operator who manages the whole platform can change the status of this "
                          "certificate, with the command nokor trust revoke."))
    labels = _labels()
    return render(request, "trust/certificate_status.html", {
        "details": details, "labels": labels, "action": action, "possible": ACTIONS[action] in details.allowed_statuses,
        "reason_options": list(labels["reason"].items()), "errors": errors or {}, "values": values or {},
    }, status_code=status_code)


@router.get("/admin/trust/certificates/{serial}/{action}")
def confirm_status_page(request: Request, session: DbSession, actor: OfficerActor, serial: str,
                        action: str) -> Response:
    return _confirm_page(request, session, actor, serial, action)


@router.post("/admin/trust/certificates/{serial}/{action}")
def change_status(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm, serial: str,
                  action: str) -> Response:
    if action not in ACTIONS:
        raise NotFound(_("There is no such page."))
    values = {name: str(form.get(name) or "").strip() for name in ("reason", "revocation_reason")}
    if not values["reason"]:
        return _confirm_page(request, session, actor, serial, action, values=values, status_code=422,
                             errors={"reason": _("Say why; the reason is kept in the audit trail.")})
    try:
        changed = service.set_certificate_status(
            session, actor, ring=key_ring(request.app.state.settings), serial=serial, status=ACTIONS[action],
            reason=values["reason"], revocation_reason=values["revocation_reason"] or "unspecified")
    except Problem as exc:
        if exc.status in (401, 403, 404):
            raise
        return _confirm_page(request, session, actor, serial, action, values=values, errors=form_errors(exc),
                             status_code=exc.status)
    messages = {"suspend": _("The certificate is suspended."), "reactivate": _("The certificate is active again."),
                "revoke": _("The certificate is revoked.")}
    flash(request, messages[action])
    return RedirectResponse(f"/admin/trust/certificates/{changed.serial}", status_code=303)
