"""The message log: every call through the gateway, chained by hash, sealed in batches.

The gateway only appends a record to an in-process queue (no database write on the hot path). A
background thread takes what is queued every ``exchange_log_flush_seconds``, chains each record to the
one before it (``record_hash = SHA-256(prev_hash || canonical record)``), signs the hash of the batch's
last record with the gateway's key, has the signature timestamped by the trust services' TSA, and
writes records and batch in one transaction. Each process writes its own stream, so processes never
contend for the head of a chain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from asn1crypto import tsp
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session, sessionmaker

from nokor import trust
from nokor.config import Settings
from nokor.db import session_scope
from nokor.exchange.credentials import ensure_credentials
from nokor.exchange.models import LogBatch, LogRecord
from nokor.kit.ids import uuid7

log = structlog.get_logger("nokor.exchange.log")
LOG_TABLE = Table(LogRecord.__tablename__, LogRecord.metadata)
GENESIS = "0" * 64
HASHED_FIELDS = ("stream", "seq", "at", "message_id", "client", "service", "method", "path", "status", "error",
                 "duration_ms", "data")


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record's hash covers: its fields as sorted, compact JSON (times in ISO 8601)."""
    body = {k: record[k] for k in HASHED_FIELDS}
    if isinstance(body["at"], datetime):
        body["at"] = body["at"].isoformat()
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """The hash that links ``record`` to the record before it."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(record)).hexdigest()


def timestamp_request(digest: bytes) -> bytes:
    """A DER RFC 3161 ``TimeStampReq`` over a SHA-256 digest, asking for the TSA's certificates."""
    return bytes(tsp.TimeStampReq({
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
        "nonce": int.from_bytes(secrets.token_bytes(8), "big"),
        "cert_req": True,
    }).dump())


@dataclass
class Entry:
    """What the gateway hands the log for one call."""

    at: datetime
    message_id: str
    client: str
    service: str
    method: str
    path: str
    status: int
    error: str | None
    duration_ms: float
    data: dict[str, Any]


@dataclass
class Stream:
    """The chain this process writes: its name, the next sequence number and the last hash."""

    name: str = field(default_factory=lambda: f"{os.getpid()}-{uuid7().hex[:16]}")
    seq: int = 0
    head: str = GENESIS


class MessageLog:
    """The in-process queue and the thread that writes, signs and timestamps it in batches."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], *, max_batch: int = 5000) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue[Entry] = queue.SimpleQueue()
        self.stream = Stream()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        self.written = 0
        self.batches = 0
        self.unsealed = 0

    def append(self, entry: Entry) -> None:
        """Queue one record (cheap: the hot path of the gateway)."""
        self.queue.put(entry)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="nokor-exchange-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after writing what is queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.exchange_log_flush_seconds):
            try:
                self.flush()
            except Exception:
                # The records stay queued in memory only if we put them back; a failed write is retried.
                log.exception("exchange.log.flush_failed")

    def flush(self) -> int:
        """Write, chain, sign and timestamp every queued record; returns how many were written."""
        total = 0
        with self._flush_lock:
            while True:
                entries: list[Entry] = []
                while len(entries) < self.max_batch:
                    try:
                        entries.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                if not entries:
                    return total
                try:
                    self._write(entries)
                except Exception:
                    for entry in entries:  # nothing is lost: the next round tries again
                        self.queue.put(entry)
                    raise
                total += len(entries)

    def _write(self, entries: list[Entry]) -> None:
        stream = self.stream
        seq, head = stream.seq, stream.head
        batch_id = uuid7()
        rows: list[dict[str, Any]] = []
        first_seq = seq + 1
        for entry in entries:
            seq += 1
            row: dict[str, Any] = {
                "stream": stream.name, "seq": seq, "at": entry.at, "message_id": entry.message_id,
                "client": entry.client, "service": entry.service, "method": entry.method, "path": entry.path[:2000],
                "status": entry.status, "error": entry.error, "duration_ms": round(entry.duration_ms, 3),
                "data": entry.data,
            }
            row["prev_hash"] = head
            head = chain_hash(head, row)
            row["record_hash"] = head
            row["id"] = uuid7()
            row["batch_id"] = batch_id
            rows.append(row)
        with session_scope(self.session_factory) as session:
            signature, cert_pem, token = self._seal(session, head)
            # Core insert, not the ORM's bulk path: a third of the cost per record.
            session.connection().execute(insert(LOG_TABLE), rows)
            session.add(LogBatch(id=batch_id, stream=stream.name, first_seq=first_seq, last_seq=seq, head_hash=head,
                                 signature=signature, certificate_pem=cert_pem, timestamp_token=token))
        stream.seq, stream.head = seq, head
        self.written += len(rows)
        self.batches += 1

    def _seal(self, session: Session, head: str) -> tuple[str, str, str | None]:
        """Sign the batch's last hash and timestamp the signature; unsealed ("") when there is no PKI yet."""
        try:
            with session.begin_nested():
                credentials = ensure_credentials(session, self.settings)
        except Exception as exc:
            self.unsealed += 1
            log.warning("exchange.log.unsealed", reason=str(exc)[:200])
            return "", "", None
        signature = credentials.sign(head.encode())
        token: str | None = None
        try:
            reply = trust.answer_timestamp_query(session, ring=trust.key_ring(self.settings),
                                                 query=timestamp_request(hashlib.sha256(signature).digest()))
            response = tsp.TimeStampResp.load(reply)
            if response["status"]["status"].native in ("granted", "granted_with_mods"):
                token = base64.b64encode(response["time_stamp_token"].dump()).decode()
        except Exception as exc:
            log.warning("exchange.log.no_timestamp", reason=str(exc)[:200])
        return base64.b64encode(signature).decode(), credentials.certificate_pem, token


_logs: dict[int, MessageLog] = {}


def wait_until_written(message_log: MessageLog, timeout: float = 10.0) -> None:
    """Block until the queue is empty and written (tests, benchmarks, shutdown)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message_log.flush()
        if message_log.queue.empty():
            return
        time.sleep(0.01)
