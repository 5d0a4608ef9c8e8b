"""The pages of e-services: the catalogue in four languages, the counter, the review and the workflow
buttons, moderation, and that every page shows errors beside their fields."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.civil.factories import VILLAGE
from tests.conftest import csrf_from, sign_in
from tests.services.conftest import Country

from nokor import services

HTML = {"accept": "text/html"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_the_catalogue_is_searchable_in_khmer_and_shown_in_arabic(client: TestClient, country: Country) -> None:
    client.get("/language/ar?next=/")
    page = client.get("/services", params={"q": "អាសយដ្ឋាន"}, headers=HTML)
    assert page.status_code == 200 and 'dir="rtl"' in page.text
    assert "الإبلاغ عن تغيير العنوان" in page.text and "شهادة الميلاد" not in page.text
    detail = client.get("/services/birth-certificate-copy", headers=HTML)
    assert "KHR" in detail.text or "៛" in detail.text or "ر" in detail.text
    assert client.get("/services/no-such-service", headers=HTML).status_code == 404


def test_counter_flow_keeps_what_was_typed_and_records_the_assisted_submission(
        client: TestClient, db: Session, country: Country) -> None:
    sign_in(client, "t.reviewer")
    form = client.get("/admin/services/counter/change-of-address", headers=HTML)
    assert form.status_code == 200
    token = csrf_from(form.text)
    bad = client.post("/admin/services/counter/change-of-address", headers=HTML, data={
        "csrf_token": token, "applicant.name": "Sok Sreyneang", "applicant.national_id": country.mother_nin,
        "national_id": "12", "new_address_text": "House 12", "moved_on": "2999-01-01", "action": "submit"},
        files={"document.proof_of_address": ("lease.pdf", PNG, "application/pdf")})
    assert bad.status_code == 422
    assert "House 12" in bad.text and "9 to 12 digits" in bad.text and "cannot be in the future" in bad.text
    assert "does not match its name" in bad.text
    number = re.search(r'name="number" value="(E\d+)"', bad.text)
    assert number, "the draft is kept so nothing typed is lost"
    good = client.post("/admin/services/counter/change-of-address", headers=HTML, data={
        "csrf_token": token, "number": number.group(1), "national_id": country.mother_nin,
        "new_address_code.province": "12", "new_address_code.district": "1201", "new_address_code.commune": "120101",
        "new_address_code.village": VILLAGE, "moved_on": "2026-01-02", "action": "submit"},
        follow_redirects=False)
    assert good.status_code == 303, good.text
    review = client.get(good.headers["location"], headers=HTML)
    assert "At a counter" in review.text and "Take it for review" in review.text
    application = services.get_application(db, country.officer, number=number.group(1))
    assert application.state == "submitted" and application.channel == "counter"
    assert application.data["new_address_code"] == VILLAGE


def test_an_officer_reviews_and_decides_from_the_page(client: TestClient, db: Session, country: Country) -> None:
    person = services.Applicant(subject="oidc|x", name="Chan Vibol")
    draft = services.start_application(db, person, service_code="change-of-address", values={
        "national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"})
    services.submit_application(db, person, number=draft.number)
    db.commit()
    sign_in(client, "t.reviewer")
    queue = client.get("/admin/services", headers=HTML)
    assert draft.number in queue.text
    page = client.get(f"/admin/services/applications/{draft.number}", headers=HTML)
    token = csrf_from(page.text)
    client.post(f"/admin/services/applications/{draft.number}/claim", data={"csrf_token": token}, headers=HTML)
    empty = client.post(f"/admin/services/applications/{draft.number}/approve", data={"csrf_token": token,
                                                                                     "reason": ""}, headers=HTML)
    assert "Give a reason." in empty.text
    done = client.post(f"/admin/services/applications/{draft.number}/approve",
                       data={"csrf_token": token, "reason": "Address checked."}, headers=HTML)
    assert "Completed" in done.text and "Open the civil event" in done.text
    again = client.post(f"/admin/services/applications/{draft.number}/reject",
                        data={"csrf_token": token, "reason": "No"}, headers=HTML)
    assert "cannot be changed this way" in again.text


def test_an_officer_of_another_unit_gets_404(client: TestClient, db: Session, country: Country) -> None:
    person = services.Applicant(subject="oidc|x", name="Chan Vibol")
    draft = services.start_application(db, person, service_code="change-of-address", values={})
    db.commit()
    sign_in(client, "t.mef")
    assert client.get(f"/admin/services/applications/{draft.number}", headers=HTML).status_code == 404


def test_moderation_publishes_a_comment_with_the_agency_answer(client: TestClient, db: Session,
                                                               country: Country) -> None:
    consultation = services.list_consultations(db)[0]
    services.comment_on_consultation(db, services.Applicant(subject="oidc|y", name="Keo Sopheap"),
                                     consultation_id=consultation.id, body="Keep paper forms at the post office.")
    db.commit()
    public = client.get(f"/consultations/{consultation.id}", headers=HTML)
    assert "Keep paper forms" not in public.text
    sign_in(client, "t.mefchief")
    page = client.get("/admin/services/moderation", headers=HTML)
    comment_id = re.search(r"/admin/services/comments/([0-9a-f-]+)/publish", page.text)
    assert comment_id
    client.post(f"/admin/services/comments/{comment_id.group(1)}/publish", headers=HTML, data={
        "csrf_token": csrf_from(page.text), "answer": "Post offices keep serving at the counter."})
    public = client.get(f"/consultations/{consultation.id}", headers=HTML)
    assert "Keep paper forms" in public.text and "Post offices keep serving" in public.text


def test_every_services_page_is_fully_translated(client: TestClient, db: Session, country: Country) -> None:
    from tests.web.test_every_page import TAGS, _english_sentences

    person = services.Applicant(subject="oidc|x", name="Chan Vibol")
    draft = services.start_application(db, person, service_code="birth-certificate-copy", values={})
    consultation = services.list_consultations(db)[0]
    db.commit()
    sign_in(client, "t.chief")
    english = _english_sentences()
    pages = ["/services", "/services/birth-certificate-copy", "/services/statistics", "/consultations",
             f"/consultations/{consultation.id}", "/admin/services", "/admin/services?view=overdue",
             "/admin/services/counter", "/admin/services/counter/change-of-address",
             "/admin/services/counter/birth-certificate-copy", "/admin/services/moderation",
             f"/admin/services/applications/{draft.number}"]
    for locale in ("km", "ar", "de"):
        client.get(f"/language/{locale}?next=/")
        for path in pages:
            page = client.get(path, headers=HTML)
            assert page.status_code == 200, (locale, path)
            leaked = [s for s in english if s in TAGS.sub(" ", page.text)]
            assert leaked == [], f"{path} in {locale} shows English: {leaked[:5]}"


def test_a_supervisor_assigns_an_application_to_an_officer_of_the_unit(
        client: TestClient, db: Session, country: Country) -> None:
    person = services.Applicant(subject="oidc|x", name="Chan Vibol")
    draft = services.start_application(db, person, service_code="change-of-address", values={
        "national_id": country.mother_nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"})
    services.submit_application(db, person, number=draft.number)
    db.commit()
    sign_in(client, "t.chief")
    page = client.get(f"/admin/services/applications/{draft.number}", headers=HTML)
    reviewer = re.search(r'<option value="([0-9a-f-]+)">Sok Dara</option>', page.text)
    assert reviewer and "t.mef" not in page.text
    done = client.post(f"/admin/services/applications/{draft.number}/assign", headers=HTML, data={
        "csrf_token": csrf_from(page.text), "officer_id": reviewer.group(1), "reason": "Knows the village."})
    assert "In review" in done.text
    assert services.get_application(db, country.officer, number=draft.number).assignee_id == country.officer.id
    assert [a.number for a in services.work_queue(db, country.officer, view="mine").items] == [draft.number]
