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


def _report(meta: str, email: str, reason: str = "550 5.1.1 no such mailbox") -> dict[str, str]:
    return {"meta": meta, "content": base64.b64encode(json.dumps({"email": email, "reason": reason}).encode()).decode()}


def test_the_mail_provider_reports_a_bounce_on_the_callback(
        client: TestClient, db: Session, settings: Settings, session_factory: sessionmaker[Session],
        smtp_server: tuple[Inbox, int]) -> None:  # noqa: F811
    from nokor import audit
    from nokor.kit.actor import Actor

    _inbox, port = smtp_server
    key, other = issue_key(db, permissions=["messaging.send"]), issue_key(db, permissions=["messaging.send"])
    db.commit()
    headers = {"apiKey": key}
    sent = client.post("/govstack/messaging/v1/send/email/single", headers=headers, json={
        "recipientInfo": {"email": "sokha@example.org", "emailCC": "cc@example.org"}, "emailContent": CONTENT})
    uid = sent.json()["requestUID"]
    worker = worker_for(settings.model_copy(update={"messaging_email_transport": "smtp",
                                                    "messaging_smtp_port": port}), session_factory)
    try:
        assert worker.run_once() == 2
    finally:
        worker.close()
    url, mine = "/govstack/messaging/v1/callback/email", {**headers, "requestUid": uid}
    assert client.post(url, headers={"requestUid": uid}, json=_report("bounced", "cc@example.org")).status_code == 401
    # Another system cannot report on this request, nor learn that it exists.
    assert client.post(url, headers={"apiKey": other, "requestUid": uid},
                       json=_report("bounced", "cc@example.org")).status_code == 404
    assert client.post(url, headers={**headers, "requestUid": "nope"},
                       json=_report("bounced", "cc@example.org")).status_code == 404
    for body, pointer in ((_report("opened", "cc@example.org"), "/meta"),
                          ({"meta": "bounced", "content": "not base64!"}, "/content"),
                          (_report("bounced", "stranger@example.org"), "/content")):
        refused = client.post(url, headers=mine, json=body)
        assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == pointer, refused.text
    assert client.get("/govstack/messaging/v1/status/email", headers=mine).json()["delivered"] == 2
    accepted = client.post(url, headers=mine, json=_report("bounced", "CC@example.org"))
    assert accepted.status_code == 200 and accepted.json()["recipients"] == ["cc@example.org"], accepted.text
    assert client.post(url, headers=mine, json=_report("bounced", "cc@example.org")).status_code == 200  # a repeat
    status = client.get("/govstack/messaging/v1/status/email", headers=mine).json()
    assert (status["delivered"], status["bounced"]) == (1, 1)
    db.expire_all()
    trail = [e for e in audit.list_entries(db, Actor.system("tests"), subject_type="messaging_notification").items
             if e.action == "messaging.email_bounced"]
    assert len(trail) == 1 and trail[0].reason == "550 5.1.1 no such mailbox"
