"""GovStack Messaging: an agency system sends single and batch e-mails with its API key in the ``apiKey``
header, and follows them by request id; the outbox worker delivers them."""

from __future__ import annotations

import base64
import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.conftest import issue_key
from tests.messaging.test_transports import Inbox, smtp_server, worker_for  # noqa: F401 - the fixture

from nokor.config import Settings

CONTENT = {"encoding": "UTF-8", "title": "Your parcel is at the post office", "content": "Bring your ID card."}


def test_single_and_batch_emails_are_sent_and_followed(
        client: TestClient, db: Session, settings: Settings, session_factory: sessionmaker[Session],
        smtp_server: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp_server
    key = issue_key(db, permissions=["messaging.send"])
    db.commit()
    headers = {"apiKey": key}
    assert client.post("/govstack/messaging/v1/send/email/single", json={
        "recipientInfo": {"email": "a@example.org"}, "emailContent": CONTENT}).status_code == 401
    single = client.post("/govstack/messaging/v1/send/email/single", headers=headers, json={
        "senderInfo": {"organisationName": "Cambodia Post"},
        "recipientInfo": {"email": "sokha@example.org", "emailCC": "cc@example.org", "name": "Sokha"},
        "emailContent": CONTENT})
    assert single.status_code == 200, single.text
    uid = single.json()["requestUID"]
    people = [{"recipientInfo": {"email": f"person{i}@example.org"}} for i in range(3)]
    batch = client.post("/govstack/messaging/v1/send/email/batch", headers=headers, json={
        "recipientInfo": {"batchEmailAsBase64": base64.b64encode(json.dumps(people).encode()).decode()},
        "emailContent": CONTENT})
    assert batch.status_code == 200
    bad = client.post("/govstack/messaging/v1/send/email/batch", headers=headers, json={
        "recipientInfo": {"batchEmailAsBase64": "not base64!"}, "emailContent": CONTENT})
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/recipientInfo/batchEmailAsBase64"
    before = client.get("/govstack/messaging/v1/status/email", headers={**headers, "requestUid": uid},
                        params={"status": ["scheduled", "delivered"]}).json()
    assert before["scheduled"] == 2 and before["delivered"] == 0
    smtp = settings.model_copy(update={"messaging_email_transport": "smtp", "messaging_smtp_port": port})
    worker = worker_for(smtp, session_factory)
    try:
        assert worker.run_once() == 5
    finally:
        worker.close()
    after = client.get("/govstack/messaging/v1/status/email", headers={**headers, "requestUid": uid}).json()
    assert after["delivered"] == 2 and after["scheduled"] == 0
    assert sorted(r[0] for _f, r, _c in inbox.messages) == [
        "cc@example.org", "person0@example.org", "person1@example.org", "person2@example.org", "sokha@example.org"]
    unknown = client.get("/govstack/messaging/v1/status/email", headers={**headers, "requestUid": "nope"})
    assert unknown.status_code == 404
