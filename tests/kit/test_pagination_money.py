"""Cursors and money: the small parsers every listing and bill relies on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nokor.kit.errors import ValidationFailed
from nokor.kit.ids import uuid7
from nokor.kit.money import Money
from nokor.kit.pagination import decode_cursor, encode_cursor


@given(st.uuids())
def test_cursor_round_trip(value):
    assert decode_cursor(encode_cursor(value)) == value


@pytest.mark.parametrize("garbage", ["%%%", "abc", "////", "A" * 40])
def test_garbled_cursor_is_a_validation_problem(garbage):
    with pytest.raises(ValidationFailed):
        decode_cursor(garbage)


def test_cursor_is_url_safe():
    assert all(c.isalnum() or c in "-_" for c in encode_cursor(uuid7()))


class TestMoney:
    def test_parse_into_minor_units(self):
        assert Money.parse("12.50", "USD") == Money(1250, "USD")
        assert Money.parse("4000", "KHR").minor in (4000, 400000)  # riel precision comes from CLDR

    def test_too_many_decimals_are_refused(self):
        with pytest.raises(ValueError):
            Money.parse("1.005", "USD")

    @pytest.mark.parametrize("text", ["abc", "", "NaN", "Infinity"])
    def test_non_amounts_are_refused(self, text):
        with pytest.raises(ValueError):
            Money.parse(text, "USD")

    def test_unknown_currency_is_refused(self):
        with pytest.raises(ValueError):
            Money(1, "XYZ1")

    def test_adding_different_currencies_is_refused(self):
        with pytest.raises(ValueError):
            Money(1, "USD") + Money(1, "KHR")

    @given(st.integers(min_value=-10**12, max_value=10**12))
    def test_decimal_round_trip(self, minor):
        money = Money(minor, "USD")
        assert Money.parse(str(money.decimal()), "USD") == money
