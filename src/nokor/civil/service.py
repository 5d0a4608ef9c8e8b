"""The rules of the civil register: residents, national ID numbers, life events and corrections."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import date
from typing import IO, Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nokor import audit, places, trust
from nokor.civil import bulk, dedup, matching, repository, synthetic
from nokor.civil import nin as nin_rules
from nokor.civil.certificate_pdf import Line, certificate_pdf
from nokor.civil.matching import latin_form
from nokor.civil.models import (
    Correction,
    DuplicateCase,
    Household,
    IssuedCertificate,
    IssuedNumber,
    LifeEvent,
    Resident,
    ResidentVersion,
    VirtualId,
    as_dict,
)
from nokor.civil.schemas import (
    CertificateIssued,
    CertificateRead,
    CivilRules,
    ContactDetails,
    CorrectionCreate,
    CorrectionRead,
    DuplicateCandidate,
    DuplicateCaseRead,
    DuplicateCaseView,
    DuplicateDecision,
    EventCreate,
    EventRead,
    ImportReport,
    ImportRowError,
    PersonCheck,
    PersonDetails,
    ResidentCreate,
    ResidentRead,
    ResidentVersionRead,
    VirtualIdRead,
)
from nokor.db import new_id
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.outbox import enqueue
from nokor.kit.time import utcnow

CIVIL_READ = declare_permission("civil.read", _l("Read residents' records in the population register"))
CIVIL_DECLARE = declare_permission("civil.declare", _l("Declare life events (births, deaths, marriages …)"))
CIVIL_VALIDATE = declare_permission("civil.validate", _l("Validate declared life events"))
CIVIL_REGISTER = declare_permission("civil.register", _l("Register validated life events"))
CIVIL_CERTIFY = declare_permission("civil.certify", _l("Certify registered life events"))
CIVIL_APPROVE_LATE = declare_permission("civil.approve_late", _l("Approve late registrations (supervisor)"))
CIVIL_CORRECT = declare_permission("civil.correct", _l("Ask for corrections of registered records"))
CIVIL_APPROVE_CORRECTION = declare_permission(
    "civil.approve_correction", _l("Approve corrections asked for by another officer"))
CIVIL_RESOLVE_VIRTUAL_ID = declare_permission(
    "civil.resolve_virtual_id", _l("Find the resident behind a virtual ID"))

EVENTS_DESTINATION = "civil.events"
RESIDENT_FIELDS = ("nin", "given_name", "family_name", "given_name_latin", "family_name_latin", "sex", "birth_date",
                   "birth_date_precision", "birth_place_code", "nationality", "address_code", "address_text",
                   "phone", "email", "mother_id", "father_id", "spouse_id", "household_id", "status", "death_date",
                   "mother_name", "father_name")
CORRECTABLE = {"given_name", "family_name", "given_name_latin", "family_name_latin", "sex", "birth_date",
               "birth_date_precision", "birth_place_code", "nationality", "address_code", "address_text"}
NIN_ATTEMPTS = 20


def _fail(field: str, message: str, code: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[field_error([field], message, code)])


def _check_place(session: Session, code: str | None, field: str) -> None:
    """A place of the register is a village valid today in the places list."""
    if code is None:
        return
    unit = places.get_division(session, code)
    if unit is None:
        raise _fail(field, _("There is no village with the code %(code)s.", code=code), "unknown_place")
    if unit.level != "village":
        raise _fail(field, _("The code %(code)s is not a village; choose the village.", code=code),
                    "not_a_village")


def _years_between(earlier: date, later: date) -> int:
    return later.year - earlier.year - ((later.month, later.day) < (earlier.month, earlier.day))


# --- history ----------------------------------------------------------------------------------


def _snapshot(resident: Resident) -> dict[str, Any]:
    return as_dict(resident, *RESIDENT_FIELDS)


def _keep_history(session: Session, actor: Actor, resident: Resident, *, action: str,
                  before: dict[str, Any] | None, reason: str | None, event_id: uuid.UUID | None = None) -> None:
    """A version row and an audit entry for a change of ``resident`` (already applied and flushed)."""
    if before is not None:
        resident.version += 1
    session.flush()
    after = _snapshot(resident)
    session.add(ResidentVersion(resident_id=resident.id, version=resident.version, action=action,
                                actor_id=actor.id, actor_name=actor.name, reason=reason, event_id=event_id,
                                before=before, after=after))
    audit.record_change(session, actor, action=f"resident.{action}", subject_type="civil_resident",
                        subject_id=resident.id, before=before, after=after, reason=reason)
    session.flush()


# --- national ID numbers ----------------------------------------------------------------------


def check_nin(number: str, *, length: int = nin_rules.DEFAULT_LENGTH) -> list[str]:
    """Why ``number`` is not a well-formed national ID number; empty when it is one (no database)."""
    return nin_rules.validate_nin(number, length)


def issue_national_id(session: Session, actor: Actor, *, resident_id: uuid.UUID, rules: CivilRules = CivilRules(),
                      generate: Callable[[int], str] | None = None) -> str:
    """Give a resident a new national ID number, unique for ever (the number registry keeps every one).

    Two officers issuing at the same moment cannot get the same number: the registry's primary key
    refuses the second insert, which is retried with a fresh number inside a savepoint.
    """
    actor.require(CIVIL_REGISTER)
    resident = _load_resident(session, resident_id)
    if resident.nin:
        raise Conflict(_("This resident already has a national ID number."))
    before = _snapshot(resident)
    number = _assign_number(session, resident, rules, generate)
    _keep_history(session, actor, resident, action="nin.issue", before=before, reason=None)
    return number


def _assign_number(session: Session, resident: Resident, rules: CivilRules,
                   generate: Callable[[int], str] | None = None) -> str:
    """Reserve a fresh number in the registry (retried on a clash, inside a savepoint) and give it to
    ``resident``; the caller keeps the history."""
    make = generate or nin_rules.generate_nin
    dialect = session.get_bind().dialect.name
    session.flush()  # the resident exists before a number refers to it
    for _attempt in range(NIN_ATTEMPTS):
        number = make(rules.nin_length)
        values = {"number": number, "resident_id": resident.id, "issued_at": utcnow()}
        if dialect in ("postgresql", "sqlite"):
            # One statement: a number taken (even by a transaction not yet committed) inserts nothing.
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert(IssuedNumber).values(**values).on_conflict_do_nothing().returning(IssuedNumber.number)
            if session.execute(stmt).first() is None:
                continue
        else:
            try:
                with session.begin_nested():
                    session.add(IssuedNumber(**values))
                    session.flush()
            except IntegrityError:
                continue
        resident.nin = number
        return number
    raise Conflict(_("No free national ID number was found; try again."))


# --- residents --------------------------------------------------------------------------------


def _load_resident(session: Session, resident_id: uuid.UUID, field: str | None = None) -> Resident:
    resident = session.get(Resident, resident_id)
    if resident is None:
        if field:
            raise _fail(field, _("There is no resident with this id."), "unknown_resident")
        raise NotFound(_("There is no such resident."))
    return resident


def _parent_name(session: Session, parent_id: uuid.UUID | None, written: str | None) -> str | None:
    """A parent's name as the register has it ("family given"), or as declared when they are not in it."""
    parent = session.get(Resident, parent_id) if parent_id else None
    if parent is not None:
        return f"{parent.family_name} {parent.given_name}"
    return written.strip() if written and written.strip() else None


def _new_resident(session: Session, details: PersonDetails, *, birth_date: date,
                  birth_place_code: str | None, checked_places: Collection[str] = ()) -> Resident:
    """A new resident row (flushed); ``checked_places`` were checked against the places list already."""
    for field, code in (("birth_place_code", birth_place_code), ("address_code", details.address_code)):
        if code not in checked_places:
            _check_place(session, code, field)
    for field, parent_id in (("mother_id", details.mother_id), ("father_id", details.father_id)):
        if parent_id is not None:
            _load_resident(session, parent_id, field)
    resident = Resident(
        given_name=details.given_name.strip(), family_name=details.family_name.strip(),
        given_name_latin=(details.given_name_latin or latin_form(details.given_name)).strip(),
        family_name_latin=(details.family_name_latin or latin_form(details.family_name)).strip(),
        sex=details.sex, birth_date=birth_date, birth_date_precision=details.birth_date_precision,
        birth_place_code=birth_place_code, nationality=details.nationality, address_code=details.address_code,
        address_text=details.address_text, mother_id=details.mother_id, father_id=details.father_id,
        mother_name=_parent_name(session, details.mother_id, details.mother_name),
        father_name=_parent_name(session, details.father_id, details.father_name),
        status="alive", version=1,
    )
    resident.name_key = matching.block_key(resident.given_name_latin, resident.family_name_latin)
    resident.search_name = matching.search_text(resident.given_name, resident.family_name, resident.given_name_latin,
                                                resident.family_name_latin)
    if details.mother_id is not None:
        mother = session.get(Resident, details.mother_id)
        resident.household_id = mother.household_id if mother else None
        if resident.address_code is None and mother is not None:
            resident.address_code, resident.address_text = mother.address_code, mother.address_text
    session.add(resident)
    session.flush()
    return resident


def create_resident(session: Session, actor: Actor, *, data: ResidentCreate, rules: CivilRules = CivilRules(),
                    reason: str | None = None) -> ResidentRead:
    """Enter a person already living into the register (first filling, imports) and issue their number.

    When the person looks like a resident already in the register, the record is held (status
    ``held``, no number) and a possible-duplicate case waits for an officer (``decide_duplicate``).
    """
    actor.require(CIVIL_REGISTER)
    if data.birth_date > date.today():
        raise _fail("birth_date", _("The date cannot be in the future."), "future_date")
    resident = _new_resident(session, data, birth_date=data.birth_date, birth_place_code=data.birth_place_code)
    resident.phone, resident.email = data.phone, data.email
    found = dedup.search(session, dedup.person_of_row(resident), threshold=rules.duplicate_threshold,
                         exclude={resident.id})
    if found:
        resident.status = "held"
    if not found:
        _assign_number(session, resident, rules)
    _keep_history(session, actor, resident, action="create", before=None, reason=reason)
    if found:
        _open_cases(session, actor, found, resident_id=resident.id)
    return ResidentRead.model_validate(resident)


def _read(session: Session, actor: Actor, resident: Resident, purpose: str) -> ResidentRead:
    audit.record_access(session, actor, subject_type="civil_resident", subject_id=resident.id, purpose=purpose,
                        fields=list(RESIDENT_FIELDS))
    return ResidentRead.model_validate(resident)


def get_resident(session: Session, actor: Actor, *, resident_id: uuid.UUID, purpose: str) -> ResidentRead:
    """One resident's record; the read and its purpose go to the access log."""
    actor.require(CIVIL_READ)
    return _read(session, actor, _load_resident(session, resident_id), purpose)


def find_resident_by_nin(session: Session, actor: Actor, *, nin: str, purpose: str) -> ResidentRead:
    """The resident holding national ID number ``nin``; the read and its purpose are logged."""
    actor.require(CIVIL_READ)
    resident = repository.resident_by_nin(session, nin.strip())
    if resident is None:
        raise NotFound(_("No resident holds this national ID number."))
    return _read(session, actor, resident, purpose)


def search_residents(session: Session, actor: Actor, *, purpose: str, name: str | None = None,
                     birth_date: date | None = None, nin: str | None = None, limit: int = 50) -> list[ResidentRead]:
    """Residents by national ID number, by name in any script (compared in Latin form) and by date of birth."""
    actor.require(CIVIL_READ)
    if nin and nin.strip():
        found = repository.resident_by_nin(session, nin.strip())
        return [_read(session, actor, found, purpose)] if found else []
    latin = matching.fold(name) if name and name.strip() else None
    if not latin and birth_date is None:
        raise _fail("name", _("Give a national ID number, a name or a date of birth."), "search_empty")
    found_rows = repository.search_residents(session, latin=latin, birth_date=birth_date, limit=min(limit, 200))
    return [_read(session, actor, row, purpose) for row in found_rows]


def resident_history(session: Session, actor: Actor, *, resident_id: uuid.UUID,
                     purpose: str) -> list[ResidentVersionRead]:
    """Every version of a resident's record, newest first (who, when, why, before and after)."""
    actor.require(CIVIL_READ)
    resident = _load_resident(session, resident_id)
    audit.record_access(session, actor, subject_type="civil_resident", subject_id=resident.id, purpose=purpose,
                        fields=["history"])
    return [ResidentVersionRead.model_validate(v) for v in repository.versions_of(session, resident.id)]


def update_contact(session: Session, actor: Actor, *, resident_id: uuid.UUID, data: ContactDetails,
                   reason: str) -> ResidentRead:
    """Record a resident's mobile number and e-mail address (where sign-in codes and notices go).

    A contact detail is not a civil fact, so no second officer is needed; the change keeps its history.
    """
    actor.require(CIVIL_REGISTER)
    if not reason.strip():
        raise _fail("reason", _("Say why the contact details change."), "reason_required")
    resident = _load_resident(session, resident_id)
    before = _snapshot(resident)
    resident.phone, resident.email = data.phone or None, (data.email or "").strip().lower() or None
    if (resident.phone, resident.email) != (before["phone"], before["email"]):
        _keep_history(session, actor, resident, action="contact.update", before=before, reason=reason.strip())
    return ResidentRead.model_validate(resident)


def create_household(session: Session, actor: Actor, *, head_id: uuid.UUID, member_ids: list[uuid.UUID]) -> uuid.UUID:
    """Form a household around ``head_id`` at the head's address, with the given members."""
    actor.require(CIVIL_REGISTER)
    head = _load_resident(session, head_id, "head_id")
    household = Household(address_code=head.address_code, head_id=head.id)
    session.add(household)
    session.flush()
    for resident in [head] + [_load_resident(session, m, "member_ids") for m in member_ids if m != head_id]:
        before = _snapshot(resident)
        resident.household_id = household.id
        _keep_history(session, actor, resident, action="household.join", before=before, reason=None)
    return household.id


# --- virtual IDs ------------------------------------------------------------------------------


def issue_virtual_id(session: Session, actor: Actor, *, resident_id: uuid.UUID) -> VirtualIdRead:
    """A new 16-digit virtual ID the resident can share instead of their national ID number."""
    actor.require(CIVIL_DECLARE)
    resident = _load_resident(session, resident_id)
    if resident.status != "alive":
        raise Conflict(_("A deceased person gets no new virtual ID."))
    for _attempt in range(NIN_ATTEMPTS):
        try:
            with session.begin_nested():
                vid = VirtualId(number=nin_rules.generate_virtual_id(), resident_id=resident.id)
                session.add(vid)
                session.flush()
        except IntegrityError:
            continue
        audit.record_change(session, actor, action="virtual_id.issue", subject_type="civil_resident",
                            subject_id=resident.id, after={"virtual_id": vid.id.hex})
        return VirtualIdRead.model_validate(vid)
    raise Conflict(_("No free virtual ID was found; try again."))


def revoke_virtual_id(session: Session, actor: Actor, *, number: str) -> VirtualIdRead:
    """Withdraw a virtual ID: it no longer leads to the resident."""
    actor.require(CIVIL_DECLARE)
    vid = repository.virtual_id_by_number(session, number)
    if vid is None:
        raise NotFound(_("There is no such virtual ID."))
    if vid.revoked_at is None:
        vid.revoked_at = utcnow()
        audit.record_change(session, actor, action="virtual_id.revoke", subject_type="civil_resident",
                            subject_id=vid.resident_id, before={"virtual_id": vid.id.hex}, after=None)
        session.flush()
    return VirtualIdRead.model_validate(vid)


def list_virtual_ids(session: Session, actor: Actor, *, resident_id: uuid.UUID, purpose: str) -> list[VirtualIdRead]:
    """A resident's virtual IDs, newest first, revoked ones included (the read is logged)."""
    actor.require(CIVIL_READ)
    resident = _load_resident(session, resident_id)
    audit.record_access(session, actor, subject_type="civil_resident", subject_id=resident.id, purpose=purpose,
                        fields=["virtual_ids"])
    return [VirtualIdRead.model_validate(v) for v in repository.virtual_ids_of(session, resident.id)]


def resolve_virtual_id(session: Session, actor: Actor, *, number: str, purpose: str) -> ResidentRead:
    """The resident behind a virtual ID that has not been revoked; the read is logged."""
    actor.require(CIVIL_RESOLVE_VIRTUAL_ID)
    vid = repository.virtual_id_by_number(session, number)
    if vid is None or vid.revoked_at is not None:
        raise NotFound(_("This virtual ID is unknown or has been revoked."))
    return _read(session, actor, _load_resident(session, vid.resident_id), purpose)


def resident_for_authentication(session: Session, *, number: str | None = None,
                                resident_id: uuid.UUID | None = None) -> ResidentRead | None:
    """The living resident holding national ID number or unrevoked virtual ID ``number`` (or with the id
    ``resident_id``), or None.

    For the identity service only (sign-in, yes/no verification, e-KYC): it writes the person's access-log
    entry itself, naming the agency, the purpose and the exact attributes compared or released.
    """
    resident: Resident | None = None
    if resident_id is not None:
        resident = session.get(Resident, resident_id)
    elif number is not None:
        number = number.strip().replace(" ", "")
        resident = repository.resident_by_nin(session, number)
        if resident is None and len(number) == 16:
            vid = repository.virtual_id_by_number(session, number)
            if vid is not None and vid.revoked_at is None:
                resident = session.get(Resident, vid.resident_id)
    if resident is None or resident.status != "alive":
        return None
    return ResidentRead.model_validate(resident)


def residents_for_authentication(session: Session, *, numbers: list[str]) -> dict[str, ResidentRead]:
    """``resident_for_authentication`` for many numbers at once (one query, and one more for virtual IDs):
    the living resident of each national ID number or unrevoked virtual ID that has one, by the number as given.

    For the identity service's batched yes/no verification; it writes each access-log entry itself.
    """
    wanted = {number: number.strip().replace(" ", "") for number in numbers}
    found: dict[str, Resident] = {r.nin: r for r in repository.residents_by_nin(session, list(set(wanted.values())))
                                  if r.nin is not None}
    virtual = [n for n in set(wanted.values()) if n not in found and len(n) == 16]
    if virtual:
        for vid in repository.virtual_ids_by_number(session, virtual):
            resident = session.get(Resident, vid.resident_id) if vid.revoked_at is None else None
            if resident is not None:
                found[vid.number] = resident
    out: dict[str, ResidentRead] = {}
    for given, number in wanted.items():
        resident = found.get(number)
        if resident is not None and resident.status == "alive":
            out[given] = ResidentRead.model_validate(resident)
    return out


# --- life events ------------------------------------------------------------------------------


def _load_event(session: Session, event_id: uuid.UUID) -> LifeEvent:
    event = session.get(LifeEvent, event_id)
    if event is None:
        raise NotFound(_("There is no such life event."))
    return event


def _event_details(data: EventCreate) -> dict[str, Any]:
    details = data.model_dump(mode="json", include={
        "new_given_name", "new_family_name", "new_given_name_latin", "new_family_name_latin",
        "new_address_code", "new_address_text"}, exclude_none=True)
    if data.child is not None:
        details["child"] = data.child.model_dump(mode="json")
    return details


def _alive_subject(session: Session, subject_id: uuid.UUID | None, field: str, when: date) -> Resident:
    if subject_id is None:
        raise _fail(field, _("Say whom the event concerns."), "subject_required")
    person = _load_resident(session, subject_id, field)
    if person.status == "deceased":
        raise _fail(field, _("This person is registered as deceased; no new event can concern them."),
                    "subject_deceased")
    if when < person.birth_date:
        raise _fail("occurred_on", _("The event cannot have happened before the person was born."),
                    "before_birth")
    return person


def _parents_of_birth(session: Session, event: LifeEvent) -> list[Resident]:
    """The parents a birth names, loaded in one query. The caller keeps the list for the rest of the
    step: the session holds its rows weakly, and the rules, the duplicate check and the new resident
    all look the parents up again (then without a query)."""
    child = event.details.get("child") if event.kind == "birth" else None
    ids = [uuid.UUID(str(child[key])) for key in ("mother_id", "father_id") if child and child.get(key)]
    return list(repository.residents_by_id(session, ids)) if ids else []


def check_event(session: Session, event: LifeEvent, rules: CivilRules) -> None:
    """Apply the consistency rules to ``event``; raise ``ValidationFailed`` naming the first rule broken."""
    when = event.occurred_on
    if when > date.today():
        raise _fail("occurred_on", _("The date of the event cannot be in the future."), "future_date")
    _check_place(session, event.place_code, "place_code")
    if event.partner_id is not None and event.kind not in ("marriage", "divorce"):
        raise _fail("partner_id", _("Only a marriage or a divorce names a partner."), "partner_not_allowed")
    details = event.details
    if event.kind == "birth":
        if not details.get("child"):
            raise _fail("child", _("A birth needs the child's details."), "child_required")
        child = PersonDetails.model_validate(details["child"])
        for field, parent_id in (("child/mother_id", child.mother_id), ("child/father_id", child.father_id)):
            if parent_id is None:
                continue
            parent = _load_resident(session, parent_id, field)
            if parent.status == "deceased" and parent.death_date and parent.death_date < when and field.endswith(
                    "mother_id"):
                raise _fail(field, _("The mother is registered as deceased before the birth."), "mother_deceased")
            if _years_between(parent.birth_date, when) < rules.min_parent_age:
                raise _fail(field, _("A parent must be at least %(years)d years old at the birth.",
                                     years=rules.min_parent_age), "parent_too_young")
            if field.endswith("mother_id") and _years_between(parent.birth_date, when) > rules.max_mother_age:
                raise _fail(field, _("The mother would be older than %(years)d at the birth; check the dates.",
                                     years=rules.max_mother_age), "mother_age_implausible")
        return
    subject = _alive_subject(session, event.subject_id, "subject_id", when)
    if event.kind == "death":
        return
    if event.kind in ("marriage", "divorce"):
        partner = _alive_subject(session, event.partner_id, "partner_id", when)
        if partner.id == subject.id:
            raise _fail("partner_id", _("A person cannot marry or divorce themself."), "same_person")
        if event.kind == "marriage":
            for field, person in (("subject_id", subject), ("partner_id", partner)):
                spouse = session.get(Resident, person.spouse_id) if person.spouse_id else None
                if spouse is not None and spouse.status == "alive":
                    raise _fail(field, _("This person is already married."), "already_married")
        elif subject.spouse_id != partner.id:
            raise _fail("partner_id", _("These two persons are not married to each other."), "not_married")
    elif event.kind == "change_of_address":
        if not details.get("new_address_code"):
            raise _fail("new_address_code", _("Give the new address's village code."), "address_required")
        _check_place(session, details["new_address_code"], "new_address_code")
    elif event.kind == "change_of_name" and not (details.get("new_given_name") or details.get("new_family_name")):
        raise _fail("new_given_name", _("Give the new name."), "name_required")


def _transition(session: Session, actor: Actor, event: LifeEvent, *, to: str, allowed_from: tuple[str, ...],
                note: str | None = None) -> None:
    if event.state not in allowed_from:
        raise Conflict(_("A life event in the state “%(state)s” cannot go to “%(target)s”.",
                         state=event.state, target=to))
    before = as_dict(event, "state", "note")
    event.state = to
    if note is not None:
        event.note = note
    session.flush()
    audit.record_change(session, actor, action=f"life_event.{to}", subject_type="civil_event", subject_id=event.id,
                        before=before, after=as_dict(event, "state", "note"), reason=note)


def create_event(session: Session, actor: Actor, *, data: EventCreate, rules: CivilRules = CivilRules()) -> EventRead:
    """Write a life event down as a draft (checked against the rules, so errors show at once)."""
    actor.require(CIVIL_DECLARE)
    event = LifeEvent(kind=data.kind, state="draft", subject_id=data.subject_id, partner_id=data.partner_id,
                      occurred_on=data.occurred_on, place_code=data.place_code, details=_event_details(data),
                      is_late=False, created_by=actor.id)
    if data.kind == "birth":
        event.subject_id = None
    check_event(session, event, rules)
    session.add(event)
    session.flush()
    audit.record_change(session, actor, action="life_event.draft", subject_type="civil_event", subject_id=event.id,
                        after=as_dict(event, "kind", "state", "occurred_on", "subject_id", "partner_id"))
    return EventRead.model_validate(event)


def update_event(session: Session, actor: Actor, *, event_id: uuid.UUID, data: EventCreate,
                 rules: CivilRules = CivilRules()) -> EventRead:
    """Change a draft, or an event sent back for updates, before it is declared again."""
    actor.require(CIVIL_DECLARE)
    event = _load_event(session, event_id)
    if event.state not in ("draft", "requires_updates"):
        raise Conflict(_("Only a draft or an event sent back for updates can be changed."))
    if data.kind != event.kind:
        raise _fail("kind", _("The kind of a life event cannot change."), "kind_fixed")
    before = as_dict(event, "occurred_on", "place_code", "subject_id", "partner_id", "details")
    event.occurred_on, event.place_code = data.occurred_on, data.place_code
    event.subject_id = None if data.kind == "birth" else data.subject_id
    event.partner_id, event.details = data.partner_id, _event_details(data)
    check_event(session, event, rules)
    session.flush()
    audit.record_change(session, actor, action="life_event.update", subject_type="civil_event", subject_id=event.id,
                        before=before,
                        after=as_dict(event, "occurred_on", "place_code", "subject_id", "partner_id", "details"))
    return EventRead.model_validate(event)


def declare_event(session: Session, actor: Actor, *, event_id: uuid.UUID,
                  rules: CivilRules = CivilRules()) -> EventRead:
    """Submit a draft: from now on only validation, registration or a request for updates change it.

    A birth declared more than ``rules.late_birth_days`` after it happened is marked late. A birth is
    checked against the register: a child who looks like a resident already registered waits for an
    officer's decision on the possible duplicate before it can be validated.
    """
    actor.require(CIVIL_DECLARE)
    event = _load_event(session, event_id)
    parents = _parents_of_birth(session, event)
    check_event(session, event, rules)
    now = utcnow()
    event.declared_at = now
    event.is_late = event.kind == "birth" and (now.date() - event.occurred_on).days > rules.late_birth_days
    _transition(session, actor, event, to="declared", allowed_from=("draft", "requires_updates"))
    if event.kind == "birth":
        _check_birth_for_duplicates(session, actor, event, rules)
    del parents
    return EventRead.model_validate(event)


def approve_late_event(session: Session, actor: Actor, *, event_id: uuid.UUID, note: str) -> EventRead:
    """A supervisor accepts a late registration, saying why; without it a late event is not validated."""
    actor.require(CIVIL_APPROVE_LATE)
    event = _load_event(session, event_id)
    if not event.is_late:
        raise Conflict(_("This event is not late; it needs no approval."))
    if not note.strip():
        raise _fail("note", _("Say why the late registration is accepted."), "note_required")
    event.late_approved_by = actor.id or uuid.UUID(int=0)
    session.flush()
    audit.record_change(session, actor, action="life_event.approve_late", subject_type="civil_event",
                        subject_id=event.id, after={"late_approved_by": str(event.late_approved_by)}, reason=note)
    return EventRead.model_validate(event)


def validate_event(session: Session, actor: Actor, *, event_id: uuid.UUID,
                   rules: CivilRules = CivilRules()) -> EventRead:
    """Confirm a declared event after checking it against the rules (and the supervisor's approval if late)."""
    actor.require(CIVIL_VALIDATE)
    event = _load_event(session, event_id)
    if event.is_late and event.late_approved_by is None:
        raise Conflict(_("This registration is late: a supervisor must approve it first."))
    _no_pending_duplicates(session, event)
    parents = _parents_of_birth(session, event)
    check_event(session, event, rules)
    _transition(session, actor, event, to="validated", allowed_from=("declared",))
    del parents
    return EventRead.model_validate(event)


def request_event_updates(session: Session, actor: Actor, *, event_id: uuid.UUID, note: str) -> EventRead:
    """Send a declared or validated event back to the declarant with what must change."""
    actor.require(CIVIL_VALIDATE)
    if not note.strip():
        raise _fail("note", _("Say what must be updated."), "note_required")
    event = _load_event(session, event_id)
    _transition(session, actor, event, to="requires_updates", allowed_from=("declared", "validated"), note=note)
    return EventRead.model_validate(event)


def reject_event(session: Session, actor: Actor, *, event_id: uuid.UUID, note: str) -> EventRead:
    """Refuse a declared or validated event for good, saying why."""
    actor.require(CIVIL_VALIDATE)
    if not note.strip():
        raise _fail("note", _("Say why the event is rejected."), "note_required")
    event = _load_event(session, event_id)
    _transition(session, actor, event, to="rejected",
                allowed_from=("draft", "declared", "requires_updates", "validated"), note=note)
    return EventRead.model_validate(event)


def _apply(session: Session, actor: Actor, event: LifeEvent, rules: CivilRules) -> None:
    details, reason = event.details, f"{event.kind} {event.id}"
    if event.kind == "birth":
        child = _new_resident(session, PersonDetails.model_validate(details["child"]),
                              birth_date=event.occurred_on, birth_place_code=event.place_code,
                              checked_places={event.place_code} if event.place_code else ())
        _assign_number(session, child, rules)
        _keep_history(session, actor, child, action="birth.register", before=None, reason=reason, event_id=event.id)
        event.subject_id = child.id
        return
    subject = _load_resident(session, event.subject_id or uuid.UUID(int=0))
    changed: list[tuple[Resident, dict[str, Any]]] = [(subject, _snapshot(subject))]
    if event.kind == "death":
        subject.status, subject.death_date = "deceased", event.occurred_on
    elif event.kind in ("marriage", "divorce"):
        partner = _load_resident(session, event.partner_id or uuid.UUID(int=0))
        changed.append((partner, _snapshot(partner)))
        subject.spouse_id = partner.id if event.kind == "marriage" else None
        partner.spouse_id = subject.id if event.kind == "marriage" else None
    elif event.kind == "change_of_address":
        subject.address_code = details["new_address_code"]
        subject.address_text = details.get("new_address_text")
    elif event.kind == "change_of_name":
        if details.get("new_given_name"):
            subject.given_name = details["new_given_name"]
            subject.given_name_latin = details.get("new_given_name_latin") or latin_form(details["new_given_name"])
        if details.get("new_family_name"):
            subject.family_name = details["new_family_name"]
            subject.family_name_latin = details.get("new_family_name_latin") or latin_form(details["new_family_name"])
        subject.name_key = matching.block_key(subject.given_name_latin, subject.family_name_latin)
        subject.search_name = matching.search_text(subject.given_name, subject.family_name, subject.given_name_latin,
                                                   subject.family_name_latin)
    for person, before in changed:
        _keep_history(session, actor, person, action=f"{event.kind}.register", before=before, reason=reason,
                      event_id=event.id)


def register_event(session: Session, actor: Actor, *, event_id: uuid.UUID,
                   rules: CivilRules = CivilRules()) -> EventRead:
    """Give a validated event legal effect, all at once or not at all.

    A birth creates the resident and issues their national ID number; a death marks the person
    deceased; a marriage or divorce links or unlinks the spouses. The event goes to the outbox.
    """
    actor.require(CIVIL_REGISTER)
    event = _load_event(session, event_id)
    if event.state != "validated":
        raise Conflict(_("A life event in the state “%(state)s” cannot go to “%(target)s”.",
                         state=event.state, target="registered"))
    _no_pending_duplicates(session, event)
    parents = _parents_of_birth(session, event)
    check_event(session, event, rules)
    _apply(session, actor, event, rules)
    del parents
    event.registered_at = utcnow()
    _transition(session, actor, event, to="registered", allowed_from=("validated",))
    enqueue(session, channel="pubsub", destination=EVENTS_DESTINATION, idempotency_key=str(event.id), payload={
        "type": f"civil.{event.kind}.registered", "event_id": str(event.id), "kind": event.kind,
        "occurred_on": event.occurred_on.isoformat(), "place_code": event.place_code,
        "registered_at": event.registered_at.isoformat(), "resident_id": str(event.subject_id),
    })
    return EventRead.model_validate(event)


def certify_event(session: Session, actor: Actor, *, event_id: uuid.UUID) -> EventRead:
    """Mark a registered event as certified (its certificate has been issued)."""
    actor.require(CIVIL_CERTIFY)
    event = _load_event(session, event_id)
    _transition(session, actor, event, to="certified", allowed_from=("registered",))
    return EventRead.model_validate(event)


def get_event(session: Session, actor: Actor, *, event_id: uuid.UUID) -> EventRead:
    """One life event (the declared details may hold personal data: the read is logged)."""
    actor.require(CIVIL_READ)
    event = _load_event(session, event_id)
    audit.record_access(session, actor, subject_type="civil_event", subject_id=event.id, purpose="event review",
                        fields=["details"])
    return EventRead.model_validate(event)


def list_events(session: Session, actor: Actor, *, state: str | None = None, subject_id: uuid.UUID | None = None,
                limit: int = 100) -> list[EventRead]:
    """Life events, newest first, optionally in one state (the officers' queue) or about one resident."""
    actor.require(CIVIL_READ)
    return [EventRead.model_validate(e) for e in repository.events(session, state=state, subject_id=subject_id,
                                                                   limit=min(limit, 500))]


def count_residents(session: Session, actor: Actor) -> int:
    """How many residents the register holds (any status)."""
    actor.require(CIVIL_READ)
    return repository.count_residents(session)


def count_events(session: Session, actor: Actor) -> dict[str, int]:
    """How many life events wait in each state."""
    actor.require(CIVIL_READ)
    return repository.count_events_by_state(session)


# --- possible duplicates -----------------------------------------------------------------------


def _birth_person(session: Session, event: LifeEvent) -> matching.Person:
    child = PersonDetails.model_validate(event.details["child"])
    return matching.Person(
        given_name=child.given_name, family_name=child.family_name, given_name_latin=child.given_name_latin or "",
        family_name_latin=child.family_name_latin or "", sex=child.sex, birth_date=event.occurred_on,
        birth_date_precision=child.birth_date_precision, place_code=event.place_code,
        mother_name=_parent_name(session, child.mother_id, child.mother_name),
        father_name=_parent_name(session, child.father_id, child.father_name))


def _open_cases(session: Session, actor: Actor, found: list[dedup.Found], *, event_id: uuid.UUID | None = None,
                resident_id: uuid.UUID | None = None) -> None:
    known = {c.candidate_id for c in repository.duplicate_cases(session, event_id=event_id, resident_id=resident_id)
             } if (event_id or resident_id) else set()
    for item in found:
        if item.row.id in known:
            continue
        case = DuplicateCase(event_id=event_id, resident_id=resident_id, candidate_id=item.row.id,
                             score=item.score.total, parts=item.score.parts, state="pending")
        session.add(case)
        session.flush()
        audit.record_change(session, actor, action="duplicate.suspect", subject_type="civil_duplicate_case",
                            subject_id=case.id, after=as_dict(case, "event_id", "resident_id", "candidate_id",
                                                              "score", "state"))


def _check_birth_for_duplicates(session: Session, actor: Actor, event: LifeEvent, rules: CivilRules) -> None:
    found = dedup.search(session, _birth_person(session, event), threshold=rules.duplicate_threshold)
    if found:
        _open_cases(session, actor, found, event_id=event.id)


def _no_pending_duplicates(session: Session, event: LifeEvent) -> None:
    if repository.count_pending_cases(session, event_id=event.id):
        raise Conflict(_("This birth may already be in the register: an officer must first decide on the possible "
                         "duplicate."))


def find_duplicates(session: Session, actor: Actor, *, data: PersonCheck, rules: CivilRules = CivilRules(),
                    limit: int = 5, purpose: str = "duplicate check") -> list[DuplicateCandidate]:
    """Residents who may be the person described, best first, with the matcher's scores (reads are logged)."""
    actor.require(CIVIL_READ)
    found = dedup.search(session, dedup.person_of_check(data), threshold=rules.duplicate_threshold,
                         limit=min(limit, 50))
    for item in found:
        audit.record_access(session, actor, subject_type="civil_resident", subject_id=item.row.id, purpose=purpose,
                            fields=["names", "birth_date", "birth_place_code", "parents"])
    return dedup.as_candidates(found)


def list_duplicate_cases(session: Session, actor: Actor, *, state: str | None = "pending",
                         event_id: uuid.UUID | None = None, resident_id: uuid.UUID | None = None,
                         limit: int = 200) -> list[DuplicateCaseRead]:
    """Possible duplicates, newest first (the pending ones are the officers' queue)."""
    actor.require(CIVIL_READ)
    return [DuplicateCaseRead.model_validate(c) for c in repository.duplicate_cases(
        session, state=state, event_id=event_id, resident_id=resident_id, limit=min(limit, 500))]


def _load_case(session: Session, case_id: uuid.UUID) -> DuplicateCase:
    case = session.get(DuplicateCase, case_id)
    if case is None:
        raise NotFound(_("There is no such possible duplicate."))
    return case


def get_duplicate_case(session: Session, actor: Actor, *, case_id: uuid.UUID,
                       purpose: str = "duplicate review") -> DuplicateCaseView:
    """A possible duplicate with both records side by side; reading both is logged."""
    actor.require(CIVIL_READ)
    case = _load_case(session, case_id)
    candidate = _load_resident(session, case.candidate_id)
    if case.event_id is not None:
        new = dedup.side_of_person(_birth_person(session, _load_event(session, case.event_id)))
        audit.record_access(session, actor, subject_type="civil_event", subject_id=case.event_id, purpose=purpose,
                            fields=["details"])
    else:
        held = _load_resident(session, case.resident_id or uuid.UUID(int=0))
        new = dedup.side_of_row(held)
        audit.record_access(session, actor, subject_type="civil_resident", subject_id=held.id, purpose=purpose,
                            fields=list(RESIDENT_FIELDS))
    audit.record_access(session, actor, subject_type="civil_resident", subject_id=candidate.id, purpose=purpose,
                        fields=list(RESIDENT_FIELDS))
    return DuplicateCaseView(case=DuplicateCaseRead.model_validate(case), new=new,
                             candidate=dedup.side_of_row(candidate))


def decide_duplicate(session: Session, actor: Actor, *, case_id: uuid.UUID, data: DuplicateDecision,
                     rules: CivilRules = CivilRules()) -> DuplicateCaseRead:
    """An officer decides whether a possible duplicate is the same person, and says why.

    The same person: the declared birth is rejected (or the held resident marked ``duplicate``), naming
    the resident already registered. Another person: the case closes; when no other case is pending, the
    birth can be validated again (or the held resident becomes a resident with a national ID number).
    """
    actor.require(CIVIL_VALIDATE)
    reason = data.reason.strip()
    if len(reason) < 3:
        raise _fail("reason", _("Say why you decided so."), "reason_required")
    case = _load_case(session, case_id)
    if case.state != "pending":
        raise Conflict(_("This possible duplicate has already been decided."))
    before = as_dict(case, "state", "reason")
    case.state = "duplicate" if data.duplicate else "not_duplicate"
    case.decided_by, case.decided_by_name, case.reason, case.decided_at = actor.id, actor.name[:200], reason, utcnow()
    session.flush()
    audit.record_change(session, actor, action=f"duplicate.{case.state}", subject_type="civil_duplicate_case",
                        subject_id=case.id, before=before, after=as_dict(case, "state", "reason", "candidate_id"),
                        reason=reason)
    candidate = _load_resident(session, case.candidate_id)
    if data.duplicate:
        for other in repository.duplicate_cases(session, state="pending", event_id=case.event_id,
                                                resident_id=case.resident_id):
            if other.event_id == case.event_id and other.resident_id == case.resident_id:
                other.state = "closed"
        note = _("Duplicate of the resident %(nin)s: %(reason)s", nin=candidate.nin or candidate.id, reason=reason)
        if case.event_id is not None:
            event = _load_event(session, case.event_id)
            if event.state in ("draft", "declared", "requires_updates", "validated"):
                _transition(session, actor, event, to="rejected",
                            allowed_from=("draft", "declared", "requires_updates", "validated"), note=note)
        else:
            held = _load_resident(session, case.resident_id or uuid.UUID(int=0))
            snapshot = _snapshot(held)
            held.status = "duplicate"
            _keep_history(session, actor, held, action="duplicate.confirmed", before=snapshot, reason=note)
    elif case.resident_id is not None and not repository.count_pending_cases(session, resident_id=case.resident_id):
        held = _load_resident(session, case.resident_id)
        if held.status == "held":
            snapshot = _snapshot(held)
            held.status = "alive"
            _keep_history(session, actor, held, action="duplicate.cleared", before=snapshot, reason=reason)
            issue_national_id(session, actor, resident_id=held.id, rules=rules)
    session.flush()
    return DuplicateCaseRead.model_validate(case)


# --- bulk import and matching of CSV files ------------------------------------------------------

MAX_REPORTED_ERRORS = 1000


class ImportRejected(ValidationFailed):
    """An import file with invalid rows, written all or nothing: nothing was kept."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(_("%(count)d rows are not valid; nothing was imported.", count=report.invalid),
                         errors=[field_error(["rows", e.row, e.column], e.message, "bad_row")
                                 for e in report.errors[:100]])
        self.report = report


def import_residents(session: Session, actor: Actor, *, stream: IO[str], rules: CivilRules = CivilRules(),
                     skip_invalid: bool = False, check_duplicates: bool = True, reason: str = "import",
                     progress: Callable[[int], None] | None = None, batch_size: int = 5000) -> ImportReport:
    """Enter the residents of an import CSV (see ``bulk.CSV_COLUMNS``) into the register, with numbers.

    Every row is validated first; an invalid row rejects the whole file (``ImportRejected`` with the
    report) unless ``skip_invalid``. With ``check_duplicates`` each row is looked up in the register
    and one that looks like a resident is held for an officer's decision, as ``create_resident`` does.
    """
    actor.require(CIVIL_REGISTER)
    started = time.perf_counter()
    report = ImportReport()
    writer = bulk.ResidentWriter(session, actor, reason=reason, nin_length=rules.nin_length,
                                 batch_size=1 << 62)
    villages = places.village_codes(session)
    suspects: list[tuple[uuid.UUID, list[dedup.Found]]] = []
    today = date.today()

    def flush() -> None:
        writer.flush()
        for resident_id, found in suspects:
            _open_cases(session, actor, found, resident_id=resident_id)
        suspects.clear()

    for _number, resident, errors, _raw in bulk.read_csv(stream, villages=villages, today=today):
        report.rows += 1
        if resident is None:
            report.invalid += 1
            report.errors.extend(ImportRowError(row=e.row, column=e.column, message=e.message)
                                 for e in errors[:MAX_REPORTED_ERRORS - len(report.errors)])
        elif not report.invalid or skip_invalid:
            found = dedup.search(session, resident.person(), threshold=rules.duplicate_threshold) \
                if check_duplicates else []
            writer.add(resident, held=bool(found))
            if found:
                suspects.append((resident.id, found))
                report.held += 1
            report.written += 1
            if len(writer.residents) >= batch_size:
                flush()
        if progress is not None:
            progress(1)
    if report.invalid and not skip_invalid:
        raise ImportRejected(report.model_copy(update={"written": 0, "held": 0}))
    flush()
    report.seconds = round(time.perf_counter() - started, 3)
    audit.record_change(session, actor, action="resident.import", subject_type="civil_import", subject_id=new_id(),
                        after={"rows": report.rows, "written": report.written, "held": report.held,
                               "invalid": report.invalid}, reason=reason)
    return report


def match_rows(session: Session, actor: Actor, *, stream: IO[str], rules: CivilRules = CivilRules(),
               limit: int = 5, threshold: float | None = None) -> Iterator[dict[str, Any]]:
    """For each row of a CSV shaped like the import file: the likely duplicates in the register with
    their scores (reads are logged), or the row's errors. One dict per row, ready for a JSON line."""
    actor.require(CIVIL_READ)
    cut = rules.duplicate_threshold if threshold is None else threshold
    for number, resident, errors, raw in bulk.read_csv(stream, villages=None, today=date.today()):
        line: dict[str, Any] = {"row": number}
        for passthrough in ("id", "duplicate_of"):
            if passthrough in raw:
                line[passthrough] = raw[passthrough]
        if resident is None:
            line["errors"] = [{"column": e.column, "message": e.message} for e in errors]
            yield line
            continue
        found = dedup.search(session, resident.person(), threshold=cut, limit=limit)
        for item in found:
            audit.record_access(session, actor, subject_type="civil_resident", subject_id=item.row.id,
                                purpose="duplicate matching of a file", fields=["names", "birth_date", "parents"])
        line["candidates"] = [{"nin": f.row.nin, "resident_id": str(f.row.id), "score": f.score.total,
                               "parts": f.score.parts, "name": f"{f.row.given_name_latin} {f.row.family_name_latin}",
                               "birth_date": f.row.birth_date.isoformat()} for f in found]
        yield line


def generate_population(session: Session, actor: Actor, *, residents: int, seed: int = 2026,
                        rules: CivilRules = CivilRules(), progress: Callable[[int], None] | None = None
                        ) -> synthetic.Population:
    """Add ``residents`` synthetic residents in families over the villages of the places list, with
    households, numbers, history and their registered births, marriages and deaths (demos, benchmarks)."""
    actor.require(CIVIL_REGISTER)
    villages = places.village_codes(session)
    if not villages:
        raise Conflict(_("Load the places first (nokor places load): residents live in villages."))
    writer = bulk.ResidentWriter(session, actor, reason="synthetic population", nin_length=rules.nin_length)
    done = synthetic.load_population(writer, residents, villages=villages, seed=seed, on_progress=progress)
    writer.flush()
    audit.record_change(session, actor, action="resident.generate", subject_type="civil_import", subject_id=new_id(),
                        after={"residents": done.residents, "households": done.households, "events": done.events,
                               "seed": seed})
    return done


def write_population_csv(session: Session, actor: Actor, *, stream: IO[str], residents: int,
                         seed: int = 2026) -> int:
    """Write ``residents`` synthetic residents as an import CSV instead of entering them."""
    actor.require(CIVIL_READ)
    villages = places.village_codes(session)
    if not villages:
        raise Conflict(_("Load the places first (nokor places load): residents live in villages."))
    people = (m for _h, _v, members, _e in synthetic.families(residents, villages=villages, seed=seed)
              for m in members)
    return bulk.write_csv(stream, people)


def write_probe_csv(session: Session, actor: Actor, *, stream: IO[str], rows: int, seed: int = 7,
                    duplicate_share: float = 0.5) -> int:
    """Write a CSV of people to look up for measuring the matcher: about ``duplicate_share`` of them are
    residents of the register written down again with typos, other spellings, swapped dates or
    missing fields (column ``duplicate_of`` holds the resident's number), the others are new people."""
    actor.require(CIVIL_READ)
    villages = places.village_codes(session)
    sample = repository.sample_residents(session, count=max(rows, 1), seed=seed)
    audit.record_access(session, actor, subject_type="civil_register", subject_id=f"sample of {len(sample)}",
                        purpose="probe file for measuring the matcher", fields=["names", "birth_date", "parents"])
    originals = [(r.nin or "", bulk.NewResident(
        given_name=r.given_name, family_name=r.family_name, given_name_latin=r.given_name_latin,
        family_name_latin=r.family_name_latin, sex=r.sex, birth_date=r.birth_date,
        birth_date_precision=r.birth_date_precision, birth_place_code=r.birth_place_code,
        address_code=r.address_code, mother_name=r.mother_name, father_name=r.father_name)) for r in sample]
    extra: dict[uuid.UUID, dict[str, str]] = {}
    people = []
    for person, columns in synthetic.probe_rows(originals, rows=rows, villages=villages, seed=seed,
                                                duplicate_share=duplicate_share):
        people.append(person)
        extra[person.id] = columns
    return bulk.write_csv(stream, people, extra=extra)


# --- corrections (four eyes) ------------------------------------------------------------------


def request_correction(session: Session, actor: Actor, *, resident_id: uuid.UUID,
                       data: CorrectionCreate) -> CorrectionRead:
    """Ask for a correction of a registered record; another officer must approve it."""
    actor.require(CIVIL_CORRECT)
    resident = _load_resident(session, resident_id)
    unknown = sorted(set(data.changes) - CORRECTABLE)
    if unknown or not data.changes:
        raise _fail("changes", _("These fields cannot be corrected this way: %(fields)s",
                                 fields=", ".join(unknown) or "—"), "not_correctable")
    try:
        trial = ResidentCreate.model_validate({**_snapshot(resident), **data.changes})
    except PydanticValidationError as exc:
        raise ValidationFailed(errors=[
            field_error(["changes", *[str(p) for p in item["loc"]]], _("This value is not valid for this field."),
                        "bad_value")
            for item in exc.errors()]) from exc
    _check_place(session, trial.birth_place_code, "changes/birth_place_code")
    _check_place(session, trial.address_code, "changes/address_code")
    correction = Correction(resident_id=resident.id, changes=data.changes, reason=data.reason.strip(),
                            evidence=data.evidence.strip(), state="pending", requested_by=actor.id,
                            requested_by_name=actor.name)
    session.add(correction)
    session.flush()
    audit.record_change(session, actor, action="correction.request", subject_type="civil_resident",
                        subject_id=resident.id, reason=data.reason,
                        after={"correction": str(correction.id), "fields": sorted(data.changes)})
    return CorrectionRead.model_validate(correction)


def _pending_correction(session: Session, correction_id: uuid.UUID, actor: Actor) -> Correction:
    correction = session.get(Correction, correction_id)
    if correction is None:
        raise NotFound(_("There is no such correction."))
    if correction.state != "pending":
        raise Conflict(_("This correction has already been decided."))
    if actor.id is not None and actor.id == correction.requested_by:
        raise Forbidden(_("A correction must be approved by a second officer, not by the one who asked for it."))
    return correction


def approve_correction(session: Session, actor: Actor, *, correction_id: uuid.UUID) -> ResidentRead:
    """A second officer approves a correction: the record changes and the change joins its history."""
    actor.require(CIVIL_APPROVE_CORRECTION)
    correction = _pending_correction(session, correction_id, actor)
    resident = _load_resident(session, correction.resident_id)
    before = _snapshot(resident)
    values = ResidentCreate.model_validate({**before, **correction.changes})
    for field in correction.changes:
        setattr(resident, field, getattr(values, field))
    if "given_name" in correction.changes and "given_name_latin" not in correction.changes:
        resident.given_name_latin = latin_form(resident.given_name)
    if "family_name" in correction.changes and "family_name_latin" not in correction.changes:
        resident.family_name_latin = latin_form(resident.family_name)
    resident.name_key = matching.block_key(resident.given_name_latin, resident.family_name_latin)
    resident.search_name = matching.search_text(resident.given_name, resident.family_name, resident.given_name_latin,
                                                resident.family_name_latin)
    correction.state, correction.decided_by, correction.decided_at = "approved", actor.id, utcnow()
    _keep_history(session, actor, resident, action="correction", before=before,
                  reason=f"{correction.reason} — {correction.evidence}")
    return ResidentRead.model_validate(resident)


def reject_correction(session: Session, actor: Actor, *, correction_id: uuid.UUID, note: str) -> CorrectionRead:
    """A second officer refuses a correction; the record stays as it was."""
    actor.require(CIVIL_APPROVE_CORRECTION)
    correction = _pending_correction(session, correction_id, actor)
    correction.state, correction.decided_by, correction.decided_at = "rejected", actor.id, utcnow()
    session.flush()
    audit.record_change(session, actor, action="correction.reject", subject_type="civil_resident",
                        subject_id=correction.resident_id, after={"correction": str(correction.id)}, reason=note)
    return CorrectionRead.model_validate(correction)


def list_corrections(session: Session, actor: Actor, *, state: str | None = None,
                     resident_id: uuid.UUID | None = None) -> list[CorrectionRead]:
    """Corrections, newest first (pending ones are the approvers' queue)."""
    actor.require(CIVIL_READ)
    return [CorrectionRead.model_validate(c) for c in repository.corrections(session, state=state,
                                                                            resident_id=resident_id)]


# --- certificates -----------------------------------------------------------------------------

CERTIFIABLE = {"birth": "BC", "death": "DC", "marriage": "MC"}
SEX_KM_EN = {"F": ("ស្រី", "Female"), "M": ("ប្រុស", "Male"), "X": ("ផ្សេងទៀត", "Other")}


def _new_serial(kind: str) -> str:
    """``BC-2026-12345678`` + a Verhoeff check digit: the kind, the year and 8 random digits."""
    digits = nin_rules.generate_virtual_id()[:8]
    return f"{CERTIFIABLE[kind]}-{utcnow().year}-{digits}{nin_rules.verhoeff_digit(digits)}"


def _place_names(session: Session, code: str | None) -> str:
    path = places.path_of(session, code) if code else []
    if not path:
        return code or "—"
    return f"{', '.join(p.name_km for p in reversed(path))}\n{', '.join(p.name_en for p in reversed(path))}"


def _person_lines(resident: Resident | None, role_km: str, role_en: str) -> list[Line]:
    if resident is None:
        return []
    return [Line(role_km, role_en, f"{resident.given_name} {resident.family_name}\n"
                                   f"{resident.given_name_latin} {resident.family_name_latin}"
                                   + (f" · {resident.nin}" if resident.nin else ""))]


def _certificate_lines(session: Session, event: LifeEvent, serial: str, copy_of: str | None,
                       copy_number: int) -> list[Line]:
    subject = session.get(Resident, event.subject_id) if event.subject_id else None
    if subject is None:
        raise Conflict(_("This event has no registered person yet."))
    when = event.occurred_on.isoformat()
    lines = _person_lines(subject, "ឈ្មោះ", "Name")
    if event.kind == "birth":
        sex_km, sex_en = SEX_KM_EN.get(subject.sex, (subject.sex, subject.sex))
        lines += [Line("ភេទ", "Sex", f"{sex_km} / {sex_en}"), Line("ថ្ងៃខែឆ្នាំកំណើត", "Date of birth", when),
                  Line("ទីកន្លែងកំណើត", "Place of birth", _place_names(session, event.place_code))]
        for parent_id, km, en in ((subject.mother_id, "ម្តាយ", "Mother"), (subject.father_id, "ឪពុក", "Father")):
            lines += _person_lines(session.get(Resident, parent_id) if parent_id else None, km, en)
    elif event.kind == "death":
        lines += [Line("ថ្ងៃខែឆ្នាំកំណើត", "Date of birth", subject.birth_date.isoformat()),
                  Line("ថ្ងៃខែឆ្នាំមរណភាព", "Date of death", when),
                  Line("ទីកន្លែងមរណភាព", "Place of death", _place_names(session, event.place_code))]
    else:
        partner = session.get(Resident, event.partner_id) if event.partner_id else None
        lines += _person_lines(partner, "ប្តី ឬប្រពន្ធ", "Spouse")
        lines += [Line("ថ្ងៃខែឆ្នាំរៀបអាពាហ៍ពិពាហ៍", "Date of marriage", when),
                  Line("ទីកន្លែង", "Place", _place_names(session, event.place_code))]
    lines.append(Line("លេខចុះបញ្ជី", "Registration", f"{event.id} · {event.registered_at:%Y-%m-%d}"
                      if event.registered_at else str(event.id)))
    serial_text = serial if copy_of is None else f"{serial} (ច្បាប់ចម្លងទី {copy_number} / copy {copy_number} of {copy_of})"
    lines.append(Line("លេខសៀរៀល", "Serial number", serial_text))
    return lines


def _make_certificate(session: Session, actor: Actor, *, ring: trust.KeyRing, event: LifeEvent,
                      copy_of: str | None, copy_number: int) -> CertificateIssued:
    for _attempt in range(NIN_ATTEMPTS):
        serial = _new_serial(event.kind)
        if repository.certificate_by_serial(session, serial) is None:
            break
    else:
        raise Conflict(_("No free certificate serial was found; try again."))
    subject = session.get(Resident, event.subject_id) if event.subject_id else None
    # Kept small: the QR code also carries the signature and the seal's certificate chain (x5c).
    payload = {"v": 1, "s": serial, "k": event.kind, "d": event.occurred_on.isoformat(),
               "n": f"{subject.given_name_latin} {subject.family_name_latin}"[:60] if subject else None,
               "c": copy_of}
    signed_qr = trust.sign_json(session, actor, ring=ring, payload=json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(), document_name=serial,
        reason=f"{event.kind} certificate")
    qr = f"{ring.publication.base_url.rstrip('/')}/trust/verify/{signed_qr.record.id}#{signed_qr.jws}"
    lines = _certificate_lines(session, event, serial, copy_of, copy_number)
    pdf = certificate_pdf(kind=event.kind, lines=lines, serial=serial, qr_content=qr,
                          note_km="ស្កេនកូដ QR ដើម្បីផ្ទៀងផ្ទាត់វិញ្ញាបនបត្រនេះ។ ឯកសារនេះមានហត្ថលេខាឌីជីថល។",
                          note_en="Scan the QR code to verify this certificate. This document is digitally sealed.")
    sealed = trust.sign_pdf(session, actor, ring=ring, data=pdf, document_name=f"{serial}.pdf",
                            reason=f"{event.kind} certificate {serial}", language="km")
    row = IssuedCertificate(serial=serial, event_id=event.id, kind=event.kind, copy_of=copy_of,
                            copy_number=copy_number, issued_by=actor.id, issued_by_name=actor.name,
                            pdf_record_id=sealed.record.id, qr_record_id=signed_qr.record.id)
    session.add(row)
    session.flush()
    audit.record_change(session, actor, action="certificate.issue", subject_type="civil_event", subject_id=event.id,
                        after={"serial": serial, "copy_of": copy_of})
    return CertificateIssued(certificate=CertificateRead.model_validate(row), pdf=sealed.pdf, qr=qr,
                             payload_jws=signed_qr.jws)


def issue_certificate(session: Session, actor: Actor, *, ring: trust.KeyRing, event_id: uuid.UUID) -> CertificateIssued:
    """Issue the certificate of a registered birth, death or marriage: a bilingual PDF sealed through the
    trust services, with a QR code holding a signed payload; the event becomes certified.

    Needs ``civil.certify`` here and ``trust.sign`` for the seal. A second certificate of the same event is a
    copy (see ``reissue_certificate``)."""
    actor.require(CIVIL_CERTIFY)
    event = _load_event(session, event_id)
    if event.kind not in CERTIFIABLE:
        raise Conflict(_("Only births, deaths and marriages have certificates."))
    if event.state not in ("registered", "certified"):
        raise Conflict(_("Only a registered event has a certificate."))
    first = repository.certificates_of(session, event.id)
    if first:
        return reissue_certificate(session, actor, ring=ring, serial=first[-1].serial)
    issued = _make_certificate(session, actor, ring=ring, event=event, copy_of=None, copy_number=0)
    if event.state == "registered":
        _transition(session, actor, event, to="certified", allowed_from=("registered",))
    return issued


def reissue_certificate(session: Session, actor: Actor, *, ring: trust.KeyRing, serial: str) -> CertificateIssued:
    """Issue a copy of a certificate: a new PDF with its own serial, naming the first certificate."""
    actor.require(CIVIL_CERTIFY)
    found = repository.certificate_by_serial(session, serial.strip())
    if found is None:
        raise NotFound(_("There is no certificate with this serial."))
    original = found.copy_of or found.serial
    copies = [c for c in repository.certificates_of(session, found.event_id) if c.copy_of == original]
    return _make_certificate(session, actor, ring=ring, event=_load_event(session, found.event_id),
                             copy_of=original, copy_number=len(copies) + 1)


def list_certificates(session: Session, actor: Actor, *, event_id: uuid.UUID) -> list[CertificateRead]:
    """The certificate register's lines for one event, first certificate first."""
    actor.require(CIVIL_READ)
    return [CertificateRead.model_validate(c) for c in repository.certificates_of(session, event_id)]
