"""The citizen's side: apply online with a saved draft, follow "my applications", answer a question, get the
decision, rate it, read portal messages and comment on a consultation; another person's application is 404."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.civil.factories import VILLAGE
from tests.conftest import csrf_from
from tests.identity.factories import make_citizen, sign_in
from tests.services.conftest import Country

from nokor import services

HTML = {"accept": "text/html"}
ADDRESS = {"new_address_code.province": "12", "new_address_code.district": "1201",
           "new_address_code.commune": "120101", "new_address_code.village": VILLAGE}


def test_apply_follow_answer_and_rate(client: TestClient, db: Session, country: Country) -> None:
    resident = make_citizen(db, address_code=VILLAGE)
    db.commit()
    assert sign_in(client, db, resident, next_url="/services/change-of-address/apply") == \
        "/services/change-of-address/apply"
    form = client.get("/services/change-of-address/apply", headers=HTML)
    assert form.status_code == 200 and f'value="{resident.nin}"' in form.text
    token = csrf_from(form.text)
    draft = client.post("/services/change-of-address/apply", headers=HTML, data={
        "csrf_token": token, "national_id": resident.nin, "new_address_text": "House 7", "action": "draft"})
    assert draft.status_code == 200 and "has been saved" not in draft.text  # the notice shows on the next page
    number = re.search(r'name="number" value="(E\d+)"', draft.text)
    assert number
    listed = client.get("/my/applications", headers=HTML)
    assert f"/services/change-of-address/apply?number={number.group(1)}" in listed.text
    bad = client.post("/services/change-of-address/apply", headers=HTML, data={
        "csrf_token": token, "number": number.group(1), "national_id": resident.nin, "new_address_text": "House 7",
        "moved_on": "tomorrow", "action": "submit"})
    assert bad.status_code == 422 and "year-month-day" in bad.text and "House 7" in bad.text
    sent = client.post("/services/change-of-address/apply", headers=HTML, follow_redirects=False, data={
        "csrf_token": token, "number": number.group(1), "national_id": resident.nin, "new_address_text": "House 7",
        "moved_on": "2026-01-02", "action": "submit", **ADDRESS})
    assert sent.status_code == 303 and sent.headers["location"] == f"/my/applications/{number.group(1)}"
    page = client.get(sent.headers["location"], headers=HTML)
    assert "Submitted" in page.text
    inbox = client.get("/my/messages", headers=HTML)
    assert f"Application {number.group(1)} received" in inbox.text

    services.claim_application(db, country.officer, number=number.group(1))
    services.request_information(db, country.officer, number=number.group(1), reason="Which floor?")
    db.commit()
    page = client.get(f"/my/applications/{number.group(1)}", headers=HTML)
    assert "Which floor?" in page.text and "Send the answer" in page.text
    answered = client.post(f"/my/applications/{number.group(1)}/information", headers=HTML, follow_redirects=False,
                           data={"csrf_token": csrf_from(page.text), "national_id": resident.nin,
                                 "new_address_text": "House 7, 2nd floor", "moved_on": "2026-01-02",
                                 "note": "Second floor.", **ADDRESS})
    assert answered.status_code == 303
    db.expire_all()
    services.decide_application(db, country.officer, number=number.group(1), approve=True, reason="Fine.",
                                effects=services.make_effects(country.ring, country.store))
    db.commit()
    page = client.get(f"/my/applications/{number.group(1)}", headers=HTML)
    assert "Completed" in page.text and "civil registrars" in page.text
    rated = client.post(f"/my/applications/{number.group(1)}/rating", headers=HTML, follow_redirects=True,
                        data={"csrf_token": csrf_from(page.text), "stars": "4", "comment": "Quick."})
    assert "★★★★" in rated.text
    assert "4 of 5" in client.get("/services/change-of-address", headers=HTML).text


def test_another_persons_application_and_messages_are_not_found(client: TestClient, db: Session,
                                                                country: Country) -> None:
    stranger = services.Applicant(subject="someone-else", name="Someone")
    other = services.start_application(db, stranger, service_code="change-of-address", values={})
    resident = make_citizen(db)
    db.commit()
    sign_in(client, db, resident)
    assert client.get(f"/my/applications/{other.number}", headers=HTML).status_code == 404
    assert client.get(f"/services/change-of-address/apply?number={other.number}", headers=HTML).status_code == 404
    assert client.get("/my/messages/01234567-89ab-7def-8123-456789abcdef", headers=HTML).status_code == 404


def test_a_fee_is_paid_from_the_application_page(client: TestClient, db: Session, country: Country) -> None:
    resident = make_citizen(db)
    db.commit()
    sign_in(client, db, resident)
    form = client.get("/services/birth-certificate-copy/apply", headers=HTML)
    sent = client.post("/services/birth-certificate-copy/apply", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_from(form.text), "national_id": country.child_nin, "relation": "parent",
        "action": "submit"}, files={"document.id_card": ("id.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")})
    assert sent.status_code == 303, sent.text
    page = client.get(sent.headers["location"], headers=HTML)
    bill = re.search(r'href="/pay/(\d{13})"', page.text)
    assert bill and "Pay the fee by KHQR" in page.text


def test_comment_on_a_consultation_after_signing_in(client: TestClient, db: Session, country: Country) -> None:
    consultation = services.list_consultations(db)[0]
    resident = make_citizen(db)
    db.commit()
    anonymous = client.get(f"/consultations/{consultation.id}", headers=HTML)
    assert "/my/login?next=" in anonymous.text
    sign_in(client, db, resident, next_url=f"/consultations/{consultation.id}")
    page = client.get(f"/consultations/{consultation.id}", headers=HTML)
    empty = client.post(f"/consultations/{consultation.id}/comments", headers=HTML,
                        data={"csrf_token": csrf_from(page.text), "body": ""})
    assert empty.status_code == 422 and "Write your comment." in empty.text
    sent = client.post(f"/consultations/{consultation.id}/comments", headers=HTML, follow_redirects=True,
                       data={"csrf_token": csrf_from(page.text), "body": "Please keep the counters open."})
    assert "once a moderator has read it" in sent.text
    assert [c.body for c, _k in services.comments_to_moderate(db, country.second)] == []  # another unit's moderator


def test_every_citizen_page_is_fully_translated(client: TestClient, db: Session, country: Country) -> None:
    from tests.web.test_every_page import TAGS, _english_sentences

    resident = make_citizen(db)
    db.commit()
    sign_in(client, db, resident)
    form = client.get("/services/change-of-address/apply", headers=HTML)
    sent = client.post("/services/change-of-address/apply", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_from(form.text), "national_id": resident.nin, "moved_on": "2026-01-02",
        "action": "submit", **ADDRESS})
    number = sent.headers["location"].rsplit("/", 1)[1]
    services.claim_application(db, country.officer, number=number)
    services.request_information(db, country.officer, number=number, reason="?")
    db.commit()
    message = client.get("/my/messages", headers=HTML)
    first = re.search(r'href="(/my/messages/[0-9a-f-]+)"', message.text)
    assert first
    english = _english_sentences()
    pages = ["/services", "/services/sme-registration/apply", "/services/birth-certificate-copy/apply",
             "/my/applications", f"/my/applications/{number}", "/my/messages", first.group(1)]
    for locale in ("km", "ar", "de"):
        client.get(f"/language/{locale}?next=/")
        for path in pages:
            page = client.get(path, headers=HTML)
            assert page.status_code == 200, (locale, path)
            leaked = [s for s in english if s in TAGS.sub(" ", page.text)]
            assert leaked == [], f"{path} in {locale} shows English: {leaked[:5]}"


def test_the_portal_home_leads_to_services_applications_and_messages(client: TestClient, db: Session,
                                                                      country: Country) -> None:
    resident = make_citizen(db, address_code=VILLAGE)
    person = services.Applicant(subject=str(resident.id), name="Chan Dara", locale="en")
    draft = services.start_application(db, person, service_code="change-of-address", values={
        "national_id": resident.nin, "new_address_code": VILLAGE, "moved_on": "2026-01-02"})
    services.submit_application(db, person, number=draft.number)  # its notice is an unread portal message
    db.commit()
    sign_in(client, db, resident)
    home = client.get("/my", headers=HTML)
    assert home.status_code == 200
    # A plain form (no script needed) searches the catalogue, in any of the four languages.
    assert re.search(r'<form class="search" method="get" action="/services" role="search">', home.text)
    assert 'name="q" type="search"' in home.text
    assert f'href="/my/applications/{draft.number}"' in home.text and 'href="/my/applications"' in home.text
    assert re.search(r'href="/my/messages">[^<]+ \(1\)</a>', home.text)
    for query in ("address", "អាសយដ្ឋាន", "العنوان", "Adressänderung"):
        found = client.get("/services", params={"q": query}, headers=HTML)
        assert 'href="/services/change-of-address"' in found.text, query
