"""Officers' pages of the civil register: the event queue, declaring a birth, the workflow buttons,
search and a resident's record with its history."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from nokor import places
from nokor.civil import service
from nokor.civil.api import rules_of, run_step
from nokor.civil.schemas import EVENT_STATES, EventCreate
from nokor.kit.errors import NotFound, Problem, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.web import flash, form_errors, render
from nokor.web.deps import DbSession, OfficerActor, OfficerForm

router = APIRouter(include_in_schema=False)
STEPS = ("declare", "validate", "register", "certify", "approve-late", "request-updates", "reject")
PURPOSE = "civil registration office"


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


def _common() -> dict[str, Any]:
    return {"state_label": state_label, "kind_label": kind_label, "states": EVENT_STATES,
            "sex_options": [("F", _("Female")), ("M", _("Male")), ("X", _("Other"))]}


@router.get("/civil")
def queue(request: Request, session: DbSession, actor: OfficerActor, state: str = "declared") -> Response:
    if state not in EVENT_STATES:
        raise NotFound()
    events = service.list_events(session, actor, state=state)
    counts = service.count_events(session, actor)
    return render(request, "civil/queue.html", {"events": events, "counts": counts, "state": state, **_common()})


PICKER = "place_code"


def _picker(session: DbSession, form: FormData | None = None) -> places.PickerState:
    fields = {k: v for k, v in form.items() if isinstance(v, str)} if form is not None else {}
    return places.picker_state(session, name=PICKER, values=fields)


def _picker_step(form: FormData) -> bool:
    """The officer pressed one of the picker's own buttons (next level, search, choose), not "declare"."""
    return any(form.get(f"{PICKER}.{button}") for button in ("step", "search", "choose"))


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
    return render(request, "civil/event.html", {"event": event, **_common()})


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
    return render(request, "civil/resident.html", {"resident": resident, "history": history, "events": events,
                                                   "paths": paths, **_common()},
                  headers={"Cache-Control": "no-store"})
