"""The local mailbox page and the sandbox SMS gateway (development and demos only)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from nokor import messaging
from nokor.app import create_app
from nokor.config import Settings

HTML = {"accept": "text/html"}


class TestMailbox:
    def test_messages_kept_locally_are_shown_and_filtered(self, client: TestClient, db: Session) -> None:
        messaging.catch_message(db, channel="email", sender="no-reply@nokor.example", recipient="dara@example.org",
                                subject="Your code", body="Code: 770031", idempotency_key="k1")
        messaging.catch_message(db, channel="sms", sender="Nokor", recipient="+85512345678", subject="",
                                body="Code: 770032", idempotency_key="k2")
        db.commit()
        page = client.get("/messaging/mailbox", headers=HTML)
        assert page.status_code == 200 and "770031" in page.text and "770032" in page.text
        only = client.get("/messaging/mailbox", params={"to": "+85512345678"}, headers=HTML)
        assert "770032" in only.text and "770031" not in only.text
        arabic = client.get("/messaging/mailbox?lang=ar", headers=HTML)
        assert 'dir="rtl"' in arabic.text

    def test_sandbox_gateway_takes_an_sms_over_http(self, client: TestClient) -> None:
        posted = client.post("/messaging/sandbox-sms", json={"to": "+85512345678", "from": "Nokor",
                                                              "text": "Code: 111222", "reference": "ref-1"})
        assert posted.status_code == 202
        assert "111222" in client.get("/messaging/mailbox", headers=HTML).text
        bad = client.post("/messaging/sandbox-sms", json={"to": "+85512345678"})
        assert bad.status_code == 422

    def test_no_mailbox_when_messages_really_leave(self, settings: Settings) -> None:
        real = settings.model_copy(update={"messaging_email_transport": "smtp", "messaging_sms_transport": "http"})
        app = create_app(real)
        with TestClient(app) as client:
            assert client.get("/messaging/mailbox", headers=HTML).status_code == 404
            assert client.post("/messaging/sandbox-sms", json={"to": "+1", "text": "x",
                                                                "reference": "r"}).status_code == 404
        app.state.engine.dispose()
