"""Comparing two descriptions of a person: pure functions, no database.

Names are compared across scripts. Each name is folded to lower-case ASCII (``anyascii`` turns Khmer
and Arabic into Latin letters), and also reduced to a consonant skeleton, a phonetic key that
forgives the usual romanisation differences (Sok/Sokh, Sreyneang/Sreinang, Mohamed/mhmd, a missing
ta marbuta). Two names score the best ``rapidfuzz`` ratio over every pair of forms. Dates of birth
forgive a swapped day and month and a date known only to the month or year. The parts are weighed
together over the fields both records have, so a missing field neither helps nor hurts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from anyascii import anyascii
from rapidfuzz import fuzz

# Weights of the parts of a score (normalised over the parts both records have).
# The place of birth weighs as much as the date: two records naming different provinces are rarely one
# person, however common the name, while the same village is as telling as the same birthday.
WEIGHTS = {"name": 0.5, "birth_date": 0.2, "sex": 0.1, "place": 0.2, "parents": 0.15}
DEFAULT_THRESHOLD = 0.8
_NOT_LETTER = re.compile(r"[^a-z ]+")
_DIGRAPHS = (("kh", "k"), ("ch", "c"), ("ph", "p"), ("th", "t"), ("sh", "s"), ("gh", "g"), ("dh", "d"),
             ("ng", "n"), ("nh", "n"), ("ny", "n"), ("ck", "k"), ("q", "k"), ("z", "s"), ("x", "s"), ("w", "v"),
             ("j", "c"), ("ee", "i"), ("oo", "u"))
_VOWELS = set("aeiouy")


def latin_form(text: str) -> str:
    """A Latin-script form of a name written in any script, for search (``anyascii``), capitalised."""
    return " ".join(word.capitalize() for word in anyascii(text).replace("`", "").replace("'", "").split())


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case ASCII letters and single spaces: ``"Sreÿ-Neang"`` → ``"srey neang"``, Khmer via anyascii."""
    ascii_text = anyascii(unicodedata.normalize("NFKC", text)).lower()
    return " ".join(_NOT_LETTER.sub(" ", ascii_text).split())


@lru_cache(maxsize=65536)
def skeleton(text: str) -> str:
    """A phonetic key: the folded name with digraphs simplified, vowels dropped and doubles collapsed.

    ``Sokh`` and ``Sok`` give ``sk``; ``Mohamed`` and ``محمد`` give ``mhmd``.
    """
    words = []
    for word in fold(text).split():
        for old, new in _DIGRAPHS:
            word = word.replace(old, new)
        if len(word) > 1 and word.endswith("h"):
            word = word[:-1]
        consonants = [c for c in word if c not in _VOWELS]
        collapsed = "".join(c for i, c in enumerate(consonants) if i == 0 or c != consonants[i - 1])
        words.append(collapsed or word[:1])
    return " ".join(words)


def search_text(*names: str) -> str:
    """The words of every form of a person's names, folded, each after a space: what name search matches
    with ``LIKE '% word%'`` (a trigram index makes that fast on PostgreSQL)."""
    words: list[str] = []
    for name in names:
        for word in fold(name).split():
            if word not in words:
                words.append(word)
    return "".join(f" {w}" for w in words)[:400]


@lru_cache(maxsize=65536)
def vowel_class(text: str) -> str:
    """The folded name with digraphs simplified, every vowel written ``a`` and doubles collapsed."""
    word = fold(text).replace(" ", "")
    for old, new in _DIGRAPHS:
        word = word.replace(old, new)
    word = "".join("a" if c in _VOWELS else c for c in word)
    return "".join(c for i, c in enumerate(word) if i == 0 or c != word[i - 1])


def block_key(given: str, family: str) -> str:
    """The name part of a blocking key: the first letters of both skeletons (spaces removed)."""
    return f"{skeleton(family).replace(' ', '')[:3]}:{skeleton(given).replace(' ', '')[:3]}"


@dataclass(frozen=True)
class Person:
    """What the matcher knows of a person: names as written and in Latin form, and the rest if known."""

    given_name: str
    family_name: str
    given_name_latin: str = ""
    family_name_latin: str = ""
    sex: str | None = None
    birth_date: date | None = None
    birth_date_precision: str = "day"
    place_code: str | None = None
    mother_name: str | None = None
    father_name: str | None = None
    forms: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def name_forms(self) -> tuple[tuple[str, str], ...]:
        """(given, family) pairs in folded and skeleton forms, spaces inside a name removed."""
        if self.forms:
            return self.forms
        pairs: list[tuple[str, str]] = []
        for given, family in ((self.given_name, self.family_name),
                              (self.given_name_latin, self.family_name_latin)):
            folded = (fold(given).replace(" ", ""), fold(family).replace(" ", ""))
            if any(folded) and folded not in pairs:
                pairs.append(folded)
        object.__setattr__(self, "forms", tuple(pairs))
        return self.forms

    def keys(self) -> set[str]:
        """Blocking keys of every form of the name."""
        return {block_key(g, f) for g, f in self.name_forms()}


@dataclass(frozen=True)
class Score:
    """How alike two records are (0–1) and the parts that made the total."""

    total: float
    parts: dict[str, float]


@lru_cache(maxsize=262144)
def _text_similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    plain = fuzz.ratio(a, b) / 100
    if a[0] != b[0]:
        plain *= 0.85  # names that start differently are mostly other names; typos rarely hit the first letter
    ka, kb = skeleton(a), skeleton(b)
    # A short key says little (Mao and Im both give "m"): trust it less.
    shortest = min(len(ka), len(kb))
    phonetic = (0.95 if shortest >= 3 else 0.9 if shortest == 2 else 0.7) * fuzz.ratio(ka, kb) / 100 \
        if shortest else 0.0
    if shortest and ka[0] != kb[0]:
        phonetic *= 0.8  # keys that start differently are other names (Mohamed, Ahmed), not other spellings
    # Short names differ mostly in their vowels (Aly, Ali; Chan, Chann): compare them with one vowel.
    va, vb = vowel_class(a), vowel_class(b)
    if va == vb:
        phonetic = max(phonetic, 0.85)
    # Stretched so that names merely sharing letters (Mohamed, Ahmed) fall well below true variants.
    return max(0.0, (max(plain, phonetic) - 0.4) / 0.6)


def name_similarity(a: Person, b: Person) -> tuple[float, float]:
    """The best (overall, given-name) similarity over every pair of forms, also with given and family swapped."""
    best, best_given = 0.0, 0.0
    for ga, fa in a.name_forms():
        for gb, fb in b.name_forms():
            for g1, f1 in ((ga, fa), (fa, ga)):
                given = _text_similarity(g1, gb)
                family = _text_similarity(f1, fb)
                whole = 0.6 * given + 0.4 * family
                if whole > best:
                    best, best_given = whole, given
    return best, best_given


def date_similarity(a: date, a_precision: str, b: date, b_precision: str) -> float:
    """1 for the same date; less for a swapped day and month, a date known only to the month or year,
    a one-day or one-digit slip; 0 otherwise."""
    if "year" in (a_precision, b_precision):
        return 0.9 if a.year == b.year else (0.3 if abs(a.year - b.year) == 1 else 0.0)
    if "month" in (a_precision, b_precision):
        return 0.9 if (a.year, a.month) == (b.year, b.month) else (0.6 if a.year == b.year else 0.0)
    if a == b:
        return 1.0
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return 0.9
    if abs((a - b).days) == 1:
        return 0.7  # a one-day slip, also across the end of a month or year
    same = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
    if same == 2:
        if a.year != b.year:
            return 0.7 if abs(a.year - b.year) == 1 or _one_digit_apart(a.year, b.year) else 0.4
        if a.day != b.day:
            return 0.7 if abs(a.day - b.day) <= 1 or _one_digit_apart(a.day, b.day) else 0.5
        return 0.6
    return 0.0


def _one_digit_apart(x: int, y: int) -> bool:
    sx, sy = f"{x:04d}", f"{y:04d}"
    return sum(c != d for c, d in zip(sx, sy, strict=True)) == 1


def swapped(day: date) -> date | None:
    """The date with day and month swapped, when that is another valid date."""
    if day.day > 12 or day.day == day.month:
        return None
    try:
        return day.replace(month=day.day, day=day.month)
    except ValueError:
        return None


def place_similarity(a: str, b: str) -> float:
    """1 for the same village; less for the same commune, district or province (codes PPDDCCVV); 0 otherwise."""
    if a == b:
        return 1.0
    for length, score in ((6, 0.6), (4, 0.4), (2, 0.2)):
        if a[:length] == b[:length]:
            return score
    return 0.0


def _parents_similarity(a: Person, b: Person) -> float | None:
    scores = []
    for x, y in ((a.mother_name, b.mother_name), (a.father_name, b.father_name)):
        if x and y:
            fx, fy = fold(x).replace(" ", ""), fold(y).replace(" ", "")
            scores.append(_text_similarity(fx, fy))
    return sum(scores) / len(scores) if scores else None


def compare(a: Person, b: Person) -> Score:
    """The weighed likeness of two records; parts a record lacks are left out of the weighing."""
    name, given = name_similarity(a, b)
    parts: dict[str, float] = {"name": round(name, 4)}
    if a.birth_date is not None and b.birth_date is not None:
        parts["birth_date"] = date_similarity(a.birth_date, a.birth_date_precision, b.birth_date,
                                              b.birth_date_precision)
    if a.sex and b.sex and "X" not in (a.sex, b.sex):
        parts["sex"] = 1.0 if a.sex == b.sex else 0.0
    if a.place_code and b.place_code:
        parts["place"] = place_similarity(a.place_code, b.place_code)
    parents = _parents_similarity(a, b)
    if parents is not None:
        parts["parents"] = round(parents, 4)
    weight = sum(WEIGHTS[k] for k in parts)
    total = sum(WEIGHTS[k] * v for k, v in parts.items()) / weight
    # Siblings share a family name, parents, place and sometimes a birthday (twins): a different
    # given name must keep them apart; and a person has one sex.
    if given < 0.55:
        total *= 0.8
    if parts.get("sex") == 0.0:
        total *= 0.85
    return Score(total=round(total, 4), parts=parts)
