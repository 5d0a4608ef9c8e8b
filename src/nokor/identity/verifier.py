"""Yes/no verification in batches (group commit): the fast answer to many agencies calling at once.

Each call waiting at a moment joins one batch: one transaction, one query for all the numbers (one more when
some are virtual IDs), one insert per table for the access-log entries and the verification records. A
caller gets its answer only after the batch that holds its access-log entry has committed, so no answer
ever leaves without the person's log saying who asked. A batch that fails is retried call by call, so one
bad call does not take the others down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session, sessionmaker

from nokor.db import session_scope
from nokor.identity import service
from nokor.identity.schemas import IdentityRules, VerificationRequest, VerificationResult
from nokor.kit.actor import Actor
from nokor.kit.errors import Problem

log = structlog.get_logger("nokor.identity.verifier")


@dataclass
class _Call:
    actor: Actor
    data: VerificationRequest
    context: contextvars.Context  # the request's id, client address and language, for the audit entry
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[VerificationResult]


def _settle(future: asyncio.Future[VerificationResult], outcome: VerificationResult | BaseException) -> None:
    if future.done():  # the caller went away; its entry is written all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class BatchVerifier:
    """One thread per process that answers queued verification calls in batches of up to ``max_batch``."""

    def __init__(self, session_factory: sessionmaker[Session], rules: IdentityRules, *, max_batch: int = 256) -> None:
        self.session_factory = session_factory
        self.rules = rules
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def verify(self, actor: Actor, data: VerificationRequest) -> VerificationResult:
        """Queue one call and wait until its batch has committed; raises what answering it raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[VerificationResult] = loop.create_future()
        self._start()
        self._queue.put(_Call(actor=actor, data=data, context=contextvars.copy_context(), loop=loop, future=future))
        return await future

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="nokor-identity-verifier", daemon=True)
                thread.start()
                self._thread = thread

    def stop(self, timeout: float = 10.0) -> None:
        """Answer what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            batch = [call]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._answer(batch)
            if stop:
                return

    def _answer(self, batch: list[_Call]) -> None:
        try:
            outcomes = self._write(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("identity.verification_failed")
                outcomes = [exc]
            else:
                outcomes = []
                for call in batch:
                    try:
                        outcomes.extend(self._write([call]))
                    except Exception as single:
                        log.exception("identity.verification_failed")
                        outcomes.append(single)
        for call, outcome in zip(batch, outcomes, strict=True):
            # RuntimeError: that event loop has closed, so nobody waits for this answer any more.
            with contextlib.suppress(RuntimeError):
                call.loop.call_soon_threadsafe(_settle, call.future, outcome)

    def _write(self, batch: list[_Call]) -> list[VerificationResult | BaseException]:
        outcomes: list[VerificationResult | BaseException] = []
        with session_scope(self.session_factory) as session:
            residents = service.verification_subjects(session, [call.data.individual_id for call in batch])
            for call in batch:
                try:
                    outcomes.append(call.context.run(
                        service.answer_verification, session, call.actor, data=call.data,
                        resident=residents.get(call.data.individual_id), rules=self.rules))
                except Problem as refused:  # refused before it wrote anything: the others go on
                    outcomes.append(refused)
            session.flush()
        return outcomes
