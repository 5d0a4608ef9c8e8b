"""Looking a person up in the register: blocking, then the matcher's scores (no permissions here;
the services that show the results check them and log the reads)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from nokor.civil import matching, repository
from nokor.civil.schemas import DuplicateCandidate, PersonCheck, PersonSide


@dataclass(frozen=True)
class Found:
    """A resident found in the blocks, with the matcher's score."""

    row: Any
    score: matching.Score


def person_of_check(data: PersonCheck) -> matching.Person:
    return matching.Person(
        given_name=data.given_name, family_name=data.family_name, given_name_latin=data.given_name_latin or "",
        family_name_latin=data.family_name_latin or "", sex=data.sex, birth_date=data.birth_date,
        birth_date_precision=data.birth_date_precision, place_code=data.place_code, mother_name=data.mother_name,
        father_name=data.father_name)


def person_of_row(row: Any) -> matching.Person:
    """A resident (ORM row or selected columns) as the matcher sees it."""
    return matching.Person(
        given_name=row.given_name, family_name=row.family_name, given_name_latin=row.given_name_latin,
        family_name_latin=row.family_name_latin, sex=row.sex, birth_date=row.birth_date,
        birth_date_precision=row.birth_date_precision, place_code=row.birth_place_code,
        mother_name=row.mother_name, father_name=row.father_name)


def side_of_row(row: Any) -> PersonSide:
    return PersonSide(resident_id=row.id, nin=row.nin, given_name=row.given_name, family_name=row.family_name,
                      given_name_latin=row.given_name_latin, family_name_latin=row.family_name_latin, sex=row.sex,
                      birth_date=row.birth_date, birth_date_precision=row.birth_date_precision,
                      place_code=row.birth_place_code, mother_name=row.mother_name, father_name=row.father_name,
                      status=row.status)


def side_of_person(person: matching.Person) -> PersonSide:
    assert person.birth_date is not None
    return PersonSide(given_name=person.given_name, family_name=person.family_name,
                      given_name_latin=person.given_name_latin or matching.latin_form(person.given_name),
                      family_name_latin=person.family_name_latin or matching.latin_form(person.family_name),
                      sex=person.sex, birth_date=person.birth_date, birth_date_precision=person.birth_date_precision,
                      place_code=person.place_code, mother_name=person.mother_name, father_name=person.father_name)


def search(session: Session, person: matching.Person, *, threshold: float, limit: int = 5,
           exclude: Collection[uuid.UUID] = ()) -> list[Found]:
    """Residents scoring at least ``threshold`` against ``person``, best first.

    Blocks: the same date of birth or the one with day and month swapped; the same birth year and
    place; the same name key (first consonants of both names, in every script's Latin form) born
    within a year. A date known only to the year or month is looked up by year.
    """
    born = person.birth_date
    if born is None:
        return []
    dates: list[date] = []
    if person.birth_date_precision == "day":  # a date known to the year only is looked up by year
        dates.append(born)
        other = matching.swapped(born)
        if other is not None:
            dates.append(other)
    rows = repository.duplicate_candidates(session, dates=dates, year=born.year, place=person.place_code,
                                           keys=sorted(person.keys()))
    found = []
    for row in rows:
        if row.id in exclude:
            continue
        score = matching.compare(person, person_of_row(row))
        if score.total >= threshold:
            found.append(Found(row=row, score=score))
    found.sort(key=lambda f: f.score.total, reverse=True)
    return found[:limit]


def as_candidates(found: list[Found]) -> list[DuplicateCandidate]:
    return [DuplicateCandidate(resident=side_of_row(f.row), score=f.score.total, parts=f.score.parts) for f in found]
