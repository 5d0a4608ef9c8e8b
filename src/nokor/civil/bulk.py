"""Writing many residents at once: the CSV format of ``nokor civil import`` and the bulk writer.

The writer gives every resident a national ID number (checked against the number registry, so
none is given twice), a first version in the history and, on PostgreSQL, sends whole batches with
COPY; on SQLite it uses executemany. One audit entry records the whole import.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any, cast

from psycopg.types.json import Json
from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from nokor.civil import matching
from nokor.civil import nin as nin_rules
from nokor.civil.models import Household, IssuedNumber, LifeEvent, Resident, ResidentVersion
from nokor.db import new_id
from nokor.kit.actor import Actor
from nokor.kit.i18n import gettext as _
from nokor.kit.time import utcnow

# The columns of the import CSV, in order; the first five are required in every row.
CSV_COLUMNS = ("given_name", "family_name", "given_name_latin", "family_name_latin", "sex", "birth_date",
               "village_code", "mother_name", "father_name")
REQUIRED = ("given_name", "family_name", "sex", "birth_date")
SEXES = ("F", "M", "X")
RESIDENT_COLUMNS = ("id", "nin", "given_name", "family_name", "given_name_latin", "family_name_latin", "sex",
                    "birth_date", "birth_date_precision", "birth_place_code", "nationality", "address_code",
                    "address_text", "mother_id", "father_id", "spouse_id", "household_id", "status", "death_date",
                    "mother_name", "father_name", "name_key", "search_name", "version", "created_at", "updated_at")
VERSION_COLUMNS = ("id", "resident_id", "version", "action", "actor_id", "actor_name", "reason", "event_id",
                   "before", "after", "at")
NUMBER_COLUMNS = ("number", "resident_id", "issued_at")
HOUSEHOLD_COLUMNS = ("id", "address_code", "head_id", "created_at")
EVENT_COLUMNS = ("id", "kind", "state", "subject_id", "partner_id", "occurred_on", "place_code", "details",
                 "is_late", "late_approved_by", "note", "created_by", "declared_at", "registered_at", "created_at",
                 "updated_at")
HISTORY_FIELDS = ("nin", "given_name", "family_name", "given_name_latin", "family_name_latin", "sex", "birth_date",
                  "birth_date_precision", "birth_place_code", "nationality", "address_code", "address_text",
                  "mother_id", "father_id", "spouse_id", "household_id", "status", "death_date")


@dataclass
class NewResident:
    """One resident to write: the person, and the links the generator knows (ids made here)."""

    given_name: str
    family_name: str
    given_name_latin: str
    family_name_latin: str
    sex: str
    birth_date: date
    birth_date_precision: str = "day"
    birth_place_code: str | None = None
    address_code: str | None = None
    mother_name: str | None = None
    father_name: str | None = None
    nationality: str = "KHM"
    id: uuid.UUID = field(default_factory=new_id)
    mother_id: uuid.UUID | None = None
    father_id: uuid.UUID | None = None
    spouse_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    status: str = "alive"
    death_date: date | None = None

    def person(self) -> matching.Person:
        """The resident as the matcher sees it."""
        return matching.Person(
            given_name=self.given_name, family_name=self.family_name, given_name_latin=self.given_name_latin,
            family_name_latin=self.family_name_latin, sex=self.sex, birth_date=self.birth_date,
            birth_date_precision=self.birth_date_precision, place_code=self.birth_place_code,
            mother_name=self.mother_name, father_name=self.father_name)


@dataclass
class RowError:
    """One bad field of one row of a CSV file, in the reader's language."""

    row: int
    column: str
    message: str


def parse_birth_date(text: str) -> tuple[date, str] | None:
    """``1990-05-17`` (day), ``1990-05`` (month) or ``1990`` (year known) → the date and its precision."""
    parts = text.strip().split("-")
    try:
        if len(parts) == 3:
            return date(int(parts[0]), int(parts[1]), int(parts[2])), "day"
        if len(parts) == 2:
            return date(int(parts[0]), int(parts[1]), 1), "month"
        if len(parts) == 1 and len(parts[0]) == 4:
            return date(int(parts[0]), 1, 1), "year"
    except ValueError:
        return None
    return None


def format_birth_date(day: date, precision: str) -> str:
    """The inverse of ``parse_birth_date``."""
    if precision == "year":
        return f"{day.year:04d}"
    if precision == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return day.isoformat()


def read_csv(stream: IO[str], *, villages: set[str] | None, today: date) -> Iterator[tuple[int, NewResident | None,
                                                                                   list[RowError], dict[str, str]]]:
    """Each data row of an import CSV as (row number, resident or None, errors, raw row).

    Row numbers count the header as row 1, as a spreadsheet shows them. A missing ``*_latin`` is
    proposed from the name as written; an empty village code or parent's name is allowed. With
    ``villages`` None, village codes are not checked (matching a file needs no known village).
    """
    reader = csv.DictReader(stream)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        yield 1, None, [RowError(1, c, _("The header has no column “%(column)s”.", column=c)) for c in missing], {}
        return
    for number, raw in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        errors: list[RowError] = []
        for column in REQUIRED:
            if not row.get(column):
                errors.append(RowError(number, column, _("This field is required.")))
        for column in ("given_name", "family_name", "given_name_latin", "family_name_latin"):
            if len(row.get(column, "")) > 200:
                errors.append(RowError(number, column, _("At most %(count)d characters.", count=200)))
        for column in ("mother_name", "father_name"):
            if len(row.get(column, "")) > 400:
                errors.append(RowError(number, column, _("At most %(count)d characters.", count=400)))
        sex = row.get("sex", "").upper()
        if sex and sex not in SEXES:
            errors.append(RowError(number, "sex", _("Sex is F, M or X.")))
        born = parse_birth_date(row["birth_date"]) if row.get("birth_date") else None
        if row.get("birth_date") and born is None:
            errors.append(RowError(number, "birth_date", _("A date of birth is YYYY-MM-DD, YYYY-MM or YYYY.")))
        elif born is not None and born[0] > today:
            errors.append(RowError(number, "birth_date", _("The date cannot be in the future.")))
        village = row.get("village_code") or None
        if village is not None and villages is not None and village not in villages:
            errors.append(RowError(number, "village_code",
                                   _("There is no village with the code %(code)s.", code=village)))
        if errors or born is None:
            yield number, None, errors, row
            continue
        given, family = row["given_name"], row["family_name"]
        yield number, NewResident(
            given_name=given, family_name=family,
            given_name_latin=row.get("given_name_latin") or matching.latin_form(given),
            family_name_latin=row.get("family_name_latin") or matching.latin_form(family),
            sex=sex, birth_date=born[0], birth_date_precision=born[1], birth_place_code=village,
            address_code=village, mother_name=row.get("mother_name") or None,
            father_name=row.get("father_name") or None), [], row


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class ResidentWriter:
    """Collects residents (and households and events) and writes them in batches, the fastest way
    the database allows. Call ``flush()`` at the end; the caller commits."""

    def __init__(self, session: Session, actor: Actor, *, reason: str, nin_length: int = nin_rules.DEFAULT_LENGTH,
                 batch_size: int = 5000) -> None:
        self.session = session
        self.actor = actor
        self.reason = reason
        self.nin_length = nin_length
        self.batch_size = batch_size
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.residents: list[NewResident] = []
        self.held: set[uuid.UUID] = set()
        self.households: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.written = 0
        self.numbers_seen: set[str] = set()

    def add(self, resident: NewResident, *, held: bool = False) -> None:
        """Queue a resident; a ``held`` one (a possible duplicate) gets no number until an officer decides."""
        self.residents.append(resident)
        if held:
            self.held.add(resident.id)

    def maybe_flush(self) -> None:
        """Write the queue once a batch is full (call between families, so spouses land together)."""
        if len(self.residents) >= self.batch_size:
            self.flush()

    def add_household(self, household_id: uuid.UUID, *, address_code: str | None, head_id: uuid.UUID | None) -> None:
        self.households.append((household_id, address_code, head_id, utcnow()))

    def add_event(self, *, kind: str, subject_id: uuid.UUID, occurred_on: date, place_code: str | None,
                  partner_id: uuid.UUID | None = None) -> None:
        """A registered life event that already had effect (a generated history)."""
        now = utcnow()
        self.events.append((new_id(), kind, "registered", subject_id, partner_id, occurred_on, place_code, {},
                            False, None, None, self.actor.id, now, now, now, now))

    def _numbers(self, count: int) -> list[str]:
        """``count`` new national ID numbers, none in the registry or already used in this import."""
        numbers: list[str] = []
        while len(numbers) < count:
            fresh = {nin_rules.generate_nin(self.nin_length) for _ in range(count - len(numbers))}
            fresh -= self.numbers_seen
            fresh -= self._taken(sorted(fresh))
            numbers.extend(fresh)
            self.numbers_seen |= fresh
        return numbers

    def _taken(self, numbers: list[str]) -> set[str]:
        """Which of ``numbers`` the number registry already holds (one array query on PostgreSQL)."""
        if not numbers:
            return set()
        if self.postgres:
            return set(self.session.scalars(text("SELECT number FROM civil_issued_number WHERE number = ANY(:numbers)"),
                                            {"numbers": numbers}))
        taken: set[str] = set()
        for start in range(0, len(numbers), 500):
            taken |= set(self.session.scalars(select(IssuedNumber.number).where(
                IssuedNumber.number.in_(numbers[start:start + 500]))))
        return taken

    def flush(self) -> None:
        """Write what is queued."""
        if not (self.residents or self.households or self.events):
            return
        now = utcnow()
        actor_name = self.actor.name[:200]
        to_number = [r for r in self.residents if r.id not in self.held and r.status != "duplicate"]
        numbers = dict(zip((r.id for r in to_number), self._numbers(len(to_number)), strict=True))
        resident_rows: list[tuple[Any, ...]] = []
        version_rows: list[tuple[Any, ...]] = []
        number_rows: list[tuple[Any, ...]] = []
        for r in self.residents:
            number = numbers.get(r.id)
            status = "held" if r.id in self.held else r.status
            key = matching.block_key(r.given_name_latin, r.family_name_latin)
            resident_rows.append((r.id, number, r.given_name, r.family_name, r.given_name_latin, r.family_name_latin,
                                  r.sex, r.birth_date, r.birth_date_precision, r.birth_place_code, r.nationality,
                                  r.address_code, None, r.mother_id, r.father_id, r.spouse_id, r.household_id,
                                  status, r.death_date, r.mother_name, r.father_name, key,
                                  matching.search_text(r.given_name, r.family_name, r.given_name_latin,
                                                       r.family_name_latin), 1, now, now))
            after = {name: _json_value(value) for name, value in zip(RESIDENT_COLUMNS, resident_rows[-1], strict=False)
                     if name in HISTORY_FIELDS}
            version_rows.append((new_id(), r.id, 1, "import", self.actor.id, actor_name, self.reason, None, None,
                                 after, now))
            if number is not None:
                number_rows.append((number, r.id, now))
        self._write(Household.__table__, HOUSEHOLD_COLUMNS, self.households)  # type: ignore[arg-type]
        spouses: list[dict[str, Any]] = []
        if not self.postgres:
            # Spouses point at each other and SQLite checks each row of an executemany on its own:
            # link them once both are written. (PostgreSQL checks a whole COPY at its end.)
            at = RESIDENT_COLUMNS.index("spouse_id")
            spouses = [{"rid": row[0], "sid": row[at]} for row in resident_rows if row[at] is not None]
            resident_rows = [(*row[:at], None, *row[at + 1:]) for row in resident_rows]
        self._write(Resident.__table__, RESIDENT_COLUMNS, resident_rows)  # type: ignore[arg-type]
        if spouses:
            table = cast(Table, Resident.__table__)
            self.session.execute(update(table).where(table.c.id == bindparam("rid"))
                                 .values(spouse_id=bindparam("sid")), spouses)
        self._write(IssuedNumber.__table__, NUMBER_COLUMNS, number_rows)  # type: ignore[arg-type]
        self._write(ResidentVersion.__table__, VERSION_COLUMNS, version_rows)  # type: ignore[arg-type]
        self._write(LifeEvent.__table__, EVENT_COLUMNS, self.events)  # type: ignore[arg-type]
        self.written += len(self.residents)
        self.residents.clear()
        self.households.clear()
        self.events.clear()

    def _write(self, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.postgres:
            # psycopg's C writer formats the rows; JSON columns go as jsonb/json text.
            connection = self.session.connection().connection.driver_connection
            with connection.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                    f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([Json(v) if isinstance(v, dict) else v for v in row])
        else:
            self.session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


def write_csv(stream: IO[str], residents: Iterable[NewResident], *, extra: dict[uuid.UUID, dict[str, str]]
              | None = None) -> int:
    """Write residents in the import CSV format (plus any ``extra`` columns per resident); return the count."""
    extra_columns = sorted({k for row in (extra or {}).values() for k in row})
    writer = csv.writer(stream)
    writer.writerow([*CSV_COLUMNS, *extra_columns])
    count = 0
    for r in residents:
        more = (extra or {}).get(r.id, {})
        writer.writerow([r.given_name, r.family_name, r.given_name_latin, r.family_name_latin, r.sex,
                         format_birth_date(r.birth_date, r.birth_date_precision), r.birth_place_code or "",
                         r.mother_name or "", r.father_name or "", *[more.get(c, "") for c in extra_columns]])
        count += 1
    return count
