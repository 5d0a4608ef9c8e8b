"""E-mail through a real SMTP server (aiosmtpd on 127.0.0.1) and SMS through a real HTTP gateway, driven by the
outbox worker: delivery, retries while the server is away, and the local mailbox of the embedded default."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from nokor import messaging
from nokor.config import Settings
from nokor.db import session_scope
from nokor.kit.actor import Actor
from nokor.kit.outbox import OutboxMessage
from nokor.kit.time import utcnow
from nokor.worker import Worker

SYSTEM = Actor.system("tests")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture()
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def queue(factory: sessionmaker[Session], **kwargs: Any) -> messaging.NotificationRead:
    with session_scope(factory) as session:
        return messaging.send_notification(session, SYSTEM, template="messaging.test", context={"site": "Nokor"},
                                           **kwargs)


def status_of(factory: sessionmaker[Session], sent: messaging.NotificationRead) -> OutboxMessage:
    with session_scope(factory) as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.id == sent.outbox_message_id)).one()
        session.expunge(message)
        return message


def worker_for(settings: Settings, factory: sessionmaker[Session]) -> Worker:
    worker = Worker(settings.model_copy(update={"outbox_backoff_seconds": 30, "outbox_max_attempts": 3}), factory)
    for channel, deliverer in messaging.deliverers(settings, factory).items():
        worker.register(channel, deliverer)
    return worker


class TestSmtp:
    def test_email_reaches_a_real_smtp_server_in_the_readers_language(
            self, settings: Settings, session_factory: sessionmaker[Session],
            smtp_server: tuple[Inbox, int]) -> None:
        inbox, port = smtp_server
        smtp = settings.model_copy(update={"messaging_email_transport": "smtp", "messaging_smtp_port": port,
                                           "messaging_from_address": "no-reply@nokor.gov.kh"})
        sent = queue(session_factory, channel="email", to="dara@example.org", locale="km")
        worker = worker_for(smtp, session_factory)
        assert worker.run_once() == 1
        assert status_of(session_factory, sent).status == "delivered"
        assert len(inbox.messages) == 1
        mail_from, rcpt, content = inbox.messages[0]
        assert mail_from == "no-reply@nokor.gov.kh" and rcpt == ["dara@example.org"]
        mail = message_from_bytes(content)
        assert str(make_header(decode_header(mail["Subject"]))) == sent.subject
        assert mail["Content-Language"] == "km"
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes) and body.decode("utf-8").strip() == sent.body.strip()
        worker.close()

    def test_a_server_that_is_away_means_a_retry_not_a_loss(
            self, settings: Settings, session_factory: sessionmaker[Session],
            smtp_server: tuple[Inbox, int]) -> None:
        inbox, port = smtp_server
        down = settings.model_copy(update={"messaging_email_transport": "smtp", "messaging_smtp_port": free_port()})
        sent = queue(session_factory, channel="email", to="dara@example.org", locale="en")
        worker_for(down, session_factory).run_once()
        failed = status_of(session_factory, sent)
        assert failed.status == "pending" and failed.attempts == 1 and "SMTP" in (failed.last_error or "")
        assert failed.available_at > utcnow()
        with session_scope(session_factory) as session:  # the retry falls due
            session.execute(update(OutboxMessage).values(available_at=utcnow()))
        up = settings.model_copy(update={"messaging_email_transport": "smtp", "messaging_smtp_port": port})
        worker_for(up, session_factory).run_once()
        assert status_of(session_factory, sent).status == "delivered"
        assert len(inbox.messages) == 1


class Gateway(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, Any], str | None]] = []
    answer = 202

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        Gateway.received.append((json.loads(self.rfile.read(length)), self.headers.get("authorization")))
        self.send_response(Gateway.answer)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


class TestHttpSmsGateway:
    def test_sms_is_posted_to_the_gateway_and_a_refusal_is_retried(
            self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        Gateway.received, Gateway.answer = [], 503
        http = settings.model_copy(update={
            "messaging_sms_transport": "http", "messaging_sms_sender": "NOKOR",
            "messaging_sms_gateway_url": f"http://127.0.0.1:{server.server_port}/sms",
            "messaging_sms_gateway_token": SecretStr("gateway-token")})
        try:
            sent = queue(session_factory, channel="sms", to="+85512345678", locale="en")
            worker_for(http, session_factory).run_once()
            assert status_of(session_factory, sent).status == "pending"
            Gateway.answer = 202
            with session_scope(session_factory) as session:
                session.execute(update(OutboxMessage).values(available_at=utcnow()))
            worker_for(http, session_factory).run_once()
            assert status_of(session_factory, sent).status == "delivered"
        finally:
            server.shutdown()
        body, auth = Gateway.received[-1]
        assert body["to"] == "+85512345678" and body["from"] == "NOKOR" and body["text"] == sent.body
        assert body["reference"] == status_of(session_factory, sent).idempotency_key
        assert auth == "Bearer gateway-token"
        assert len(Gateway.received) == 2


class TestLocalMailbox:
    def test_embedded_default_keeps_email_and_sms_for_the_mailbox_page(
            self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        mail = queue(session_factory, channel="email", to="dara@example.org", locale="en")
        sms = queue(session_factory, channel="sms", to="+85512345678", locale="en")
        worker = worker_for(settings, session_factory)
        assert worker.run_once() == 2
        key = status_of(session_factory, mail).idempotency_key
        with session_scope(session_factory) as session:
            kept = messaging.list_caught_messages(session)
            again = messaging.catch_message(session, channel="email", sender="x", recipient="dara@example.org",
                                            subject="s", body="b", idempotency_key=key)
        assert {(m.channel, m.recipient, m.body) for m in kept} == {
            ("email", "dara@example.org", mail.body), ("sms", "+85512345678", sms.body)}
        assert again.id in {m.id for m in kept}  # a repeated delivery is kept once
