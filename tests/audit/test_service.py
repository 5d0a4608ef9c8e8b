"""The audit chain: written without waiting, sealed in order, verified, and any tampering named,
whether the entry is already sealed into the chain or still waiting for the sealer."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, select, update
from tests.conftest import SYSTEM

from nokor import audit
from nokor.audit.models import AuditChainHead, AuditEntry
from nokor.kit.actor import Actor
from nokor.kit.errors import Forbidden, ValidationFailed

CLERK = Actor(kind="officer", id=None, name="clerk", grants={})


def _write(db, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record_change(db, SYSTEM, action="thing.update", subject_type="thing", subject_id=f"T{i}",
                            before={"v": i}, after={"v": i + 1}, reason="test")
    db.commit()


def _record(db, n: int) -> None:
    """Write ``n`` entries and seal them into the chain, as the worker would."""
    _write(db, n)
    audit.seal_entries(db)
    db.commit()


def _id_of(db, subject_id: str):
    return db.scalar(select(AuditEntry.id).where(AuditEntry.subject_id == subject_id))


class TestVerifyChain:
    def test_an_untouched_chain_holds(self, db):
        _record(db, 5)
        report = audit.verify_chain(db)
        assert report.ok and report.count == 5 and report.unsealed == 0

    def test_an_edited_entry_is_named(self, db):
        _record(db, 5)
        db.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor_name="mallory"))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_seq == 3 and "edited" in report.problem

    def test_an_edited_after_state_is_named(self, db):
        _record(db, 4)
        db.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(after={"v": 999}))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_seq == 2

    def test_a_removed_entry_is_named(self, db):
        _record(db, 5)
        db.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_seq == 3 and "missing" in report.problem

    def test_entries_removed_from_the_end_are_detected(self, db):
        _record(db, 5)
        db.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and "removed from the end" in report.problem

    def test_reordered_entries_are_detected(self, db):
        _record(db, 4)
        # Swap the positions of entries 2 and 3 by exchanging their sequence numbers.
        db.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=-2))
        db.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
        db.execute(update(AuditEntry).where(AuditEntry.seq == -2).values(seq=3))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_seq == 2

    def test_taking_an_entry_out_of_the_chain_is_detected(self, db):
        _record(db, 4)
        # Pretending entry 2 was never sealed leaves a hole in the chain.
        db.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=None))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_seq == 3 and "missing" in report.problem

    def test_erasing_personal_data_from_an_entry_keeps_the_chain_valid(self, db):
        _record(db, 3)
        # The law may require erasing the stored states; the digests keep the chain verifiable.
        db.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(before=None, after=None))
        db.commit()
        assert audit.verify_chain(db).ok

    def test_empty_chain_holds(self, db):
        report = audit.verify_chain(db)
        assert report.ok and report.count == 0


class TestEntriesNotYetSealed:
    def test_are_counted_and_verified(self, db):
        _record(db, 2)
        _write(db, 3, start=2)
        report = audit.verify_chain(db)
        assert report.ok and report.count == 5 and report.unsealed == 3

    def test_an_edited_entry_is_named_before_it_is_sealed(self, db):
        _write(db, 3)
        target = _id_of(db, "T1")
        db.execute(update(AuditEntry).where(AuditEntry.id == target).values(reason="nothing to see"))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_id == target and report.broken_seq is None
        assert "edited" in report.problem

    def test_an_edited_state_is_named_before_it_is_sealed(self, db):
        _write(db, 2)
        target = _id_of(db, "T0")
        db.execute(update(AuditEntry).where(AuditEntry.id == target).values(before={"v": -1}))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_id == target and "before-state" in report.problem

    def test_a_removed_content_hash_is_named(self, db):
        _write(db, 2)
        target = _id_of(db, "T1")
        db.execute(update(AuditEntry).where(AuditEntry.id == target).values(content_hash=None))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_id == target

    def test_an_entry_edited_while_waiting_is_still_named_once_sealed(self, db):
        _write(db, 3)
        target = _id_of(db, "T2")
        db.execute(update(AuditEntry).where(AuditEntry.id == target).values(action="thing.view"))
        db.commit()
        audit.seal_entries(db)
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_seq == 3 and "edited" in report.problem

    def test_a_forged_link_without_a_place_is_detected(self, db):
        _record(db, 2)
        _write(db, 1, start=2)
        target = _id_of(db, "T2")
        db.execute(update(AuditEntry).where(AuditEntry.id == target).values(prev_hash="f" * 64))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_id == target


class TestSealing:
    def test_entries_are_chained_in_the_order_they_were_written(self, db):
        _record(db, 3)
        rows = db.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [r.seq for r in rows] == [1, 2, 3]
        assert [r.subject_id for r in rows] == ["T0", "T1", "T2"]
        assert rows[1].prev_hash == rows[0].entry_hash and rows[2].prev_hash == rows[1].entry_hash
        head = db.get(AuditChainHead, 1)
        assert head.last_seq == 3 and head.last_hash == rows[2].entry_hash

    def test_written_entries_wait_unsealed_until_the_sealer_runs(self, db):
        _write(db, 2)
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq.is_(None))) == 2
        assert audit.seal_entries(db) == 2
        db.commit()
        assert audit.seal_entries(db) == 0
        assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq.is_(None))) == 0

    def test_later_rounds_extend_the_chain(self, db):
        _record(db, 2)
        _record(db, 3)
        report = audit.verify_chain(db)
        assert report.ok and report.count == 5 and report.unsealed == 0
        assert db.get(AuditChainHead, 1).last_seq == 5

    def test_seal_all_seals_in_batches(self, db, session_factory):
        _write(db, 7)
        assert audit.seal_all(session_factory, batch=3) == 7
        report = audit.verify_chain(db)
        assert report.ok and report.count == 7 and report.unsealed == 0

    def test_a_rolled_back_change_leaves_no_entry(self, db):
        _record(db, 1)
        audit.record_change(db, SYSTEM, action="thing.delete", subject_type="thing", subject_id="T9")
        db.rollback()
        assert audit.verify_chain(db).count == 1
        assert audit.seal_entries(db) == 0

    def test_entries_of_an_open_transaction_are_left_for_a_later_round(self, db, session_factory, engine):
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite has a single writer: an open write transaction blocks the sealer itself")
        _write(db, 1)
        writer = session_factory()
        try:
            audit.record_change(writer, SYSTEM, action="thing.update", subject_type="thing", subject_id="late")
            writer.flush()
            with session_factory() as sealer:
                assert audit.seal_entries(sealer) == 1
                sealer.commit()
            writer.commit()
        finally:
            writer.close()
        with session_factory() as sealer:
            assert audit.seal_entries(sealer) == 1
            sealer.commit()
        late = db.scalar(select(AuditEntry).where(AuditEntry.subject_id == "late"))
        assert late.seq == 2 and audit.verify_chain(db).ok

    def test_writers_do_not_wait_for_each_other(self, session_factory, engine):
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite serialises every writer by design")
        # A transaction holding an unsealed entry open must not stop another audited write from committing.
        first = session_factory()
        try:
            audit.record_change(first, SYSTEM, action="thing.update", subject_type="thing", subject_id="A")
            first.flush()
            done = threading.Event()

            def second_writer() -> None:
                with session_factory() as second:
                    audit.record_change(second, SYSTEM, action="thing.update", subject_type="thing",
                                        subject_id="B")
                    second.commit()
                done.set()

            thread = threading.Thread(target=second_writer)
            thread.start()
            assert done.wait(10), "the second audited write waited for the first transaction"
            thread.join()
            first.commit()
        finally:
            first.close()


class TestRecording:
    def test_access_log_needs_a_purpose(self, db):
        with pytest.raises(ValidationFailed):
            audit.record_access(db, SYSTEM, subject_type="resident", subject_id="R1", purpose="  ")

    def test_access_log_records_who_read_whose_data_and_why(self, db):
        officer = Actor(kind="officer", id=None, name="registrar.pnh", grants={})
        audit.record_access(db, officer, subject_type="resident", subject_id="R42", purpose="birth certificate",
                            fields=["name", "birth_date"])
        page = audit.list_entries(db, SYSTEM, category="access", subject_id="R42")
        entry = page.items[0]
        assert entry.actor_name == "registrar.pnh" and entry.reason == "birth certificate"
        assert entry.after == {"fields": ["birth_date", "name"]}

    def test_a_batch_of_readings_is_chained_in_order_and_verifies(self, db):
        from nokor.kit.context import client_ip_var, request_id_var

        bank = Actor(kind="client", id=None, name="Bank", grants={})
        _write(db, 1)  # an entry written one at a time, before the batch
        token = request_id_var.set("req-batch")
        ip = client_ip_var.set("10.0.0.7")
        try:
            accesses = [audit.Access(actor=bank, subject_type="resident", subject_id=f"R{i}", purpose=f"check {i}",
                                     fields=["name", "birth_date"] if i % 2 else None) for i in range(5)]
        finally:
            request_id_var.reset(token)
            client_ip_var.reset(ip)
        accesses.append(audit.Access(actor=SYSTEM, subject_type="resident", subject_id="R9", purpose="own call",
                                     request_id="req-other", client_ip=None))
        ids = audit.record_accesses(db, accesses)
        db.commit()
        assert len(ids) == 6 and audit.seal_entries(db) == 7
        db.commit()
        rows = db.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [r.subject_id for r in rows] == ["T0", "R0", "R1", "R2", "R3", "R4", "R9"]
        assert [r.id for r in rows[1:]] == ids
        assert rows[2].after == {"fields": ["birth_date", "name"]} and rows[1].after is None
        assert {(r.request_id, r.client_ip) for r in rows[1:6]} == {("req-batch", "10.0.0.7")}
        assert (rows[6].request_id, rows[6].client_ip, rows[6].actor_kind) == ("req-other", None, "system")
        page = audit.list_entries(db, SYSTEM, category="access", subject_id="R3")
        assert page.items[0].reason == "check 3" and page.items[0].actor_name == "Bank"
        report = audit.verify_chain(db)
        assert report.ok and report.count == 7

    def test_an_edited_batch_entry_is_named(self, db):
        ids = audit.record_accesses(db, [audit.Access(actor=SYSTEM, subject_type="resident", subject_id=f"R{i}",
                                                      purpose="check", fields=["name"]) for i in range(3)])
        db.commit()
        db.execute(update(AuditEntry).where(AuditEntry.id == ids[1]).values(reason="nothing to see"))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_id == ids[1]

    def test_a_batch_with_a_reading_without_purpose_writes_nothing(self, db):
        with pytest.raises(ValidationFailed):
            audit.record_accesses(db, [
                audit.Access(actor=SYSTEM, subject_type="resident", subject_id="R1", purpose="check"),
                audit.Access(actor=SYSTEM, subject_type="resident", subject_id="R2", purpose=" ")])
        db.commit()
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert audit.record_accesses(db, []) == []

    def test_reading_the_trail_needs_permission(self, db):
        with pytest.raises(Forbidden):
            audit.list_entries(db, CLERK)

    def test_listing_is_newest_first_and_pages_by_cursor(self, db):
        _record(db, 7)
        first = audit.list_entries(db, SYSTEM, limit=5)
        assert [e.seq for e in first.items] == [7, 6, 5, 4, 3] and first.next_cursor
        second = audit.list_entries(db, SYSTEM, limit=5, cursor=first.next_cursor)
        assert [e.seq for e in second.items] == [2, 1] and second.next_cursor is None

    def test_entries_not_yet_sealed_are_listed_too(self, db):
        _write(db, 2)
        page = audit.list_entries(db, SYSTEM)
        assert [e.subject_id for e in page.items] == ["T1", "T0"] and all(e.seq is None for e in page.items)


class TestRecordChangesInABatch:
    def test_a_batch_is_chained_in_the_order_given_between_single_entries_and_verifies(self, db):
        _write(db, 2)
        clerk = Actor(kind="officer", id=None, name="clerk", grants={})
        ids = audit.record_changes(db, [
            audit.Change(actor=clerk if i % 2 else SYSTEM, action="thing.pay", subject_type="thing",
                         subject_id=f"B{i}", before={"v": i}, after={"v": -i}, reason="batch" if i else None)
            for i in range(30)])
        db.commit()
        _write(db, 2, start=2)
        assert audit.seal_entries(db) == 34
        db.commit()
        report = audit.verify_chain(db)
        assert report.ok and report.count == 34 and report.unsealed == 0
        chain = db.execute(select(AuditEntry.subject_id, AuditEntry.id).order_by(AuditEntry.seq)).all()
        assert [s for s, _id in chain] == ["T0", "T1", *(f"B{i}" for i in range(30)), "T2", "T3"]
        assert [i for _s, i in chain[2:32]] == ids
        third = db.get(AuditEntry, ids[3])
        assert (third.actor_name, third.action, third.before, third.after, third.reason) == \
            ("clerk", "thing.pay", {"v": 3}, {"v": -3}, "batch")

    def test_an_entry_of_a_batch_edited_before_sealing_is_named(self, db):
        ids = audit.record_changes(db, [audit.Change(actor=SYSTEM, action="thing.pay", subject_type="thing",
                                                     subject_id=f"B{i}", after={"v": i}) for i in range(5)])
        db.commit()
        assert audit.verify_chain(db).ok
        db.execute(update(AuditEntry).where(AuditEntry.id == ids[2]).values(subject_id="B99"))
        db.commit()
        report = audit.verify_chain(db)
        assert not report.ok and report.broken_id == ids[2] and "edited" in report.problem

    def test_an_empty_batch_writes_nothing(self, db):
        assert audit.record_changes(db, []) == []
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == 0
