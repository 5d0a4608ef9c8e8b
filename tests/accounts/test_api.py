"""The accounts API as agency systems and officers call it."""

from __future__ import annotations

from tests.conftest import issue_key, make_admin, make_org_unit, sign_in


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestApiKeys:
    def test_bearer_and_bare_govstack_authorization_both_work(self, client, db):
        key = issue_key(db, permissions=["accounts.manage"], identity="KH/GOV/MOI/civil-registry")
        db.commit()
        for header in (f"Bearer {key}", key):
            answer = client.get("/api/v1/me", headers={"Authorization": header})
            assert answer.status_code == 200
            assert answer.json()["identity"] == "KH/GOV/MOI/civil-registry"

    def test_unknown_key_gets_401_problem(self, client):
        answer = client.get("/api/v1/me", headers={"Authorization": "Bearer nk_deadbeef_nope"})
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/unauthorized")

    def test_information_mediator_header_must_match_the_client(self, client, db):
        key = issue_key(db, permissions=[], identity="KH/GOV/MOH/hospital")
        db.commit()
        same = client.get("/api/v1/me", headers={**_auth(key), "Information-Mediator-Client": "KH/GOV/MOH/hospital"})
        assert same.status_code == 200
        spoofed = client.get("/api/v1/me", headers={**_auth(key), "Information-Mediator-Client": "KH/GOV/MOI/police"})
        assert spoofed.status_code == 403
        assert spoofed.headers["content-type"] == "application/problem+json"

    def test_information_mediator_header_without_a_client_is_refused(self, client):
        answer = client.get("/health/live", headers={"Information-Mediator-Client": "KH/GOV/MOI/x"})
        assert answer.status_code == 200  # public endpoints do not authenticate at all
        answer = client.get("/api/v1/me", headers={"Information-Mediator-Client": "KH/GOV/MOI/x"})
        assert answer.status_code == 403

    def test_a_client_without_the_permission_is_forbidden(self, client, db):
        key = issue_key(db, permissions=[])
        db.commit()
        answer = client.get("/api/v1/officers", headers=_auth(key))
        assert answer.status_code == 403
        assert "accounts.manage" in answer.json()["detail"]


class TestOfficersApi:
    def test_create_then_read_an_officer(self, client, db):
        unit = make_org_unit(db, code="MOI")
        key = issue_key(db, permissions=["accounts.manage"])
        db.commit()
        created = client.post("/api/v1/officers", headers=_auth(key), json={
            "username": "Srey.Mom", "full_name": "ស្រី មុំ", "password": "A-Long-Enough-Pass-1",
            "org_unit_code": unit.code, "locale": "km"})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["username"] == "srey.mom" and body["full_name"] == "ស្រី មុំ" and "password" not in body
        read = client.get(f"/api/v1/officers/{body['id']}", headers=_auth(key))
        assert read.status_code == 200 and read.json()["id"] == body["id"]

    def test_invalid_body_gets_422_with_the_path_of_each_bad_field(self, client, db):
        key = issue_key(db, permissions=["accounts.manage"])
        db.commit()
        answer = client.post("/api/v1/officers", headers=_auth(key), json={"username": "x", "locale": "fr"})
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        pointers = {e["pointer"] for e in answer.json()["errors"]}
        assert {"/body/username", "/body/locale", "/body/full_name", "/body/password",
                "/body/org_unit_code"} <= pointers

    def test_malformed_json_gets_422_not_500(self, client, db):
        key = issue_key(db, permissions=["accounts.manage"])
        db.commit()
        answer = client.post("/api/v1/officers", headers={**_auth(key), "Content-Type": "application/json"},
                             content=b"{not json")
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"

    def test_listing_pages_with_a_cursor(self, client, db):
        unit = make_org_unit(db, code="MOI")
        key = issue_key(db, permissions=["accounts.manage"])
        from tests.conftest import make_officer

        for i in range(5):
            make_officer(db, username=f"officer{i}", org_unit=unit.code)
        db.commit()
        first = client.get("/api/v1/officers?limit=3", headers=_auth(key)).json()
        assert len(first["items"]) == 3 and first["next_cursor"]
        second = client.get(f"/api/v1/officers?limit=3&cursor={first['next_cursor']}", headers=_auth(key)).json()
        assert len(second["items"]) == 2 and second["next_cursor"] is None
        names = [o["username"] for o in first["items"] + second["items"]]
        assert sorted(names) == [f"officer{i}" for i in range(5)]

    def test_a_garbled_cursor_gets_422(self, client, db):
        key = issue_key(db, permissions=["accounts.manage"])
        db.commit()
        answer = client.get("/api/v1/officers?cursor=%%%", headers=_auth(key))
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["pointer"] == "/query/cursor"

    def test_an_officer_session_also_authenticates_the_api(self, client, db):
        make_admin(db, username="chief")
        db.commit()
        sign_in(client, "chief")
        answer = client.get("/api/v1/me")
        assert answer.status_code == 200 and answer.json()["kind"] == "officer"


class TestClientsApi:
    def test_new_client_key_works_and_revocation_stops_it(self, client, db):
        admin_key = issue_key(db, permissions=["accounts.manage", "audit.read"])
        db.commit()
        made = client.post("/api/v1/clients", headers=_auth(admin_key), json={
            "name": "Treasury", "identity": "KH/GOV/MEF/treasury", "permissions": ["audit.read"]})
        assert made.status_code == 201, made.text
        new_key = made.json()["api_key"]
        assert client.get("/api/v1/audit/verify", headers=_auth(new_key)).status_code == 200
        revoked = client.post(f"/api/v1/clients/{made.json()['client']['id']}/revoke", headers=_auth(admin_key))
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert client.get("/api/v1/audit/verify", headers=_auth(new_key)).status_code == 401
        listed = client.get("/api/v1/clients", headers=_auth(admin_key)).json()
        assert all("api_key" not in c and "key_hash" not in c for c in listed)


class TestUnstorableText:
    def test_a_nul_character_is_never_a_server_error(self, client, db):
        key = issue_key(db, permissions=["accounts.manage"])
        db.commit()
        answer = client.post("/api/v1/org-units", headers=_auth(key),
                             json={"code": "NULTEST", "kind": "ministry", "name": {"en": "a\u0000b"}})
        # SQLite stores the character; PostgreSQL cannot, and the caller is told so.
        assert answer.status_code in (201, 422), answer.text
        if answer.status_code == 422:
            assert answer.headers["content-type"] == "application/problem+json"
            assert "NUL" in answer.json()["detail"]
            listed = client.get("/api/v1/org-units", headers=_auth(key)).json()
            assert "NULTEST" not in [u["code"] for u in listed]
