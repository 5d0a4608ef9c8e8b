"""Officers' pages of the civil register."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.civil.factories import OTHER_VILLAGE, SYSTEM, VILLAGE, make_resident
from tests.conftest import csrf_from, make_officer, make_role, sign_in

from nokor import civil

HTML = {"accept": "text/html"}
REGISTRAR = ["civil.read", "civil.declare", "civil.validate", "civil.register"]


class TestOfficerPages:
    def test_declare_validate_register_and_find_a_birth(self, client: TestClient, db: Session) -> None:
        mother = make_resident(db)
        role = make_role(db, permissions=REGISTRAR)
        officer = make_officer(db, roles=[role.code])
        db.commit()
        sign_in(client, officer.username)
        form = client.get("/civil/births/new", headers=HTML)
        assert form.status_code == 200
        token = csrf_from(form.text)
        data = {"csrf_token": token, "given_name": "សុភា", "family_name": "ចាន់", "sex": "M",
                "occurred_on": date.today().isoformat(), "place_code": VILLAGE, "mother_nin": mother.nin or ""}
        posted = client.post("/civil/births/new", data=data, headers=HTML, follow_redirects=False)
        assert posted.status_code == 303, posted.text
        event_url = posted.headers["location"]
        for step in ("validate", "register"):
            page = client.get(event_url, headers=HTML)
            assert f"{event_url}/{step}" in page.text
            client.post(f"{event_url}/{step}", data={"csrf_token": token}, headers=HTML)
        page = client.get(event_url, headers=HTML)
        assert "Registered" in page.text
        found = client.get("/civil/search", params={"name": "Sopha"}, headers=HTML)
        assert "សុភា" in found.text and 'class="table-scroll"' in found.text
        assert 'href="/civil"' in client.get("/", headers=HTML).text
        resident_url = found.text.split('href="/civil/residents/')[1].split('"')[0]
        record = client.get(f"/civil/residents/{resident_url}", headers=HTML)
        assert "Phnom Penh › Chamkar Mon › Tonle Basak › Phum Muoy" in record.text
        khmer = client.get(f"/civil/residents/{resident_url}?lang=km", headers=HTML)
        assert "រាជធានីភ្នំពេញ › ចំការមន › ទន្លេបាសាក់ › ភូមិ ១" in khmer.text

    def test_the_place_of_birth_is_chosen_with_the_picker(self, client: TestClient, db: Session) -> None:
        role = make_role(db, permissions=REGISTRAR)
        officer = make_officer(db, roles=[role.code])
        db.commit()
        sign_in(client, officer.username)
        form = client.get("/civil/births/new", headers=HTML)
        assert 'name="place_code.province"' in form.text
        token = csrf_from(form.text)
        data = {"csrf_token": token, "given_name": "សុភា", "family_name": "ចាន់", "sex": "M",
                "occurred_on": date.today().isoformat(), "place_code.q": "Tonle Basak", "place_code.search": "1"}
        searched = client.post("/civil/births/new", data=data, headers=HTML)
        assert searched.status_code == 200 and 'value="120101"' in searched.text and "សុភា" in searched.text
        data.pop("place_code.search")
        stepped = client.post("/civil/births/new", data={**data, "place_code.province": "12",
                                                        "place_code.district": "1201", "place_code.step": "1"},
                              headers=HTML)
        assert 'name="place_code.commune"' in stepped.text
        commune_only = client.post("/civil/births/new", data={**data, "place_code": "120101"}, headers=HTML)
        assert commune_only.status_code == 422 and "not a village" in commune_only.text
        declared = client.post("/civil/births/new", data={**data, "place_code.province": "12",
                                                         "place_code.district": "1201", "place_code.commune": "120101",
                                                         "place_code.village": VILLAGE},
                               headers=HTML, follow_redirects=False)
        assert declared.status_code == 303, declared.text

    def test_bad_declaration_shows_the_rule(self, client: TestClient, db: Session) -> None:
        role = make_role(db, permissions=REGISTRAR)
        officer = make_officer(db, roles=[role.code])
        db.commit()
        sign_in(client, officer.username)
        token = csrf_from(client.get("/civil/births/new", headers=HTML).text)
        data = {"csrf_token": token, "given_name": "A", "family_name": "B", "sex": "F", "occurred_on": "2999-01-01"}
        answer = client.post("/civil/births/new", data=data, headers=HTML)
        assert answer.status_code == 422 and "future" in answer.text

    def test_without_permission_no_link_and_403(self, client: TestClient, db: Session) -> None:
        officer = make_officer(db)
        db.commit()
        sign_in(client, officer.username)
        assert 'href="/civil"' not in client.get("/", headers=HTML).text
        assert client.get("/civil", headers=HTML).status_code == 403


def _signed_in(client: TestClient, db: Session, permissions: list[str], username: str | None = None) -> str:
    role = make_role(db, permissions=permissions)
    officer = make_officer(db, roles=[role.code], username=username)
    db.commit()
    sign_in(client, officer.username)
    return officer.username


class TestResidentPage:
    def test_corrections_need_a_second_officer(self, client: TestClient, db: Session) -> None:
        person = make_resident(db)
        both = [*REGISTRAR, "civil.correct", "civil.approve_correction"]
        _signed_in(client, db, both, "first.officer")
        url = f"/civil/residents/{person.id}"
        form = client.get(f"{url}/corrections/new", headers=HTML)
        token = csrf_from(form.text)
        bad = client.post(f"{url}/corrections/new", headers=HTML, data={
            "csrf_token": token, "field": "birth_date", "value": "not a date", "reason": "typo",
            "evidence": "Birth certificate"})
        assert bad.status_code == 422 and "not valid" in bad.text
        asked = client.post(f"{url}/corrections/new", headers=HTML, follow_redirects=False, data={
            "csrf_token": token, "field": "birth_date", "value": "1990-05-18", "reason": "Typing error",
            "evidence": "Birth certificate 123/1990"})
        assert asked.status_code == 303
        page = client.get(url, headers=HTML)
        assert "Birth certificate 123/1990" in page.text and "another officer must decide" in page.text
        assert 'action="/civil/corrections/' not in page.text
        correction_id = civil.list_corrections(db, SYSTEM, resident_id=person.id)[0].id
        db.rollback()
        own = client.post(f"/civil/corrections/{correction_id}/approve", headers=HTML,
                          data={"csrf_token": token, "resident_id": str(person.id)})
        assert "second officer" in own.text
        assert "1990-05-17" in client.get(url, headers=HTML).text
        client.cookies.clear()
        _signed_in(client, db, both, "second.officer")
        page = client.get(url, headers=HTML)
        assert f'action="/civil/corrections/{correction_id}/approve"' in page.text
        approved = client.post(f"/civil/corrections/{correction_id}/approve", headers=HTML,
                               data={"csrf_token": csrf_from(page.text), "resident_id": str(person.id)})
        assert approved.status_code == 200 and "1990-05-18" in approved.text and "Approved" in approved.text

    def test_without_the_approval_permission_deciding_is_403(self, client: TestClient, db: Session) -> None:
        person = make_resident(db)
        correction = civil.request_correction(db, SYSTEM, resident_id=person.id, data=civil.CorrectionCreate(
            changes={"sex": "M"}, reason="Typing error", evidence="Hospital record"))
        _signed_in(client, db, REGISTRAR)
        token = csrf_from(client.get(f"/civil/residents/{person.id}", headers=HTML).text)
        answer = client.post(f"/civil/corrections/{correction.id}/approve", headers=HTML,
                             data={"csrf_token": token, "resident_id": str(person.id)})
        assert answer.status_code == 403

    def test_virtual_ids_are_issued_and_revoked(self, client: TestClient, db: Session) -> None:
        person = make_resident(db)
        _signed_in(client, db, REGISTRAR)
        url = f"/civil/residents/{person.id}"
        token = csrf_from(client.get(url, headers=HTML).text)
        issued = client.post(f"{url}/virtual-ids", data={"csrf_token": token}, headers=HTML)
        vid = civil.list_virtual_ids(db, SYSTEM, resident_id=person.id, purpose="test")[0]
        db.rollback()
        assert vid.number in issued.text and "Active" in issued.text
        revoked = client.post(f"/civil/virtual-ids/{vid.number}/revoke", data={"csrf_token": token}, headers=HTML)
        assert "Revoked on" in revoked.text and f"/civil/virtual-ids/{vid.number}/revoke" not in revoked.text

    def test_death_marriage_and_change_of_address_are_declared_from_the_record(self, client: TestClient,
                                                                              db: Session) -> None:
        person = make_resident(db)
        partner = make_resident(db, given_name="វិបុល", family_name="ចាន់", sex="M", birth_date=date(1988, 1, 2))
        _signed_in(client, db, REGISTRAR)
        url = f"/civil/residents/{person.id}"
        page = client.get(url, headers=HTML)
        for kind in ("death", "marriage", "change_of_address"):
            assert f"{url}/declare/{kind}" in page.text
        token = csrf_from(page.text)
        today = date.today().isoformat()
        unknown = client.post(f"{url}/declare/marriage", headers=HTML,
                              data={"csrf_token": token, "occurred_on": today, "partner_nin": "999999999999"})
        assert unknown.status_code == 422
        married = client.post(f"{url}/declare/marriage", headers=HTML, follow_redirects=False,
                              data={"csrf_token": token, "occurred_on": today, "partner_nin": partner.nin or ""})
        assert married.status_code == 303, married.text
        moving = client.post(f"{url}/declare/change_of_address", headers=HTML, data={
            "csrf_token": token, "occurred_on": today, "new_address_code.q": "Phum Pir",
            "new_address_code.search": "1"})
        assert moving.status_code == 200 and f'value="{OTHER_VILLAGE}"' in moving.text
        moved = client.post(f"{url}/declare/change_of_address", headers=HTML, follow_redirects=False, data={
            "csrf_token": token, "occurred_on": today, "new_address_code": OTHER_VILLAGE,
            "new_address_text": "House 12, Street 294"})
        assert moved.status_code == 303, moved.text
        died = client.post(f"{url}/declare/death", headers=HTML, follow_redirects=False,
                           data={"csrf_token": token, "occurred_on": today, "place_code": VILLAGE})
        assert died.status_code == 303
        event = client.get(died.headers["location"], headers=HTML)
        assert "Death" in event.text and "Declared" in event.text
        kinds = sorted(e.kind for e in civil.list_events(db, SYSTEM, subject_id=person.id, state="declared"))
        assert kinds == ["change_of_address", "death", "marriage"]


class TestPossibleDuplicates:
    def test_the_officer_compares_both_records_and_decides(self, client: TestClient, db: Session) -> None:
        first = make_resident(db, given_name="ស្រីនាង", family_name="សុខ", given_name_latin="Sreyneang",
                              family_name_latin="Sok", birth_date=date(1994, 3, 12))
        held = make_resident(db, given_name="Sreinang", family_name="Sokh", birth_date=date(1994, 12, 3))
        assert held.status == "held"
        role = make_role(db, permissions=REGISTRAR)
        officer = make_officer(db, roles=[role.code])
        db.commit()
        sign_in(client, officer.username)
        queue = client.get("/civil/duplicates", headers=HTML)
        assert queue.status_code == 200 and "New resident" in queue.text
        case_url = "/civil/duplicates/" + queue.text.split('href="/civil/duplicates/')[1].split('"')[0]
        page = client.get(case_url, headers=HTML)
        assert page.status_code == 200
        assert "ស្រីនាង" in page.text and "Sreinang" in page.text and (first.nin or "") in page.text
        assert "1994-12-03" in page.text and "1994-03-12" in page.text and 'class="differs"' in page.text
        token = csrf_from(page.text)
        missing = client.post(case_url, data={"csrf_token": token, "decision": "", "reason": ""}, headers=HTML)
        assert missing.status_code == 422
        assert 'id="error-decision"' in missing.text and 'id="error-reason"' in missing.text
        decided = client.post(case_url, data={"csrf_token": token, "decision": "not_duplicate",
                                              "reason": "Different parents in the family book"},
                              headers=HTML, follow_redirects=False)
        assert decided.status_code == 303 and decided.headers["location"] == f"/civil/residents/{held.id}"
        record = client.get(decided.headers["location"], headers=HTML)
        assert "Different parents in the family book" in record.text
        assert "Another person" in client.get(case_url, headers=HTML).text

    def test_the_pages_speak_khmer_arabic_and_german(self, client: TestClient, db: Session) -> None:
        make_resident(db)
        make_resident(db, given_name="Dara", family_name="Sok")
        role = make_role(db, permissions=REGISTRAR)
        officer = make_officer(db, roles=[role.code])
        db.commit()
        sign_in(client, officer.username)
        queue = client.get("/civil/duplicates?lang=km", headers=HTML)
        case_url = "/civil/duplicates/" + queue.text.split('href="/civil/duplicates/')[1].split('"')[0]
        for lang, words in (("km", "ស្ទួន"), ("ar", "تكرار"), ("de", "Dublette")):
            page = client.get(f"{case_url}?lang={lang}", headers=HTML)
            assert page.status_code == 200 and words in page.text, lang
        assert 'dir="rtl"' in client.get(f"{case_url}?lang=ar", headers=HTML).text
