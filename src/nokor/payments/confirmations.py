"""Provider callbacks taken in together: one transaction and one commit for the callbacks that arrive at once.

A provider's callback is answered 200 only once what it did is committed. Committing each one on
its own costs several round trips and a WAL flush per payment; under load, callbacks arrive far
faster than that. The batcher gives every callback to one thread, which takes all that are waiting
(up to ``max_batch``) into one transaction with ``service.receive_notifications`` and then answers
each. While a batch commits, the next one gathers, so a lone callback waits for nobody and a burst
shares its commits. The thread ends when idle and starts again with the next callback.

The thread keeps its session and connection between batches. On PostgreSQL a batch is two round trips:
one reads (and locks) what the batch needs, one sends every write with the COMMIT (``writes_then_commit``).
A batch that fails is taken again callback by callback, so one bad callback fails alone. The answers
of a batch go back to the event loop in one call (``answer``), not one wake-up of the loop each.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError

import structlog
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from nokor.db import session_scope
from nokor.kit.bulk import writes_then_commit
from nokor.payments import service
from nokor.payments.schemas import PaymentOutcome
from nokor.payments.service import Callback

log = structlog.get_logger("nokor.payments")

# Who waits for a callback's outcome: a thread (a concurrent future) or an event loop (its loop and future).
_Waiter = Future[PaymentOutcome] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[PaymentOutcome]"]
_Item = tuple[Callback, _Waiter]


def _settle(future: asyncio.Future[PaymentOutcome], outcome: PaymentOutcome | BaseException) -> None:
    if future.done():  # the caller went away; what it sent is recorded all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(answers: list[tuple[asyncio.Future[PaymentOutcome], PaymentOutcome | BaseException]]) -> None:
    for future, outcome in answers:
        _settle(future, outcome)


def _answer(batch: Sequence[_Item], outcomes: Sequence[PaymentOutcome | BaseException]) -> None:
    """Give each waiter its outcome: a thread's future at once, an event loop's all in one call on that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[PaymentOutcome],
                                                        PaymentOutcome | BaseException]]] = {}
    for (_callback, waiter), outcome in zip(batch, outcomes, strict=True):
        if isinstance(waiter, Future):
            with contextlib.suppress(InvalidStateError):  # cancelled by the caller, who waits no more
                if isinstance(outcome, BaseException):
                    waiter.set_exception(outcome)
                else:
                    waiter.set_result(outcome)
        else:
            by_loop.setdefault(waiter[0], []).append((waiter[1], outcome))
    for loop, answers in by_loop.items():
        # RuntimeError: that event loop has closed, so nobody waits for these answers any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_all, answers)


class CallbackBatcher:
    """Applies provider callbacks in batches on one thread; ``submit`` returns a future of the outcome."""

    def __init__(self, session_factory: sessionmaker[Session], secret: str, *, max_batch: int = 256,
                 idle_seconds: float = 2.0) -> None:
        self._session_factory = session_factory
        self._secret = secret
        self._max_batch = max_batch
        self._idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._local = threading.local()  # the batch thread's session, on a connection it keeps between batches

    def submit(self, callback: Callback) -> Future[PaymentOutcome]:
        """Queue one callback; the future holds its outcome once the batch it went into is committed."""
        future: Future[PaymentOutcome] = Future()
        self._put((callback, future))
        return future

    async def answer(self, callback: Callback) -> PaymentOutcome:
        """Queue one callback and wait, on the event loop, until the batch it went into is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PaymentOutcome] = loop.create_future()
        self._put((callback, (loop, future)))
        return await future

    def _put(self, item: _Item) -> None:
        self._queue.put(item)
        with self._lock:  # the thread decides to end under this lock, after seeing the queue empty
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="nokor-payment-callbacks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._drop_session()

    def _serve(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._apply(batch)

    def _session(self) -> Session:
        """The thread's session, on a connection it keeps between batches: no pool check-out, ping and reset
        (a round trip each) per batch."""
        kept: tuple[Session, Connection] | None = getattr(self._local, "kept", None)
        if kept is None:
            engine = self._session_factory.kw["bind"]
            connection = engine.connect()
            kept = self._local.kept = (self._session_factory(bind=connection), connection)
        return kept[0]

    def _drop_session(self) -> None:
        kept: tuple[Session, Connection] | None = getattr(self._local, "kept", None)
        self._local.kept = None
        if kept is None:
            return
        session, connection = kept
        with contextlib.suppress(Exception):
            session.rollback()
        session.close()
        with contextlib.suppress(Exception):
            connection.close()

    def _apply(self, batch: list[_Item]) -> None:
        outcomes: list[PaymentOutcome | BaseException]
        try:
            session = self._session()
            try:
                # On PostgreSQL: one round trip to read what the batch needs, one to write it all and commit.
                with writes_then_commit(session):
                    outcomes = list(service.receive_notifications(
                        session, callbacks=[callback for callback, _waiter in batch], secret=self._secret))
            except BaseException:
                self._drop_session()  # rolled back; a broken connection is not used again
                raise
            session.expunge_all()
        except Exception:
            # Another process recorded one of these events at the same moment, one callback holds a value the
            # database cannot store, or the database failed: take them one by one, each in its own
            # transaction, where a duplicate is recognised as such and a bad one fails alone.
            log.info("payment callbacks: batch failed, applying one by one", size=len(batch), exc_info=True)
            outcomes = [self._apply_one(callback) for callback, _waiter in batch]
        _answer(batch, outcomes)

    def _apply_one(self, callback: Callback) -> PaymentOutcome | BaseException:
        try:
            with session_scope(self._session_factory) as session:
                return service.receive_notification(session, provider=callback.provider, body=callback.body,
                                                    headers=callback.headers, secret=self._secret)
        except Exception as exc:
            log.exception("payment callback failed", provider=callback.provider)
            return exc
