"""Administration pages of the data exchange: they show what is configured, and their forms publish
services, grant and withdraw access, register members and subsystems and decide subscriptions, with
errors beside the fields."""

from __future__ import annotations

import uuid

import pytest
from tests.conftest import csrf_from, make_admin, make_officer, make_org_unit, sign_in
from tests.exchange.conftest import SYSTEM

from nokor import exchange

HTML = {"accept": "text/html"}


@pytest.fixture
def admin(client, db):  # type: ignore[no-untyped-def]
    unit = make_org_unit(db, code="MPTC")
    make_admin(db, org_unit=unit.code, username="exchange.admin")
    db.commit()
    sign_in(client, "exchange.admin")
    return client


def _post(client, page: str, action: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page, headers=HTML).text)
    return client.post(action, data={**data, "csrf_token": token}, headers=HTML, follow_redirects=False)


class TestPages:
    def test_members_services_rights_and_subscriptions_from_the_forms(self, admin, db):
        assert _post(admin, "/admin/exchange/members", "/admin/exchange/members",
                     {"member_class": "GOV", "member_code": "MOI", "name": "Ministry of Interior"}).status_code == 303
        assert _post(admin, "/admin/exchange/members", "/admin/exchange/subsystems",
                     {"member": "KH/GOV/MOI", "code": "population", "name": "Population register"}).status_code == 303
        made = _post(admin, "/admin/exchange/services", "/admin/exchange/services", {
            "subsystem": "KH/GOV/MOI/population", "code": "persons", "title": "Persons",
            "base_url": "http://10.0.0.5:8080", "endpoints": "GET /persons/*\nPOST /persons", "timeout_seconds": "5"})
        assert made.status_code == 303
        granted = _post(admin, "/admin/exchange/services", "/admin/exchange/access-rights", {
            "service": "KH/GOV/MOI/population/persons", "subject": "KH/GOV/MOH/hospital", "method": "GET",
            "path": "/persons/*"})
        assert granted.status_code == 303
        page = admin.get("/admin/exchange/services", headers=HTML).text
        assert "KH/GOV/MOI/population/persons" in page and "KH/GOV/MOH/hospital" in page
        right = exchange.list_access_rights(db)[0]
        db.rollback()  # SQLite: a reading transaction would hold the writer lock the page needs
        assert _post(admin, "/admin/exchange/services", f"/admin/exchange/access-rights/{right.id}/revoke",
                     {}).status_code == 303
        assert exchange.list_access_rights(db) == []

    def test_bad_input_is_shown_beside_the_field(self, admin):
        answer = _post(admin, "/admin/exchange/services", "/admin/exchange/services", {
            "subsystem": "KH/GOV/NOBODY/x", "code": "bad code!", "title": "", "base_url": "ftp://x"})
        assert answer.status_code == 422
        assert 'id="error-code"' in answer.text and 'id="error-base_url"' in answer.text
        grant = _post(admin, "/admin/exchange/services", "/admin/exchange/access-rights", {
            "service": "KH/GOV/MOI/population/none", "subject": "nobody"})
        assert grant.status_code == 422 and 'id="error-subject"' in grant.text
        endpoints = _post(admin, "/admin/exchange/services", "/admin/exchange/services", {
            "subsystem": "KH/GOV/MOI/x", "code": "c", "title": "t", "base_url": "http://x", "endpoints": "FETCH /x"})
        assert endpoints.status_code == 422 and 'id="error-endpoints"' in endpoints.text

    def test_subscriptions_are_approved_on_the_page(self, admin, db):
        room = "KH/GOV/MOI/births"
        exchange.ensure_subsystem(db, SYSTEM, identifier=room, name="Births", is_room=True, publishers=[room])
        exchange.define_event_type(db, room=room, code="birth", schema={"type": "object"}, by=room)
        sub = exchange.subscribe(db, room=room, event_type="birth", subscriber="KH/GOV/MOH/hospital",
                                 data=exchange.SubscriptionCreate(delivery="PULL"))
        db.commit()
        assert "KH/GOV/MOH/hospital" in admin.get("/admin/exchange/subscriptions", headers=HTML).text
        assert _post(admin, "/admin/exchange/subscriptions", f"/admin/exchange/subscriptions/{sub.id}/approve",
                     {}).status_code == 303
        assert exchange.list_subscriptions(db)[0].status == "approved"

    def test_operations_page_and_permissions(self, admin, client, db):
        assert admin.get("/admin/exchange", headers=HTML).status_code == 200
        make_officer(db, username="clerk", org_unit="MPTC")
        db.commit()
        client.cookies.clear()
        sign_in(client, "clerk")
        assert client.get("/admin/exchange/services", headers=HTML).status_code == 403
        assert client.get("/admin/exchange", headers=HTML).status_code == 403
        assert client.post(f"/admin/exchange/subscriptions/{uuid.uuid4()}/approve",
                           data={"csrf_token": "x"}, headers=HTML).status_code == 403


@pytest.mark.parametrize("locale", ["km", "ar", "de"])
def test_pages_speak_the_readers_language(admin, locale):
    english = ["Services and access rights", "Publish a service", "Register a member", "No subscriptions yet.",
               "Newest log records", "Grant access", "Who may call it"]
    for page in ("/admin/exchange", "/admin/exchange/services", "/admin/exchange/members",
                 "/admin/exchange/subscriptions"):
        text = admin.get(f"{page}?lang={locale}", headers=HTML).text
        assert f'lang="{locale}"' in text
        assert [e for e in english if e in text] == [], page
