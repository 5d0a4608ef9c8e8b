"""The outbox worker: sends what services wrote to the outbox, at least once.

Each round also seals the audit entries written since the last one into the hash chain (every
``audit_seal_seconds``), so that writers never wait for the chain themselves.

Each round claims a batch of due messages in one short transaction, delivers them with no transaction
open (a slow receiver must never hold the database's writer lock), and records each result in another
short transaction. A message is marked delivered only after its receiver accepted it; if the process
dies in between, the lease runs out and another round sends it again with the same idempotency key.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import httpx
import structlog
from sqlalchemy.orm import Session, sessionmaker

from nokor import audit
from nokor.config import Settings
from nokor.db import session_scope
from nokor.kit import outbox
from nokor.kit.outbox import ClaimedMessage
from nokor.kit.time import utcnow

Deliverer = Callable[[ClaimedMessage], None]
"""Sends one message; returns when the receiver has accepted it and raises on any failure."""

ERROR_BODY_MAX_BYTES = 500
USER_AGENT = "nokor-outbox/1"

log = structlog.get_logger()


class DeliveryFailed(Exception):
    """The receiver did not accept a message; the text is kept as the message's last error."""


class WebhookDeliverer:
    """POSTs a message's payload as JSON to its destination URL; any 2xx answer counts as delivered.

    The ``Idempotency-Key`` header carries the message's key on every attempt, so the receiver can
    recognise the repeats that at-least-once delivery brings.
    """

    def __init__(self, *, timeout_seconds: float) -> None:
        self._client = httpx.Client(
            timeout=timeout_seconds, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    def __call__(self, message: ClaimedMessage) -> None:
        """Deliver one message, raising ``DeliveryFailed`` unless the receiver answers 2xx."""
        headers = httpx.Headers({"Content-Type": "application/json"})
        for name, value in message.headers.items():
            headers[name] = value
        headers["Idempotency-Key"] = message.idempotency_key
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            with self._client.stream("POST", message.destination, content=body, headers=headers) as resp:
                if resp.is_success:
                    return
                snippet = _read_at_most(resp, ERROR_BODY_MAX_BYTES)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        raise DeliveryFailed(f"HTTP {resp.status_code}: {snippet}".rstrip(": "))

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()


def _read_at_most(resp: httpx.Response, limit: int) -> str:
    """The start of an error answer's body; a receiver's error page may be huge."""
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit].decode("utf-8", errors="replace").strip()


class Worker:
    """Delivers due outbox messages through one deliverer per channel.

    Only the webhook channel has a deliverer built in; other domains plug theirs in with
    ``register`` (e-mail, SMS, pub/sub). Messages of a channel without a deliverer stay pending.
    """

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.stop_event = threading.Event()
        self._webhook = WebhookDeliverer(timeout_seconds=settings.webhook_timeout_seconds)
        self._deliverers: dict[str, Deliverer] = {"webhook": self._webhook}
        from nokor import exchange  # publish/subscribe: PUSH attempts and the civil register's events

        self._pubsub = exchange.PubSubDeliverer(settings, session_factory)
        self._deliverers["pubsub"] = self._pubsub
        self._next_seal = 0.0

    def register(self, channel: str, deliverer: Deliverer) -> None:
        """Make this worker deliver the messages of ``channel`` with ``deliverer`` (replacing any other)."""
        if channel not in outbox.CHANNELS:
            raise ValueError(f"unknown outbox channel {channel!r}")
        self._deliverers[channel] = deliverer

    @property
    def channels(self) -> frozenset[str]:
        """The channels this worker can deliver."""
        return frozenset(self._deliverers)

    def run_once(self) -> int:
        """Claim one batch of due messages and try to deliver each; returns how many were attempted.

        When a stop is requested mid-batch, the message in flight is finished and the rest are given
        back to the queue at once rather than waiting for their lease to run out.
        """
        with session_scope(self.session_factory) as session:
            batch = outbox.claim_due(
                session,
                now=utcnow(),
                batch_size=self.settings.outbox_batch_size,
                lease_seconds=self.settings.outbox_lease_seconds,
                channels=self.channels,
            )
        attempted = 0
        for index, message in enumerate(batch):
            if self.stop_event.is_set():
                self._release([m.id for m in batch[index:]])
                break
            self._deliver(message)
            attempted += 1
        return attempted

    def seal_audit(self) -> int:
        """Seal the audit entries written since the last round into the hash chain; returns how many."""
        sealed = audit.seal_all(self.session_factory)
        if sealed:
            log.info("audit.sealed", count=sealed)
        return sealed

    def _seal_when_due(self) -> None:
        now = time.monotonic()
        if now < self._next_seal:
            return
        self._next_seal = now + self.settings.audit_seal_seconds
        try:
            self.seal_audit()
        except Exception:
            # Unsealed entries stay verifiable by their content hash; the next round seals them.
            log.exception("audit.seal_failed")

    def _deliver(self, message: ClaimedMessage) -> None:
        started = time.monotonic()
        error: str | None = None
        try:
            self._deliverers[message.channel](message)
        except Exception as exc:  # any failure of a deliverer is a failed attempt, to be retried
            error = str(exc) or type(exc).__name__
        duration_ms = round((time.monotonic() - started) * 1000)
        fields: dict[str, Any] = {
            "message_id": str(message.id),
            "channel": message.channel,
            "attempt": message.attempt,
            "duration_ms": duration_ms,
        }
        try:
            with session_scope(self.session_factory) as session:
                if error is None:
                    outbox.mark_delivered(session, message.id)
                    outcome = "delivered"
                else:
                    status = outbox.mark_failed(
                        session,
                        message.id,
                        error=error,
                        max_attempts=self.settings.outbox_max_attempts,
                        backoff_seconds=self.settings.outbox_backoff_seconds,
                    )
                    outcome = "dead" if status == "dead" else "retry"
        except Exception:
            # The lease will run out and the message will be sent again: at least once, not lost.
            log.exception("outbox.record_failed", **fields, delivered=error is None)
            return
        if error is None:
            log.info("outbox.delivery", **fields, outcome=outcome)
        else:
            log.warning("outbox.delivery", **fields, outcome=outcome, error=error)

    def _release(self, message_ids: list[Any]) -> None:
        try:
            with session_scope(self.session_factory) as session:
                outbox.release(session, message_ids)
        except Exception:
            log.exception("outbox.release_failed", count=len(message_ids))

    def run_forever(self, stop_event: threading.Event | None = None) -> None:
        """Deliver messages until ``stop_event`` is set or the process gets SIGTERM or SIGINT.

        A signal lets the message in flight finish before the loop ends. Between rounds the worker
        sleeps ``worker_poll_seconds`` unless the last batch was full (more may be waiting).
        """
        if stop_event is not None:
            self.stop_event = stop_event
        previous = self._install_signal_handlers()
        log.info("worker.started", channels=sorted(self.channels))
        try:
            while not self.stop_event.is_set():
                self._seal_when_due()
                try:
                    attempted = self.run_once()
                except Exception:
                    # A database that is briefly away must not end the worker; try again next round.
                    log.exception("worker.round_failed")
                    attempted = 0
                if attempted < self.settings.outbox_batch_size:
                    self.stop_event.wait(self.settings.worker_poll_seconds)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            log.info("worker.stopped")

    def close(self) -> None:
        """Release the HTTP connections of the built-in deliverers."""
        self._webhook.close()
        self._pubsub.close()

    def _install_signal_handlers(self) -> dict[int, Any]:
        # Signal handlers can only be set from the main thread; tests run the loop in other threads.
        if threading.current_thread() is not threading.main_thread():
            return {}

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker.stopping", signal=signal.Signals(signum).name)
            self.stop_event.set()

        return {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGINT)}
