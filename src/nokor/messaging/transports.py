"""How notifications leave: SMTP or the local mail catcher for e-mail; an HTTP gateway or the sandbox for SMS.

Each transport is an outbox deliverer: it gets one claimed message, returns when the server or gateway has
accepted it and raises on any failure, so the worker retries with backoff and finally keeps a dead letter.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
from sqlalchemy.orm import Session, sessionmaker

from nokor.config import Settings
from nokor.db import session_scope
from nokor.kit.outbox import ClaimedMessage
from nokor.messaging.service import catch_message

Deliverer = Callable[[ClaimedMessage], None]


class TransportFailed(Exception):
    """The mail server or SMS gateway did not take the message; the worker will try again."""


def email_message(message: ClaimedMessage, *, sender: str) -> EmailMessage:
    """The e-mail for an outbox message: UTF-8 plain text, a Message-ID derived from its idempotency key."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.destination
    mail["Subject"] = str(message.payload.get("subject", ""))
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(idstring=message.idempotency_key.replace("-", "")[:32],
                                    domain=sender.rpartition("@")[2] or "nokor.local")
    mail.set_content(str(message.payload.get("body", "")))
    mail["Content-Language"] = str(message.payload.get("locale", "en"))
    return mail


class SmtpTransport:
    """Sends e-mail through an SMTP server (plain, STARTTLS or implicit TLS, with optional login)."""

    def __init__(self, *, host: str, port: int, sender: str, security: str = "none", username: str | None = None,
                 password: str | None = None, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.security = host, port, sender, security
        self.username, self.password, self.timeout = username, password, timeout

    def __call__(self, message: ClaimedMessage) -> None:
        """Hand one e-mail to the server; any refusal or network error raises ``TransportFailed``."""
        mail = email_message(message, sender=self.sender)
        try:
            smtp: smtplib.SMTP
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportFailed(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        if refused:
            raise TransportFailed(f"SMTP refused {', '.join(refused)}")


class HttpSmsGateway:
    """Sends SMS through an HTTP gateway: POST ``{"to", "from", "text", "reference"}`` as JSON with a bearer
    token; any 2xx answer means the gateway took it. ``reference`` is the idempotency key, for repeats."""

    def __init__(self, *, url: str, sender: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url, self.sender = url, sender
        headers = {"User-Agent": "nokor-messaging/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, headers=headers)

    def __call__(self, message: ClaimedMessage) -> None:
        """Hand one SMS to the gateway; a non-2xx answer or a network error raises ``TransportFailed``."""
        body = {"to": message.destination, "from": self.sender, "text": str(message.payload.get("body", "")),
                "reference": message.idempotency_key}
        try:
            response = self._client.post(self.url, json=body, headers={"Idempotency-Key": message.idempotency_key})
        except httpx.HTTPError as exc:
            raise TransportFailed(f"SMS gateway: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise TransportFailed(f"SMS gateway answered HTTP {response.status_code}: {response.text[:300]}")

    def close(self) -> None:
        self._client.close()


class LocalMailbox:
    """The embedded default: keeps e-mail (mail catcher) or SMS (sandbox gateway) in the local mailbox table,
    shown on the mailbox page, instead of sending them."""

    def __init__(self, session_factory: sessionmaker[Session], *, channel: str, sender: str) -> None:
        self.session_factory, self.channel, self.sender = session_factory, channel, sender

    def __call__(self, message: ClaimedMessage) -> None:
        with session_scope(self.session_factory) as session:
            catch_message(session, channel=self.channel, sender=self.sender, recipient=message.destination,
                          subject=str(message.payload.get("subject", "")), body=str(message.payload.get("body", "")),
                          idempotency_key=message.idempotency_key)


def deliverers(settings: Settings, session_factory: sessionmaker[Session]) -> dict[str, Deliverer]:
    """The e-mail and SMS deliverers the settings ask for, to plug into the outbox worker."""
    email: Deliverer
    sms: Deliverer
    if settings.messaging_email_transport == "smtp":
        password = settings.messaging_smtp_password
        email = SmtpTransport(host=settings.messaging_smtp_host, port=settings.messaging_smtp_port,
                              sender=settings.messaging_from_address, security=settings.messaging_smtp_security,
                              username=settings.messaging_smtp_username,
                              password=password.get_secret_value() if password else None,
                              timeout=settings.messaging_timeout_seconds)
    else:
        email = LocalMailbox(session_factory, channel="email", sender=settings.messaging_from_address)
    if settings.messaging_sms_transport == "http":
        token = settings.messaging_sms_gateway_token
        sms = HttpSmsGateway(url=settings.messaging_sms_gateway_url, sender=settings.messaging_sms_sender,
                             token=token.get_secret_value() if token else None,
                             timeout=settings.messaging_timeout_seconds)
    else:
        sms = LocalMailbox(session_factory, channel="sms", sender=settings.messaging_sms_sender)
    return {"email": email, "sms": sms}


def mailbox_enabled(settings: Settings) -> bool:
    """The mailbox page shows caught messages only outside production and when something is caught locally."""
    return settings.environment != "production" and (
        settings.messaging_email_transport == "catcher" or settings.messaging_sms_transport == "sandbox")
