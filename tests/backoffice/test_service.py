"""Dead letters: visible to administrators, sent again on request, with the retry in the audit trail."""

from __future__ import annotations

import pytest
from tests.conftest import SYSTEM, csrf_from, make_officer, make_role, sign_in

from nokor import audit, backoffice
from nokor.kit import outbox
from nokor.kit.actor import Actor
from nokor.kit.errors import Conflict, Forbidden


def _dead_letter(db) -> outbox.OutboxMessage:
    from nokor.kit.time import utcnow

    message = outbox.enqueue(db, channel="webhook", destination="http://127.0.0.1:9/hook", payload={"n": 1})
    claimed = outbox.claim_due(db, now=utcnow(), batch_size=10, lease_seconds=60)
    assert [c.id for c in claimed] == [message.id]
    outbox.mark_failed(db, message.id, error="connection refused", max_attempts=1, backoff_seconds=1)
    db.commit()
    return message


def test_dead_letters_are_listed_and_sent_again(db):
    message = _dead_letter(db)
    dead = backoffice.list_outgoing_messages(db, SYSTEM, status="dead")
    assert [m.id for m in dead.items] == [message.id] and dead.items[0].last_error == "connection refused"
    again = backoffice.retry_dead_letter(db, SYSTEM, message_id=message.id, reason="receiver fixed")
    assert again.status == "pending" and again.attempts == 0
    entry = audit.list_entries(db, SYSTEM, subject_type="outbox_message").items[0]
    assert entry.action == "outbox.retry" and entry.before["last_error"] == "connection refused"


def test_only_dead_letters_are_retried(db):
    message = outbox.enqueue(db, channel="webhook", destination="http://127.0.0.1:9/hook", payload={})
    with pytest.raises(Conflict):
        backoffice.retry_dead_letter(db, SYSTEM, message_id=message.id)


def test_officers_without_the_permission_see_nothing(db):
    clerk = Actor(kind="officer", id=None, name="clerk", grants={"audit.read": None})
    with pytest.raises(Forbidden):
        backoffice.list_outgoing_messages(db, clerk)


def test_administrator_retries_from_the_page(client, db):
    role = make_role(db, permissions=["outbox.manage"])
    make_officer(db, username="operator", roles=[role.code])
    message = _dead_letter(db)
    sign_in(client, "operator")
    page = client.get("/admin/outbox?status=dead", headers={"accept": "text/html"})
    assert page.status_code == 200 and "connection refused" in page.text
    answer = client.post(f"/admin/outbox/{message.id}/retry", data={"csrf_token": csrf_from(page.text)},
                         headers={"accept": "text/html"})
    assert answer.status_code == 200 and "queued to be sent again" in answer.text
    db.expire_all()
    assert outbox.get_message(db, message.id).status == "pending"


def test_api_lists_dead_letters(client, db):
    from tests.conftest import issue_key

    key = issue_key(db, permissions=["outbox.manage"])
    message = _dead_letter(db)
    answer = client.get("/api/v1/outbox/messages?status=dead", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.json()["items"][0]["id"] == str(message.id)
    retried = client.post(f"/api/v1/outbox/messages/{message.id}/retry", headers={"Authorization": f"Bearer {key}"})
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    again = client.post(f"/api/v1/outbox/messages/{message.id}/retry", headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 409
