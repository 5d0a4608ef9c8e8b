"""The synthetic population looks like a real one: names as diverse as Khmer names are, so that two
residents share a full name and a birth year or a birth date about as rarely as in a real register
(planted duplicates in a probe file are then duplicates, not namesakes)."""

from __future__ import annotations

from collections import Counter

from nokor.civil import matching, synthetic
from nokor.civil.bulk import NewResident

VILLAGES = {f"{p:02d}{d:02d}{c:02d}{v:02d}" for p in range(1, 26) for d in range(1, 5) for c in range(1, 5)
            for v in range(1, 6)}


def population(count: int) -> list[NewResident]:
    return [m for _h, _v, members, _e in synthetic.families(count, villages=VILLAGES, seed=11) for m in members]


def shared(people: list[NewResident], key: object) -> float:
    counts = Counter(key(p) for p in people)  # type: ignore[operator]
    return sum(n for n in counts.values() if n > 1) / len(people)


def test_few_residents_share_a_full_name_sex_and_birth_year() -> None:
    # With a few dozen names per sex (the old pools) about one resident in six shared all four at this
    # size, and at a million residents one in thirty shared name and birth date.
    people = population(30000)
    assert shared(people, lambda p: (p.given_name_latin, p.family_name_latin, p.sex, p.birth_date.year)) < 0.04
    assert shared(people, lambda p: (p.given_name_latin, p.family_name_latin, p.birth_date)) < 0.002


def test_given_names_are_built_from_syllables_in_khmer_script_and_latin_letters() -> None:
    people = population(20000)
    khmer = [p for p in people if not p.family_name.isascii() and "\u1780" <= p.given_name[0] <= "\u17ff"]
    assert len({p.given_name_latin for p in khmer}) > 1500
    assert len({p.family_name_latin for p in khmer}) > 150
    # the common names stay common: Sok is among the most frequent family names
    top = [name for name, _n in Counter(p.family_name_latin for p in khmer).most_common(5)]
    assert "Sok" in top
    # the Latin form is the written name's own romanisation, not a random label
    sreyneang = next(p for p in khmer if p.given_name_latin.startswith("Srey"))
    assert sreyneang.given_name.startswith("ស្រី") and sreyneang.sex == "F"


def test_cham_families_write_their_names_in_arabic_script() -> None:
    cham = [p for p in population(20000) if "\u0600" <= p.family_name[0] <= "\u06ff"]
    assert cham and len({p.given_name_latin for p in cham}) > 20
    assert all(matching.fold(p.family_name) for p in cham)


def test_children_of_one_family_have_names_of_their_own() -> None:
    for _h, _v, members, _e in synthetic.families(20000, villages=VILLAGES, seed=5):
        children = [m for m in members if m.mother_id is not None]
        assert len({c.given_name_latin for c in children}) == len(children)
