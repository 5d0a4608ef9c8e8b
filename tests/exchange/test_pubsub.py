"""Publish/subscribe through the gateway: event types with versioned schemas, approval by the publisher,
PUSH through the outbox with retries across a restart of the subscriber, PULL with acknowledgement,
and the civil register's events bridged into the civil room."""

from __future__ import annotations

import time
import uuid

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.conftest import issue_key
from tests.exchange.conftest import SYSTEM, ServerThread, free_port

from nokor import exchange
from nokor.exchange.models import Delivery
from nokor.kit import outbox
from nokor.worker import Worker

ROOM = "KH/GOV/MOI/births"
PUBLISHER = "KH/GOV/MOI/civil-registry"
SUBSCRIBER = "KH/GOV/MOH/hospital"
SCHEMA = {"type": "object", "required": ["child", "born"],
          "properties": {"child": {"type": "string"}, "born": {"type": "string", "format": "date"}}}


@pytest.fixture
def keys(db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    made = {who: issue_key(db, permissions=[], identity=who) for who in (PUBLISHER, SUBSCRIBER)}
    for who in (PUBLISHER, SUBSCRIBER):
        exchange.ensure_subsystem(db, SYSTEM, identifier=who, name=who)
    exchange.ensure_subsystem(db, SYSTEM, identifier=ROOM, name="Births", is_room=True, publishers=[PUBLISHER])
    db.commit()
    return made


def h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _setup_room(client, keys) -> None:  # type: ignore[no-untyped-def]
    made = client.post(f"/r1/{ROOM}/api/v1/eventType", json={"eventType": "newBirth", "schema": SCHEMA},
                       headers=h(keys[PUBLISHER]))
    assert made.status_code == 200, made.text


class Inbox:
    """A subscriber's webhook endpoint that remembers what it got."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.keys: list[str] = []

        async def receive(request: Request) -> JSONResponse:
            self.got.append(await request.json())
            self.keys.append(request.headers["idempotency-key"])
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/events", receive, methods=["POST"])])


class TestEventTypes:
    def test_only_publishers_define_types_and_schemas_are_versioned(self, client, keys):
        refused = client.post(f"/r1/{ROOM}/api/v1/eventType", json={"eventType": "newBirth", "schema": SCHEMA},
                              headers=h(keys[SUBSCRIBER]))
        assert refused.status_code == 403
        _setup_room(client, keys)
        again = client.post(f"/r1/{ROOM}/api/v1/eventType", json={"eventType": "newBirth", "schema": SCHEMA},
                            headers=h(keys[PUBLISHER]))
        assert again.status_code == 409
        bad = client.post(f"/r1/{ROOM}/api/v1/eventType", json={"eventType": "x", "schema": {"type": 12}},
                          headers=h(keys[PUBLISHER]))
        assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/schema"
        v2 = dict(SCHEMA, required=["child", "born", "weight"])
        assert client.put(f"/r1/{ROOM}/api/v1/eventType/newBirth", json={"schema": v2},
                          headers=h(keys[PUBLISHER])).json()["version"] == 2
        assert client.get(f"/r1/{ROOM}/api/v1/eventType", headers=h(keys[SUBSCRIBER])).json() == ["newBirth"]
        got = client.get(f"/r1/{ROOM}/api/v1/eventType/newBirth", headers=h(keys[SUBSCRIBER])).json()
        assert got["versions"] == [1, 2] and got["schema"]["required"] == ["child", "born", "weight"]

    def test_events_are_validated_against_their_schema(self, client, keys):
        _setup_room(client, keys)
        bad = client.post(f"/r1/{ROOM}/pub/v1/newBirth", json={"event": {"child": 3}}, headers=h(keys[PUBLISHER]))
        assert bad.status_code == 422
        assert {e["pointer"] for e in bad.json()["errors"]} >= {"/event/child", "/event"}
        unknown = client.post(f"/r1/{ROOM}/pub/v1/newDeath", json={"event": {}}, headers=h(keys[PUBLISHER]))
        assert unknown.status_code == 404
        stranger = client.post(f"/r1/{ROOM}/pub/v1/newBirth", json={"event": {"child": "A", "born": "2026-01-01"}},
                               headers=h(keys[SUBSCRIBER]))
        assert stranger.status_code == 403


class TestPull:
    def test_pull_needs_approval_then_gives_events_in_order_until_acknowledged(self, client, keys, db):
        _setup_room(client, keys)
        sub = client.post(f"/r1/{ROOM}/api/v1/subs/newBirth", json={"delivery": "PULL"}, headers=h(keys[SUBSCRIBER]))
        assert sub.status_code == 200 and sub.json()["status"] == "pending"
        assert client.get(f"/r1/{ROOM}/pull/v1/newBirth", headers=h(keys[SUBSCRIBER])).status_code == 409
        not_theirs = client.post(f"/r1/{ROOM}/api/v1/subs/newBirth/{sub.json()['id']}/approve",
                                 headers=h(keys[SUBSCRIBER]))
        assert not_theirs.status_code == 403
        ok = client.post(f"/r1/{ROOM}/api/v1/subs/newBirth/{sub.json()['id']}/approve", headers=h(keys[PUBLISHER]))
        assert ok.json()["status"] == "approved"
        ids = [client.post(f"/r1/{ROOM}/pub/v1/newBirth", json={"event": {"child": name, "born": "2026-11-30"}},
                           headers=h(keys[PUBLISHER])).json()["id"] for name in ("Dara", "Sophea")]
        first = client.get(f"/r1/{ROOM}/pull/v1/newBirth", headers=h(keys[SUBSCRIBER])).json()
        assert first["id"] == ids[0] and first["event"]["child"] == "Dara"
        assert first["publisherId"]["applicationCode"] == "civil-registry"
        assert client.get(f"/r1/{ROOM}/pull/v1/newBirth", headers=h(keys[SUBSCRIBER])).json()["id"] == ids[0]
        assert client.delete(f"/r1/{ROOM}/pull/v1/newBirth/{ids[0]}", headers=h(keys[SUBSCRIBER])).status_code == 204
        assert client.get(f"/r1/{ROOM}/pull/v1/newBirth", headers=h(keys[SUBSCRIBER])).json()["id"] == ids[1]
        client.delete(f"/r1/{ROOM}/pull/v1/newBirth/{ids[1]}", headers=h(keys[SUBSCRIBER]))
        assert client.get(f"/r1/{ROOM}/pull/v1/newBirth", headers=h(keys[SUBSCRIBER])).status_code == 404
        assert client.delete(f"/r1/{ROOM}/pull/v1/newBirth/{uuid.uuid4()}",
                             headers=h(keys[SUBSCRIBER])).status_code == 404

    def test_push_needs_an_address_and_a_subscription_is_unique(self, client, keys):
        _setup_room(client, keys)
        no_url = client.post(f"/r1/{ROOM}/api/v1/subs/newBirth", json={"delivery": "PUSH"}, headers=h(keys[SUBSCRIBER]))
        assert no_url.status_code == 422 and no_url.json()["errors"][0]["pointer"] == "/url"
        client.post(f"/r1/{ROOM}/api/v1/subs/newBirth", json={"delivery": "PULL"}, headers=h(keys[SUBSCRIBER]))
        twice = client.post(f"/r1/{ROOM}/api/v1/subs/newBirth", json={"delivery": "PULL"}, headers=h(keys[SUBSCRIBER]))
        assert twice.status_code == 409
        mine = client.get(f"/r1/{ROOM}/api/v1/subs", headers=h(keys[SUBSCRIBER])).json()
        assert [s["eventType"] for s in mine] == ["newBirth"]


class TestPush:
    def test_push_retries_until_the_restarted_subscriber_takes_it(self, client, keys, db, settings,
                                                                  session_factory):
        _setup_room(client, keys)
        port = free_port()
        sub = client.post(f"/r1/{ROOM}/api/v1/subs/newBirth", headers=h(keys[SUBSCRIBER]), json={
            "delivery": "PUSH", "url": f"http://127.0.0.1:{port}/events",
            "options": {"backoffSeconds": 0.05, "maxAttempts": 10, "timeoutSeconds": 2}}).json()
        client.post(f"/r1/{ROOM}/api/v1/subs/newBirth/{sub['id']}/approve", headers=h(keys[PUBLISHER]))
        published = client.post(f"/r1/{ROOM}/pub/v1/newBirth", json={"event": {"child": "Dara", "born": "2026-11-30"}},
                                headers=h(keys[PUBLISHER])).json()
        worker = Worker(settings, session_factory)
        try:
            assert worker.run_once() == 1  # nobody listens: the attempt fails, the next one is scheduled
            db.expire_all()
            delivery = db.query(Delivery).one()
            assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_error
            db.rollback()  # SQLite: a reading transaction would hold the writer lock the worker needs
            inbox = Inbox()
            subscriber = ServerThread(inbox.app, port=port).start()
            try:
                deadline = time.monotonic() + 10
                while not inbox.got and time.monotonic() < deadline:
                    worker.run_once()
                    time.sleep(0.05)
            finally:
                subscriber.stop()
        finally:
            worker.close()
        assert [e["id"] for e in inbox.got] == [published["id"]]
        assert inbox.got[0]["event"] == {"child": "Dara", "born": "2026-11-30"}
        db.expire_all()
        delivery = db.query(Delivery).one()
        assert delivery.status == "delivered" and delivery.attempts >= 2
        assert inbox.keys == [str(delivery.id)]

    def test_a_subscriber_that_never_answers_ends_dead_after_its_own_attempts(self, client, keys, db, settings,
                                                                           session_factory):
        _setup_room(client, keys)
        sub = client.post(f"/r1/{ROOM}/api/v1/subs/newBirth", headers=h(keys[SUBSCRIBER]), json={
            "delivery": "PUSH", "url": f"http://127.0.0.1:{free_port()}/events",
            "options": {"backoffSeconds": 0.05, "maxAttempts": 2}}).json()
        exchange.decide_subscription(db, subscription_id=uuid.UUID(sub["id"]), approve=True, by="admin", actor=SYSTEM)
        db.commit()
        client.post(f"/r1/{ROOM}/pub/v1/newBirth", json={"event": {"child": "A", "born": "2026-11-30"}},
                    headers=h(keys[PUBLISHER]))
        worker = Worker(settings, session_factory)
        try:
            for _ in range(40):
                worker.run_once()
                db.expire_all()
                dead = db.query(Delivery).one().status == "dead"
                db.rollback()
                if dead:
                    break
                time.sleep(0.05)
        finally:
            worker.close()
        assert db.query(Delivery).one().status == "dead"
        assert db.query(Delivery).one().attempts == 2


class TestCivilBridge:
    def test_a_registered_birth_in_the_outbox_is_published_in_the_civil_room(self, db, settings, session_factory):
        event_id, resident_id = str(uuid.uuid4()), str(uuid.uuid4())
        outbox.enqueue(db, channel="pubsub", destination="civil.events", idempotency_key=event_id, payload={
            "type": "civil.birth.registered", "event_id": event_id, "kind": "birth", "occurred_on": "2026-11-30",
            "place_code": "12010101", "registered_at": "2026-12-01T08:00:00+00:00", "resident_id": resident_id})
        db.commit()
        worker = Worker(settings, session_factory)
        try:
            worker.run_once()
            worker.run_once()
        finally:
            worker.close()
        db.expire_all()
        events = exchange.pubsub.list_events(db, room=settings.civil_room)  # type: ignore[attr-defined]
        assert [(e.event_type, e.payload["resident_id"]) for e in events] == [("birth", resident_id)]
        # the same outbox message delivered twice publishes once
        exchange.publish_civil_event(db, settings, {"event_id": event_id, "kind": "birth", "occurred_on": "2026-11-30",
                                                    "registered_at": "2026-12-01T08:00:00+00:00",
                                                    "resident_id": resident_id, "place_code": None})
        assert len(exchange.pubsub.list_events(db, room=settings.civil_room)) == 1  # type: ignore[attr-defined]
