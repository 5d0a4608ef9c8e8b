"""Officers' pages of the civil register: the event queue, declaring a birth, the workflow buttons,
search and a resident's record with its history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from nokor import places, trust
from nokor.civil import service
from nokor.civil.api import rules_of, run_step
from nokor.civil.bulk import format_birth_date
from nokor.civil.schemas import (
    EVENT_STATES,
    CertificateIssued,
    ContactDetails,
    CorrectionCreate,
    DuplicateCaseView,
    DuplicateDecision,
    EventCreate,
    PersonSide,
    ResidentRead,
)
from nokor.kit.errors import NotFound, Problem, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.web import flash, form_errors, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm

router = APIRouter(include_in_schema=False)
STEPS = ("declare", "validate", "register", "certify", "approve-late", "request-updates", "reject")
PURPOSE = "civil registration office"
CORRECTABLE_ORDER = ("given_name", "family_name", "given_name_latin", "family_name_latin", "sex", "birth_date",
                     "birth_date_precision", "birth_place_code", "nationality", "address_code", "address_text")
# The events declared from a resident's page, and the name of the place picker each form shows (if any).
DECLARABLE: dict[str, str | None] = {"death": "place_code", "marriage": "place_code", "divorce": None,
                                     "change_of_address": "new_address_code", "change_of_name": None}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def state_label(state: str) -> str:
    return {"draft": _("Draft"), "declared": _("Declared"), "requires_updates": _("Requires updates"),
            "validated": _("Validated"), "registered": _("Registered"), "certified": _("Certified"),
            "rejected": _("Rejected")}.get(state, state)


def kind_label(kind: str) -> str:
    return {"birth": _("Birth"), "death": _("Death"), "marriage": _("Marriage"), "divorce": _("Divorce"),
            "change_of_address": _("Change of address"), "change_of_name": _("Change of name")}.get(kind, kind)


def field_label(field: str) -> str:
    return {"given_name": _("Given name, as written"), "family_name": _("Family name, as written"),
            "given_name_latin": _("Given name in Latin letters"),
            "family_name_latin": _("Family name in Latin letters"), "sex": _("Sex"),
            "birth_date": _("Date of birth"), "birth_date_precision": _("Precision of the date of birth"),
            "birth_place_code": _("Village of birth (code)"), "nationality": _("Nationality (3-letter code)"),
            "address_code": _("Village of the address (code)"),
            "address_text": _("Address details")}.get(field, field)


def correction_state_label(state: str) -> str:
    return {"pending": _("Waiting for a second officer"), "approved": _("Approved"),
            "rejected": _("Rejected")}.get(state, state)


def _common() -> dict[str, Any]:
    return {"state_label": state_label, "kind_label": kind_label, "states": EVENT_STATES,
            "field_label": field_label, "correction_state_label": correction_state_label,
            "sex_options": [("F", _("Female")), ("M", _("Male")), ("X", _("Other"))]}


@router.get("/civil")
def queue(request: Request, session: DbSession, actor: OfficerActor, state: str = "declared") -> Response:
    if state not in EVENT_STATES:
        raise NotFound()
    events = service.list_events(session, actor, state=state)
    counts = service.count_events(session, actor)
    return render(request, "civil/queue.html", {"events": events, "counts": counts, "state": state, **_common()})


PICKER = "place_code"


def _picker(session: DbSession, form: FormData | None = None, name: str = PICKER) -> places.PickerState:
    fields = {k: v for k, v in form.items() if isinstance(v, str)} if form is not None else {}
    return places.picker_state(session, name=name, values=fields)


def _picker_step(form: FormData, name: str = PICKER) -> bool:
    """The officer pressed one of the picker's own buttons (next level, search, choose), not "declare"."""
    return any(form.get(f"{name}.{button}") for button in ("step", "search", "choose"))


@router.get("/civil/births/new")
def birth_form(request: Request, session: DbSession, actor: OfficerActor) -> Response:
    return render(request, "civil/birth_form.html", {"values": {}, "errors": {}, "picker": _picker(session),
                                                     **_common()})


@router.post("/civil/births/new")
def declare_birth(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm) -> Response:
    values = {name: _text(form, name) for name in ("given_name", "family_name", "given_name_latin",
                                                   "family_name_latin", "sex", "occurred_on", "mother_nin",
                                                   "father_nin")}
    picker = _picker(session, form)
    values["place_code"] = picker.value or ""
    if _picker_step(form):
        return render(request, "civil/birth_form.html", {"values": values, "errors": {}, "picker": picker,
                                                         **_common()})
    try:
        child: dict[str, Any] = {k: values[k] or None for k in ("given_name", "family_name", "given_name_latin",
                                                                 "family_name_latin", "sex")}
        for role in ("mother", "father"):
            if values[f"{role}_nin"]:
                try:
                    parent = service.find_resident_by_nin(session, actor, nin=values[f"{role}_nin"], purpose=PURPOSE)
                except NotFound as exc:
                    raise ValidationFailed(errors=[field_error([f"{role}_nin"], str(exc), "unknown_nin")]) from exc
                child[f"{role}_id"] = parent.id
        data = EventCreate(kind="birth", occurred_on=values["occurred_on"] or None,
                           place_code=values["place_code"] or None, child=child)
        with session.begin_nested():
            event = service.create_event(session, actor, data=data, rules=rules_of(request))
            service.declare_event(session, actor, event_id=event.id, rules=rules_of(request))
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and not isinstance(exc, ValidationFailed):
            raise
        errors = {k.replace("child.", ""): v for k, v in form_errors(exc).items()}
        return render(request, "civil/birth_form.html", {"values": values, "errors": errors, "picker": picker,
                                                         **_common()}, status_code=422)
    flash(request, _("The birth has been declared."))
    return RedirectResponse(f"/civil/events/{event.id}", status_code=303)


@router.get("/civil/events/{event_id}")
def event_page(request: Request, session: DbSession, actor: OfficerActor, event_id: uuid.UUID) -> Response:
    event = service.get_event(session, actor, event_id=event_id)
    certificates = service.list_certificates(session, actor, event_id=event_id)
    duplicates = service.list_duplicate_cases(session, actor, state=None, event_id=event_id)
    return render(request, "civil/event.html", {"event": event, "certificates": certificates,
                                                "certifiable": event.kind in service.CERTIFIABLE,
                                                "duplicates": duplicates, **_common()})


# --- possible duplicates ----------------------------------------------------------------------

DUPLICATE_STATES = ("pending", "duplicate", "not_duplicate", "closed")


def duplicate_state_label(state: str) -> str:
    return {"pending": _("Waiting for a decision"), "duplicate": _("The same person"),
            "not_duplicate": _("Another person"), "closed": _("Closed with another decision")}.get(state, state)


def score_part_label(part: str) -> str:
    return {"name": _("Names"), "birth_date": _("Date of birth"), "sex": _("Sex"), "place": _("Place of birth"),
            "parents": _("Parents' names")}.get(part, part)


def _duplicate_common() -> dict[str, Any]:
    return {"duplicate_state_label": duplicate_state_label, "score_part_label": score_part_label,
            "duplicate_states": DUPLICATE_STATES, **_common()}


@router.get("/civil/duplicates")
def duplicates(request: Request, session: DbSession, actor: OfficerActor, state: str = "pending") -> Response:
    if state not in DUPLICATE_STATES:
        raise NotFound()
    cases = service.list_duplicate_cases(session, actor, state=state)
    return render(request, "civil/duplicates.html", {"cases": cases, "state": state, **_duplicate_common()})


def _comparison(view: DuplicateCaseView) -> list[tuple[str, str, str]]:
    """(label, new value, value in the register) for each field an officer compares."""
    def born(side: PersonSide) -> str:
        return format_birth_date(side.birth_date, side.birth_date_precision)

    sexes = dict(_common()["sex_options"])
    rows = [(_("Given name, as written"), view.new.given_name, view.candidate.given_name),
            (_("Family name, as written"), view.new.family_name, view.candidate.family_name),
            (_("Given name in Latin letters"), view.new.given_name_latin, view.candidate.given_name_latin),
            (_("Family name in Latin letters"), view.new.family_name_latin, view.candidate.family_name_latin),
            (_("Sex"), sexes.get(view.new.sex or "", "—"), sexes.get(view.candidate.sex or "", "—")),
            (_("Date of birth"), born(view.new), born(view.candidate)),
            (_("Village of birth (code)"), view.new.place_code or "—", view.candidate.place_code or "—"),
            (_("Mother"), view.new.mother_name or "—", view.candidate.mother_name or "—"),
            (_("Father"), view.new.father_name or "—", view.candidate.father_name or "—"),
            (_("National ID number"), view.new.nin or "—", view.candidate.nin or "—")]
    return [(label, str(new), str(old)) for label, new, old in rows]


def _duplicate_page(request: Request, session: DbSession, actor: OfficerActor, case_id: uuid.UUID,
                    values: dict[str, str], errors: dict[str, str], status_code: int = 200) -> Response:
    view = service.get_duplicate_case(session, actor, case_id=case_id, purpose=PURPOSE)
    return render(request, "civil/duplicate.html", {
        "view": view, "rows": _comparison(view), "values": values, "errors": errors, **_duplicate_common()},
        status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/civil/duplicates/{case_id}")
def duplicate_page(request: Request, session: DbSession, actor: OfficerActor, case_id: uuid.UUID) -> Response:
    return _duplicate_page(request, session, actor, case_id, {}, {})


@router.post("/civil/duplicates/{case_id}")
def decide_duplicate(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                     case_id: uuid.UUID) -> Response:
    values = {"decision": _text(form, "decision"), "reason": _text(form, "reason")}
    errors: dict[str, str] = {}
    if values["decision"] not in ("duplicate", "not_duplicate"):
        errors["decision"] = _("Choose whether both records are the same person.")
    if len(values["reason"]) < 3:
        errors["reason"] = _("Say why you decided so.")
    if not errors:
        try:
            with session.begin_nested():
                case = service.decide_duplicate(session, actor, case_id=case_id, data=DuplicateDecision(
                    duplicate=values["decision"] == "duplicate", reason=values["reason"]), rules=rules_of(request))
            flash(request, _("The decision has been recorded: %(decision)s", decision=duplicate_state_label(
                case.state)))
            return RedirectResponse(f"/civil/events/{case.event_id}" if case.event_id
                                    else f"/civil/residents/{case.resident_id}", status_code=303)
        except ValidationFailed as exc:
            errors = form_errors(exc)
        except Problem as exc:
            if exc.status in (403, 404):
                raise
            errors = {"__all__": exc.detail or exc.title}
    return _duplicate_page(request, session, actor, case_id, values, errors, status_code=422)


def _certificate_download(request: Request, session: DbSession, make: Callable[[], CertificateIssued],
                          event_id: uuid.UUID) -> Response:
    try:
        with session.begin_nested():
            issued = make()
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        _flash_problem(request, exc)
        return RedirectResponse(f"/civil/events/{event_id}", status_code=303)
    serial = issued.certificate.serial
    return Response(issued.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{serial}.pdf"', "Cache-Control": "no-store"})


@router.post("/civil/events/{event_id}/certificate")
def issue_certificate(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                      event_id: uuid.UUID) -> Response:
    ring = trust.key_ring(request.app.state.settings)
    return _certificate_download(request, session, lambda: service.issue_certificate(
        session, actor, ring=ring, event_id=event_id), event_id)


@router.post("/civil/events/{event_id}/certificates/{serial}/copy")
def reissue_certificate(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                        event_id: uuid.UUID, serial: str) -> Response:
    ring = trust.key_ring(request.app.state.settings)
    return _certificate_download(request, session, lambda: service.reissue_certificate(
        session, actor, ring=ring, serial=serial), event_id)


@router.post("/civil/events/{event_id}/{step}")
def event_step(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm, event_id: uuid.UUID,
               step: str) -> Response:
    if step not in STEPS:
        raise NotFound()
    try:
        with session.begin_nested():
            event = run_step(request, session, actor, event_id, step, _text(form, "note"))
        flash(request, _("The event is now: %(state)s", state=state_label(event.state)))
    except ValidationFailed as exc:
        flash(request, " ".join(form_errors(exc).values()) or str(exc), "error")
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        flash(request, exc.detail or exc.title, "error")
    return RedirectResponse(f"/civil/events/{event_id}", status_code=303)


@router.get("/civil/search")
def search(request: Request, session: DbSession, actor: OfficerActor, nin: str = "", name: str = "",
           birth_date: str = "") -> Response:
    results, errors = None, {}
    if nin or name or birth_date:
        try:
            born = date.fromisoformat(birth_date) if birth_date else None
            results = service.search_residents(session, actor, purpose=PURPOSE, nin=nin or None, name=name or None,
                                               birth_date=born)
        except ValueError:
            errors = {"birth_date": _("Give the date as YYYY-MM-DD.")}
    return render(request, "civil/search.html", {"results": results, "errors": errors,
                                                 "values": {"nin": nin, "name": name, "birth_date": birth_date},
                                                 **_common()})


@router.get("/civil/residents/{resident_id}")
def resident_page(request: Request, session: DbSession, actor: OfficerActor, resident_id: uuid.UUID) -> Response:
    resident = service.get_resident(session, actor, resident_id=resident_id, purpose=PURPOSE)
    history = service.resident_history(session, actor, resident_id=resident_id, purpose=PURPOSE)
    events = service.list_events(session, actor, subject_id=resident_id)
    paths = {code: places.path_of(session, code) for code in (resident.birth_place_code, resident.address_code)
             if code}
    virtual_ids = service.list_virtual_ids(session, actor, resident_id=resident_id, purpose=PURPOSE)
    corrections = service.list_corrections(session, actor, resident_id=resident_id)
    duplicates = service.list_duplicate_cases(session, actor, state=None, resident_id=resident_id)
    return render(request, "civil/resident.html", {
        "resident": resident, "history": history, "events": events, "paths": paths, "virtual_ids": virtual_ids,
        "corrections": corrections, "declarable": DECLARABLE, "duplicates": duplicates,
        "duplicate_state_label": duplicate_state_label, **_common()}, headers={"Cache-Control": "no-store"})


def _back(resident_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/civil/residents/{resident_id}", status_code=303)


def _flash_problem(request: Request, exc: Problem) -> None:
    flash(request, " ".join(form_errors(exc).values()) if isinstance(exc, ValidationFailed) else
          (exc.detail or exc.title), "error")


# --- virtual IDs ------------------------------------------------------------------------------


@router.post("/civil/residents/{resident_id}/virtual-ids")
def issue_virtual_id(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                     resident_id: uuid.UUID) -> Response:
    try:
        with session.begin_nested():
            vid = service.issue_virtual_id(session, actor, resident_id=resident_id)
        flash(request, _("Virtual ID issued: %(number)s", number=vid.number))
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        _flash_problem(request, exc)
    return _back(resident_id)


@router.post("/civil/virtual-ids/{number}/revoke")
def revoke_virtual_id(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                      number: str) -> Response:
    vid = service.revoke_virtual_id(session, actor, number=number)
    flash(request, _("The virtual ID %(number)s has been revoked.", number=vid.number))
    return _back(vid.resident_id)


# --- contact details -------------------------------------------------------------------------


def _contact_page(request: Request, resident: ResidentRead, values: dict[str, str], errors: dict[str, str],
                  status_code: int = 200) -> Response:
    return render(request, "civil/contact_form.html", {"resident": resident, "values": values, "errors": errors},
                  status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/civil/residents/{resident_id}/contact")
def contact_form(request: Request, session: DbSession, actor: OfficerActor, resident_id: uuid.UUID) -> Response:
    resident = service.get_resident(session, actor, resident_id=resident_id, purpose=PURPOSE)
    return _contact_page(request, resident, {"phone": resident.phone or "", "email": resident.email or ""}, {})


@router.post("/civil/residents/{resident_id}/contact")
def update_contact(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                   resident_id: uuid.UUID) -> Response:
    resident = service.get_resident(session, actor, resident_id=resident_id, purpose=PURPOSE)
    values = {name: _text(form, name) for name in ("phone", "email", "reason")}
    try:
        data = ContactDetails(phone=values["phone"].replace(" ", "") or None, email=values["email"] or None)
        with session.begin_nested():
            service.update_contact(session, actor, resident_id=resident_id, data=data, reason=values["reason"])
    except (ValidationError, ValidationFailed) as exc:
        errors = form_errors(exc)
        for name, message in (("phone", _("Give the mobile number in international form, e.g. +85512345678.")),
                              ("email", _("Give an e-mail address such as name@example.com."))):
            if name in errors:
                errors[name] = message
        return _contact_page(request, resident, values, errors, status_code=422)
    flash(request, _("The contact details have been saved."))
    return _back(resident_id)


# --- corrections (four eyes) ------------------------------------------------------------------


def _correction_page(request: Request, resident: ResidentRead, values: dict[str, str], errors: dict[str, str],
                     status_code: int = 200) -> Response:
    options = [(f, field_label(f)) for f in CORRECTABLE_ORDER]
    return render(request, "civil/correction_form.html", {"resident": resident, "values": values, "errors": errors,
                                                          "field_options": options, **_common()},
                  status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/civil/residents/{resident_id}/corrections/new")
def correction_form(request: Request, session: DbSession, actor: OfficerActor, resident_id: uuid.UUID) -> Response:
    resident = service.get_resident(session, actor, resident_id=resident_id, purpose=PURPOSE)
    return _correction_page(request, resident, {}, {})


@router.post("/civil/residents/{resident_id}/corrections/new")
def request_correction(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                       resident_id: uuid.UUID) -> Response:
    resident = service.get_resident(session, actor, resident_id=resident_id, purpose=PURPOSE)
    values = {name: _text(form, name) for name in ("field", "value", "reason", "evidence")}
    try:
        if values["field"] not in CORRECTABLE_ORDER:
            raise ValidationFailed(errors=[field_error(["field"], _("Choose the field to correct."), "field")])
        data = CorrectionCreate(changes={values["field"]: values["value"] or None}, reason=values["reason"],
                                evidence=values["evidence"])
        with session.begin_nested():
            service.request_correction(session, actor, resident_id=resident_id, data=data)
    except (ValidationError, ValidationFailed) as exc:
        errors = {("value" if k.startswith("changes") else k): v for k, v in form_errors(exc).items()}
        return _correction_page(request, resident, values, errors, status_code=422)
    flash(request, _("The correction has been asked for; a second officer must approve it."))
    return _back(resident_id)


@router.post("/civil/corrections/{correction_id}/{decision}")
def decide_correction(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                      correction_id: uuid.UUID, decision: str) -> Response:
    if decision not in ("approve", "reject"):
        raise NotFound()
    resident_id = uuid.UUID(_text(form, "resident_id")) if _text(form, "resident_id") else None
    try:
        with session.begin_nested():
            if decision == "approve":
                resident_id = service.approve_correction(session, actor, correction_id=correction_id).id
                flash(request, _("The correction has been approved and the record changed."))
            else:
                resident_id = service.reject_correction(session, actor, correction_id=correction_id,
                                                        note=_text(form, "note")).resident_id
                flash(request, _("The correction has been rejected; the record is unchanged."))
    except Problem as exc:
        if exc.status == 404 or (exc.status == 403 and not actor.can(service.CIVIL_APPROVE_CORRECTION)):
            raise
        _flash_problem(request, exc)
    if resident_id is None:
        return RedirectResponse("/civil", status_code=303)
    return _back(resident_id)


# --- declaring events about a resident --------------------------------------------------------


def _declare_page(request: Request, session: DbSession, resident: ResidentRead, kind: str, values: dict[str, str],
                  errors: dict[str, str], form: FormData | None = None, status_code: int = 200) -> Response:
    picker_name = DECLARABLE[kind]
    picker = _picker(session, form, picker_name) if picker_name else None
    return render(request, "civil/declare_form.html", {
        "resident": resident, "kind": kind, "values": values, "errors": errors, "picker": picker, **_common()},
        status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/civil/residents/{resident_id}/declare/{kind}")
def declare_form(request: Request, session: DbSession, actor: OfficerActor, resident_id: uuid.UUID,
                 kind: str) -> Response:
    if kind not in DECLARABLE:
        raise NotFound()
    resident = service.get_resident(session, actor, resident_id=resident_id, purpose=PURPOSE)
    return _declare_page(request, session, resident, kind, {}, {})


@router.post("/civil/residents/{resident_id}/declare/{kind}")
def declare_event(request: Request, session: DbSession, actor: OfficerActor, form: OfficerForm,
                  resident_id: uuid.UUID, kind: str) -> Response:
    if kind not in DECLARABLE:
        raise NotFound()
    resident = service.get_resident(session, actor, resident_id=resident_id, purpose=PURPOSE)
    values = {name: _text(form, name) for name in ("occurred_on", "partner_nin", "new_given_name", "new_family_name",
                                                   "new_given_name_latin", "new_family_name_latin",
                                                   "new_address_text")}
    picker_name = DECLARABLE[kind]
    if picker_name and _picker_step(form, picker_name):
        return _declare_page(request, session, resident, kind, values, {}, form)
    picked = _picker(session, form, picker_name).value if picker_name else None
    try:
        fields: dict[str, Any] = {"kind": kind, "occurred_on": values["occurred_on"] or None,
                                  "subject_id": resident.id, picker_name or "place_code": picked}
        if kind == "marriage" and values["partner_nin"]:
            try:
                partner = service.find_resident_by_nin(session, actor, nin=values["partner_nin"], purpose=PURPOSE)
            except NotFound as exc:
                raise ValidationFailed(errors=[field_error(["partner_nin"], str(exc), "unknown_nin")]) from exc
            fields["partner_id"] = partner.id
        if kind == "divorce":
            fields["partner_id"] = resident.spouse_id
        for name in ("new_given_name", "new_family_name", "new_given_name_latin", "new_family_name_latin",
                     "new_address_text"):
            fields[name] = values[name] or None
        data = EventCreate(**fields)
        with session.begin_nested():
            event = service.create_event(session, actor, data=data, rules=rules_of(request))
            service.declare_event(session, actor, event_id=event.id, rules=rules_of(request))
    except (ValidationError, ValidationFailed) as exc:
        errors = {("partner_nin" if k == "partner_id" else k): v for k, v in form_errors(exc).items()}
        return _declare_page(request, session, resident, kind, values, errors, form, status_code=422)
    flash(request, _("The event has been declared."))
    return RedirectResponse(f"/civil/events/{event.id}", status_code=303)
