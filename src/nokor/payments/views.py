"""Pages of the payments domain: the payer's bill page, and officers' bills, refunds, ledger and reports."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from nokor import trust
from nokor.kit import i18n
from nokor.kit.errors import NotFound, Problem
from nokor.kit.i18n import format_money
from nokor.kit.i18n import gettext as _
from nokor.payments import service
from nokor.payments.api import refund_url, settings_of
from nokor.payments.schemas import BillCreate, FeeRead
from nokor.web import flash, form_errors, localized, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm

router = APIRouter(include_in_schema=False)
STATUS_TAGS = {"open": "tag--yellow", "paid": "tag--green", "refunded": "tag--grey", "expired": "tag--grey",
               "cancelled": "tag--red"}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def status_label(status: str) -> str:
    return {"open": _("Waiting for payment"), "paid": _("Paid"), "refunded": _("Refunded"),
            "expired": _("Expired"), "cancelled": _("Cancelled")}.get(status, status)


def held_reason(detail: str | None, bill_status: str | None) -> str:
    """Why a payment was held, in the reader's language (the notification keeps the English detail)."""
    if detail == "the amount differs from the bill":
        return _("The amount differs from the bill")
    if detail == "no bill matches this payment":
        return _("No bill matches this payment")
    if detail and detail.startswith("the bill is "):
        return _("The bill was no longer open (%(status)s)", status=status_label(bill_status or detail[12:]))
    return detail or ""


def decision_label(decision: str) -> str:
    return {"accept": _("accept the payment"), "return": _("return it to the payer")}.get(decision, decision)


def _common() -> dict[str, Any]:
    return {"status_label": status_label, "status_tags": STATUS_TAGS, "held_reason": held_reason,
            "decision_label": decision_label}


def _fee_options(fees: list[FeeRead]) -> dict[str, Any]:
    return {"fee_options": [(fee.code, f"{localized(fee.name)} — {format_money(fee.amount_minor, fee.currency)}")
                            for fee in fees if fee.is_active],
            "status_options": [(s, status_label(s)) for s in ("open", "paid", "refunded", "expired", "cancelled")]}


# --- the payer's pages (no sign-in: the bill number is what the payer holds) -------------------


@router.get("/pay")
def find_bill(request: Request, number: str | None = None) -> Response:
    if number:
        return RedirectResponse(f"/pay/{number.strip().replace(' ', '')}", status_code=303)
    return render(request, "payments/find.html", _common())


@router.get("/pay/{number}")
def bill_page(request: Request, session: DbSession, number: str) -> Response:
    bill = service.bill_for_payer(session, number=number)
    return render(request, "payments/bill.html", {"bill": bill, **_common()},
                  headers={"Cache-Control": "no-store"})


@router.get("/pay/{number}/status")
def bill_status_fragment(request: Request, session: DbSession, number: str) -> Response:
    """The live status block; htmx polls it and stops once the bill is no longer open."""
    status = service.bill_status(session, number=number)
    return render(request, "payments/_status.html", {"status": status, **_common()},
                  headers={"Cache-Control": "no-store"})


@router.get("/pay/{number}/receipt.pdf")
def receipt(request: Request, session: DbSession, number: str) -> Response:
    """The sealed receipt of a paid bill, in the reader's language."""
    pdf = service.payment_receipt(session, number=number, ring=trust.key_ring(settings_of(request)),
                                  language=i18n.current_locale())
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="receipt-{number}-{i18n.current_locale()}.pdf"',
        "Cache-Control": "private, max-age=300"})


# --- officers ---------------------------------------------------------------------------------


@router.get("/admin/payments")
def bills_page(request: Request, session: DbSession, actor: OfficerActor, status: str | None = None,
               cursor: str | None = None) -> Response:
    page = service.list_bills(session, actor, status=status or None, cursor=cursor)
    fees = service.list_fees(session, actor)
    return render(request, "payments/bills.html", {"page": page, "status": status or "", **_fee_options(fees),
                                                   **_common()})


@router.post("/admin/payments/bills")
def issue_bill(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    settings = settings_of(request)
    try:
        data = BillCreate(fee_code=_text(form, "fee_code"), payer_name=_text(form, "payer_name"),
                          subject_type=_text(form, "subject_type") or None,
                          subject_id=_text(form, "subject_id") or None)
        bill = service.issue_bill(session, actor, data=data, qr_minutes=settings.payments_qr_minutes,
                                  bill_days=settings.payments_bill_days)
    except (ValidationError, Problem) as error:
        if isinstance(error, Problem) and error.status in (401, 403):
            raise
        page = service.list_bills(session, actor)
        return render(request, "payments/bills.html", {
            "page": page, "status": "", **_fee_options(service.list_fees(session, actor)), "errors": form_errors(error),
            "values": {k: _text(form, k) for k in ("fee_code", "payer_name", "subject_type", "subject_id")},
            **_common()}, status_code=422)
    flash(request, _("Bill %(number)s issued.", number=bill.number))
    return RedirectResponse(f"/admin/payments/bills/{bill.number}", status_code=303)


@router.get("/admin/payments/bills/{number}")
def bill_detail(request: Request, session: DbSession, actor: OfficerActor, number: str) -> Response:
    bill = service.get_bill(session, actor, number=number)
    return render(request, "payments/bill_admin.html", {"bill": bill, **_common()})


@router.post("/admin/payments/bills/{number}/cancel")
def cancel_bill(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                number: str) -> Response:
    service.cancel_bill(session, actor, number=number, reason=_text(form, "reason") or "-")
    flash(request, _("The bill was cancelled."))
    return RedirectResponse(f"/admin/payments/bills/{number}", status_code=303)


@router.post("/admin/payments/bills/{number}/refund")
def request_refund(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                   number: str) -> Response:
    settings = settings_of(request)
    try:
        refund = service.request_refund(session, actor, number=number, reason=_text(form, "reason"),
                                        amount=_text(form, "amount") or None,
                                        four_eyes_above=service.four_eyes_limits(settings.payments_four_eyes_above),
                                        refund_url=refund_url(settings))
    except Problem as problem:
        if problem.status in (401, 403):
            raise
        bill = service.get_bill(session, actor, number=number)
        return render(request, "payments/bill_admin.html", {
            "bill": bill, "errors": form_errors(problem) if problem.errors else {"reason": problem.detail or ""},
            "values": {"reason": _text(form, "reason"), "amount": _text(form, "amount")}, **_common()},
            status_code=problem.status)
    if refund.status == "pending":
        flash(request, _("The refund waits for a second officer's approval."), "warning")
    else:
        flash(request, _("The refund was made."))
    return RedirectResponse(f"/admin/payments/bills/{number}", status_code=303)


@router.get("/admin/payments/refunds")
def refunds_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    refunds = service.list_refunds(session, actor)
    return render(request, "payments/refunds.html", {"refunds": refunds, **_common()})


@router.post("/admin/payments/refunds/{refund_id}/{decision}")
def decide_refund(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                  refund_id: uuid.UUID, decision: str) -> Response:
    if decision not in ("approve", "reject"):
        raise NotFound()
    if decision == "approve":
        service.approve_refund(session, actor, refund_id=refund_id, refund_url=refund_url(settings_of(request)))
        flash(request, _("The refund was approved and made."))
    else:
        service.reject_refund(session, actor, refund_id=refund_id, reason=_text(form, "reason") or "-")
        flash(request, _("The refund was rejected."))
    return RedirectResponse("/admin/payments/refunds", status_code=303)


@router.get("/admin/payments/ledger")
def ledger_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    balances = service.ledger_balances(session, actor)
    check = service.check_ledger(session, actor)
    held = service.list_notifications(session, actor, outcome="held", limit=50)
    return render(request, "payments/ledger.html", {"balances": balances, "check": check, "held": held.items,
                                                    **_common()})


def _held_page(request: Request, session: DbSession, actor: OfficerActor, *, errors: dict[str, str] | None = None,
               error_for: str = "", values: dict[str, str] | None = None, status_code: int = 200) -> Response:
    settings = settings_of(request)
    limits = service.four_eyes_limits(settings.payments_four_eyes_above)
    four_eyes_text = ", ".join(format_money(minor, currency) for currency, minor in sorted(limits.items()))
    return render(request, "payments/review.html", {
        "held": service.list_held_payments(session, actor), "errors": errors or {}, "error_for": error_for,
        "values": values or {}, "four_eyes_text": four_eyes_text, **_common()}, status_code=status_code)


@router.get("/admin/payments/held")
def held_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    return _held_page(request, session, actor)


def _problem_errors(problem: Problem, field: str) -> dict[str, str]:
    return form_errors(problem) if problem.errors else {field: problem.detail or problem.title}


@router.post("/admin/payments/held/{notification_id}")
def review_held(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                notification_id: uuid.UUID) -> Response:
    settings = settings_of(request)
    decision = _text(form, "decision")
    try:
        review = service.review_held_payment(
            session, actor, notification_id=notification_id, decision=decision, reason=_text(form, "reason"),
            bill_number=_text(form, "bill_number") or None,
            four_eyes_above=service.four_eyes_limits(settings.payments_four_eyes_above),
            refund_url=refund_url(settings))
    except Problem as problem:
        if problem.status in (401, 403, 404):
            raise
        session.rollback()
        return _held_page(request, session, actor, errors=_problem_errors(problem, "reason"),
                          error_for=str(notification_id), status_code=problem.status,
                          values={k: _text(form, k) for k in ("reason", "bill_number")})
    if review.status == "pending":
        flash(request, _("Your decision waits for a second officer's confirmation."), "warning")
    elif review.decision == "accept":
        flash(request, _("The payment was accepted and the bill is paid."))
    else:
        flash(request, _("The payment is being returned to the payer."))
    return RedirectResponse("/admin/payments/held", status_code=303)


@router.post("/admin/payments/reviews/{review_id}/{step}")
def decide_review(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                  review_id: uuid.UUID, step: str) -> Response:
    if step not in ("confirm", "decline"):
        raise NotFound()
    try:
        if step == "confirm":
            service.confirm_review(session, actor, review_id=review_id, refund_url=refund_url(settings_of(request)))
            flash(request, _("The decision was confirmed and carried out."))
        else:
            service.decline_review(session, actor, review_id=review_id, reason=_text(form, "decline_reason"))
            flash(request, _("The decision was declined; the payment stays held."))
    except Problem as problem:
        if problem.status in (401, 403, 404):
            raise
        session.rollback()
        reviewed = next((r for r in service.list_reviews(session, actor) if r.id == review_id), None)
        errors = _problem_errors(problem, "decline_reason")
        if "reason" in errors:
            errors["decline_reason"] = errors.pop("reason")
        return _held_page(request, session, actor, errors=errors, status_code=problem.status,
                          error_for=str(reviewed.notification_id) if reviewed else "",
                          values={"decline_reason": _text(form, "decline_reason")})
    return RedirectResponse("/admin/payments/held", status_code=303)


@router.get("/admin/payments/reconciliations")
def reconciliations_page(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    reports = service.list_reconciliations(session, actor)
    return render(request, "payments/reconciliations.html", {"reports": reports, **_common()})


@router.get("/admin/payments/reconciliations/{reconciliation_id}")
def reconciliation_page(request: Request, session: DbSession, actor: OfficerActor,
                        reconciliation_id: uuid.UUID) -> Response:
    report = next((r for r in service.list_reconciliations(session, actor) if r.id == reconciliation_id), None)
    items = service.reconciliation_items(session, actor, reconciliation_id=reconciliation_id)
    kind_labels = {"missing": _("Missing from the file"), "unexpected": _("Unexpected in the file"),
                   "amount_mismatch": _("Amount differs"), "duplicate": _("Duplicates"),
                   "unreadable": _("Unreadable lines")}
    return render(request, "payments/reconciliation.html", {"report": report, "items": items,
                                                            "kind_labels": kind_labels, **_common()})

