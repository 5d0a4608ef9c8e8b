"""National ID number rules: published Verhoeff vectors and properties that hold for every number."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nokor.civil import nin


class TestVerhoeff:
    def test_published_vectors(self) -> None:
        assert nin.verhoeff_digit("236") == "3"
        assert nin.verhoeff_digit("12345") == "1"
        assert nin.verhoeff_digit("142857") == "0"
        assert nin.verhoeff_valid("2363")
        assert nin.verhoeff_valid("123451")
        assert not nin.verhoeff_valid("2364")

    @given(st.text(alphabet="0123456789", min_size=1, max_size=20))
    def test_appended_digit_validates(self, digits: str) -> None:
        assert nin.verhoeff_valid(digits + nin.verhoeff_digit(digits))

    @given(st.text(alphabet="0123456789", min_size=2, max_size=20), st.data())
    def test_catches_every_single_digit_error(self, digits: str, data: st.DataObject) -> None:
        number = digits + nin.verhoeff_digit(digits)
        pos = data.draw(st.integers(0, len(number) - 1))
        wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[pos]]))
        assert not nin.verhoeff_valid(number[:pos] + wrong + number[pos + 1:])

    @given(st.text(alphabet="0123456789", min_size=2, max_size=20), st.data())
    def test_catches_every_swap_of_neighbours(self, digits: str, data: st.DataObject) -> None:
        number = digits + nin.verhoeff_digit(digits)
        pos = data.draw(st.integers(0, len(number) - 2))
        if number[pos] == number[pos + 1]:
            return
        swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2:]
        assert not nin.verhoeff_valid(swapped)


class TestGenerateNin:
    @settings(max_examples=300)
    @given(st.integers(min_value=8, max_value=20))
    def test_every_generated_number_follows_the_rules(self, length: int) -> None:
        number = nin.generate_nin(length)
        assert len(number) == length and number.isdigit()
        assert number[0] not in "01"
        assert not nin.has_run(number)
        assert not nin.has_repeated_block(number)
        assert number != number[::-1]
        assert nin.verhoeff_valid(number)
        assert nin.validate_nin(number, length) == []

    def test_numbers_are_random(self) -> None:
        assert len({nin.generate_nin() for _ in range(200)}) == 200

    def test_virtual_ids_have_16_digits(self) -> None:
        vid = nin.generate_virtual_id()
        assert len(vid) == 16 and nin.validate_virtual_id(vid) == []


class TestValidateNin:
    def test_wrong_check_digit_is_named(self) -> None:
        good = nin.generate_nin()
        bad = good[:-1] + str((int(good[-1]) + 1) % 10)
        assert any("check digit" in reason for reason in nin.validate_nin(bad))

    def test_each_forbidden_shape_has_its_reason(self) -> None:
        def with_check(body: str) -> str:
            return body + nin.verhoeff_digit(body)

        assert any("0 or 1" in r for r in nin.validate_nin(with_check("15836294750")))
        assert any("123 or 321" in r for r in nin.validate_nin(with_check("25836789470")))
        assert any("three times" in r for r in nin.validate_nin(with_check("25837779470")))
        assert nin.validate_nin("12ab") == ["A national ID number has only digits."]
        assert nin.validate_nin("2583") == ["A national ID number has 12 digits."]

    def test_palindrome_is_refused(self) -> None:
        reasons = nin.validate_nin("258369963852")
        assert any("backwards" in r for r in reasons)

    @given(st.text(max_size=30))
    def test_never_crashes_on_any_text(self, text: str) -> None:
        assert isinstance(nin.validate_nin(text), list)
