"""Import and export of whole registries: CSV and JSON Lines in, CSV, JSON Lines and Parquet out.

An import validates every row against the schema and writes in batches inside the caller's
transaction (COPY on PostgreSQL, executemany elsewhere): by default all rows or none; with
``skip_invalid`` the good rows, with the bad ones written to a reject file. An export streams the
registry in key order, one batch at a time, so memory does not grow with the registry.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Literal, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from nokor import audit
from nokor.db import new_id
from nokor.kit.actor import Actor
from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.time import utcnow
from nokor.registries import repository, schema_rules
from nokor.registries.models import FieldValue, Record
from nokor.registries.schemas import ImportReport, RowError
from nokor.registries.service import (
    REGISTRIES_READ,
    REGISTRIES_WRITE,
    _personal_fields,
    _registry,
    _require,
    _validator,
    _version,
)

ImportFormat = Literal["csv", "jsonl"]
ExportFormat = Literal["csv", "jsonl", "parquet"]
MAX_REPORTED = 1000
RECORD_COLUMNS = ("id", "registry_id", "schema_version_id", "revision", "data", "subject_id", "written_at",
                  "written_by", "reason", "operation")
VALUE_COLUMNS = ("record_id", "field", "registry_id", "value_text", "value_num")


class ImportRejected(ValidationFailed):
    """An all-or-nothing import met invalid rows: nothing is written; the report says which and why."""

    def __init__(self, report: ImportReport) -> None:
        errors = [field_error(["rows", e.row, *[p for p in e.pointer.strip("/").split("/") if p]], e.message,
                              "row_invalid") for e in report.errors]
        super().__init__(_("%(count)s rows are not valid; nothing was imported.", count=report.rejected),
                         errors=errors)
        self.report = report


class _CountingReader(io.RawIOBase):
    """A binary stream that tells, as it is read, how many bytes have gone by."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], None] | None) -> None:
        self.raw = raw
        self.done = 0
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.done += len(data)
        if self.progress is not None:
            self.progress(self.done)
        return len(data)


def _rows(stream: IO[bytes], fmt: ImportFormat, properties: dict[str, Any]
          ) -> Iterator[tuple[int, Any, Any, str | None]]:
    """(row number, parsed data, raw row, parse error) for every row of the file."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    if fmt == "csv":
        reader = csv.reader(text)
        header = next(reader, None) or []
        # One converter per column, chosen once: text cells stay as they are.
        columns = [(name, None if schema_rules.property_type(properties.get(name, {})) in ("string", "any")
                    else properties[name]) for name in header]
        for number, cells in enumerate(reader, start=1):
            data: dict[str, Any] = {}
            for (column, spec), cell in zip(columns, cells, strict=False):
                if cell == "":
                    continue
                data[column] = cell if spec is None else schema_rules.coerce_cell(spec, cell)
            yield number, data, (header, cells), None
        return
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), line, None
        except ValueError:
            yield number, None, line, _("This line is not valid JSON.")


class _BulkWriter:
    """Writes records and their index values in batches, the fastest way the database allows."""

    def __init__(self, session: Session, *, overlap: bool = False) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.records: list[tuple[Any, ...]] = []
        self.values: list[tuple[Any, ...]] = []
        # On PostgreSQL the COPY of one batch can run in a thread while the next batch is parsed:
        # psycopg waits for the server without the GIL. Only when nothing else uses the connection.
        self.pool = ThreadPoolExecutor(max_workers=1) if overlap and self.postgres else None
        self.pending: Future[None] | None = None

    def add(self, record: tuple[Any, ...], values: list[tuple[Any, ...]]) -> None:
        self.records.append(record)
        self.values.extend(values)

    def flush(self) -> None:
        if not self.records:
            return
        if self.postgres:
            record_text, value_text = self._copy_text()
            self.wait()
            connection = self.session.connection().connection.driver_connection
            if self.pool is not None:
                self.pending = self.pool.submit(self._send, connection, record_text, value_text)
            else:
                self._send(connection, record_text, value_text)
        else:
            records = cast(Table, Record.__table__)
            values = cast(Table, FieldValue.__table__)
            self.session.execute(insert(records), [dict(zip(RECORD_COLUMNS, r, strict=True)) for r in self.records])
            if self.values:
                self.session.execute(insert(values), [dict(zip(VALUE_COLUMNS, v, strict=True)) for v in self.values])
        self.records.clear()
        self.values.clear()

    def wait(self) -> None:
        """Wait for the COPY in flight, if any (and raise what it raised)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)

    def _copy_text(self) -> tuple[str, str]:
        # Every record of one import shares all but its id, data and subject: render those once.
        first = self.records[0]
        head = "\t".join(_copy_text(v) for v in first[1:4])
        tail = "\t".join(_copy_text(v) for v in first[6:])
        encode = _JSON.encode
        lines = []
        for record_id, _r, _v, _n, data, subject, *_rest in self.records:
            text = encode(data)
            if "\\" in text:
                text = text.replace("\\", "\\\\")
            lines.append(f"{record_id}\t{head}\t{text}\t{_copy_text(subject)}\t{tail}\n")
        values = [f"{v[0]}\t{v[1]}\t{v[2]}\t{_copy_text(v[3])}\t{_copy_text(v[4])}\n" for v in self.values]
        return "".join(lines), "".join(values)

    @staticmethod
    def _send(connection: Any, lines: str, values: str) -> None:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY registries_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN") as copy:
                copy.write(lines)
            if values:
                with cursor.copy(f"COPY registries_field_value ({', '.join(VALUE_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(values)


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _copy_text(value: Any) -> str:
    """A value in COPY's text format: backslash escapes, and \\N for null."""
    if value is None:
        return "\\N"
    if isinstance(value, dict):
        text = _JSON.encode(value)
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def import_records(session: Session, actor: Actor, *, name: str, stream: IO[bytes], fmt: ImportFormat,
                   version: str | None = None, skip_invalid: bool = False, reject_path: Path | None = None,
                   reason: str | None = None, progress: Callable[[int], None] | None = None,
                   batch_size: int = 5000) -> ImportReport:
    """Validate every row of a CSV or JSON Lines file against the schema and write the records.

    All or nothing by default: one invalid row raises ``ImportRejected`` (the caller's transaction
    rolls back) with a report naming each bad row and field. With ``skip_invalid`` the valid rows
    are written and the invalid ones go to ``reject_path`` with their errors.
    """
    started = time.perf_counter()
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    validator = _validator(found)
    properties: dict[str, Any] = found.json_schema.get("properties", {})
    report = ImportReport(registry=registry.name, version=found.version)
    searchable = [(f, properties.get(f, {})) for f in found.searchable_fields]
    key = found.key_field
    keys_seen: set[Any] = set()
    now = utcnow()
    written_by = actor.name[:200]
    rejects: IO[str] | None = None
    reject_writer: Any = None
    if skip_invalid and reject_path is not None:
        rejects = reject_path.open("w", encoding="utf-8", newline="")
    pending: list[tuple[int, dict[str, Any], Any]] = []

    def reject(number: int, raw: Any, errors: list[tuple[str, str]]) -> None:
        nonlocal reject_writer
        report.rejected += 1
        for pointer, message in errors:
            if len(report.errors) < MAX_REPORTED:
                report.errors.append(RowError(row=number, pointer=pointer, message=message))
            else:
                report.errors_truncated = True
        if rejects is None:
            return
        text = "; ".join(f"{p}: {m}" for p, m in errors)
        if fmt == "csv":
            header, cells = raw
            if reject_writer is None:
                reject_writer = csv.writer(rejects)
                reject_writer.writerow([*header, "_errors"])
            reject_writer.writerow([*cells, *[""] * (len(header) - len(cells)), text])
        else:
            rejects.write(json.dumps({"row": number, "errors": text, "line": raw.rstrip("\n")},
                                     ensure_ascii=False) + "\n")

    # Keys can collide with records already there only; this file's own keys are checked in memory.
    check_stored_keys = key is not None and repository.has_records(session, registry.id)
    if check_stored_keys:
        repository.refresh_statistics(session)
    session.connection()  # the transaction begins here, not in the COPY thread
    writer = _BulkWriter(session, overlap=not check_stored_keys)

    def taken_keys() -> set[Any]:
        if key is None or not check_stored_keys:
            return set()
        spec = properties.get(key, {})
        found = [schema_rules.index_value(spec, d.get(key))[0] for _n, d, _r in pending]
        texts = [t for t in found if t is not None]
        taken: set[Any] = set()
        for start in range(0, len(texts), 1000):
            taken |= repository.existing_texts(session, registry.id, key, texts[start:start + 1000])
        return taken

    def flush_batch() -> None:
        taken = taken_keys() if pending else set()
        key_spec = properties.get(key, {}) if key else {}
        for number, data, raw in pending:
            if taken and key and schema_rules.index_value(key_spec, data.get(key))[0] in taken:
                reject(number, raw, [(f"/{key}", _("This value is already used by another record."))])
                continue
            if report.rejected and not skip_invalid:
                continue  # keep checking, to report every bad row, but write nothing
            record_id = new_id()
            subject = data.get(found.subject_field) if found.subject_field else None
            writer.add(
                (record_id, registry.id, found.id, 1, data, str(subject)[:128] if subject is not None else None,
                 now, written_by, reason, "import"),
                [(record_id, field, registry.id, *schema_rules.index_value(spec, data[field]))
                 for field, spec in searchable if data.get(field) is not None],
            )
            report.written += 1
        pending.clear()
        writer.flush()

    try:
        counted = _CountingReader(stream, progress)
        for number, data, raw, parse_error in _rows(io.BufferedReader(counted, 1 << 16), fmt, properties):
            report.rows_read += 1
            if parse_error is not None:
                reject(number, raw, [("/", parse_error)])
                continue
            if not isinstance(data, dict):
                reject(number, raw, [("/", _("A record is a JSON object."))])
                continue
            errors = schema_rules.record_errors(validator, data, [])
            if errors:
                reject(number, raw, [(e["pointer"], e["detail"]) for e in errors])
                continue
            if key is not None and data.get(key) is not None:
                marker = schema_rules.index_value(properties.get(key, {}), data[key])
                if marker in keys_seen:
                    reject(number, raw, [(f"/{key}", _("This value appears twice in the file."))])
                    continue
                keys_seen.add(marker)
            pending.append((number, data, raw))
            if len(pending) >= batch_size:
                flush_batch()
        flush_batch()
    finally:
        writer.close()
        if rejects is not None:
            rejects.close()
    if report.rejected and not skip_invalid:
        report.written = 0
        report.seconds = time.perf_counter() - started
        raise ImportRejected(report)
    report.reject_file = str(reject_path) if rejects is not None and report.rejected else None
    report.seconds = time.perf_counter() - started
    audit.record_change(session, actor, action="registry_records.import", subject_type="registry",
                        subject_id=registry.id, reason=reason,
                        after={"version": found.version, "rows_read": report.rows_read, "written": report.written,
                               "rejected": report.rejected})
    session.flush()
    return report


def import_file(session: Session, actor: Actor, *, name: str, path: Path, version: str | None = None,
                skip_invalid: bool = False, reject_path: Path | None = None, reason: str | None = None,
                progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import a ``.csv`` or ``.jsonl`` file (the format is read from its name)."""
    fmt: ImportFormat = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
    if skip_invalid and reject_path is None:
        reject_path = path.with_name(path.stem + ".rejected" + path.suffix)
    with path.open("rb") as stream:
        return import_records(session, actor, name=name, stream=stream, fmt=fmt, version=version,
                              skip_invalid=skip_invalid, reject_path=reject_path, reason=reason, progress=progress)


# --- export -------------------------------------------------------------------------------------------


class _Sink:
    """A write-only file for pyarrow that hands over what was written, chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def drain(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def export_records(session: Session, actor: Actor, *, name: str, fmt: ExportFormat, purpose: str | None = None,
                   batch_size: int = 5000) -> Iterator[bytes]:
    """The registry's live records as CSV, JSON Lines or Parquet, produced batch by batch.

    Permission is checked, and an export with personal data logged, before the first byte; without
    a purpose the personal-data fields are left out.
    """
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_READ)
    found = _version(session, registry, None)
    properties: dict[str, Any] = found.json_schema.get("properties", {})
    personal = _personal_fields(session, registry)
    if personal and purpose and purpose.strip():
        audit.record_access(session, actor, subject_type="registry", subject_id=registry.id, purpose=purpose,
                            fields=sorted(personal))
        hidden: set[str] = set()
    else:
        hidden = personal
    columns = [c for c in properties if c not in hidden]
    audit.record_change(session, actor, action="registry_records.export", subject_type="registry",
                        subject_id=registry.id, after={"format": fmt, "columns": columns})
    session.flush()
    registry_id = registry.id

    def batches() -> Iterator[list[dict[str, Any]]]:
        after: uuid.UUID | None = None
        while True:
            rows = repository.export_batch(session, registry_id, after, batch_size)
            if not rows:
                return
            after = rows[-1][0]
            yield [{k: v for k, v in row[1].items() if k not in hidden} for row in rows]

    if fmt == "jsonl":
        return (("\n".join(json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in batch) + "\n").encode()
                for batch in batches())
    if fmt == "csv":
        return _csv_chunks(columns, batches())
    return _parquet_chunks(columns, properties, batches())


def _csv_chunks(columns: list[str], batches: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for batch in batches:
        for data in batch:
            writer.writerow([schema_rules.cell_of(data.get(c)) for c in columns])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _parquet_chunks(columns: list[str], properties: dict[str, Any],
                    batches: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
    types = {c: kinds.get(schema_rules.property_type(properties.get(c, {})), pa.string()) for c in columns}
    arrow_schema = pa.schema([(c, types[c]) for c in columns])
    sink = _Sink()
    writer = pq.ParquetWriter(sink, arrow_schema, compression="zstd")
    for batch in batches:
        arrays = []
        for column in columns:
            values = [data.get(column) for data in batch]
            if types[column] == pa.string():
                values = [v if v is None or isinstance(v, str) else schema_rules.cell_of(v) for v in values]
            elif types[column] == pa.float64():
                values = [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
                          for v in values]
            arrays.append(pa.array(values, type=types[column]))
        writer.write_table(pa.Table.from_arrays(arrays, schema=arrow_schema))
        chunk = sink.drain()
        if chunk:
            yield chunk
    writer.close()
    yield sink.drain()
