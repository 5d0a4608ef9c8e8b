"""Identifiers: UUIDv7 keys and Damm check digits."""

from __future__ import annotations

import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from nokor.kit.ids import damm_digit, damm_valid, uuid7


class TestUuid7:
    def test_version_and_variant(self):
        value = uuid7()
        assert value.version == 7 and value.variant == uuid.RFC_4122

    def test_time_prefix_is_the_current_millisecond(self):
        before = time.time_ns() // 1_000_000
        value = uuid7()
        after = time.time_ns() // 1_000_000
        assert before <= value.int >> 80 <= after

    def test_ids_made_in_a_row_are_strictly_increasing(self):
        ids = [uuid7() for _ in range(5000)]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)


class TestDamm:
    def test_published_example(self):
        # The worked example from Damm's algorithm: 572 → check digit 4.
        assert damm_digit("572") == "4" and damm_valid("5724")

    @given(st.text(alphabet="0123456789", min_size=1, max_size=20))
    def test_a_number_with_its_digit_is_valid(self, digits):
        assert damm_valid(digits + damm_digit(digits))

    @given(st.text(alphabet="0123456789", min_size=2, max_size=20), st.data())
    def test_every_single_digit_mistake_is_caught(self, digits, data):
        number = digits + damm_digit(digits)
        position = data.draw(st.integers(0, len(number) - 1))
        wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
        assert not damm_valid(number[:position] + wrong + number[position + 1:])

    @given(st.text(alphabet="0123456789", min_size=2, max_size=20), st.data())
    def test_every_swap_of_neighbouring_digits_is_caught(self, digits, data):
        number = digits + damm_digit(digits)
        position = data.draw(st.integers(0, len(number) - 2))
        if number[position] == number[position + 1]:
            return
        swapped = number[:position] + number[position + 1] + number[position] + number[position + 2:]
        assert not damm_valid(swapped)

    def test_non_digits_are_not_valid(self):
        assert not damm_valid("12a4") and not damm_valid("") and not damm_valid("٥٧٢٤")
