"""The outbox worker against a real HTTP receiver on 127.0.0.1: delivery, retries, dead letters, crashes.

Runs on SQLite by default and on PostgreSQL when NOKOR_DATABASE_URL names one (tests/conftest.py
creates a scratch database for the test session and drops it at the end).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from nokor.config import Settings
from nokor.db import session_scope
from nokor.kit import outbox
from nokor.kit.outbox import ClaimedMessage, OutboxMessage
from nokor.kit.time import utcnow
from nokor.worker import Worker

WAIT_LIMIT_SECONDS = 60  # only a guard against hanging forever; no test relies on timing


# -- fixtures: the migrated test database of tests/conftest.py, emptied after each test ------------


@pytest.fixture()
def factory(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    # Start from an empty outbox even if an earlier test elsewhere left messages behind.
    with session_scope(session_factory) as session:
        session.execute(delete(OutboxMessage))
    return session_factory


@pytest.fixture()
def worker_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update=dict(
            outbox_max_attempts=3,
            outbox_backoff_seconds=30,
            outbox_batch_size=10,
            outbox_lease_seconds=60,
            worker_poll_seconds=0.05,
            webhook_timeout_seconds=5,
        )
    )


@pytest.fixture()
def make_worker(factory: sessionmaker[Session], worker_settings: Settings) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def make(**overrides: Any) -> Worker:
        worker = Worker(worker_settings.model_copy(update=overrides), factory)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


# -- a real HTTP receiver --------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that records every request and answers as it is told."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200
    delay_seconds: float = 0.0
    block_at: int | None = None  # the n-th request (1-based) waits until `unblock` is set
    blocked: threading.Event = field(default_factory=threading.Event)
    unblock: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, received: Received) -> int:
        with self.lock:
            self.requests.append(received)
            number = len(self.requests)
            status = self.statuses.pop(0) if self.statuses else 200
        if number == self.block_at:
            self.blocked.set()
            self.unblock.wait(WAIT_LIMIT_SECONDS)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        return status

    def keys(self) -> list[str]:
        with self.lock:
            return [r.headers["idempotency-key"] for r in self.requests]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.handle(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw))
            )
            body = b'{"error": "receiver says no"}' if status >= 300 else b"{}"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a worker killed mid-request leaves a broken pipe; that is the point of the test

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.unblock.set()
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- helpers ---------------------------------------------------------------------------------------


def enqueue(
    factory: sessionmaker[Session], destination: str, count: int = 1, *, channel: str = "webhook", **kw: Any
) -> list[uuid.UUID]:
    with session_scope(factory) as session:
        return [
            outbox.enqueue(session, channel=channel, destination=destination, payload={"n": n}, **kw).id
            for n in range(count)
        ]


def load(factory: sessionmaker[Session], message_id: uuid.UUID) -> OutboxMessage:
    with factory() as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def make_due_now(factory: sessionmaker[Session]) -> None:
    """Pretend the backoff has passed."""
    with session_scope(factory) as session:
        session.execute(update(OutboxMessage).values(available_at=utcnow() - timedelta(seconds=1)))


def count(factory: sessionmaker[Session], status: str) -> int:
    with factory() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == status)
            )
            or 0
        )


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


# -- tests -----------------------------------------------------------------------------------------


class TestWebhookDelivery:
    def test_delivered_on_2xx_with_the_idempotency_key(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        [message_id] = enqueue(
            factory,
            f"{receiver.url}/hooks/birth",
            idempotency_key="birth-123",
            headers={
                "X-Nokor-Event": "civil.birth_registered",
                "content-type": "application/cloudevents+json",
            },
        )

        assert make_worker().run_once() == 1

        [request] = receiver.requests
        assert request.path == "/hooks/birth"
        assert request.headers["idempotency-key"] == "birth-123"
        assert request.headers["x-nokor-event"] == "civil.birth_registered"
        assert request.headers["content-type"] == "application/cloudevents+json"
        assert request.body == {"n": 0}
        message = load(factory, message_id)
        assert message.status == "delivered"
        assert message.delivered_at is not None
        assert message.attempts == 1

    def test_json_content_type_by_default_and_key_cannot_be_overridden(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        [message_id] = enqueue(factory, receiver.url, headers={"idempotency-key": "forged"})

        make_worker().run_once()

        [request] = receiver.requests
        assert request.headers["content-type"] == "application/json"
        assert request.headers["idempotency-key"] == str(message_id)

    def test_500_is_retried_later_with_the_same_key(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        [message_id] = enqueue(factory, receiver.url)
        receiver.statuses = [500]
        worker = make_worker()

        assert worker.run_once() == 1
        message = load(factory, message_id)
        assert message.status == "pending"
        assert message.attempts == 1
        assert message.last_error is not None
        assert message.last_error.startswith("HTTP 500")
        assert "receiver says no" in message.last_error
        assert message.available_at > utcnow()
        assert worker.run_once() == 0  # still backing off

        make_due_now(factory)
        assert worker.run_once() == 1

        assert load(factory, message_id).status == "delivered"
        assert receiver.keys() == [str(message_id), str(message_id)]

    def test_connection_refused_is_retried_with_the_error_kept(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker]
    ) -> None:
        [message_id] = enqueue(factory, f"http://127.0.0.1:{closed_port()}/hook")

        assert make_worker().run_once() == 1

        message = load(factory, message_id)
        assert message.status == "pending"
        assert message.attempts == 1
        assert message.last_error is not None
        assert message.last_error.startswith("ConnectError")
        assert message.available_at > utcnow()

    def test_dead_after_max_attempts_then_retry_dead_delivers_it(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        [message_id] = enqueue(factory, receiver.url)
        receiver.statuses = [503, 502, 500]
        worker = make_worker(outbox_max_attempts=3, outbox_backoff_seconds=0)

        assert [worker.run_once() for _ in range(4)] == [1, 1, 1, 0]

        message = load(factory, message_id)
        assert message.status == "dead"
        assert message.dead_at is not None
        assert message.last_error is not None
        assert message.last_error.startswith("HTTP 500")
        assert len(receiver.requests) == 3

        with session_scope(factory) as session:
            outbox.retry_dead(session, message_id)
        assert worker.run_once() == 1

        assert load(factory, message_id).status == "delivered"
        assert receiver.keys() == [str(message_id)] * 4

    def test_redirect_is_not_followed_and_counts_as_failure(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        [message_id] = enqueue(factory, receiver.url)
        receiver.statuses = [307]

        make_worker().run_once()

        assert (load(factory, message_id).last_error or "").startswith("HTTP 307")
        assert len(receiver.requests) == 1


class TestTransactions:
    def test_messages_of_a_rolled_back_transaction_are_never_sent(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        with pytest.raises(RuntimeError), session_scope(factory) as session:
            outbox.enqueue(session, channel="webhook", destination=receiver.url, payload={"a": 1})
            raise RuntimeError("the registration failed")

        assert make_worker().run_once() == 0
        assert receiver.requests == []


class TestChannels:
    def test_channel_without_a_deliverer_stays_pending_until_one_is_registered(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker]
    ) -> None:
        [message_id] = enqueue(factory, "citizen@example.org", channel="email")
        worker = make_worker()

        assert worker.run_once() == 0
        message = load(factory, message_id)
        assert (message.status, message.attempts, message.leased_until) == ("pending", 0, None)

        sent: list[ClaimedMessage] = []
        worker.register("email", sent.append)
        assert worker.run_once() == 1

        assert [m.destination for m in sent] == ["citizen@example.org"]
        assert load(factory, message_id).status == "delivered"

    def test_a_deliverer_that_raises_is_a_failed_attempt(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker]
    ) -> None:
        [message_id] = enqueue(factory, "+85512345678", channel="sms")

        def broken_gateway(message: ClaimedMessage) -> None:
            raise OSError("SMS gateway unreachable")

        worker = make_worker()
        worker.register("sms", broken_gateway)
        worker.run_once()

        message = load(factory, message_id)
        assert (message.status, message.last_error) == ("pending", "SMS gateway unreachable")

    def test_unknown_channel_cannot_be_registered(self, make_worker: Callable[..., Worker]) -> None:
        with pytest.raises(ValueError, match="fax"):
            make_worker().register("fax", lambda message: None)


class TestConcurrency:
    def test_two_workers_at_once_send_each_message_exactly_once(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        ids = enqueue(factory, receiver.url, 60)
        workers = [make_worker(outbox_batch_size=5), make_worker(outbox_batch_size=5)]
        errors: list[BaseException] = []

        def drain(worker: Worker) -> None:
            try:
                while worker.run_once():
                    pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_LIMIT_SECONDS)

        assert errors == []
        assert sorted(receiver.keys()) == sorted(str(i) for i in ids)
        assert count(factory, "delivered") == 60


class TestRunForever:
    def test_delivers_until_stopped(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker], receiver: Receiver
    ) -> None:
        stop = threading.Event()
        worker = make_worker(outbox_batch_size=3)
        thread = threading.Thread(target=worker.run_forever, args=(stop,))
        thread.start()
        try:
            ids = enqueue(factory, receiver.url, 7)
            wait_until(lambda: count(factory, "delivered") == 7, "all messages delivered")
        finally:
            stop.set()
            thread.join(WAIT_LIMIT_SECONDS)

        assert not thread.is_alive()
        assert sorted(receiver.keys()) == sorted(str(i) for i in ids)

    def test_stop_mid_batch_finishes_the_current_message_and_gives_back_the_rest(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker]
    ) -> None:
        ids = enqueue(factory, "queue://events", 4, channel="pubsub")
        worker = make_worker()
        sent: list[uuid.UUID] = []

        def publish_then_get_stopped(message: ClaimedMessage) -> None:
            sent.append(message.id)
            worker.stop_event.set()

        worker.register("pubsub", publish_then_get_stopped)

        assert worker.run_once() == 1

        assert sent == [ids[0]]
        assert load(factory, ids[0]).status == "delivered"
        for message_id in ids[1:]:
            message = load(factory, message_id)
            assert (message.status, message.attempts, message.leased_until) == ("pending", 0, None)


# -- worker processes: SIGKILL loses nothing, SIGTERM stops cleanly --------------------------------

WORKER_SCRIPT = """
import threading
from nokor.config import Settings
from nokor.db import make_engine, make_session_factory
from nokor.worker import Worker

settings = Settings()
Worker(settings, make_session_factory(make_engine(settings.effective_database_url))).run_forever(
    threading.Event()
)
"""


def start_worker_process(database_url: str, tmp_path: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
    env.update(
        NOKOR_DATABASE_URL=database_url,
        NOKOR_DATA_DIR=str(tmp_path),
        NOKOR_WORKER_POLL_SECONDS="0.05",
        NOKOR_OUTBOX_BATCH_SIZE="20",
        NOKOR_OUTBOX_LEASE_SECONDS="1",
        NOKOR_OUTBOX_BACKOFF_SECONDS="0.1",
        NOKOR_WEBHOOK_TIMEOUT_SECONDS="30",
    )
    env.update({f"NOKOR_{k.upper()}": v for k, v in settings.items()})
    # cwd: a folder without a .env file, so only the environment above counts.
    return subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.slow
class TestWorkerProcess:
    def test_killed_worker_loses_no_message(
        self, factory: sessionmaker[Session], database_url: str, receiver: Receiver, tmp_path: Path
    ) -> None:
        ids = enqueue(factory, receiver.url, 200)
        receiver.delay_seconds = 0.002
        receiver.block_at = 50  # the first worker dies while this request is in flight
        first = start_worker_process(database_url, tmp_path)
        try:
            assert receiver.blocked.wait(WAIT_LIMIT_SECONDS), "the first worker never got going"
            first.send_signal(signal.SIGKILL)
            first.wait()
        finally:
            stop_process(first)
        receiver.unblock.set()
        in_flight = receiver.keys()[49]
        assert load(factory, uuid.UUID(in_flight)).status == "pending"

        second = start_worker_process(database_url, tmp_path, outbox_lease_seconds="1")
        try:
            wait_until(lambda: count(factory, "delivered") == 200, "all 200 messages delivered")
            second.send_signal(signal.SIGTERM)
            assert second.wait(WAIT_LIMIT_SECONDS) == 0
        finally:
            stop_process(second)

        keys = receiver.keys()
        assert set(keys) == {str(i) for i in ids}
        assert keys.count(in_flight) >= 2  # sent again, with the same Idempotency-Key
        assert count(factory, "pending") == 0

    def test_sigterm_finishes_the_message_in_flight_and_exits_cleanly(
        self, factory: sessionmaker[Session], database_url: str, receiver: Receiver, tmp_path: Path
    ) -> None:
        ids = enqueue(factory, receiver.url, 5)
        receiver.block_at = 1
        proc = start_worker_process(database_url, tmp_path, outbox_lease_seconds="600")
        try:
            assert receiver.blocked.wait(WAIT_LIMIT_SECONDS), "the worker never got going"
            proc.send_signal(signal.SIGTERM)
            receiver.unblock.set()
            assert proc.wait(WAIT_LIMIT_SECONDS) == 0
        finally:
            stop_process(proc)

        assert receiver.keys() == [str(ids[0])]
        assert load(factory, ids[0]).status == "delivered"
        for message_id in ids[1:]:
            message = load(factory, message_id)
            assert (message.status, message.attempts, message.leased_until) == ("pending", 0, None)


class TestAuditSealing:
    def test_the_running_worker_seals_written_audit_entries_into_the_chain(
        self, factory: sessionmaker[Session], make_worker: Callable[..., Worker]
    ) -> None:
        from nokor import audit
        from nokor.audit.models import AuditEntry
        from nokor.kit.actor import Actor

        with session_scope(factory) as session:
            for i in range(3):
                audit.record_change(session, Actor.system("tests"), action="thing.update",
                                    subject_type="thing", subject_id=f"W{i}")

        def unsealed() -> int:
            with factory() as session:
                return int(session.scalar(
                    select(func.count()).select_from(AuditEntry).where(AuditEntry.seq.is_(None))) or 0)

        stop = threading.Event()
        worker = make_worker(audit_seal_seconds=0.05)
        thread = threading.Thread(target=worker.run_forever, args=(stop,))
        thread.start()
        try:
            wait_until(lambda: unsealed() == 0, "every audit entry sealed")
        finally:
            stop.set()
            thread.join(WAIT_LIMIT_SECONDS)
        with factory() as session:
            report = audit.verify_chain(session)
        assert report.ok and report.count == 3 and report.unsealed == 0
