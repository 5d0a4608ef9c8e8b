"""Import and export of whole registries: CSV and JSON Lines in, CSV, JSON Lines and Parquet out.

An import validates every row against the schema and writes in batches inside the caller's
transaction (COPY on PostgreSQL, executemany elsewhere): by default all rows or none; with
``skip_invalid`` the good rows, with the bad ones written to a reject file. An export streams the
registry in key order, one batch at a time, so memory does not grow with the registry.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal, cast

import jsonschema_rs
import orjson
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from nokor import audit
from nokor.db import new_id
from nokor.kit.actor import Actor
from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import current_locale, locale_var, translations_for
from nokor.kit.i18n import gettext as _
from nokor.kit.time import utcnow
from nokor.registries import repository, schema_rules
from nokor.registries.models import Record, SchemaVersion
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
# What a COPY sends when the columns that are the same on every row of the import are the tables'
# defaults for its transaction (see ``repository.preset_columns``).
PRESET_RECORD_COLUMNS = ("id", "data", "subject_id")
PRESET_VALUE_COLUMNS = ("record_id", "field", "value_text", "value_num")
NULL = "\\N"
INSERT_RECORDS = ("INSERT INTO registries_record (id, registry_id, schema_version_id, revision, data, subject_id, "
                  "written_at, written_by, reason, operation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_VALUES = ("INSERT INTO registries_field_value (record_id, field, registry_id, value_text, value_num) "
                 "VALUES (?, ?, ?, ?, ?)")


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
        # The dict is built in C and only the typed columns are visited in Python; an empty cell is
        # a missing value.
        conversions = [(name, convert) for name, convert in ((n, _converter(properties.get(n))) for n in header)
                       if convert is not None]
        for number, cells in enumerate(reader, start=1):
            data: dict[str, Any] = dict(zip(header, cells, strict=False))
            if "" in data.values():
                data = {c: v for c, v in data.items() if v != ""}
            for column, convert in conversions:
                cell = data.get(column)
                if cell is not None:
                    data[column] = convert(cell)
            yield number, data, (header, cells), None
        return
    loads = orjson.loads
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            yield number, loads(line), line, None
        except ValueError:
            yield number, None, line, _("This line is not valid JSON.")


def _converter(spec: Any) -> Callable[[str], Any] | None:
    """How the cells of one CSV column become JSON values (None: they stay text)."""
    if not isinstance(spec, dict):
        return None
    kind = schema_rules.property_type(spec)
    if kind in ("string", "any"):
        return None
    if kind == "integer":
        def integer(cell: str) -> Any:
            try:
                return int(cell)
            except ValueError:
                return cell  # the validator names it
        return integer
    if kind == "boolean":
        return _BOOLEANS_OR_TEXT
    if kind == "number":
        def number(cell: str) -> Any:
            try:
                value = float(cell)
            except ValueError:
                return cell
            return int(value) if value.is_integer() and "." not in cell and "e" not in cell.lower() else value
        return number
    return lambda cell: schema_rules.coerce_cell(spec, cell)


class _BooleanCell:
    """A CSV cell read as a yes/no value; anything else stays text for the validator to name."""

    values = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def __call__(self, cell: str) -> Any:
        return self.values.get(cell.strip().lower(), cell)


_BOOLEANS_OR_TEXT = _BooleanCell()
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_escape(text: str) -> str:
    if _COPY_SPECIAL.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _dumps(data: dict[str, Any]) -> str:
    try:
        return orjson.dumps(data).decode()
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _id_block(count: int) -> list[str]:
    """``count`` new UUIDv7 ids in increasing order, as 32 hex digits (both databases read that form).

    One clock reading per block: the low 40 random bits of one fresh id are replaced by a counter.
    """
    base = new_id().int & ~((1 << 40) - 1)
    return [f"{base + n:032x}" for n in range(count)]


@dataclass(frozen=True)
class _Plan:
    """Everything needed to turn rows into loadable batches, so that another process can do it."""

    fmt: ImportFormat
    json_schema: dict[str, Any]
    searchable: tuple[str, ...]
    key: str | None
    subject: str | None
    postgres: bool
    registry_id: Any
    version_id: Any
    written_at: Any
    written_by: str
    reason: str | None
    skip_invalid: bool
    reject_path: str | None
    batch_size: int
    locale: str
    preset: bool = False
    """PostgreSQL: the columns that are the same on every row are the tables' defaults, and left out."""


@dataclass
class _Outcome:
    """What the rows gave so far: counts and the errors to report."""

    rows_read: int = 0
    written: int = 0
    rejected: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    truncated: bool = False
    bytes_read: int = 0


Batch = tuple[Any, Any]


class _Encoder:
    """Reads, validates and encodes rows: COPY text on PostgreSQL, parameter rows elsewhere.

    Runs in the importing process or, for big files, in a worker process while the database loads
    the previous batch.
    """

    def __init__(self, plan: _Plan, validator: jsonschema_rs.Draft202012Validator | None = None) -> None:
        self.plan = plan
        self.validator = validator or schema_rules.compile_validator(plan.json_schema)
        self.properties: dict[str, Any] = plan.json_schema.get("properties", {})
        self.outcome = _Outcome()
        self.keys_seen: set[Any] = set()
        self.rejects: IO[str] | None = None
        self.reject_writer: Any = None
        registry, version = plan.registry_id, plan.version_id
        if plan.postgres and plan.preset:
            self.head, self.tail, self.between = "\t", "\n", "\t"
        elif plan.postgres:
            self.head = f"\t{registry}\t{version}\t1\t"
            self.tail = (f"\t{plan.written_at.isoformat()}\t{_copy_escape(plan.written_by)}\t"
                         f"{NULL if plan.reason is None else _copy_escape(plan.reason)}\timport\n")
            self.between = f"\t{registry}\t"

    def reject(self, number: int, raw: Any, errors: list[tuple[str, str]]) -> None:
        outcome = self.outcome
        outcome.rejected += 1
        for pointer, message in errors:
            if len(outcome.errors) < MAX_REPORTED:
                outcome.errors.append((number, pointer, message))
            else:
                outcome.truncated = True
        if not self.plan.skip_invalid or self.plan.reject_path is None:
            return
        if self.rejects is None:
            self.rejects = open(self.plan.reject_path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        text = "; ".join(f"{p}: {m}" for p, m in errors)
        if self.plan.fmt == "csv":
            header, cells = raw
            if self.reject_writer is None:
                self.reject_writer = csv.writer(self.rejects)
                self.reject_writer.writerow([*header, "_errors"])
            self.reject_writer.writerow([*cells, *[""] * (len(header) - len(cells)), text])
        else:
            self.rejects.write(json.dumps({"row": number, "errors": text, "line": raw.rstrip("\n")},
                                          ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self.rejects is not None:
            self.rejects.close()

    def batches(self, stream: IO[bytes], taken: Callable[[list[str]], set[str]] | None = None
                ) -> Iterator[Batch]:
        """The rows of ``stream`` in loadable batches; ``taken`` tells which keys stored records already hold."""
        plan, outcome = self.plan, self.outcome
        is_valid = self.validator.is_valid
        key = plan.key
        key_spec = self.properties.get(key, {}) if key else {}
        pending: list[tuple[int, dict[str, Any], Any]] = []
        parts: list[Batch] = []
        rows, part = 0, min(ENCODE_ROWS, plan.batch_size)
        counted = _CountingReader(stream, None)
        for number, data, raw, parse_error in _rows(io.BufferedReader(counted, 1 << 16), plan.fmt,
                                                    self.properties):
            outcome.rows_read += 1
            if parse_error is not None:
                self.reject(number, raw, [("/", parse_error)])
                continue
            if not isinstance(data, dict):
                self.reject(number, raw, [("/", _("A record is a JSON object."))])
                continue
            if not is_valid(data):
                self.reject(number, raw, [(e["pointer"], e["detail"])
                                          for e in schema_rules.record_errors(self.validator, data, [])])
                continue
            if key is not None and (found := data.get(key)) is not None:
                # Lower-cased text as the index keeps it; other values by their index form (a tuple,
                # so never equal to a text).
                marker = found.lower()[:200] if found.__class__ is str else schema_rules.index_value(key_spec, found)
                if marker in self.keys_seen:
                    self.reject(number, raw, [(f"/{key}", _("This value appears twice in the file."))])
                    continue
                self.keys_seen.add(marker)
            pending.append((number, data, raw))
            if len(pending) >= part:
                # Encoded a few hundred rows at a time, while their objects are still in the processor's
                # cache (a whole batch of them is not: a third more time); sent a batch at a time.
                written = outcome.written
                encoded = self._encode(pending, taken)
                pending = []
                if encoded is not None:
                    parts.append(encoded)
                    rows += outcome.written - written
                if rows >= plan.batch_size:
                    outcome.bytes_read = counted.done
                    yield self._joined(parts)
                    parts, rows = [], 0
        outcome.bytes_read = counted.done
        encoded = self._encode(pending, taken)
        if encoded is not None:
            parts.append(encoded)
        if parts:
            yield self._joined(parts)

    def _joined(self, parts: list[Batch]) -> Batch:
        """Encoded parts as one batch."""
        if len(parts) == 1:
            return parts[0]
        if self.plan.postgres:
            return b"".join(p[0] for p in parts), b"".join(p[1] for p in parts)
        return [r for p in parts for r in p[0]], [r for p in parts for r in p[1]]

    def _encode(self, pending: list[tuple[int, dict[str, Any], Any]],
                taken: Callable[[list[str]], set[str]] | None) -> Batch | None:
        plan, outcome = self.plan, self.outcome
        key = plan.key
        if taken is not None and key is not None and pending:
            key_spec = self.properties.get(key, {})
            texts = [t for t in (schema_rules.index_value(key_spec, d.get(key))[0] for _n, d, _r in pending)
                     if t is not None]
            used = taken(texts)
            if used:
                kept = []
                for number, data, raw in pending:
                    if schema_rules.index_value(key_spec, data.get(key))[0] in used:
                        self.reject(number, raw, [(f"/{key}", _("This value is already used by another record."))])
                    else:
                        kept.append((number, data, raw))
                pending = kept
        if outcome.rejected and not plan.skip_invalid:
            return None  # keep checking, to report every bad row, but write nothing
        if not pending:
            return None
        outcome.written += len(pending)
        ids = _id_block(len(pending))
        searchable, subject, registry = plan.searchable, plan.subject, plan.registry_id
        if plan.postgres:
            head, tail = self.head, self.tail
            lines: list[str] = []
            values: list[str] = []
            add_line, add_value = lines.append, values.append
            between = self.between
            prefixes = [(name, f"\t{name}{between}") for name in searchable]
            for (_n, data, _r), record_id in zip(pending, ids, strict=True):
                text = _dumps(data)
                # JSON writes a backslash, tab, newline or carriage return inside any string as an escape
                # beginning with a backslash: without one in the row's JSON, none of its texts needs escaping.
                clean = "\\" not in text
                if not clean:
                    text = text.replace("\\", "\\\\")
                who = data.get(subject) if subject else None
                add_line(f"{record_id}{head}{text}\t"
                         f"{NULL if who is None else str(who)[:128] if clean else _copy_escape(str(who)[:128])}{tail}")
                for name, prefix in prefixes:
                    value = data.get(name)
                    if value is None:
                        continue
                    if value.__class__ is str:
                        low = value.lower()[:200]
                        add_value(f"{record_id}{prefix}{low if clean else _copy_escape(low)}\t\\N\n")
                    else:
                        found, amount = schema_rules.index_value({}, value)
                        values.append(f"{record_id}\t{name}{between}"
                                      f"{NULL if found is None else _copy_escape(found)}\t"
                                      f"{NULL if amount is None else repr(amount)}\n")
            return "".join(lines).encode(), "".join(values).encode()
        rows: list[tuple[Any, ...]] = []
        value_rows: list[tuple[Any, ...]] = []
        version, at, by, reason = plan.version_id, plan.written_at, plan.written_by, plan.reason
        for (_n, data, _r), record_id in zip(pending, ids, strict=True):
            who = data.get(subject) if subject else None
            rows.append((record_id, registry, version, 1, _dumps(data), None if who is None else str(who)[:128],
                         at, by, reason, "import"))
            for name in searchable:
                value = data.get(name)
                if value is not None:
                    value_rows.append((record_id, name, registry, *schema_rules.index_value({}, value)))
        return rows, value_rows


class _BulkWriter:
    """Loads encoded batches: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, session: Session, *, overlap: bool = False, preset: bool = False) -> None:
        self.session = session
        records, values = (PRESET_RECORD_COLUMNS, PRESET_VALUE_COLUMNS) if preset else (RECORD_COLUMNS, VALUE_COLUMNS)
        self.copy_records = f"COPY registries_record ({', '.join(records)}) FROM STDIN"
        self.copy_values = f"COPY registries_field_value ({', '.join(values)}) FROM STDIN"
        self.postgres = session.get_bind().dialect.name == "postgresql"
        # On PostgreSQL the COPY of one batch can run in a thread while the next batch is parsed:
        # psycopg waits for the server without the GIL. Only when nothing else uses the connection.
        self.pool = ThreadPoolExecutor(max_workers=1) if overlap and self.postgres else None
        self.pending: Future[None] | None = None

    def write(self, batch: Batch) -> None:
        records, values = batch
        if self.postgres:
            self.wait()
            connection = self.session.connection().connection.driver_connection
            if self.pool is not None:
                self.pending = self.pool.submit(self._copy, connection, records, values)
            else:
                self._copy(connection, records, values)
            return
        connection = self.session.connection()
        connection.exec_driver_sql(INSERT_RECORDS, records)
        if values:
            connection.exec_driver_sql(INSERT_VALUES, values)

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

    def _copy(self, connection: Any, records: bytes, values: bytes) -> None:
        with connection.cursor() as cursor:
            with cursor.copy(self.copy_records) as copy:
                copy.write(records)
            if values:
                with cursor.copy(self.copy_values) as copy:
                    copy.write(values)


def _bound(session: Session, column: str, value: Any) -> Any:
    """``value`` as the driver gets it for a column of the records table (SQLite keeps ids as hex text)."""
    process = cast(Table, Record.__table__).c[column].type.bind_processor(session.get_bind().dialect)
    return process(value) if process is not None else value


def _encode_in_worker() -> None:
    """A spawned worker process's part of an import: read, validate and encode a file, batch by batch.

    The plan and the file name come pickled on stdin; batches go back pickled on the descriptor
    named by the first argument (stdout stays free for anything that prints).
    """
    plan, path = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by the importing process itself
    with os.fdopen(int(sys.argv[1]), "wb") as out:
        _encode_to(out, plan, path)


def _encode_to(out: IO[bytes], plan: _Plan, path: str) -> None:
    """Read, validate and encode the file at ``path``, sending each batch, then the outcome, to ``out``."""
    locale_var.set(plan.locale)
    encoder = _Encoder(plan)
    # Rows make no reference cycles, yet every few hundred of them would start a collection that walks
    # the whole pending batch (a quarter of the time): collect once per batch instead, and never walk
    # what was loaded before the rows (modules, the compiled schema).
    gc.freeze()
    gc.disable()
    try:
        with open(path, "rb") as stream:
            for batch in encoder.batches(stream):
                pickle.dump(("batch", batch, encoder.outcome.bytes_read), out, pickle.HIGHEST_PROTOCOL)
                out.flush()
                del batch
                gc.collect()
        pickle.dump(("done", encoder.outcome, None), out, pickle.HIGHEST_PROTOCOL)
    except Exception:
        pickle.dump(("failed", traceback.format_exc(), None), out, pickle.HIGHEST_PROTOCOL)
    finally:
        encoder.close()
        out.flush()


def _can_fork() -> bool:
    """Whether the worker may be a fork of this process without being asked: when no other thread
    runs (a benchmark, a script), since a fork copies the locks other threads hold at that moment."""
    return hasattr(os, "fork") and threading.active_count() == 1


class _Worker:
    """The worker process of an import: a fork of this one when that is safe (it starts at once, with
    the modules and the compiled schema it needs already loaded), otherwise a new interpreter (which
    first spends a second or more importing Nokor)."""

    def __init__(self, plan: _Plan, path: Path, fork: bool) -> None:
        if fork:
            # What the worker takes from this process must not need a lock another thread could hold
            # at the fork: the translations are loaded here first, and the worker compiles the schema
            # anew (a compiled validator keeps caches behind locks of its own).
            translations_for(plan.locale)
        read_end, write_end = os.pipe()
        self.pid: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        if fork:
            pid = os.fork()
            if pid == 0:  # the worker: encode, then leave without running anything of the parent's
                code = 0
                try:
                    os.close(read_end)
                    with os.fdopen(write_end, "wb") as out:
                        _encode_to(out, plan, str(path))
                except BaseException:  # nothing may escape into the parent's code
                    code = 1
                finally:
                    os._exit(code)
            self.pid = pid
        else:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-c", "from nokor.registries.bulk import _encode_in_worker; _encode_in_worker()",
                 str(write_end)], stdin=subprocess.PIPE, pass_fds=(write_end,))
            assert self.process.stdin is not None
            os.close(write_end)
            pickle.dump((plan, str(path)), self.process.stdin, pickle.HIGHEST_PROTOCOL)
            self.process.stdin.close()
        if fork:
            os.close(write_end)
        self.incoming = os.fdopen(read_end, "rb")

    def exit_code(self) -> int:
        if self.process is not None:
            return self.process.wait()
        assert self.pid is not None
        _pid, status = os.waitpid(self.pid, 0)
        self.pid = None
        return os.waitstatus_to_exitcode(status)

    def stop(self) -> None:
        self.incoming.close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            self.process.wait()
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
            self.pid = None


def _batches_from_worker(plan: _Plan, path: Path, progress: Callable[[int], None] | None, *, fork: bool | None
                         ) -> Iterator[tuple[Batch | None, _Outcome | None]]:
    """Run the encoder in a worker process and hand over its batches; the last item carries the outcome."""
    worker = _Worker(plan, path, _can_fork() if fork is None else fork)
    try:
        while True:
            try:
                kind, body, done = pickle.load(worker.incoming)  # noqa: S301 - from our own worker
            except EOFError as exc:
                raise RuntimeError(f"the import worker stopped (exit code {worker.exit_code()})") from exc
            if kind == "batch":
                if progress is not None:
                    progress(done)
                yield body, None
            elif kind == "done":
                yield None, body
                return
            else:
                raise RuntimeError(f"the import worker failed:\n{body}")
    finally:
        worker.stop()


ENCODE_ROWS = 500
"""Rows validated and then encoded together (a batch written to the database holds several such parts)."""

WORKER_MIN_BYTES = 8 << 20
"""Files at least this big are read and validated in a worker process while the database loads."""


def import_records(session: Session, actor: Actor, *, name: str, stream: IO[bytes] | None = None,
                   fmt: ImportFormat, path: Path | None = None, version: str | None = None,
                   skip_invalid: bool = False, reject_path: Path | None = None, reason: str | None = None,
                   progress: Callable[[int], None] | None = None, batch_size: int = 5000,
                   worker: bool | None = None, defer_indexes: bool | None = None,
                   fork: bool | None = None) -> ImportReport:
    """Validate every row of a CSV or JSON Lines file against the schema and write the records.

    All or nothing by default: one invalid row raises ``ImportRejected`` (the caller's transaction
    rolls back) with a report naming each bad row and field. With ``skip_invalid`` the valid rows
    are written and the invalid ones go to ``reject_path`` with their errors. A file given by
    ``path`` into an empty registry is read in a worker process (``worker``: None decides by size),
    a fork of this one when no other thread runs or ``fork`` says so (see ``_Worker``).
    On PostgreSQL, a big import into an installation without any record yet builds the indexes of
    the records and of their values once at the end instead of row by row (``defer_indexes``: None
    decides by size; see ``repository.suspend_indexes``).
    """
    started = time.perf_counter()
    registry = _registry(session, name)
    _require(session, actor, registry, REGISTRIES_WRITE)
    found = _version(session, registry, version, write=True)
    validator = _validator(found)  # compiled once per version; a schema that does not compile fails here
    postgres = session.get_bind().dialect.name == "postgresql"
    now = utcnow()
    plan = _Plan(
        fmt=fmt, json_schema=found.json_schema, searchable=tuple(found.searchable_fields), key=found.key_field,
        subject=found.subject_field, postgres=postgres,
        registry_id=registry.id.hex if postgres else _bound(session, "registry_id", registry.id),
        version_id=found.id.hex if postgres else _bound(session, "schema_version_id", found.id),
        written_at=now if postgres else _bound(session, "written_at", now),
        written_by=actor.name[:200], reason=reason, skip_invalid=skip_invalid,
        reject_path=str(reject_path) if skip_invalid and reject_path is not None else None,
        batch_size=batch_size, locale=current_locale())
    # Keys can collide with records already there only; this file's own keys are checked in memory.
    check_stored_keys = found.key_field is not None and repository.has_records(session, registry.id)
    if check_stored_keys:
        repository.refresh_statistics(session)
    big = path is not None and path.stat().st_size >= WORKER_MIN_BYTES
    if worker is None:
        worker = big
    worker = worker and path is not None and not check_stored_keys
    session.connection()  # the transaction begins here, not in the COPY thread
    suspended: list[str] = []
    if (big if defer_indexes is None else defer_indexes) and postgres and not check_stored_keys:
        suspended = repository.suspend_indexes(session)
    presets: list[str] = []
    if suspended:
        # The tables are this transaction's alone until it ends: what is the same on every row becomes
        # the column's default, and the COPY leaves it out.
        presets = _preset_columns(session, plan)
        plan = replace(plan, preset=True)
    try:
        outcome = _load(session, plan, found, registry.id, writer=_BulkWriter(
            session, overlap=not check_stored_keys and not worker, preset=plan.preset), validator=validator,
            stream=stream, path=path, worker=worker, fork=fork, check_stored_keys=check_stored_keys,
            progress=progress)
    except Exception:
        if suspended:  # the caller rolls back, which restores them too; this is for one that does not
            with contextlib.suppress(DBAPIError):
                repository.restore_columns(session, presets)
                repository.rebuild_indexes(session, suspended)
        raise
    repository.restore_columns(session, presets)
    repository.rebuild_indexes(session, suspended)
    report = ImportReport(registry=registry.name, version=found.version, rows_read=outcome.rows_read,
                          written=outcome.written, rejected=outcome.rejected, errors_truncated=outcome.truncated,
                          errors=[RowError(row=n, pointer=p, message=m) for n, p, m in outcome.errors])
    if worker and progress is not None:
        progress(outcome.bytes_read)
    if report.rejected and not skip_invalid:
        report.written = 0
        report.seconds = time.perf_counter() - started
        raise ImportRejected(report)
    report.reject_file = plan.reject_path if report.rejected else None
    report.seconds = time.perf_counter() - started
    audit.record_change(session, actor, action="registry_records.import", subject_type="registry",
                        subject_id=registry.id, reason=reason,
                        after={"version": found.version, "rows_read": report.rows_read, "written": report.written,
                               "rejected": report.rejected})
    session.flush()
    return report


def _preset_columns(session: Session, plan: _Plan) -> list[str]:
    """Make the values every imported row shares the defaults of their columns; the statements that
    put the defaults back."""
    return [
        repository.preset_columns(session, Record.__tablename__, {
            "registry_id": plan.registry_id, "schema_version_id": plan.version_id, "revision": "1",
            "written_at": plan.written_at.isoformat(), "written_by": plan.written_by, "reason": plan.reason,
            "operation": "import"}),
        repository.preset_columns(session, repository.VALUE_TABLE, {"registry_id": plan.registry_id}),
    ]


def _load(session: Session, plan: _Plan, found: SchemaVersion, registry_id: uuid.UUID, *, writer: _BulkWriter,
          validator: jsonschema_rs.Draft202012Validator, stream: IO[bytes] | None, path: Path | None, worker: bool,
          fork: bool | None, check_stored_keys: bool, progress: Callable[[int], None] | None) -> _Outcome:
    """Read, validate and write every row (in a worker process or here); what the rows gave."""
    outcome: _Outcome | None = None
    encoder: _Encoder | None = None
    try:
        if worker and path is not None:
            for batch, last in _batches_from_worker(plan, path, progress, fork=fork):
                if batch is not None:
                    writer.write(batch)
                outcome = last or outcome
        else:
            encoder = _Encoder(plan, validator)
            key = found.key_field

            def taken(texts: list[str]) -> set[str]:
                used: set[str] = set()
                for start in range(0, len(texts), 1000):
                    used |= repository.existing_texts(session, registry_id, key or "", texts[start:start + 1000])
                return used

            source = stream if stream is not None else (path.open("rb") if path is not None else None)
            if source is None:
                raise ValueError("import_records needs a stream or a path")
            try:
                counted = _CountingReader(source, progress)
                for batch in encoder.batches(cast(IO[bytes], counted), taken if check_stored_keys else None):
                    writer.write(batch)
            finally:
                if stream is None:
                    source.close()
            outcome = encoder.outcome
    finally:
        writer.close()
        if encoder is not None:
            encoder.close()
    if outcome is None:
        raise RuntimeError("the import ended without an outcome")
    return outcome


def import_file(session: Session, actor: Actor, *, name: str, path: Path, version: str | None = None,
                skip_invalid: bool = False, reject_path: Path | None = None, reason: str | None = None,
                progress: Callable[[int], None] | None = None, worker: bool | None = None,
                fork: bool | None = None) -> ImportReport:
    """Import a ``.csv`` or ``.jsonl`` file (the format is read from its name); a big file into an empty
    registry is read and validated in a worker process while the database loads."""
    fmt: ImportFormat = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
    if skip_invalid and reject_path is None:
        reject_path = path.with_name(path.stem + ".rejected" + path.suffix)
    return import_records(session, actor, name=name, path=path, fmt=fmt, version=version,
                          skip_invalid=skip_invalid, reject_path=reject_path, reason=reason, progress=progress,
                          worker=worker, fork=fork)


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
