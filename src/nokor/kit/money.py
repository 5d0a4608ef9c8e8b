"""Money: an integer number of minor units and an ISO 4217 currency code, never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision, list_currencies


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of one currency, in minor units (ISO 4217: cents of the dollar, hundredths of the riel)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if self.currency not in list_currencies():
            raise ValueError(f"unknown currency {self.currency!r}")

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Read a decimal amount such as ``"12.50"``; more decimals than the currency has are refused."""
        try:
            amount = Decimal(text.strip())
        except InvalidOperation as exc:
            raise ValueError(f"not an amount: {text!r}") from exc
        if not amount.is_finite():
            raise ValueError(f"not an amount: {text!r}")
        digits = get_currency_precision(currency)
        minor = amount.scaleb(digits)
        if minor != minor.to_integral_value():
            raise ValueError(f"{currency} has {digits} decimal places")
        return cls(int(minor), currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError("cannot add amounts of different currencies")
        return Money(self.minor + other.minor, self.currency)

    def decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-get_currency_precision(self.currency))
