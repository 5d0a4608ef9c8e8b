"""The OpenID Connect provider: code flow with PKCE, consent, pairwise subjects, sealed ID tokens, UserInfo,
e-KYC, and every abuse refused with the standard error and written to the audit trail."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update
from sqlalchemy.orm import Session
from tests.conftest import csrf_from
from tests.identity.conftest import Party, pkce
from tests.identity.factories import HTML, SYSTEM, make_citizen, sign_in

from nokor import audit, civil, identity
from nokor.identity.models import AuthorizationCode
from nokor.kit.time import utcnow

ISSUER = "http://127.0.0.1:8000"


def basic(party: Party) -> dict[str, str]:
    raw = f"{party.client_id}:{party.secret}".encode()
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


def auth_params(party: Party, challenge: str, **override: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": party.client_id, "redirect_uri": party.redirect_uri,
              "scope": "openid profile phone national_id", "state": "st-123", "nonce": "n-456",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(override)
    return {k: v for k, v in params.items() if v != ""}


def grant(client: TestClient, party: Party, challenge: str, *, agreements: list[str] | None = None,
          decision: str = "allow", **override: str) -> str:
    """Ask for authorization as the signed-in citizen and answer the consent page; returns the redirect."""
    page = client.get("/authorize?" + urlencode(auth_params(party, challenge, **override)), headers=HTML,
                      follow_redirects=False)
    assert page.status_code == 200, page.text
    form: dict[str, Any] = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    chosen = agreements if agreements is not None else re.findall(r'name="agreement" value="([^"]+)"', page.text)
    form.update({"agreement": chosen, "decision": decision})
    answer = client.post("/authorize", data=form, headers=HTML, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def code_of(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, location
    assert query["state"] == ["st-123"]
    return query["code"][0]


def redeem(client: TestClient, party: Party, code: str, verifier: str, **override: str) -> Any:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": party.redirect_uri,
            "code_verifier": verifier}
    body.update(override)
    headers = basic(party) if party.secret else {}
    if not party.secret:
        body["client_id"] = party.client_id
    return client.post("/oauth/token", data={k: v for k, v in body.items() if v != ""}, headers=headers)


def signed_in(client: TestClient, db: Session) -> civil.ResidentRead:
    resident = make_citizen(db)
    db.commit()
    sign_in(client, db, resident)
    return resident


def refusals(db: Session, action: str) -> list[audit.AuditEntryRead]:
    db.expire_all()
    entries = audit.list_entries(db, SYSTEM, limit=200).items
    db.commit()
    return [e for e in entries if e.action == action]


class TestCodeFlow:
    def test_discovery_and_keys(self, client: TestClient, bank: Party) -> None:
        config = client.get("/.well-known/openid-configuration").json()
        assert config["issuer"] == ISSUER and config["code_challenge_methods_supported"] == ["S256"]
        assert config["subject_types_supported"] == ["pairwise"]
        keys = client.get("/.well-known/jwks.json").json()["keys"]
        assert keys and keys[0]["kty"] == "EC" and keys[0]["crv"] == "P-256"

    def test_full_flow_gives_a_sealed_id_token_with_consented_claims_only(self, client: TestClient, db: Session,
                                                                         bank: Party) -> None:
        resident = signed_in(client, db)
        verifier, challenge = pkce()
        tokens = redeem(client, bank, code_of(grant(client, bank, challenge)), verifier)
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        assert body["token_type"] == "Bearer" and tokens.headers["cache-control"] == "no-store"
        keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
        claims = jwt.decode(body["id_token"], keys, algorithms=["ES256"]).claims
        assert claims["iss"] == ISSUER and claims["aud"] == bank.client_id and claims["nonce"] == "n-456"
        assert claims["sub"] != str(resident.id) and claims["sub"] != resident.nin
        # profile asks for gender, but the agreement does not cover it: it is not released
        assert claims["name"] == "សុភា ចាន់" and claims["individual_id"] == resident.nin
        assert "gender" not in claims and "email" not in claims
        info = client.get("/oidc/userinfo", headers={"authorization": f"Bearer {body['access_token']}"}).json()
        assert info["sub"] == claims["sub"] and info["phone_number"] == "+85512345678"
        log = identity.my_access_log(db, identity.resolve_session(
            db, token=client.cookies.get(identity.CITIZEN_COOKIE) or "") or _fail())
        assert any("Acleda-Bank" in e.actor_name and "individual_id" in e.fields for e in log)

    def test_subjects_are_pairwise(self, client: TestClient, db: Session, bank: Party, public_app: Party) -> None:
        signed_in(client, db)
        subs = []
        for party in (bank, public_app):
            verifier, challenge = pkce()
            body = redeem(client, party, code_of(grant(client, party, challenge, agreements=[])), verifier).json()
            subs.append(client.get("/oidc/userinfo", headers={"authorization": f"Bearer {body['access_token']}"})
                        .json())
        assert subs[0]["sub"] != subs[1]["sub"]
        assert set(subs[1]) == {"sub"}  # no agreement ticked: nothing but the pseudonym

    def test_refusing_consent_sends_access_denied(self, client: TestClient, db: Session, bank: Party) -> None:
        signed_in(client, db)
        _verifier, challenge = pkce()
        location = grant(client, bank, challenge, decision="deny")
        assert parse_qs(urlsplit(location).query)["error"] == ["access_denied"]

    def test_not_signed_in_goes_to_the_citizen_sign_in(self, client: TestClient, bank: Party) -> None:
        _verifier, challenge = pkce()
        answer = client.get("/authorize?" + urlencode(auth_params(bank, challenge)), headers=HTML,
                            follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/my/login?next=%2Fauthorize")


def _fail() -> identity.Citizen:
    raise AssertionError("no citizen session")


class TestConsentEnforcement:
    def test_revoked_consent_stops_sharing_at_once(self, client: TestClient, db: Session, bank: Party) -> None:
        signed_in(client, db)
        verifier, challenge = pkce()
        token = redeem(client, bank, code_of(grant(client, bank, challenge)), verifier).json()["access_token"]
        bearer = {"authorization": f"Bearer {token}"}
        assert "individual_id" in client.get("/oidc/userinfo", headers=bearer).json()
        kyc = client.post("/api/v1/identity/ekyc", headers=basic(bank),
                          json={"access_token": token, "purpose": bank.kyc_agreement.code})
        assert kyc.status_code == 200 and set(kyc.json()["claims"]) == {"name", "birthdate", "individual_id",
                                                                         "phone_number"}
        page = client.get("/my/consents", headers=HTML)
        consent_id = re.search(r'action="/my/consents/([^/]+)/revoke"', page.text)
        assert consent_id
        client.post(f"/my/consents/{consent_id.group(1)}/revoke", data={"csrf_token": csrf_from(page.text)},
                    headers=HTML)
        assert set(client.get("/oidc/userinfo", headers=bearer).json()) == {"sub"}
        refused = client.post("/api/v1/identity/ekyc", headers=basic(bank),
                              json={"access_token": token, "purpose": bank.kyc_agreement.code})
        assert refused.status_code == 403 and refused.json()["error"] == "consent_required"

    def test_ekyc_is_signed_by_the_platform_seal(self, client: TestClient, db: Session, bank: Party) -> None:
        signed_in(client, db)
        verifier, challenge = pkce()
        token = redeem(client, bank, code_of(grant(client, bank, challenge)), verifier).json()["access_token"]
        kyc = client.post("/api/v1/identity/ekyc", headers=basic(bank),
                          json={"access_token": token, "purpose": bank.kyc_agreement.code}).json()
        keys = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
        payload = jwt.decode(kyc["kyc"], keys, algorithms=["ES256"]).claims
        assert payload["claims"] == kyc["claims"] and payload["aud"] == bank.client_id
        assert payload["purpose"] == bank.kyc_agreement.code and payload["txn"] == kyc["transaction_id"]


class TestAbuse:
    def test_missing_or_plain_pkce_is_refused_back_to_the_client(self, client: TestClient, db: Session,
                                                                 bank: Party) -> None:
        signed_in(client, db)
        for override in ({"code_challenge": "", "code_challenge_method": ""},
                         {"code_challenge_method": "plain"}):
            answer = client.get("/authorize?" + urlencode(auth_params(bank, "x" * 43, **override)), headers=HTML,
                                follow_redirects=False)
            assert answer.status_code == 302
            query = parse_qs(urlsplit(answer.headers["location"]).query)
            assert query["error"] == ["invalid_request"] and query["state"] == ["st-123"]
        assert len(refusals(db, "oidc.authorize.refused")) == 2

    def test_a_redirect_uri_one_character_off_is_never_followed(self, client: TestClient, db: Session,
                                                                bank: Party) -> None:
        signed_in(client, db)
        _verifier, challenge = pkce()
        near = (bank.redirect_uri + "x", bank.redirect_uri[:-1], bank.redirect_uri.replace("callback", "Callback"))
        for wrong in near:
            answer = client.get("/authorize?" + urlencode(auth_params(bank, challenge, redirect_uri=wrong)),
                                headers=HTML, follow_redirects=False)
            assert answer.status_code == 400 and "location" not in answer.headers
            assert "invalid_request" in answer.text
        assert len(refusals(db, "oidc.authorize.refused")) == 3

    def test_wrong_or_missing_verifier_is_invalid_grant(self, client: TestClient, db: Session, bank: Party) -> None:
        signed_in(client, db)
        _verifier, challenge = pkce()
        code = code_of(grant(client, bank, challenge))
        wrong = redeem(client, bank, code, pkce()[0])
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        _verifier2, challenge2 = pkce()
        missing = redeem(client, bank, code_of(grant(client, bank, challenge2)), "")
        assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
        assert len(refusals(db, "oidc.token.refused")) == 2

    def test_a_replayed_code_is_refused_and_its_tokens_revoked(self, client: TestClient, db: Session,
                                                               bank: Party) -> None:
        signed_in(client, db)
        verifier, challenge = pkce()
        code = code_of(grant(client, bank, challenge))
        first = redeem(client, bank, code, verifier)
        assert first.status_code == 200
        again = redeem(client, bank, code, verifier)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        token = first.json()["access_token"]
        revoked = client.get("/oidc/userinfo", headers={"authorization": f"Bearer {token}"})
        assert revoked.status_code == 401 and 'error="invalid_token"' in revoked.headers["www-authenticate"]
        assert any((e.after or {}).get("detail") == "code_replayed" for e in refusals(db, "oidc.token.refused"))

    def test_an_expired_code_is_refused(self, client: TestClient, db: Session, bank: Party) -> None:
        signed_in(client, db)
        verifier, challenge = pkce()
        code = code_of(grant(client, bank, challenge))
        db.execute(update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
        expired = redeem(client, bank, code, verifier)
        assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"

    def test_tokens_and_codes_of_another_client_are_refused(self, client: TestClient, db: Session, bank: Party,
                                                            public_app: Party) -> None:
        signed_in(client, db)
        verifier, challenge = pkce()
        code = code_of(grant(client, bank, challenge))
        stolen = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": bank.redirect_uri, "code_verifier": verifier,
                                                   "client_id": public_app.client_id})
        assert stolen.status_code == 400 and stolen.json()["error"] in ("invalid_grant", "invalid_request")
        token = redeem(client, bank, code, verifier).json()["access_token"]
        other = identity.register_relying_party(db, SYSTEM, data=identity.RelyingPartyCreate(
            client_id="other-bank", name={"en": "Other bank"}, redirect_uris=["https://other.example/cb"]))
        db.commit()
        other_party = Party("other-bank", other.client_secret, "https://other.example/cb", bank.kyc_agreement)
        wrong_audience = client.post("/api/v1/identity/ekyc", headers=basic(other_party),
                                     json={"access_token": token, "purpose": bank.kyc_agreement.code})
        assert wrong_audience.status_code == 401 and wrong_audience.json()["error"] == "invalid_token"
        bad_secret = client.post("/api/v1/identity/ekyc", headers={"authorization": "Basic " + base64.b64encode(
            b"acleda-bank:nope").decode()}, json={"access_token": token, "purpose": bank.kyc_agreement.code})
        assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
        assert refusals(db, "oidc.ekyc.refused")

    def test_unknown_client_and_bad_token_are_refused(self, client: TestClient, db: Session, bank: Party) -> None:
        _verifier, challenge = pkce()
        unknown = client.get("/authorize?" + urlencode(auth_params(bank, challenge, client_id="nobody")),
                             headers=HTML, follow_redirects=False)
        assert unknown.status_code == 400 and "invalid_client" in unknown.text
        bad = client.get("/oidc/userinfo", headers={"authorization": "Bearer not-a-token-at-all"})
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"

