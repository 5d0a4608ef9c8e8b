"""Yes/no verification in batches (group commit): the fast answer to many agencies calling at once.

Each call waiting at a moment joins one batch: one transaction, one query for all the numbers (one more when
some are virtual IDs), one multi-row insert per table for the access-log entries and the verification records
(``audit.record_accesses``, no ORM object per row). A
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
    """Threads that answer queued verification calls in batches of up to ``max_batch``.

    One thread by default: the calls that arrive while it commits form its next batch. A second thread lets
    one batch gather while another commits, but both then contend with the event loop for the interpreter
    lock; on two cores at 1,000 calls/s that cost more than it saved (bench/identity.py, three runs each:
    p95 at a fixed 1,000/s 18.8-22.1 ms with one thread, 26-135 ms with two; 0.46-0.59 against
    0.58-0.69 ms of CPU per call at full speed)."""

    def __init__(self, session_factory: sessionmaker[Session], rules: IdentityRules, *, max_batch: int = 256,
                 threads: int = 1) -> None:
        self.session_factory = session_factory
        self.rules = rules
        self.max_batch = max_batch
        self.threads = threads
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._running: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # each thread's own session, on a connection it keeps between batches

    async def verify(self, actor: Actor, data: VerificationRequest) -> VerificationResult:
        """Queue one call and wait until its batch has committed; raises what answering it raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[VerificationResult] = loop.create_future()
        self._start()
        self._queue.put(_Call(actor=actor, data=data, context=contextvars.copy_context(), loop=loop, future=future))
        return await future

    def _start(self) -> None:
        if self._running:
            return
        with self._lock:
            if not self._running:
                for number in range(self.threads):
                    thread = threading.Thread(target=self._run, name=f"nokor-identity-verifier-{number}", daemon=True)
                    thread.start()
                    self._running.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Answer what is queued, then end the threads."""
        with self._lock:
            running, self._running = self._running, []
        for _thread in running:
            self._queue.put(None)
        for thread in running:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._drop_session()

    def _serve(self) -> None:
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

    def _session(self) -> Session:
        """This thread's session, bound to a connection it keeps: no pool check-out, ping and reset per batch."""
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            engine = self.session_factory.kw["bind"]
            self._local.connection = engine.connect()
            session = self._local.session = self.session_factory(bind=self._local.connection)
        return session

    def _drop_session(self) -> None:
        session, connection = getattr(self._local, "session", None), getattr(self._local, "connection", None)
        self._local.session = self._local.connection = None
        if session is not None:
            with contextlib.suppress(Exception):
                session.rollback()
            session.close()
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def _write(self, batch: list[_Call]) -> list[VerificationResult | BaseException]:
        outcomes: list[VerificationResult | BaseException] = []
        judged: list[service.Judged] = []
        session = self._session()
        try:
            residents = service.verification_subjects(session, [call.data.individual_id for call in batch])
            for call in batch:
                try:
                    # In the call's own context: its entry names its request id and client address.
                    item = call.context.run(service.judge_verification, call.actor, data=call.data,
                                            resident=residents.get(call.data.individual_id), rules=self.rules)
                except Problem as refused:  # refused before it wrote anything: the others go on
                    outcomes.append(refused)
                else:
                    judged.append(item)
                    outcomes.append(item.result)
            service.record_verifications(session, judged)
            session.commit()
        except BaseException:
            self._drop_session()  # a broken connection is not used again; the next batch opens a new one
            raise
        session.expunge_all()
        return outcomes
