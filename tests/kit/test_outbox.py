"""The outbox queue: claiming with leases, backoff, dead letters, retries and listing.

Runs on SQLite by default and on PostgreSQL when NOKOR_DATABASE_URL names one (tests/conftest.py
creates a scratch database for the test session and drops it at the end).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from nokor.db import session_scope
from nokor.kit import outbox
from nokor.kit.errors import Conflict, NotFound, ValidationFailed
from nokor.kit.outbox import ClaimedMessage, OutboxMessage
from nokor.kit.time import utcnow

# -- fixtures: the migrated test database of tests/conftest.py, emptied after each test ------------


@pytest.fixture()
def factory(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    # Start from an empty outbox even if an earlier test elsewhere left messages behind.
    with session_scope(session_factory) as session:
        session.execute(delete(OutboxMessage))
    return session_factory


@pytest.fixture()
def is_postgres(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        return session.get_bind().dialect.name == "postgresql"


def make_messages(
    factory: sessionmaker[Session],
    count: int,
    *,
    channel: str = "webhook",
    available_at: datetime | None = None,
) -> list[uuid.UUID]:
    """Enqueue ``count`` messages in one committed transaction; their ids, oldest first."""
    with session_scope(factory) as session:
        return [
            outbox.enqueue(
                session,
                channel=channel,
                destination="http://127.0.0.1:9/hook",
                payload={"n": n},
                available_at=available_at,
            ).id
            for n in range(count)
        ]


def load(factory: sessionmaker[Session], message_id: uuid.UUID) -> OutboxMessage:
    with factory() as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def claim(
    factory: sessionmaker[Session],
    *,
    now: datetime,
    batch_size: int = 10,
    lease: float = 60,
    channels: Collection[str] | None = None,
) -> list[ClaimedMessage]:
    with session_scope(factory) as session:
        return outbox.claim_due(
            session, now=now, batch_size=batch_size, lease_seconds=lease, channels=channels
        )


# -- tests ------------------------------------------------------------------------------------------


class TestEnqueue:
    def test_rolled_back_transaction_leaves_nothing_to_claim(self, factory: sessionmaker[Session]) -> None:
        with pytest.raises(RuntimeError), session_scope(factory) as session:
            outbox.enqueue(session, channel="webhook", destination="http://x/", payload={"a": 1})
            raise RuntimeError("the change that caused the message failed")

        assert claim(factory, now=utcnow() + timedelta(days=1)) == []
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


class TestClaimDue:
    def test_claims_due_messages_oldest_first_and_leases_them(self, factory: sessionmaker[Session]) -> None:
        ids = make_messages(factory, 3)
        now = utcnow()

        claimed = claim(factory, now=now, lease=30)

        assert [c.id for c in claimed] == ids
        assert all(c.attempt == 1 for c in claimed)
        assert claimed[0].payload == {"n": 0}
        assert claimed[0].idempotency_key == str(ids[0])
        message = load(factory, ids[0])
        assert message.leased_until == now + timedelta(seconds=30)
        assert message.attempts == 1
        assert message.status == "pending"

    def test_respects_batch_size(self, factory: sessionmaker[Session]) -> None:
        ids = make_messages(factory, 5)
        assert [c.id for c in claim(factory, now=utcnow(), batch_size=2)] == ids[:2]

    def test_messages_not_yet_available_are_left(self, factory: sessionmaker[Session]) -> None:
        later = utcnow() + timedelta(hours=1)
        make_messages(factory, 2, available_at=later)

        assert claim(factory, now=utcnow()) == []
        assert len(claim(factory, now=later)) == 2

    def test_only_the_given_channels_are_claimed(self, factory: sessionmaker[Session]) -> None:
        make_messages(factory, 1, channel="email")
        [hook] = make_messages(factory, 1, channel="webhook")
        now = utcnow()

        assert claim(factory, now=now, channels=[]) == []
        assert [c.id for c in claim(factory, now=now, channels={"webhook"})] == [hook]

    def test_a_second_worker_never_gets_a_leased_message(self, factory: sessionmaker[Session]) -> None:
        ids = make_messages(factory, 4)
        now = utcnow()

        first = claim(factory, now=now, batch_size=3, lease=60)
        second = claim(factory, now=now + timedelta(seconds=59), batch_size=10, lease=60)

        assert [c.id for c in first] == ids[:3]
        assert [c.id for c in second] == ids[3:]

    def test_a_crashed_workers_messages_are_due_again_after_the_lease(
        self, factory: sessionmaker[Session]
    ) -> None:
        ids = make_messages(factory, 2)
        now = utcnow()
        claim(factory, now=now, lease=60)  # and the worker dies without recording anything

        again = claim(factory, now=now + timedelta(seconds=60), lease=60)

        assert [c.id for c in again] == ids
        assert [c.attempt for c in again] == [2, 2]
        assert [c.idempotency_key for c in again] == [str(i) for i in ids]

    def test_concurrent_claims_take_disjoint_messages(
        self, factory: sessionmaker[Session], is_postgres: bool
    ) -> None:
        if not is_postgres:
            pytest.skip("SQLite runs one writer at a time; the sequential test covers it")
        ids = make_messages(factory, 10)
        now = utcnow()
        first, second = factory(), factory()
        try:
            # The first transaction still holds its row locks when the second one claims.
            a = outbox.claim_due(first, now=now, batch_size=4, lease_seconds=60)
            b = outbox.claim_due(second, now=now, batch_size=10, lease_seconds=60)
            first.commit()
            second.commit()
        finally:
            first.close()
            second.close()

        assert {c.id for c in a}.isdisjoint({c.id for c in b})
        assert {c.id for c in a} | {c.id for c in b} == set(ids)


class TestMarkDelivered:
    def test_delivered_message_is_never_claimed_again(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        now = utcnow()
        claim(factory, now=now, lease=1)
        with session_scope(factory) as session:
            outbox.mark_delivered(session, message_id)

        message = load(factory, message_id)
        assert message.status == "delivered"
        assert message.delivered_at is not None
        assert message.leased_until is None
        assert claim(factory, now=now + timedelta(days=1)) == []


class TestMarkFailed:
    def test_failure_schedules_a_retry_with_backoff(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        now = utcnow()
        claim(factory, now=now)

        with session_scope(factory) as session:
            status = outbox.mark_failed(
                session, message_id, error="HTTP 500: boom", max_attempts=5, backoff_seconds=10, now=now
            )

        message = load(factory, message_id)
        assert status == "pending"
        assert message.last_error == "HTTP 500: boom"
        assert message.leased_until is None
        assert now + timedelta(seconds=5) <= message.available_at <= now + timedelta(seconds=10)
        assert claim(factory, now=now + timedelta(seconds=4)) == []
        assert len(claim(factory, now=now + timedelta(seconds=10))) == 1

    def test_backoff_doubles_with_every_attempt(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        now = utcnow()
        for day in range(3):
            claim(factory, now=now + timedelta(days=day))
        with session_scope(factory) as session:
            outbox.mark_failed(session, message_id, error="x", max_attempts=5, backoff_seconds=10, now=now)

        # Third attempt: 10 * 2**2 = 40 s, of which the jitter keeps at least half.
        available_at = load(factory, message_id).available_at
        assert now + timedelta(seconds=20) <= available_at <= now + timedelta(seconds=40)

    def test_dead_after_max_attempts_with_the_last_error_kept(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        now = utcnow()
        statuses = []
        for attempt in range(3):
            claim(factory, now=now + timedelta(days=attempt))
            with session_scope(factory) as session:
                statuses.append(
                    outbox.mark_failed(
                        session,
                        message_id,
                        error=f"HTTP 503: attempt {attempt + 1}",
                        max_attempts=3,
                        backoff_seconds=1,
                    )
                )

        message = load(factory, message_id)
        assert statuses == ["pending", "pending", "dead"]
        assert message.status == "dead"
        assert message.dead_at is not None
        assert message.attempts == 3
        assert message.last_error == "HTTP 503: attempt 3"
        assert claim(factory, now=now + timedelta(days=30)) == []

    def test_a_late_failure_does_not_undo_a_delivery(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        claim(factory, now=utcnow())
        with session_scope(factory) as session:
            outbox.mark_delivered(session, message_id)

        with session_scope(factory) as session:
            status = outbox.mark_failed(
                session, message_id, error="timeout", max_attempts=1, backoff_seconds=1
            )

        assert status == "delivered"
        assert load(factory, message_id).status == "delivered"

    def test_very_long_errors_are_cut(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        claim(factory, now=utcnow())
        with session_scope(factory) as session:
            outbox.mark_failed(session, message_id, error="e" * 10_000, max_attempts=5, backoff_seconds=1)

        assert len(load(factory, message_id).last_error or "") == outbox.LAST_ERROR_MAX_CHARS


class TestRetryDelay:
    @given(attempt=st.integers(min_value=1, max_value=200), backoff=st.floats(min_value=0, max_value=600))
    def test_between_half_and_all_of_the_capped_exponential(self, attempt: int, backoff: float) -> None:
        full = min(outbox.BACKOFF_CAP_SECONDS, backoff * 2.0 ** (attempt - 1))
        assert full / 2 <= outbox.retry_delay(attempt, backoff) <= full


class TestRelease:
    def test_released_messages_are_due_at_once_with_the_attempt_given_back(
        self, factory: sessionmaker[Session]
    ) -> None:
        ids = make_messages(factory, 2)
        now = utcnow()
        claim(factory, now=now, lease=3600)

        with session_scope(factory) as session:
            outbox.release(session, ids)

        assert [(c.id, c.attempt) for c in claim(factory, now=now)] == [(ids[0], 1), (ids[1], 1)]


class TestRetryDead:
    def _kill(self, factory: sessionmaker[Session]) -> uuid.UUID:
        [message_id] = make_messages(factory, 1)
        claim(factory, now=utcnow())
        with session_scope(factory) as session:
            outbox.mark_failed(session, message_id, error="HTTP 410: gone", max_attempts=1, backoff_seconds=1)
        return message_id

    def test_dead_message_goes_back_to_pending_with_attempts_reset(
        self, factory: sessionmaker[Session]
    ) -> None:
        message_id = self._kill(factory)

        with session_scope(factory) as session:
            read = outbox.retry_dead(session, message_id)

        assert read.status == "pending"
        assert read.attempts == 0
        assert read.dead_at is None
        assert read.last_error == "HTTP 410: gone"
        [again] = claim(factory, now=utcnow())
        assert (again.id, again.attempt) == (message_id, 1)

    def test_only_dead_messages_can_be_retried(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        with pytest.raises(Conflict), session_scope(factory) as session:
            outbox.retry_dead(session, message_id)

    def test_unknown_message(self, factory: sessionmaker[Session]) -> None:
        with pytest.raises(NotFound), session_scope(factory) as session:
            outbox.retry_dead(session, uuid.uuid4())


class TestListMessages:
    def test_pages_through_every_message_of_a_status(self, factory: sessionmaker[Session]) -> None:
        ids = make_messages(factory, 5)
        with session_scope(factory) as session:
            outbox.mark_delivered(session, ids[2])

        seen: list[uuid.UUID] = []
        cursor: str | None = None
        with factory() as session:
            while True:
                page = outbox.list_messages(session, status="pending", cursor=cursor, limit=2)
                seen.extend(m.id for m in page.items)
                cursor = page.next_cursor
                if cursor is None:
                    break
            delivered = outbox.list_messages(session, status="delivered")
            everything = outbox.list_messages(session, status=None, limit=50, newest_first=True)

        assert seen == [ids[0], ids[1], ids[3], ids[4]]
        assert [m.id for m in delivered.items] == [ids[2]]
        assert [m.id for m in everything.items] == list(reversed(ids))
        assert everything.items[0].payload == {"n": 4}

    def test_unknown_status_is_a_validation_error(self, factory: sessionmaker[Session]) -> None:
        with factory() as session, pytest.raises(ValidationFailed):
            outbox.list_messages(session, status="lost")

    def test_get_message(self, factory: sessionmaker[Session]) -> None:
        [message_id] = make_messages(factory, 1)
        with factory() as session:
            assert outbox.get_message(session, message_id).destination == "http://127.0.0.1:9/hook"
            with pytest.raises(NotFound):
                outbox.get_message(session, uuid.uuid4())
