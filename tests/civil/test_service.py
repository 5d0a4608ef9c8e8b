"""The civil register's rules, as an officer would notice them."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.civil.factories import COMMUNE, OTHER_VILLAGE, SYSTEM, VILLAGE, birth, make_resident, registered

from nokor import civil
from nokor.audit.models import AuditEntry
from nokor.civil import nin
from nokor.civil.models import IssuedNumber, Resident
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, Forbidden, ValidationFailed
from nokor.kit.outbox import OutboxMessage


def officer(*permissions: str) -> Actor:
    return Actor(kind="officer", id=uuid.uuid4(), name="Officer", grants={p: None for p in permissions})


def code_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> str:
    assert exc.value.errors
    return str(exc.value.errors[0]["code"])


class TestResidents:
    def test_names_keep_their_script_and_get_a_latin_form(self, db: Session) -> None:
        person = make_resident(db, given_name="محمد", family_name="علي")
        assert (person.given_name, person.given_name_latin, person.family_name_latin) == ("محمد", "Mhmd", "Ly")
        khmer = make_resident(db)
        assert (khmer.given_name_latin, khmer.family_name_latin) == ("Dara", "Sokh")

    def test_a_new_resident_gets_a_valid_national_id_number(self, db: Session) -> None:
        person = make_resident(db)
        assert person.nin and civil.validate_nin(person.nin) == []
        assert db.get(IssuedNumber, person.nin) is not None

    def test_search_by_name_in_any_script_and_by_date_of_birth(self, db: Session) -> None:
        dara = make_resident(db)
        make_resident(db, given_name="Vibol", family_name="Keo", birth_date=date(1980, 1, 1))
        reader = officer("civil.read")
        assert [r.id for r in civil.search_residents(db, reader, purpose="test", name="Dara")] == [dara.id]
        assert [r.id for r in civil.search_residents(db, reader, purpose="test", name="ដារា")] == [dara.id]
        assert [r.id for r in civil.search_residents(db, reader, purpose="test",
                                                     birth_date=date(1990, 5, 17))] == [dara.id]
        assert [r.id for r in civil.search_residents(db, reader, purpose="test", nin=dara.nin)] == [dara.id]

    def test_more_matches_than_the_limit_gives_those_registered_first_listed_by_name(self, db: Session) -> None:
        first = make_resident(db, given_name="Vibol", family_name="Sok", birth_date=date(1970, 2, 3))
        second = make_resident(db, given_name="Bora", family_name="Sok", birth_date=date(1980, 4, 5))
        make_resident(db, given_name="Chenda", family_name="Sok", birth_date=date(1985, 6, 7))
        reader = officer("civil.read")
        found = civil.search_residents(db, reader, purpose="test", name="Sok", limit=2)
        assert [r.id for r in found] == [second.id, first.id]
        assert [r.given_name_latin for r in civil.search_residents(db, reader, purpose="test", name="Sok")] == [
            "Bora", "Chenda", "Vibol"]

    def test_every_read_is_logged_with_its_purpose(self, db: Session) -> None:
        person = make_resident(db)
        civil.get_resident(db, officer("civil.read"), resident_id=person.id, purpose="passport application")
        logged = db.scalars(select(AuditEntry).where(AuditEntry.category == "access",
                                                     AuditEntry.subject_id == str(person.id))).all()
        assert [e.reason for e in logged] == ["passport application"]

    def test_reading_needs_the_permission(self, db: Session) -> None:
        person = make_resident(db)
        with pytest.raises(Forbidden):
            civil.get_resident(db, officer("civil.declare"), resident_id=person.id, purpose="curiosity")

    def test_a_place_must_be_a_known_village(self, db: Session) -> None:
        with pytest.raises(ValidationFailed) as exc:
            make_resident(db, birth_place_code="12999999")
        assert code_of(exc) == "unknown_place" and exc.value.errors[0]["pointer"] == "/birth_place_code"
        with pytest.raises(ValidationFailed) as exc:
            make_resident(db, address_code=COMMUNE)
        assert code_of(exc) == "not_a_village" and exc.value.errors[0]["pointer"] == "/address_code"
        assert make_resident(db, address_code=OTHER_VILLAGE).address_code == OTHER_VILLAGE


class TestNationalIdNumbers:
    def test_a_number_already_issued_is_never_issued_again(self, db: Session) -> None:
        first = make_resident(db)
        second = make_resident(db, given_name="Vibol")
        db.execute(Resident.__table__.update().where(Resident.id == second.id).values(nin=None))
        candidates = iter([first.nin, civil.generate_nin()])
        number = civil.issue_national_id(db, SYSTEM, resident_id=second.id, generate=lambda _n: next(candidates))
        assert number != first.nin

    def test_numbers_stay_in_the_registry_after_death(self, db: Session) -> None:
        person = make_resident(db)
        registered(db, civil.EventCreate(kind="death", occurred_on=date.today(), subject_id=person.id))
        dead = civil.get_resident(db, SYSTEM, resident_id=person.id, purpose="test")
        assert dead.status == "deceased" and dead.nin == person.nin
        assert db.get(IssuedNumber, person.nin) is not None

    def test_concurrent_issuance_of_the_same_candidate_gives_two_numbers(
            self, db: Session, session_factory: sessionmaker[Session]) -> None:
        if db.get_bind().dialect.name != "postgresql":
            pytest.skip("row locks on a unique key need PostgreSQL")
        ids = []
        for name in ("A", "B"):
            resident = make_resident(db, given_name=name)
            db.execute(Resident.__table__.update().where(Resident.id == resident.id).values(nin=None))
            ids.append(resident.id)
        db.commit()
        same = civil.generate_nin()
        flushed = threading.Event()
        numbers: dict[str, str] = {}

        def issue(label: str, resident_id: uuid.UUID) -> None:
            candidates = iter([same] + [civil.generate_nin() for _ in range(5)])
            with session_factory() as session:
                if label == "B":
                    flushed.wait(10)
                numbers[label] = civil.issue_national_id(session, SYSTEM, resident_id=resident_id,
                                                         generate=lambda _n: next(candidates))
                if label == "A":
                    flushed.set()
                    threading.Event().wait(0.3)  # B now waits on A's uncommitted row
                session.commit()

        threads = [threading.Thread(target=issue, args=(label, rid)) for label, rid in zip("AB", ids, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert numbers["A"] == same and numbers["B"] != same and civil.validate_nin(numbers["B"]) == []


class TestVirtualIds:
    def test_issue_resolve_and_revoke(self, db: Session) -> None:
        person = make_resident(db)
        vid = civil.issue_virtual_id(db, officer("civil.declare"), resident_id=person.id)
        assert len(vid.number) == 16 and vid.number != person.nin
        agency = officer("civil.resolve_virtual_id")
        assert civil.resolve_virtual_id(db, agency, number=vid.number, purpose="bank KYC").id == person.id
        with pytest.raises(Forbidden):
            civil.resolve_virtual_id(db, officer("civil.read"), number=vid.number, purpose="bank KYC")
        civil.revoke_virtual_id(db, officer("civil.declare"), number=vid.number)
        with pytest.raises(Exception, match="revoked"):
            civil.resolve_virtual_id(db, agency, number=vid.number, purpose="bank KYC")


class TestBirthWorkflow:
    def test_registering_a_birth_creates_the_resident_with_a_number_and_an_outbox_event(self, db: Session) -> None:
        mother = make_resident(db)
        event = registered(db, birth(mother))
        assert event.state == "registered" and event.subject_id is not None
        child = civil.get_resident(db, SYSTEM, resident_id=event.subject_id, purpose="test")
        assert child.mother_id == mother.id and child.nin and child.birth_place_code == VILLAGE
        message = db.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == str(event.id))).one()
        assert message.channel == "pubsub" and message.destination == "civil.events"
        assert message.payload["kind"] == "birth" and "ដារា" not in str(message.payload)
        assert child.nin not in str(message.payload)

    def test_each_step_needs_its_own_permission(self, db: Session) -> None:
        clerk = officer("civil.declare", "civil.read")
        event = civil.create_event(db, clerk, data=birth(make_resident(db)))
        civil.declare_event(db, clerk, event_id=event.id)
        with pytest.raises(Forbidden):
            civil.validate_event(db, clerk, event_id=event.id)
        civil.validate_event(db, officer("civil.validate"), event_id=event.id)
        with pytest.raises(Forbidden):
            civil.register_event(db, officer("civil.validate"), event_id=event.id)
        assert civil.register_event(db, officer("civil.register"), event_id=event.id).state == "registered"
        with pytest.raises(Forbidden):
            civil.certify_event(db, clerk, event_id=event.id)
        assert civil.certify_event(db, officer("civil.certify"), event_id=event.id).state == "certified"

    def test_steps_cannot_be_skipped(self, db: Session) -> None:
        event = civil.create_event(db, SYSTEM, data=birth(make_resident(db)))
        with pytest.raises(Conflict):
            civil.register_event(db, SYSTEM, event_id=event.id)

    def test_requires_updates_then_declared_again(self, db: Session) -> None:
        event = civil.create_event(db, SYSTEM, data=birth(make_resident(db)))
        civil.declare_event(db, SYSTEM, event_id=event.id)
        sent_back = civil.request_event_updates(db, SYSTEM, event_id=event.id, note="Father's name missing")
        assert sent_back.state == "requires_updates" and sent_back.note == "Father's name missing"
        civil.update_event(db, SYSTEM, event_id=event.id, data=birth(given_name="Sophea"))
        assert civil.declare_event(db, SYSTEM, event_id=event.id).state == "declared"
        rejected = civil.reject_event(db, SYSTEM, event_id=event.id, note="Duplicate")
        assert rejected.state == "rejected"
        with pytest.raises(Conflict):
            civil.validate_event(db, SYSTEM, event_id=event.id)

    def test_a_late_birth_needs_a_supervisor(self, db: Session) -> None:
        event = civil.create_event(db, SYSTEM, data=birth(make_resident(db),
                                                          occurred_on=date.today() - timedelta(days=45)))
        assert civil.declare_event(db, SYSTEM, event_id=event.id).is_late
        with pytest.raises(Conflict, match="supervisor"):
            civil.validate_event(db, SYSTEM, event_id=event.id)
        with pytest.raises(Forbidden):
            civil.approve_late_event(db, officer("civil.validate"), event_id=event.id, note="Born at home")
        civil.approve_late_event(db, officer("civil.approve_late"), event_id=event.id, note="Born at home")
        assert civil.validate_event(db, SYSTEM, event_id=event.id).state == "validated"

    def test_lateness_follows_the_setting(self, db: Session) -> None:
        event = civil.create_event(db, SYSTEM, data=birth(occurred_on=date.today() - timedelta(days=45)))
        declared = civil.declare_event(db, SYSTEM, event_id=event.id, rules=civil.CivilRules(late_birth_days=60))
        assert not declared.is_late

    def test_a_failed_registration_leaves_nothing_half_written(self, db: Session,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        event = civil.create_event(db, SYSTEM, data=birth(make_resident(db)))
        civil.declare_event(db, SYSTEM, event_id=event.id)
        civil.validate_event(db, SYSTEM, event_id=event.id)
        db.commit()
        residents_before = len(db.scalars(select(Resident)).all())

        def failing(_length: int) -> str:
            raise RuntimeError("number generator down")

        monkeypatch.setattr(nin, "generate_nin", failing)
        with pytest.raises(RuntimeError):
            civil.register_event(db, SYSTEM, event_id=event.id)
        db.rollback()  # what the request does when a step raises
        assert len(db.scalars(select(Resident)).all()) == residents_before
        assert civil.get_event(db, SYSTEM, event_id=event.id).state == "validated"
        assert db.scalars(select(OutboxMessage)).all() == []


class TestConsistencyRules:
    def test_no_future_dates(self, db: Session) -> None:
        with pytest.raises(ValidationFailed) as exc:
            civil.create_event(db, SYSTEM, data=birth(occurred_on=date.today() + timedelta(days=1)))
        assert code_of(exc) == "future_date"

    def test_no_death_before_birth(self, db: Session) -> None:
        person = make_resident(db)
        with pytest.raises(ValidationFailed) as exc:
            civil.create_event(db, SYSTEM, data=civil.EventCreate(kind="death", occurred_on=date(1985, 1, 1),
                                                                  subject_id=person.id))
        assert code_of(exc) == "before_birth"

    def test_no_event_for_a_deceased_person(self, db: Session) -> None:
        person = make_resident(db)
        registered(db, civil.EventCreate(kind="death", occurred_on=date.today(), subject_id=person.id))
        with pytest.raises(ValidationFailed) as exc:
            civil.create_event(db, SYSTEM, data=civil.EventCreate(
                kind="change_of_address", occurred_on=date.today(), subject_id=person.id,
                new_address_code=OTHER_VILLAGE))
        assert code_of(exc) == "subject_deceased"
        assert "deceased" in str(exc.value.errors[0]["detail"])  # type: ignore[index]

    def test_parents_old_enough_and_mother_plausible(self, db: Session) -> None:
        young = make_resident(db, birth_date=date.today() - timedelta(days=365 * 10))
        with pytest.raises(ValidationFailed) as exc:
            civil.create_event(db, SYSTEM, data=birth(young))
        assert code_of(exc) == "parent_too_young"
        old = make_resident(db, birth_date=date(1940, 1, 1))
        with pytest.raises(ValidationFailed) as exc:
            civil.create_event(db, SYSTEM, data=birth(old))
        assert code_of(exc) == "mother_age_implausible"

    def test_marriage_and_divorce(self, db: Session) -> None:
        a, b = make_resident(db), make_resident(db, given_name="Vibol", sex="M")
        c = make_resident(db, given_name="Chenda")
        registered(db, civil.EventCreate(kind="marriage", occurred_on=date.today(), subject_id=a.id,
                                         partner_id=b.id))
        assert civil.get_resident(db, SYSTEM, resident_id=a.id, purpose="t").spouse_id == b.id
        with pytest.raises(ValidationFailed) as exc:
            civil.create_event(db, SYSTEM, data=civil.EventCreate(kind="marriage", occurred_on=date.today(),
                                                                  subject_id=c.id, partner_id=b.id))
        assert code_of(exc) == "already_married"
        with pytest.raises(ValidationFailed) as exc:
            civil.create_event(db, SYSTEM, data=civil.EventCreate(kind="divorce", occurred_on=date.today(),
                                                                  subject_id=a.id, partner_id=c.id))
        assert code_of(exc) == "not_married"
        registered(db, civil.EventCreate(kind="divorce", occurred_on=date.today(), subject_id=a.id, partner_id=b.id))
        assert civil.get_resident(db, SYSTEM, resident_id=b.id, purpose="t").spouse_id is None

    def test_change_of_name_and_address_keep_history(self, db: Session) -> None:
        person = make_resident(db)
        registered(db, civil.EventCreate(kind="change_of_name", occurred_on=date.today(), subject_id=person.id,
                                         new_family_name="កែវ"))
        registered(db, civil.EventCreate(kind="change_of_address", occurred_on=date.today(), subject_id=person.id,
                                         new_address_code=OTHER_VILLAGE, new_address_text="House 5"))
        now = civil.get_resident(db, SYSTEM, resident_id=person.id, purpose="t")
        assert (now.family_name, now.family_name_latin, now.address_code) == ("កែវ", "Kaev", OTHER_VILLAGE)
        history = civil.resident_history(db, SYSTEM, resident_id=person.id, purpose="t")
        assert [h.action for h in history][:2] == ["change_of_address.register", "change_of_name.register"]
        assert history[1].before and history[1].before["family_name"] == "សុខ"


class TestCorrections:
    def test_four_eyes(self, db: Session) -> None:
        person = make_resident(db)
        clerk = officer("civil.correct", "civil.approve_correction")
        asked = civil.request_correction(db, clerk, resident_id=person.id, data=civil.CorrectionCreate(
            changes={"birth_date": "1990-07-17"}, reason="Typo in the month", evidence="Hospital record 55/1990"))
        with pytest.raises(Forbidden, match="second officer"):
            civil.approve_correction(db, clerk, correction_id=asked.id)
        assert civil.get_resident(db, SYSTEM, resident_id=person.id, purpose="t").birth_date == date(1990, 5, 17)
        fixed = civil.approve_correction(db, officer("civil.approve_correction"), correction_id=asked.id)
        assert fixed.birth_date == date(1990, 7, 17)
        history = civil.resident_history(db, SYSTEM, resident_id=person.id, purpose="t")
        assert history[0].action == "correction" and history[0].before
        assert history[0].before["birth_date"] == "1990-05-17" and "Hospital record" in (history[0].reason or "")
        with pytest.raises(Conflict):
            civil.approve_correction(db, officer("civil.approve_correction"), correction_id=asked.id)

    def test_only_register_fields_can_be_corrected(self, db: Session) -> None:
        person = make_resident(db)
        with pytest.raises(ValidationFailed):
            civil.request_correction(db, SYSTEM, resident_id=person.id, data=civil.CorrectionCreate(
                changes={"nin": "123"}, reason="want another", evidence="none given"))
