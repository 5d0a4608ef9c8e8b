"""Sign-in, sign-out and the administration pages, as an officer uses them in a browser."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD, SYSTEM, csrf_from, make_admin, make_officer, make_org_unit, make_role, sign_in

from nokor import audit

HTML = {"accept": "text/html"}


class TestSignIn:
    def test_pages_need_a_signed_in_officer(self, client):
        answer = client.get("/admin/officers", headers=HTML, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fadmin%2Fofficers"

    def test_session_cookie_is_httponly_and_samesite(self, client, db):
        make_officer(db, username="dara")
        db.commit()
        page = client.get("/login", headers=HTML)
        answer = client.post("/login", data={"username": "dara", "password": PASSWORD, "next": "/admin/roles",
                                             "csrf_token": csrf_from(page.text)}, headers=HTML,
                             follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/roles"
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("nokor_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie

    def test_cookie_is_secure_behind_tls(self, app, db):
        from fastapi.testclient import TestClient

        make_officer(db, username="dara")
        db.commit()
        with TestClient(app, base_url="https://testserver") as tls:
            page = tls.get("/login", headers=HTML)
            answer = tls.post("/login", data={"username": "dara", "password": PASSWORD,
                                              "csrf_token": csrf_from(page.text)}, headers=HTML,
                              follow_redirects=False)
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("nokor_session="))
        assert "Secure" in cookie
        assert "max-age" in answer.headers["strict-transport-security"]

    def test_wrong_password_shows_the_error_on_the_form(self, client, db):
        make_officer(db, username="dara")
        db.commit()
        page = client.get("/login", headers=HTML)
        answer = client.post("/login", data={"username": "dara", "password": "wrong-password-1",
                                             "csrf_token": csrf_from(page.text)}, headers=HTML)
        assert answer.status_code == 401
        assert "The username or password is incorrect." in answer.text
        assert 'class="error-summary"' in answer.text
        assert 'value="dara"' in answer.text

    def test_lockout_survives_the_failed_request(self, client, app, db):
        app.state.settings.login_max_failures = 2
        make_officer(db, username="dara")
        db.commit()
        for _ in range(2):
            page = client.get("/login", headers=HTML)
            client.post("/login", data={"username": "dara", "password": "wrong-password-1",
                                        "csrf_token": csrf_from(page.text)}, headers=HTML)
        page = client.get("/login", headers=HTML)
        answer = client.post("/login", data={"username": "dara", "password": PASSWORD,
                                             "csrf_token": csrf_from(page.text)}, headers=HTML)
        assert answer.status_code == 401 and "locked" in answer.text

    def test_a_second_try_after_a_wrong_password_works(self, client, db):
        make_officer(db, username="dara")
        db.commit()
        page = client.get("/login", headers=HTML)
        failed = client.post("/login", data={"username": "dara", "password": "wrong-password-1",
                                             "csrf_token": csrf_from(page.text)}, headers=HTML)
        assert failed.status_code == 401
        second = client.post("/login", data={"username": "dara", "password": PASSWORD,
                                             "csrf_token": csrf_from(failed.text)}, headers=HTML,
                             follow_redirects=False)
        assert second.status_code == 303

    def test_missing_fields_are_named_beside_each_field(self, client):
        page = client.get("/login", headers=HTML)
        answer = client.post("/login", data={"username": "", "password": "", "csrf_token": csrf_from(page.text)},
                             headers=HTML)
        assert answer.status_code == 422
        assert 'id="error-username"' in answer.text and 'id="error-password"' in answer.text
        assert 'aria-describedby="error-username"' in answer.text

    def test_a_form_without_the_csrf_token_is_refused(self, client, db):
        make_officer(db, username="dara")
        db.commit()
        client.get("/login", headers=HTML)
        answer = client.post("/login", data={"username": "dara", "password": PASSWORD}, headers=HTML,
                             follow_redirects=False)
        assert answer.status_code == 403
        assert "nokor_session" not in answer.headers.get("set-cookie", "")

    def test_sign_out_needs_the_session_csrf_token_and_ends_the_session(self, client, db):
        make_admin(db, username="chief")
        db.commit()
        sign_in(client, "chief")
        forged = client.post("/logout", data={"csrf_token": "forged-token-forged-token"}, headers=HTML,
                             follow_redirects=False)
        assert forged.status_code == 403
        home = client.get("/", headers=HTML)
        answer = client.post("/logout", data={"csrf_token": csrf_from(home.text)}, headers=HTML,
                             follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        after = client.get("/admin/officers", headers=HTML, follow_redirects=False)
        assert after.status_code == 303

    def test_next_cannot_send_the_officer_to_another_site(self, client, db):
        make_officer(db, username="dara")
        db.commit()
        page = client.get("/login", headers=HTML)
        answer = client.post("/login", data={"username": "dara", "password": PASSWORD, "next": "//evil.example",
                                             "csrf_token": csrf_from(page.text)}, headers=HTML,
                             follow_redirects=False)
        assert answer.headers["location"] == "/"


class TestOfficerAdministration:
    def test_admin_creates_an_officer_grants_a_role_and_the_trail_shows_it(self, client, db):
        unit = make_org_unit(db, code="MOI")
        make_admin(db, org_unit=unit.code, username="chief")
        role = make_role(db, code="reader", permissions=["audit.read"])
        db.commit()
        sign_in(client, "chief")
        form = client.get("/admin/officers/new", headers=HTML)
        created = client.post("/admin/officers/new", headers=HTML, follow_redirects=False, data={
            "csrf_token": csrf_from(form.text), "full_name": "ស៊ុន ចាន់ធូ", "username": "chanthou",
            "email": "", "org_unit_code": "MOI", "locale": "km", "password": "Kampot-Pepper-2026"})
        assert created.status_code == 303
        detail = client.get(created.headers["location"], headers=HTML)
        assert "ស៊ុន ចាន់ធូ" in detail.text and "Officer chanthou was created." in detail.text
        granted = client.post(created.headers["location"] + "/grants", headers=HTML, follow_redirects=False,
                              data={"csrf_token": csrf_from(detail.text), "role_code": role.code,
                                    "grant_org_unit_code": "MOI"})
        assert granted.status_code == 303
        detail = client.get(created.headers["location"], headers=HTML)
        assert "Reader" in detail.text
        trail = client.get("/admin/audit", headers=HTML)
        assert "officer.grant_role" in trail.text and "officer.create" in trail.text

    def test_invalid_officer_form_keeps_the_values_and_names_each_field(self, client, db):
        make_admin(db, username="chief")
        db.commit()
        sign_in(client, "chief")
        form = client.get("/admin/officers/new", headers=HTML)
        answer = client.post("/admin/officers/new", headers=HTML, data={
            "csrf_token": csrf_from(form.text), "full_name": "Sok", "username": "Bad Name!",
            "org_unit_code": "", "locale": "km", "password": "short"})
        assert answer.status_code == 422
        assert 'id="error-username"' in answer.text and 'id="error-password"' in answer.text
        assert 'value="Sok"' in answer.text

    def test_an_officer_without_the_permission_gets_403(self, client, db):
        make_officer(db, username="clerk")
        db.commit()
        sign_in(client, "clerk")
        answer = client.get("/admin/officers", headers=HTML)
        assert answer.status_code == 403
        assert "accounts.manage" in answer.text

    def test_role_permissions_are_edited_on_a_page(self, client, db):
        make_admin(db, username="chief")
        role = make_role(db, code="clerk_role", permissions=[])
        db.commit()
        sign_in(client, "chief")
        page = client.get(f"/admin/roles/{role.code}", headers=HTML)
        assert page.status_code == 200
        saved = client.post(f"/admin/roles/{role.code}", headers=HTML, follow_redirects=False, data={
            "csrf_token": csrf_from(page.text), "name.en": "Front-desk clerk", "name.km": "បុគ្គលិកបម្រើសេវា",
            "permissions": ["audit.read"]})
        assert saved.status_code == 303
        listing = client.get("/admin/roles", headers=HTML)
        assert "Front-desk clerk" in listing.text and "audit.read" in listing.text

    def test_new_api_key_is_shown_once_and_not_cached(self, client, db):
        make_admin(db, username="chief")
        db.commit()
        sign_in(client, "chief")
        form = client.get("/admin/clients/new", headers=HTML)
        answer = client.post("/admin/clients/new", headers=HTML, data={
            "csrf_token": csrf_from(form.text), "name": "Land registry", "identity": "KH/GOV/MLMUPC/cadastre",
            "permissions": ["audit.read"]})
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        key = re.search(r'id="api-key">([^<]+)<', answer.text).group(1)
        assert client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        listing = client.get("/admin/clients", headers=HTML)
        assert key not in listing.text and "KH/GOV/MLMUPC/cadastre" in listing.text


class TestAuditPage:
    def test_auditor_filters_readings_of_personal_data(self, client, db):
        reader = make_role(db, code="auditor_role", permissions=["audit.read"])
        make_officer(db, username="auditor", roles=[reader.code])
        audit.record_access(db, SYSTEM, subject_type="resident", subject_id="R-77", purpose="passport check")
        db.commit()
        sign_in(client, "auditor")
        page = client.get("/admin/audit?category=access", headers=HTML)
        assert page.status_code == 200 and "passport check" in page.text and "officer.create" not in page.text
