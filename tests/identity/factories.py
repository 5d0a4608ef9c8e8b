"""Typed factories of the digital identity, through the public services."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import csrf_from

from nokor import civil, identity
from nokor.kit.actor import Actor
from nokor.kit.outbox import OutboxMessage

SYSTEM = Actor.system("tests")
HTML = {"accept": "text/html"}
RULES = identity.IdentityRules(secret="test-secret-key-" + "x" * 32, issuer="http://127.0.0.1:8000")


def make_citizen(session: Session, **overrides: Any) -> civil.ResidentRead:
    data: dict[str, Any] = {"given_name": "សុភា", "family_name": "ចាន់", "given_name_latin": "Sophea",
                            "family_name_latin": "Chan", "sex": "F", "birth_date": date(1992, 4, 9),
                            "phone": "+85512345678", "email": "sophea@example.org",
                            "address_text": "House 12, Street 240"}
    data.update(overrides)
    return civil.create_resident(session, SYSTEM, data=civil.ResidentCreate(**data))


def last_code(session: Session, to: str) -> str:
    """The one-time code of the newest message sent to ``to`` (as the outbox holds it)."""
    session.expire_all()
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.destination == to)
                              .order_by(OutboxMessage.created_at.desc())).first()
    assert message is not None, f"no message to {to}"
    body = str(message.payload["body"])
    session.commit()  # end the read, so the app's requests can write (SQLite has one writer)
    found = re.search(r"\b(\d{6})\b", body)
    assert found, body
    return found.group(1)


def sign_in(client: TestClient, session: Session, resident: civil.ResidentRead, *, channel: str = "sms",
            next_url: str = "/my", identifier: str | None = None) -> str:
    """Sign a citizen in through the pages; returns where the sign-in sends the browser."""
    page = client.get(f"/my/login?next={next_url}", headers=HTML)
    started = client.post("/my/login", headers=HTML, data={
        "csrf_token": csrf_from(page.text), "identifier": identifier or resident.nin or "", "channel": channel,
        "next": next_url})
    assert started.status_code == 200, started.text
    challenge = re.search(r'name="challenge" value="([^"]+)"', started.text)
    assert challenge
    code = last_code(session, resident.phone if channel == "sms" else resident.email or "")
    done = client.post("/my/login/code", headers=HTML, follow_redirects=False, data={
        "csrf_token": csrf_from(started.text), "challenge": challenge.group(1), "code": code, "next": next_url})
    assert done.status_code == 303, done.text
    return done.headers["location"]
