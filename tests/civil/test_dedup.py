"""Possible duplicates: a birth or a new resident that looks like a registered resident waits for an
officer, who compares both records and decides, with the decision kept."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.civil.factories import SYSTEM, VILLAGE, birth, make_resident, registered

from nokor import civil
from nokor.audit.models import AuditEntry
from nokor.civil import service
from nokor.civil.schemas import CivilRules, DuplicateDecision, PersonCheck
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, Forbidden, ValidationFailed


def officer(*permissions: str) -> Actor:
    return Actor(kind="officer", id=uuid.uuid4(), name="Officer Dara", grants={p: None for p in permissions})


def registered_child(db: Session) -> tuple[civil.ResidentRead, civil.EventRead]:
    mother = make_resident(db, given_name="ស្រីនាង", family_name="សុខ", birth_date=date(1994, 3, 12))
    born = date.today() - timedelta(days=3)
    event = registered(db, birth(mother, occurred_on=born, given_name="ដារា", family_name="ចាន់", sex="M"))
    assert event.subject_id is not None
    return mother, event


class TestBirthDeclarations:
    def test_a_second_declaration_of_the_same_child_waits_for_an_officer(self, db: Session) -> None:
        mother, first = registered_child(db)
        again = civil.create_event(db, SYSTEM, data=birth(mother, occurred_on=first.occurred_on,
                                                          given_name="Dara", family_name="Chann", sex="M"))
        civil.declare_event(db, SYSTEM, event_id=again.id)
        cases = service.list_duplicate_cases(db, SYSTEM, event_id=again.id)
        assert [c.candidate_id for c in cases] == [first.subject_id]
        assert cases[0].score >= 0.8 and cases[0].state == "pending"
        with pytest.raises(Conflict):
            civil.validate_event(db, SYSTEM, event_id=again.id)

    def test_confirmed_duplicate_rejects_the_declaration_naming_the_resident(self, db: Session) -> None:
        mother, first = registered_child(db)
        again = civil.create_event(db, SYSTEM, data=birth(mother, occurred_on=first.occurred_on,
                                                          given_name="ដារា", family_name="ចាន់", sex="M"))
        civil.declare_event(db, SYSTEM, event_id=again.id)
        case = service.list_duplicate_cases(db, SYSTEM, event_id=again.id)[0]
        clerk = officer("civil.read", "civil.validate")
        decided = service.decide_duplicate(db, clerk, case_id=case.id, data=DuplicateDecision(
            duplicate=True, reason="Same child, declared again by the father"))
        assert (decided.state, decided.decided_by_name) == ("duplicate", "Officer Dara")
        rejected = civil.get_event(db, SYSTEM, event_id=again.id)
        child = civil.get_resident(db, SYSTEM, resident_id=first.subject_id or uuid.uuid4(), purpose="test")
        assert rejected.state == "rejected" and child.nin and child.nin in (rejected.note or "")
        trail = db.scalars(select(AuditEntry).where(AuditEntry.action == "duplicate.duplicate")).all()
        assert trail and trail[0].reason == "Same child, declared again by the father"
        with pytest.raises(Conflict):
            service.decide_duplicate(db, clerk, case_id=case.id, data=DuplicateDecision(duplicate=False,
                                                                                       reason="changed my mind"))

    def test_not_a_duplicate_lets_the_birth_go_on(self, db: Session) -> None:
        mother, first = registered_child(db)
        twin = civil.create_event(db, SYSTEM, data=birth(mother, occurred_on=first.occurred_on,
                                                         given_name="Dara", family_name="Chan", sex="M"))
        civil.declare_event(db, SYSTEM, event_id=twin.id)
        case = service.list_duplicate_cases(db, SYSTEM, event_id=twin.id)[0]
        service.decide_duplicate(db, SYSTEM, case_id=case.id, data=DuplicateDecision(
            duplicate=False, reason="Twins: two birth notifications from the hospital"))
        civil.validate_event(db, SYSTEM, event_id=twin.id)
        done = civil.register_event(db, SYSTEM, event_id=twin.id)
        assert done.state == "registered" and done.subject_id != first.subject_id

    def test_a_different_child_of_the_same_mother_is_not_held(self, db: Session) -> None:
        mother, first = registered_child(db)
        sister = registered(db, birth(mother, occurred_on=first.occurred_on - timedelta(days=20),
                                      given_name="ស្រីពៅ", family_name="ចាន់", sex="F"))
        assert sister.state == "registered"
        assert service.list_duplicate_cases(db, SYSTEM, state=None) == []

    def test_a_decision_needs_a_reason_and_the_permission(self, db: Session) -> None:
        mother, first = registered_child(db)
        again = civil.create_event(db, SYSTEM, data=birth(mother, occurred_on=first.occurred_on,
                                                          given_name="ដារា", family_name="ចាន់", sex="M"))
        civil.declare_event(db, SYSTEM, event_id=again.id)
        case = service.list_duplicate_cases(db, SYSTEM, event_id=again.id)[0]
        with pytest.raises(Forbidden):
            service.decide_duplicate(db, officer("civil.read"), case_id=case.id,
                                     data=DuplicateDecision(duplicate=True, reason="same child"))
        with pytest.raises(ValidationFailed) as bad:
            service.decide_duplicate(db, SYSTEM, case_id=case.id, data=DuplicateDecision.model_construct(
                duplicate=True, reason="  "))
        assert bad.value.errors and bad.value.errors[0]["pointer"] == "/reason"


class TestNewResidents:
    def test_a_resident_entered_twice_is_held_without_a_number(self, db: Session) -> None:
        first = make_resident(db, given_name="محمد", family_name="علي", given_name_latin="Mohamed",
                              family_name_latin="Ali", sex="M", birth_date=date(1980, 5, 6))
        second = make_resident(db, given_name="Mohammed", family_name="Aly", sex="M", birth_date=date(1980, 6, 5),
                               birth_place_code=None, address_code=None)
        assert (second.status, second.nin) == ("held", None)
        view = service.get_duplicate_case(db, SYSTEM, case_id=service.list_duplicate_cases(
            db, SYSTEM, resident_id=second.id)[0].id)
        assert view.candidate.nin == first.nin and view.new.given_name == "Mohammed"
        assert view.case.parts["birth_date"] == 0.9  # day and month swapped

    def test_cleared_resident_gets_a_number_and_the_history_says_why(self, db: Session) -> None:
        make_resident(db, given_name="Sreyneang", family_name="Sok", birth_date=date(1994, 3, 12))
        held = make_resident(db, given_name="Sreinang", family_name="Sokh", birth_date=date(1994, 1, 1),
                             birth_date_precision="year", birth_place_code=None)
        case = service.list_duplicate_cases(db, SYSTEM, resident_id=held.id)[0]
        service.decide_duplicate(db, SYSTEM, case_id=case.id, data=DuplicateDecision(
            duplicate=False, reason="Another woman: different parents on the family book"))
        now = civil.get_resident(db, SYSTEM, resident_id=held.id, purpose="test")
        assert now.status == "alive" and now.nin
        history = civil.resident_history(db, SYSTEM, resident_id=held.id, purpose="test")
        cleared = next(v for v in history if v.action == "duplicate.cleared")
        assert cleared.reason == "Another woman: different parents on the family book"
        assert (cleared.before or {})["status"] == "held" and cleared.after["status"] == "alive"

    def test_confirmed_duplicate_resident_is_marked_and_left_out_of_later_checks(self, db: Session) -> None:
        make_resident(db)
        held = make_resident(db, given_name="Dara", family_name="Sok")
        case = service.list_duplicate_cases(db, SYSTEM, resident_id=held.id)[0]
        service.decide_duplicate(db, SYSTEM, case_id=case.id, data=DuplicateDecision(duplicate=True,
                                                                                    reason="Same person"))
        assert civil.get_resident(db, SYSTEM, resident_id=held.id, purpose="test").status == "duplicate"
        found = service.find_duplicates(db, SYSTEM, data=PersonCheck(
            given_name="ដារា", family_name="សុខ", sex="F", birth_date=date(1990, 5, 17), place_code=VILLAGE))
        assert [c.resident.resident_id for c in found] != [held.id] and len(found) == 1


class TestFindDuplicates:
    def test_checks_swapped_dates_and_missing_fields_and_logs_the_reads(self, db: Session) -> None:
        person = make_resident(db, given_name="ស្រីនាង", family_name="សុខ", given_name_latin="Sreyneang",
                               family_name_latin="Sok", birth_date=date(1994, 3, 12))
        make_resident(db, given_name="សុភាព", family_name="កែវ", birth_date=date(1994, 3, 12))
        found = service.find_duplicates(db, SYSTEM, data=PersonCheck(
            given_name="Sreinang", family_name="Sokh", birth_date=date(1994, 12, 3)))
        assert [c.resident.nin for c in found] == [person.nin]
        reads = db.scalars(select(AuditEntry).where(AuditEntry.category == "access",
                                                    AuditEntry.subject_id == str(person.id))).all()
        assert any(r.reason == "duplicate check" for r in reads)

    def test_a_person_born_on_another_day_elsewhere_is_not_proposed(self, db: Session) -> None:
        make_resident(db)
        assert service.find_duplicates(db, SYSTEM, data=PersonCheck(
            given_name="Vibol", family_name="Keo", birth_date=date(1990, 5, 17))) == []

    def test_a_person_known_by_the_year_is_found_among_many_born_on_the_first_of_january(
            self, db: Session) -> None:
        # Everyone registered with only a year of birth is stored as born on the 1st of January: such a
        # crowd must not push the true resident out of the blocks.
        lines = ["given_name,family_name,given_name_latin,family_name_latin,sex,birth_date,village_code"]
        lines += [f"Person{i},Crowd{i},,,F,1960,{VILLAGE}" for i in range(450)]
        lines.append("ស្រីនាង,សុខ,Sreyneang,Sok,F,1960-07-04,")
        civil.import_residents(db, SYSTEM, stream=io.StringIO("\n".join(lines) + "\n"), rules=CivilRules(),
                               check_duplicates=False, reason="test")
        person = civil.search_residents(db, SYSTEM, purpose="test", name="Sreyneang")[0]
        found = service.find_duplicates(db, SYSTEM, data=PersonCheck(
            given_name="Sreinang", family_name="Sok", sex="F", birth_date=date(1960, 1, 1),
            birth_date_precision="year"))
        assert [c.resident.nin for c in found][:1] == [person.nin]
