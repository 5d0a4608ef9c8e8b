"""A relying party doing the code flow over real HTTP: Nokor served by uvicorn on a loopback port, the bank's
side played by Authlib's OAuth 2 client (PKCE S256), the citizen's browser by an httpx client."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session
from tests.identity.conftest import Party
from tests.identity.factories import last_code, make_citizen

from nokor.app import create_app
from nokor.config import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"base_url": base}))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started, "uvicorn did not start"
    yield base
    uv.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def hidden(html: str) -> dict[str, str]:
    return {name: unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}


def test_bank_signs_a_citizen_in_over_http(server: str, db: Session, bank: Party) -> None:
    resident = make_citizen(db)
    db.commit()
    config = httpx.get(f"{server}/.well-known/openid-configuration").json()
    assert config["authorization_endpoint"] == f"{server}/authorize"
    rp = OAuth2Client(client_id=bank.client_id, client_secret=bank.secret, redirect_uri=bank.redirect_uri,
                      scope="openid profile phone national_id", code_challenge_method="S256")
    verifier = "v" * 20 + "-verifier-" + "x" * 30
    url, state = rp.create_authorization_url(config["authorization_endpoint"], code_verifier=verifier,
                                             nonce="nonce-over-http")
    assert "code_challenge=" + create_s256_code_challenge(verifier) in url
    with httpx.Client(base_url=server, headers={"accept": "text/html"}) as browser:
        to_login = browser.get(url)
        assert to_login.status_code == 303 and to_login.headers["location"].startswith("/my/login")
        login = browser.get(to_login.headers["location"])
        form = hidden(login.text)
        started = browser.post("/my/login", data={**form, "identifier": resident.nin, "channel": "sms"})
        code = last_code(db, "+85512345678")
        signed_in = browser.post("/my/login/code", data={**hidden(started.text), "code": code})
        assert signed_in.status_code == 303 and signed_in.headers["location"].startswith("/authorize?")
        consent = browser.get(signed_in.headers["location"])
        assert consent.status_code == 200 and "Acleda-Bank" in consent.text, consent.text[-1500:]
        assert "form-action 'self' http://127.0.0.1:9911" in consent.headers["content-security-policy"]
        agreements = re.findall(r'name="agreement" value="([^"]+)"', consent.text)
        back = browser.post("/authorize", data={**hidden(consent.text), "agreement": agreements,
                                                "decision": "allow"})
        assert back.status_code == 302
        callback = back.headers["location"]
    assert callback.startswith(bank.redirect_uri + "?")
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    token = rp.fetch_token(config["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    keys = KeySet.import_key_set(httpx.get(config["jwks_uri"]).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["iss"] == server and claims["aud"] == bank.client_id and claims["nonce"] == "nonce-over-http"
    assert claims["individual_id"] == resident.nin
    info = rp.get(config["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["phone_number"] == "+85512345678"
    replay = httpx.post(config["token_endpoint"], auth=(bank.client_id, bank.secret or ""), data={
        "grant_type": "authorization_code", "code": parse_qs(urlsplit(callback).query)["code"][0],
        "redirect_uri": bank.redirect_uri, "code_verifier": verifier})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
