"""Import and export of whole registries: validation report, reject file, round trip of 100,000 rows."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from tests.registries.factories import SYSTEM, business, make_registry

from nokor import registries

TEN_FIELDS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["code", "name", "province"],
    "properties": {
        "code": {"type": "string", "x-key": True},
        "name": {"type": "string", "x-searchable": True},
        "province": {"type": "string", "x-searchable": True},
        "employees": {"type": "integer", "minimum": 0},
        "turnover": {"type": "number"},
        "active": {"type": "boolean"},
        "opened": {"type": "string", "format": "date"},
        "phone": {"type": "string"},
        "owner": {"type": "string", "x-personal": True},
        "note": {"type": "string"},
    },
}


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(TEN_FIELDS["properties"]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("true" if v is True else "false" if v is False else v) for k, v in row.items()})


def row(n: int) -> dict:
    return {"code": f"C{n:07d}", "name": f"Business {n} ស្រែ", "province": ["Kampot", "Takeo", "Kep"][n % 3],
            "employees": n % 250, "turnover": n * 1.5, "active": n % 2 == 0, "opened": "2024-01-31",
            "phone": f"012{n:06d}", "owner": f"Owner {n}", "note": 'comma, "quote"\ttab'}


class TestImport:
    def test_all_or_nothing_names_each_bad_row_and_field(self, db, tmp_path):
        make_registry(db, name="biz", schema=TEN_FIELDS)
        rows = [row(1), {**row(2), "employees": "-3"}, {**row(3), "opened": "31/01/2024"}, row(4)]
        path = tmp_path / "biz.csv"
        write_csv(path, rows)
        with pytest.raises(registries.ImportRejected) as caught:
            registries.import_file(db, SYSTEM, name="biz", path=path)
        report = caught.value.report
        assert [(e.row, e.pointer) for e in report.errors] == [(2, "/employees"), (3, "/opened")]
        assert report.written == 0 and report.rejected == 2

    def test_skip_invalid_writes_the_good_rows_and_a_reject_file(self, db, tmp_path):
        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.jsonl"
        lines = [json.dumps(row(1)), "{broken", json.dumps({**row(2), "province": 7}), json.dumps(row(1))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report = registries.import_file(db, SYSTEM, name="biz", path=path, skip_invalid=True)
        assert report.written == 1 and report.rejected == 3
        rejected = [json.loads(line) for line in Path(report.reject_file or "").read_text().splitlines()]
        assert [r["row"] for r in rejected] == [2, 3, 4]
        assert "/province" in rejected[1]["errors"] and "/code" in rejected[2]["errors"]

    def test_an_existing_key_is_refused(self, db, tmp_path):
        make_registry(db)
        registries.create_record(db, SYSTEM, name="sme", data=business(1))
        stream = io.BytesIO((json.dumps(business(1)) + "\n" + json.dumps(business(2)) + "\n").encode())
        report = registries.import_records(db, SYSTEM, name="sme", stream=stream, fmt="jsonl", skip_invalid=True)
        assert report.written == 1 and [e.pointer for e in report.errors] == ["/registration_number"]


    def test_rows_read_in_parts_keep_their_line_numbers_order_and_count(self, db, tmp_path):
        """Rows are validated and encoded a few hundred at a time and written in bigger batches: errors
        name the right row across those boundaries, and every good row is written once, in file order."""
        make_registry(db, name="biz", schema=TEN_FIELDS)
        db.commit()
        rows = [row(n) for n in range(1, 1301)]
        for bad in (2, 500, 501, 1001):
            rows[bad - 1] = {**rows[bad - 1], "employees": "-3"}
        path = tmp_path / "biz.csv"
        write_csv(path, rows)
        with pytest.raises(registries.ImportRejected) as caught:
            registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", batch_size=700)
        assert [e.row for e in caught.value.report.errors] == [2, 500, 501, 1001]
        db.rollback()
        report = registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", batch_size=700,
                                           skip_invalid=True, reject_path=tmp_path / "rejected.csv")
        assert report.written == 1296 and report.rejected == 4
        codes = [data["code"] for chunk in registries.export_records(db, SYSTEM, name="biz", fmt="jsonl")
                 for data in map(json.loads, chunk.decode().splitlines())]
        assert codes == [r["code"] for n, r in enumerate(rows, start=1) if n not in (2, 500, 501, 1001)]
        found = registries.search_records(db, SYSTEM, name="biz", filters=[
            registries.SearchFilter(field="name", value=row(1300)["name"])])
        assert [r.data["code"] for r in found.items] == ["C0001300"]

@pytest.mark.slow
def test_round_trip_of_100k_rows_through_csv_jsonl_and_parquet(db, tmp_path):
    import pyarrow.parquet as pq

    make_registry(db, name="biz", schema=TEN_FIELDS)
    rows = [row(n) for n in range(100_000)]
    source = tmp_path / "biz.csv"
    write_csv(source, rows)
    seen: list[int] = []
    report = registries.import_file(db, SYSTEM, name="biz", path=source, progress=seen.append)
    assert report.written == 100_000 and report.rejected == 0
    assert seen[-1] == source.stat().st_size
    assert registries.count_records(db, SYSTEM, name="biz") == 100_000
    found = registries.search_records(db, SYSTEM, name="biz", filters=[
        registries.SearchFilter(field="name", value="business 77777 ស្រែ")])
    assert [r.data["code"] for r in found.items] == ["C0077777"]

    exported = b"".join(registries.export_records(db, SYSTEM, name="biz", fmt="csv", purpose="round trip test"))
    back = list(csv.DictReader(io.StringIO(exported.decode())))
    assert len(back) == 100_000 and back[12345]["note"] == 'comma, "quote"\ttab'
    again = tmp_path / "again.csv"
    again.write_bytes(exported)
    make_registry(db, name="copy", schema=TEN_FIELDS)
    registries.import_file(db, SYSTEM, name="copy", path=again)
    copied = b"".join(registries.export_records(db, SYSTEM, name="copy", fmt="jsonl", purpose="round trip test"))
    assert [json.loads(line) for line in copied.decode().splitlines()] == rows

    parquet = b"".join(registries.export_records(db, SYSTEM, name="biz", fmt="parquet", purpose="round trip test"))
    table = pq.read_table(io.BytesIO(parquet))
    assert table.num_rows == 100_000 and table.column("turnover").to_pylist()[:3] == [0.0, 1.5, 3.0]


@pytest.mark.slow
def test_two_sessions_updating_one_record_at_once_one_gets_409(db, session_factory, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers, so there the second update simply sees the first")
    make_registry(db)
    record = registries.create_record(db, SYSTEM, name="sme", data=business())
    db.commit()
    barrier = threading.Barrier(2, timeout=20)
    outcomes: list[str] = []

    def update(employees: int) -> None:
        session = session_factory()
        try:
            registries.read_record(session, SYSTEM, name="sme", record_id=record.id)
            barrier.wait()
            registries.update_record(session, SYSTEM, name="sme", record_id=record.id, revision=1,
                                     data={"employees": employees}, merge=True)
            session.commit()
            outcomes.append("ok")
        except registries.ImportRejected:
            raise
        except Exception as exc:
            session.rollback()
            outcomes.append(f"{getattr(exc, 'status', type(exc).__name__)}")
        finally:
            session.close()

    threads = [threading.Thread(target=update, args=(n,)) for n in (50, 60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["409", "ok"]
    db.rollback()
    history = registries.record_history(db, SYSTEM, name="sme", record_id=record.id)
    assert [h.revision for h in history] == [1, 2]
    assert db.execute(text("SELECT count(*) FROM registries_record_version")).scalar() == 1


class TestImportInAWorkerProcess:
    """Big files are read and validated in a worker process, a fork of the importing one or a new
    interpreter; the outcome must be the same."""

    @pytest.fixture(params=[True, False], ids=["forked", "spawned"])
    def fork(self, request) -> bool:
        return bool(request.param)

    def test_the_records_and_their_index_are_the_same(self, db, tmp_path, fork):
        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.csv"
        write_csv(path, [row(n) for n in range(12)])
        seen: list[int] = []
        report = registries.import_file(db, SYSTEM, name="biz", path=path, worker=True, progress=seen.append,
                                        fork=fork)
        assert report.written == 12 and report.rejected == 0 and seen[-1] == path.stat().st_size
        found = registries.search_records(db, SYSTEM, name="biz", filters=[
            registries.SearchFilter(field="province", value="KEP")])
        assert sorted(r.data["code"] for r in found.items) == ["C0000002", "C0000005", "C0000008", "C0000011"]
        record = registries.read_record(db, SYSTEM, name="biz", record_id="C0000007", purpose="test")
        assert record.data == row(7) and record.revision == 1
        history = registries.record_history(db, SYSTEM, name="biz", record_id=record.id)
        assert [(v.revision, v.operation) for v in history] == [(1, "import")]

    def test_all_or_nothing_and_the_report_in_the_callers_language(self, db, tmp_path, fork):
        from nokor.kit.i18n import locale_var

        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.csv"
        write_csv(path, [row(1), {**row(2), "employees": "many"}, row(3)])
        token = locale_var.set("de")
        try:
            with pytest.raises(registries.ImportRejected) as caught:
                registries.import_file(db, SYSTEM, name="biz", path=path, worker=True, fork=fork)
        finally:
            locale_var.reset(token)
        report = caught.value.report
        assert [(e.row, e.pointer) for e in report.errors] == [(2, "/employees")]
        assert report.errors[0].message != "This has the wrong type of value."
        assert registries.count_records(db, SYSTEM, name="biz") == 0

    def test_skip_invalid_writes_the_reject_file(self, db, tmp_path, fork):
        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.jsonl"
        path.write_text("\n".join([json.dumps(row(1)), "{broken", json.dumps(row(1)), json.dumps(row(2))]) + "\n")
        report = registries.import_file(db, SYSTEM, name="biz", path=path, skip_invalid=True, worker=True,
                                        fork=fork)
        assert report.written == 2 and report.rejected == 2
        rejected = [json.loads(line) for line in Path(report.reject_file or "").read_text().splitlines()]
        assert [r["row"] for r in rejected] == [2, 3]


class TestImportEncoding:
    def test_a_searchable_text_with_a_backslash_tab_or_newline_is_stored_and_found_as_it_was(self, db, tmp_path):
        make_registry(db, name="biz", schema=TEN_FIELDS)
        odd = {**row(1), "name": "Back\\slash\tTab\nLine", "owner": "O\\wner\t1"}
        path = tmp_path / "biz.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in [row(0), odd, row(2)]) + "\n", encoding="utf-8")
        registries.import_file(db, SYSTEM, name="biz", path=path)
        found = registries.search_records(db, SYSTEM, name="biz", purpose="test", filters=[
            registries.SearchFilter(field="name", value="back\\slash\ttab\nline")])
        assert [r.data for r in found.items] == [odd]
        plain = registries.search_records(db, SYSTEM, name="biz", filters=[
            registries.SearchFilter(field="name", value=row(2)["name"])])
        assert [r.data["code"] for r in plain.items] == ["C0000002"]


BULK_TABLES = "('registries_record'::regclass, 'registries_field_value'::regclass)"


def _value_indexes(db) -> dict[str, tuple[int, str]]:
    """Every index of the records and of their searchable values: its oid (new when it was built again)
    and its definition."""
    return {name: (oid, definition) for name, oid, definition in db.execute(text(
        "SELECT c.relname, c.oid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        f"JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid IN {BULK_TABLES}")).all()}


def _constraints(db) -> dict[str, str]:
    return dict(db.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid IN "
        "('registries_record'::regclass, 'registries_field_value'::regclass, "
        "'registries_record_version'::regclass)")).all())


def _column_defaults(db) -> dict[tuple[str, str], str | None]:
    return {(table, column): default for table, column, default in db.execute(text(
        "SELECT table_name, column_name, column_default FROM information_schema.columns "
        "WHERE table_name IN ('registries_record', 'registries_field_value')")).all()}


class TestIndexesBuiltAfterAFirstBigImport:
    """PostgreSQL: into an installation without any record yet, the indexes of the records and of their
    values (primary keys included) are built at the end."""

    @pytest.fixture(autouse=True)
    def _postgres_only(self, engine):
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite keeps its indexes during an import")

    def test_the_same_indexes_and_keys_are_back_and_searches_use_them(self, db, tmp_path):
        before, keys = _value_indexes(db), _constraints(db)
        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.csv"
        write_csv(path, [row(n) for n in range(30)])
        report = registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", worker=True,
                                           defer_indexes=True)
        assert report.written == 30
        after = _value_indexes(db)
        assert {n: d for n, (_o, d) in after.items()} == {n: d for n, (_o, d) in before.items()}
        rebuilt = [n for n in after if after[n][0] != before[n][0]]
        assert sorted(rebuilt) == ["ix_registries_field_value_num", "ix_registries_field_value_text",
                                   "ix_registries_record_registry_subject", "pk_registries_field_value",
                                   "pk_registries_record"]
        assert _constraints(db) == keys
        found = registries.search_records(db, SYSTEM, name="biz", filters=[
            registries.SearchFilter(field="province", value="Kep")])
        assert len(found.items) == 10
        # The history's foreign key points at the records again: a change keeps the old version...
        changed = registries.update_record(db, SYSTEM, name="biz", record_id="C0000003",
                                           data={**row(3), "employees": 7}, reason="test")
        assert changed.revision == 2
        assert [v.revision for v in registries.record_history(db, SYSTEM, name="biz", record_id=changed.id)] == [1, 2]
        # ...and a version of a record that does not exist is refused, as is a second record with one id.
        db.commit()
        with pytest.raises(IntegrityError):
            db.execute(text("INSERT INTO registries_record_version (id, record_id, revision, schema_version_id, "
                            "data, written_at, written_by, operation, deleted) SELECT gen_random_uuid(), "
                            "gen_random_uuid(), 1, schema_version_id, data, written_at, written_by, operation, "
                            "false FROM registries_record_version LIMIT 1"))
        db.rollback()
        with pytest.raises(IntegrityError):
            db.execute(text("INSERT INTO registries_record SELECT * FROM registries_record LIMIT 1"))
        db.rollback()

    def test_what_every_row_shares_is_written_on_each_record_and_the_columns_keep_their_defaults(self, db,
                                                                                                 tmp_path):
        defaults = _column_defaults(db)
        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.csv"
        write_csv(path, [row(n) for n in range(20)])
        reason = "Migration from the 2019 register: 100% of it, 'as is'"
        report = registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", worker=True,
                                           defer_indexes=True, reason=reason)
        assert report.written == 20
        assert _column_defaults(db) == defaults
        registry = db.execute(text("SELECT r.id, v.id FROM registries_registry r JOIN registries_schema_version v "
                                   "ON v.registry_id = r.id WHERE r.name = 'biz'")).one()
        stored = db.execute(text(
            "SELECT DISTINCT registry_id, schema_version_id, revision, written_by, reason, operation, "
            "written_at IS NOT NULL FROM registries_record")).all()
        assert [tuple(r) for r in stored] == [(registry[0], registry[1], 1, SYSTEM.name, reason, "import", True)]
        assert db.execute(text("SELECT DISTINCT registry_id FROM registries_field_value")).scalars().all() == [
            registry[0]]
        record = registries.read_record(db, SYSTEM, name="biz", record_id="C0000004", purpose="test")
        assert record.data == row(4)
        history = registries.record_history(db, SYSTEM, name="biz", record_id=record.id)
        assert [(v.revision, v.operation, v.reason) for v in history] == [(1, "import", reason)]
        # A record written afterwards gets its own values, not the import's.
        db.commit()
        make_registry(db, name="other", schema=TEN_FIELDS)
        created = registries.create_record(db, SYSTEM, name="other", data=row(1))
        assert created.revision == 1
        assert db.execute(text("SELECT operation, reason FROM registries_record WHERE id = :id"),
                          {"id": created.id}).one() == ("create", None)
        found = registries.search_records(db, SYSTEM, name="other", filters=[
            registries.SearchFilter(field="province", value="Takeo")])
        assert [r.data["code"] for r in found.items] == ["C0000001"]

    def test_a_rejected_import_leaves_the_column_defaults_as_they_were(self, db, tmp_path):
        defaults = _column_defaults(db)
        make_registry(db, name="biz", schema=TEN_FIELDS)
        db.commit()
        path = tmp_path / "biz.csv"
        write_csv(path, [row(1), {**row(2), "employees": "-3"}])
        with pytest.raises(registries.ImportRejected):
            registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", worker=True, defer_indexes=True)
        db.rollback()
        assert _column_defaults(db) == defaults

    def test_an_installation_with_records_but_no_indexed_value_keeps_its_indexes(self, db, tmp_path):
        make_registry(db, name="plain", schema={**TEN_FIELDS, "properties": {
            k: {key: v for key, v in spec.items() if key not in ("x-searchable", "x-key")}
            for k, spec in TEN_FIELDS["properties"].items()}})
        registries.create_record(db, SYSTEM, name="plain", data=row(1))
        assert db.execute(text("SELECT count(*) FROM registries_field_value")).scalar() == 0
        before = _value_indexes(db)
        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.csv"
        write_csv(path, [row(n) for n in range(5)])
        registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", defer_indexes=True)
        assert _value_indexes(db) == before

    def test_an_installation_with_indexed_values_keeps_its_indexes(self, db, tmp_path):
        make_registry(db)
        registries.create_record(db, SYSTEM, name="sme", data=business(1))
        before = _value_indexes(db)
        make_registry(db, name="biz", schema=TEN_FIELDS)
        path = tmp_path / "biz.csv"
        write_csv(path, [row(n) for n in range(5)])
        registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", defer_indexes=True)
        assert _value_indexes(db) == before

    def test_a_rejected_import_leaves_the_indexes_in_place(self, db, tmp_path):
        before = _value_indexes(db)
        make_registry(db, name="biz", schema=TEN_FIELDS)
        db.commit()
        path = tmp_path / "biz.csv"
        write_csv(path, [row(1), {**row(2), "employees": "-3"}])
        with pytest.raises(registries.ImportRejected):
            registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", defer_indexes=True)
        db.rollback()
        assert _value_indexes(db) == before

    def test_while_another_transaction_reads_the_values_the_import_keeps_the_indexes(self, db, session_factory,
                                                                                     tmp_path):
        before = _value_indexes(db)
        make_registry(db, name="biz", schema=TEN_FIELDS)
        db.commit()
        reader = session_factory()
        try:
            reader.execute(text("SELECT count(*) FROM registries_field_value")).scalar()  # holds its lock
            path = tmp_path / "biz.csv"
            write_csv(path, [row(n) for n in range(5)])
            report = registries.import_records(db, SYSTEM, name="biz", path=path, fmt="csv", defer_indexes=True)
            assert report.written == 5 and _value_indexes(db) == before
        finally:
            reader.rollback()
            reader.close()
