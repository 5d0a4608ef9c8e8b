"""The rules of e-services: catalogue, drafts, submission with documents and fee, the officer's workflow,
four eyes, the three demo services' results, 404 for someone else's application, 409 for a step not allowed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from tests.civil.factories import VILLAGE
from tests.services.conftest import SYSTEM, Country

from nokor import civil, payments, registries, services, trust
from nokor.config import Settings
from nokor.kit.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def citizen(subject: str = "oidc|sreyneang", name: str = "Sok Sreyneang") -> services.Applicant:
    return services.Applicant(subject=subject, name=name, email="sreyneang@example.org", locale="en")


def pay(db: Session, settings: Settings, bill_number: str) -> None:
    bill = payments.bill_for_payer(db, number=bill_number)
    body = json.dumps({"event_id": f"ev-{bill_number}", "transaction_ref": f"tx-{bill_number}", "status": "SUCCESS",
                       "bill_number": bill_number, "md5": bill.qr_md5,
                       "amount": payments.money_text(bill.amount_minor, bill.currency),
                       "currency": bill.currency}).encode()
    secret = payments.webhook_secret(None, settings.effective_secret_key)
    outcome = payments.receive_notification(db, provider="sandbox", body=body, secret=secret,
                                            headers={"x-provider-signature": payments.sign_body(secret, body)})
    assert outcome.outcome == "applied", outcome


class TestCatalogue:
    def test_search_finds_a_service_in_any_of_the_four_languages(self, db: Session, country: Country) -> None:
        for query in ("birth", "សំបុត្រកំណើត", "شهادة الميلاد", "Geburtsurkunde"):
            assert [s.code for s in services.list_services(db, query=query)] == ["birth-certificate-copy"], query
        assert services.list_services(db, query="no such thing at all") == []

    def test_a_new_version_leaves_old_applications_on_theirs(self, db: Session, country: Country) -> None:
        draft = services.start_application(db, citizen(), service_code="change-of-address", values={})
        current = services.get_service(db, code="change-of-address")
        data = services.ServiceVersionCreate(**{**current.model_dump(include={
            "name", "description", "eligibility", "fee_code", "form_schema", "ui_schema", "effect", "four_eyes"}),
            "processing_days": 2, "required_documents": []})
        newer = services.publish_version(db, SYSTEM, code="change-of-address", data=data)
        assert newer.version == 2 and newer.processing_days == 2
        again = services.get_application(db, citizen(), number=draft.number)
        assert again.service_version == 1
        assert services.service_of(db, application=again).processing_days == 5

    def test_a_fee_that_is_not_in_the_schedule_is_refused(self, db: Session, country: Country) -> None:
        current = services.get_service(db, code="change-of-address")
        data = services.ServiceCreate(**{**current.model_dump(include={
            "name", "form_schema", "ui_schema", "effect", "processing_days"}), "code": "x-fee",
            "org_unit_code": "MOI-PNH", "fee_code": "NO-SUCH-FEE"})
        with pytest.raises(ValidationFailed) as caught:
            services.create_service(db, SYSTEM, data=data)
        assert caught.value.errors and caught.value.errors[0]["pointer"] == "/fee_code"


class TestApplications:
    def test_invalid_data_names_every_bad_field(self, db: Session, country: Country) -> None:
        draft = services.start_application(db, citizen(), service_code="change-of-address",
                                           values={"national_id": "12", "moved_on": "2999-01-01"})
        with pytest.raises(ValidationFailed) as caught:
            services.submit_application(db, citizen(), number=draft.number)
        pointers = {e["pointer"] for e in caught.value.errors or []}
        assert pointers == {"/data/national_id", "/data/moved_on", "/data/new_address_code"}
        assert services.get_application(db, citizen(), number=draft.number).state == "draft"

    def test_another_persons_application_is_not_found(self, db: Session, country: Country) -> None:
        draft = services.start_application(db, citizen(), service_code="change-of-address", values={})
        with pytest.raises(NotFound):
            services.get_application(db, citizen("oidc|someone-else"), number=draft.number)
        with pytest.raises(NotFound):
            services.submit_application(db, citizen("oidc|someone-else"), number=draft.number)

    def test_documents_are_judged_by_their_content(self, db: Session, country: Country) -> None:
        draft = services.start_application(db, citizen(), service_code="birth-certificate-copy",
                                           values={"national_id": country.child_nin, "relation": "child"})
        with pytest.raises(ValidationFailed) as caught:
            services.attach_document(db, citizen(), store=country.store, number=draft.number, requirement="id_card",
                                     filename="id.pdf", content=PNG)
        assert caught.value.errors and caught.value.errors[0]["code"] == "type_mismatch"
        with pytest.raises(ValidationFailed) as caught:
            services.attach_document(db, citizen(), store=country.store, number=draft.number, requirement="id_card",
                                     filename="id.exe", content=b"MZ\x90\x00")
        assert caught.value.errors and caught.value.errors[0]["code"] == "forbidden_type"
        with pytest.raises(PayloadTooLarge):
            services.attach_document(db, citizen(), store=country.store, number=draft.number, requirement="id_card",
                                     filename="id.pdf", content=PDF + b"0" * services.MAX_DOCUMENT_BYTES)
        with pytest.raises(ValidationFailed) as caught:
            services.submit_application(db, citizen(), number=draft.number)
        assert caught.value.errors and caught.value.errors[0]["pointer"] == "/documents/id_card"
        document = services.attach_document(db, citizen(), store=country.store, number=draft.number,
                                            requirement="id_card", filename="id.png", content=PNG)
        assert document.content_type == "image/png"
        _meta, content = services.read_document(db, country.officer, store=country.store, number=draft.number,
                                                document_id=document.id)
        assert content == PNG

    def test_birth_certificate_copy_end_to_end(self, db: Session, settings: Settings, country: Country) -> None:
        person = citizen()
        draft = services.start_application(db, person, service_code="birth-certificate-copy",
                                           values={"national_id": country.child_nin, "relation": "child"})
        services.attach_document(db, person, store=country.store, number=draft.number, requirement="id_card",
                                 filename="id.pdf", content=PDF)
        submitted = services.submit_application(db, person, number=draft.number)
        assert submitted.state == "submitted" and submitted.bill_number and submitted.fee_status == "open"
        assert submitted.due_at is not None and not submitted.overdue
        queue = services.work_queue(db, country.officer, view="unassigned")
        assert [a.number for a in queue.items] == [draft.number]
        with pytest.raises(Conflict):
            services.decide_application(db, country.officer, number=draft.number, approve=True, reason="ok",
                                        effects=services.make_effects(country.ring, country.store))
        services.claim_application(db, country.officer, number=draft.number)
        with pytest.raises(Conflict, match="fee"):
            services.decide_application(db, country.officer, number=draft.number, approve=True, reason="ok",
                                        effects=services.make_effects(country.ring, country.store))
        pay(db, settings, submitted.bill_number)
        done = services.decide_application(db, country.officer, number=draft.number, approve=True,
                                           reason="The requester is the mother.",
                                           effects=services.make_effects(country.ring, country.store))
        assert done.state == "completed" and done.result["serial"]
        assert [h.to_state for h in done.history] == ["draft", "submitted", "in_review", "approved", "completed"]
        assert done.history[3].reason == "The requester is the mother."
        filename, pdf = services.read_result(db, person, store=country.store, number=draft.number)
        assert filename.endswith(".pdf") and trust.verify_pdf(db, data=pdf).holds

    def test_needs_information_goes_back_to_the_reviewer(self, db: Session, country: Country) -> None:
        person = citizen()
        values = {"national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"}
        draft = services.start_application(db, person, service_code="change-of-address", values=values)
        services.submit_application(db, person, number=draft.number)
        services.claim_application(db, country.officer, number=draft.number)
        with pytest.raises(ValidationFailed):
            services.request_information(db, country.officer, number=draft.number, reason="  ")
        asked = services.request_information(db, country.officer, number=draft.number,
                                             reason="Please add the house number.")
        assert asked.state == "needs_information"
        with pytest.raises(Conflict):
            services.claim_application(db, country.officer, number=draft.number)
        answered = services.provide_information(db, person, number=draft.number,
                                                values={**values, "new_address_text": "House 12, Street 310"})
        assert answered.state == "in_review"
        assert answered.history[-1].changes["new_address_text"]["after"] == "House 12, Street 310"
        done = services.decide_application(db, country.officer, number=draft.number, approve=True, reason="Checked.",
                                           effects=services.make_effects(country.ring, country.store))
        event = civil.get_event(db, SYSTEM, event_id=uuid.UUID(done.result["civil_event"]))
        assert event.kind == "change_of_address" and event.state == "declared"
        assert event.subject_id == country.mother.id

    def test_the_deadline_stands_still_while_the_applicant_has_to_answer(
            self, db: Session, country: Country, monkeypatch: pytest.MonkeyPatch) -> None:
        from nokor.services import service as service_module

        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        clock = [start]
        monkeypatch.setattr(service_module, "utcnow", lambda: clock[0])
        person = citizen()
        values = {"national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"}

        def overdue_now() -> tuple[bool, list[str], int]:
            read = services.get_application(db, person, number=draft.number)
            view = [a.number for a in services.work_queue(db, country.officer, view="overdue").items]
            stats = services.service_statistics(db, code="change-of-address")[0]
            return read.overdue, view, stats.overdue

        draft = services.start_application(db, person, service_code="change-of-address", values=values)
        submitted = services.submit_application(db, person, number=draft.number)
        assert submitted.due_at == start + timedelta(days=5)  # the service's processing time
        services.claim_application(db, country.officer, number=draft.number)
        clock[0] = start + timedelta(days=1)
        services.request_information(db, country.officer, number=draft.number, reason="Which house?")
        clock[0] = start + timedelta(days=10)  # nine days waiting for the applicant: not the office's delay
        assert overdue_now() == (False, [], 0)
        answered = services.provide_information(db, person, number=draft.number,
                                                values={**values, "new_address_text": "House 12, Street 310"})
        assert answered.due_at == start + timedelta(days=14)  # the five days, plus the nine it waited
        assert answered.history[-1].changes["due_at"] == {"before": (start + timedelta(days=5)).isoformat(),
                                                          "after": (start + timedelta(days=14)).isoformat()}
        clock[0] = start + timedelta(days=13, hours=23)
        assert overdue_now() == (False, [], 0)
        clock[0] = start + timedelta(days=14, hours=1)  # the office's clock runs again and has run out
        assert overdue_now() == (True, [draft.number], 1)

    def test_a_deadline_missed_before_the_question_stays_missed(
            self, db: Session, country: Country, monkeypatch: pytest.MonkeyPatch) -> None:
        from nokor.services import service as service_module

        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        clock = [start]
        monkeypatch.setattr(service_module, "utcnow", lambda: clock[0])
        person = citizen()
        values = {"national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"}
        draft = services.start_application(db, person, service_code="change-of-address", values=values)
        services.submit_application(db, person, number=draft.number)
        services.claim_application(db, country.officer, number=draft.number)
        clock[0] = start + timedelta(days=6)  # a day late already
        services.request_information(db, country.officer, number=draft.number, reason="Which house?")
        clock[0] = start + timedelta(days=30)
        assert services.get_application(db, person, number=draft.number).overdue
        assert [a.number for a in services.work_queue(db, country.officer, view="overdue").items] == [draft.number]
        answered = services.provide_information(db, person, number=draft.number, values=values)
        assert answered.due_at == start + timedelta(days=29) and answered.overdue  # still a day late

    def test_sme_registration_needs_four_eyes(self, db: Session, country: Country) -> None:
        from tests.services.conftest import officer_actor

        reviewer, chief = officer_actor(db, "t.mef"), officer_actor(db, "t.mefchief")
        person = citizen()
        draft = services.start_application(db, person, service_code="sme-registration", values={
            "business_name": "Kampot Pepper Garden", "sector": "agriculture", "province_code": "07",
            "employees": "4", "women_owned": "on", "owner_national_id": country.mother_nin})
        services.submit_application(db, person, number=draft.number)
        services.claim_application(db, reviewer, number=draft.number)
        once = services.decide_application(db, reviewer, number=draft.number, approve=True, reason="Complete.",
                                           effects=services.make_effects(country.ring, country.store))
        assert once.state == "in_review" and once.first_approval_name
        assert [a.number for a in services.work_queue(db, chief, view="second_approval").items] == [draft.number]
        with pytest.raises(Conflict):
            services.decide_application(db, reviewer, number=draft.number, approve=True, reason="Again.",
                                        effects=services.make_effects(country.ring, country.store))
        done = services.decide_application(db, chief, number=draft.number, approve=True, reason="Agreed.",
                                           effects=services.make_effects(country.ring, country.store))
        assert done.state == "completed"
        record = registries.find_record(db, SYSTEM, name="sme", purpose="test",
                                        query={"registration_number": done.result["registration_number"]})
        assert record.data["name"] == "Kampot Pepper Garden" and record.data["women_owned"] is True
        # The owner's 12-digit national ID number is in the register, under the version that takes it.
        assert len(country.mother_nin) == 12 and record.data["owner_national_id"] == country.mother_nin
        assert record.version == "2.0"
        _name, pdf = services.read_result(db, person, store=country.store, number=draft.number)
        assert trust.verify_pdf(db, data=pdf).holds

    def test_the_sme_register_keeps_its_first_version_as_published(self, db: Session, country: Country) -> None:
        sme = registries.get_registry(db, SYSTEM, name="sme")
        first, second = sme.versions
        assert (first.version, first.state, second.version, second.state) == ("1.0", "published", "2.0", "published")
        assert first.json_schema["properties"]["owner_national_id"]["pattern"] == "^[0-9]{9}$"
        shop = {"registration_number": "20240099", "name": "Old Card Mart", "sector": "retail", "province": "Kampot",
                "employees": 2, "registered_on": "2019-05-01", "owner_national_id": "123456789"}
        assert registries.create_record(db, SYSTEM, name="sme", version="1.0", data=shop).version == "1.0"
        with pytest.raises(ValidationFailed):  # 1.0 never takes a 12-digit number
            registries.create_record(db, SYSTEM, name="sme", version="1.0", data={
                **shop, "registration_number": "20240101", "owner_national_id": country.mother_nin})
        newer = registries.create_record(db, SYSTEM, name="sme", data={  # the newest version takes both
            **shop, "registration_number": "20240102", "owner_national_id": country.mother_nin})
        assert newer.version == "2.0"

    def test_an_owner_number_no_resident_holds_is_refused_at_the_decision(self, db: Session,
                                                                           country: Country) -> None:
        from tests.services.conftest import officer_actor

        reviewer, chief = officer_actor(db, "t.mef"), officer_actor(db, "t.mefchief")
        person = citizen()
        values = {"business_name": "Kep Crab Shack", "sector": "tourism", "province_code": "23", "employees": "3"}
        draft = services.start_application(db, person, service_code="sme-registration",
                                           values={**values, "owner_national_id": "1234567890"})
        with pytest.raises(ValidationFailed) as caught:  # ten digits: neither a national ID number nor an old card
            services.submit_application(db, person, number=draft.number)
        assert [e["pointer"] for e in caught.value.errors] == ["/data/owner_national_id"]
        stranger = next(n for n in iter(civil.generate_nin, None) if n not in (country.mother_nin, country.child_nin))
        services.submit_application(db, person, number=draft.number, values={**values, "owner_national_id": stranger})
        services.claim_application(db, reviewer, number=draft.number)
        services.decide_application(db, reviewer, number=draft.number, approve=True, reason="Complete.",
                                    effects=services.make_effects(country.ring, country.store))
        with pytest.raises(Conflict, match="No resident"):
            services.decide_application(db, chief, number=draft.number, approve=True, reason="Agreed.",
                                        effects=services.make_effects(country.ring, country.store))

    def test_counter_submission_is_recorded_as_assisted(self, db: Session, country: Country) -> None:
        walk_in = services.Applicant(subject=country.mother_nin, name="Sok Sreyneang", phone="012345678")
        draft = services.start_application(db, country.counter, applicant=walk_in,
                                           service_code="change-of-address",
                                           values={"national_id": country.mother_nin, "new_address_code": VILLAGE,
                                                   "moved_on": date.today().isoformat()})
        submitted = services.submit_application(db, country.counter, number=draft.number)
        assert submitted.channel == "counter" and submitted.history[0].actor_kind == "officer"
        assert submitted.history[1].actor_name == country.counter.name

    def test_a_step_not_allowed_is_a_conflict(self, db: Session, country: Country) -> None:
        draft = services.start_application(db, citizen(), service_code="change-of-address", values={})
        with pytest.raises(Conflict):
            services.claim_application(db, country.officer, number=draft.number)
        with pytest.raises(Conflict):
            services.rate_service(db, citizen(), number=draft.number, stars=5, comment=None)


class TestParticipation:
    def test_ratings_feed_the_public_statistics(self, db: Session, country: Country) -> None:
        person = citizen()
        draft = services.start_application(db, person, service_code="change-of-address", values={
            "national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"})
        services.submit_application(db, person, number=draft.number)
        services.claim_application(db, country.officer, number=draft.number)
        services.decide_application(db, country.officer, number=draft.number, approve=False, reason="Wrong person.")
        services.rate_service(db, person, number=draft.number, stars=2, comment="Too slow")
        with pytest.raises(Conflict):
            services.rate_service(db, person, number=draft.number, stars=5, comment=None)
        stats = {s.service_code: s for s in services.service_statistics(db)}["change-of-address"]
        assert (stats.submitted, stats.rejected, stats.ratings, stats.average_rating) == (1, 1, 1, 2.0)
        counts = services.decision_counts(db, start=None, end=None, service="change-of-address", operator=None)
        assert counts == {"processed": 1, "approved": 0, "sentBack": 0, "rejected": 1}

    def test_comments_are_published_only_after_moderation(self, db: Session, country: Country) -> None:
        consultation = services.list_consultations(db)[0]
        comment = services.comment_on_consultation(db, citizen(), consultation_id=consultation.id,
                                                   body="Please keep a paper option at the post office.")
        assert services.get_consultation(db, consultation_id=consultation.id).comments == []
        services.moderate_comment(db, SYSTEM, comment_id=comment.id, publish=True,
                                  answer="Post offices will keep serving at the counter.")
        shown = services.get_consultation(db, consultation_id=consultation.id).comments
        assert [c.answer for c in shown] == ["Post offices will keep serving at the counter."]
        with pytest.raises(Conflict):
            services.moderate_comment(db, SYSTEM, comment_id=comment.id, publish=False, reason="spam")
