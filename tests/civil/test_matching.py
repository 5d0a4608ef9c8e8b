"""The matcher compares two descriptions of a person across scripts, typos and imprecise dates."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nokor.civil.matching import DEFAULT_THRESHOLD, Person, compare, date_similarity, fold, skeleton, swapped

SREYNEANG = Person("ស្រីនាង", "សុខ", "Sreyneang", "Sok", "F", date(1994, 3, 12), "day", "12010101",
                   "ចាន់ ធីតា", "សុខ វិបុល")
MOHAMED = Person("محمد", "علي", "Mohamed", "Ali", "M", date(1980, 5, 6), "day", "12010101")


def score(a: Person, b: Person) -> float:
    return compare(a, b).total


class TestSameResident:
    @pytest.mark.parametrize("typo", ["Sreyneag", "Sreynaeng", "Sreyneanq", "Sryeneang"])
    def test_a_typo_in_the_given_name(self, typo: str) -> None:
        copy = Person(typo, "Sok", typo, "Sok", "F", date(1994, 3, 12), "day", "12010101")
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD

    def test_a_typo_in_the_family_name(self) -> None:
        copy = Person("Sreyneang", "Sook", "", "", "F", date(1994, 3, 12), "day", "12010101")
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD

    def test_khmer_against_another_latin_spelling(self) -> None:
        copy = Person("Sreinang", "Sokh", "", "", "F", date(1994, 3, 12), "day", "12010101")
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD

    def test_latin_against_khmer(self) -> None:
        written_in_latin = Person("Vibol", "Chan", "Vibol", "Chan", "M", date(1991, 8, 2))
        written_in_khmer = Person("វិបុល", "ចាន់", "", "", "M", date(1991, 8, 2))
        assert score(written_in_latin, written_in_khmer) >= DEFAULT_THRESHOLD

    @pytest.mark.parametrize(("given_name", "family_name"), [("Mohammed", "Aly"), ("Muhammad", "Ali"),
                                                             ("mhmd", "ly")])
    def test_arabic_against_latin_spellings(self, given_name: str, family_name: str) -> None:
        copy = Person(given_name, family_name, "", "", "M", date(1980, 5, 6), "day", "12010101")
        assert score(MOHAMED, copy) >= DEFAULT_THRESHOLD

    def test_arabic_script_on_both_sides_against_latin_only(self) -> None:
        fatimah = Person("فاطمة", "أحمد", "", "", "F", date(1975, 1, 9))
        assert score(fatimah, Person("Fatima", "Ahmad", "", "", "F", date(1975, 1, 9))) >= DEFAULT_THRESHOLD

    def test_day_and_month_swapped(self) -> None:
        copy = Person("ស្រីនាង", "សុខ", "Sreyneang", "Sok", "F", date(1994, 12, 3), "day", "12010101")
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD

    def test_only_the_year_of_birth_known_and_no_place(self) -> None:
        copy = Person("Sreyneang", "Sok", "", "", "F", date(1994, 1, 1), "year", None)
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD

    def test_missing_sex_parents_and_place_neither_help_nor_hurt(self) -> None:
        copy = Person("ស្រីនាង", "សុខ", "", "", None, date(1994, 3, 12))
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD
        assert set(compare(SREYNEANG, copy).parts) == {"name", "birth_date"}

    def test_born_a_day_earlier_across_the_end_of_a_month(self) -> None:
        copy = Person("Sreyneang", "Sok", "", "", "F", date(1994, 2, 28), "day", "12010101")
        last_day = Person("Sreyneang", "Sok", "", "", "F", date(1994, 3, 1), "day", "12010101")
        assert score(last_day, copy) >= DEFAULT_THRESHOLD

    def test_a_transposed_letter_in_the_name_with_everything_else_the_same(self) -> None:
        copy = Person("Sryeneang", "Sok", "", "", "F", date(1994, 3, 12), "day", "12010101", "ចាន់ ធីតា", "សុខ វិបុល")
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD

    def test_given_and_family_name_written_the_other_way_round(self) -> None:
        copy = Person("Sok", "Sreyneang", "", "", "F", date(1994, 3, 12), "day", "12010101")
        assert score(SREYNEANG, copy) >= DEFAULT_THRESHOLD


class TestOtherPeople:
    def test_a_sibling_with_the_same_parents_and_village(self) -> None:
        sister = Person("សុភាព", "សុខ", "Sopheap", "Sok", "F", date(1996, 7, 1), "day", "12010101",
                        "ចាន់ ធីតា", "សុខ វិបុល")
        assert score(SREYNEANG, sister) < DEFAULT_THRESHOLD

    def test_a_twin_born_the_same_day(self) -> None:
        twin = Person("ស្រីពៅ", "សុខ", "Sreypov", "Sok", "F", date(1994, 3, 12), "day", "12010101",
                      "ចាន់ ធីតា", "សុខ វិបុល")
        assert score(SREYNEANG, twin) < DEFAULT_THRESHOLD

    def test_a_namesake_born_elsewhere_years_apart(self) -> None:
        namesake = Person("ស្រីនាង", "សុខ", "Sreyneang", "Sok", "F", date(1971, 6, 20), "day", "17100901")
        assert score(SREYNEANG, namesake) < DEFAULT_THRESHOLD

    def test_a_namesake_born_the_same_month_in_another_province(self) -> None:
        # a common name and a birthday a week apart: without the same place, another person
        namesake = Person("Sreyneang", "Sok", "", "", "F", date(1994, 3, 19), "day", "17100901")
        assert score(SREYNEANG, namesake) < DEFAULT_THRESHOLD

    def test_a_namesake_born_the_same_year_elsewhere_when_only_the_year_is_known(self) -> None:
        namesake = Person("Sreyneang", "Sok", "", "", "F", date(1994, 1, 1), "year", "17100901")
        assert score(SREYNEANG, namesake) < DEFAULT_THRESHOLD
        same_village = Person("Sreyneang", "Sok", "", "", "F", date(1994, 1, 1), "year", "12010101")
        assert score(SREYNEANG, same_village) >= DEFAULT_THRESHOLD

    def test_another_arabic_name_sharing_letters(self) -> None:
        ahmed = Person("أحمد", "علي", "Ahmed", "Ali", "M", date(1980, 5, 6), "day", "02010101")
        assert score(MOHAMED, ahmed) < DEFAULT_THRESHOLD

    def test_the_other_sex(self) -> None:
        brother = Person("Sreyneang", "Sok", "", "", "M", date(1994, 3, 12), "day", "02010101")
        assert score(SREYNEANG, brother) < score(SREYNEANG, Person("Sreyneang", "Sok", "", "", "F",
                                                                   date(1994, 3, 12), "day", "02010101"))


class TestParts:
    def test_folding_and_phonetic_keys(self) -> None:
        assert fold("Sreÿ-Neang") == "srey neang"
        assert skeleton("Sokh") == skeleton("Sok") == skeleton("សុខ")
        assert skeleton("Mohamed") == skeleton("محمد")
        assert skeleton("Fatimah") == skeleton("Fatima")

    def test_dates(self) -> None:
        assert date_similarity(date(1994, 3, 12), "day", date(1994, 3, 12), "day") == 1.0
        assert date_similarity(date(1994, 3, 12), "day", date(1994, 12, 3), "day") == 0.9
        assert date_similarity(date(1994, 3, 12), "day", date(1994, 1, 1), "year") == 0.9
        assert date_similarity(date(1994, 3, 12), "day", date(1960, 8, 30), "day") == 0.0
        assert date_similarity(date(1994, 12, 31), "day", date(1995, 1, 1), "day") == 0.7
        assert swapped(date(1994, 3, 12)) == date(1994, 12, 3)
        assert swapped(date(1994, 3, 13)) is None

    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)))
    def test_a_swapped_date_swaps_back(self, day: date) -> None:
        other = swapped(day)
        if other is not None:
            assert swapped(other) == day

    @given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
    def test_scores_stay_between_0_and_1_and_a_record_matches_itself_best(self, a: str, b: str) -> None:
        one = Person(a, b, sex="F", birth_date=date(2000, 1, 1))
        two = Person(b + "x", a, sex="F", birth_date=date(2000, 1, 1))
        assert 0.0 <= score(one, two) <= 1.0
        assume(fold(a) and fold(b))
        assert score(one, one) == 1.0
