"""Matching a provider's settlement file against the payments Nokor recorded, one line at a time.

The file is CSV with a header naming at least ``transaction_ref``, ``amount`` and ``currency``
(``bill_number`` and ``settled_at`` are read when present). It is streamed: memory grows with the
number of distinct transactions, not with the file, so a million-line file is routine.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision

KINDS = ("matched", "missing", "unexpected", "amount_mismatch", "duplicate", "unreadable")


@dataclass(frozen=True, slots=True)
class Expected:
    """A payment as Nokor recorded it."""

    bill_number: str
    minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A line of the file (or a payment) that does not match."""

    kind: str
    transaction_ref: str | None
    bill_number: str | None
    line_no: int | None
    expected_minor: int | None
    settled_minor: int | None
    currency: str | None


@dataclass
class Outcome:
    """Counts per kind, the total matched per currency, and how many lines were read."""

    lines: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    matched_minor: Counter[str] = field(default_factory=Counter)


@cache
def _scale(currency: str) -> int:
    return int(get_currency_precision(currency))


def to_minor(text: str, currency: str) -> int | None:
    """A decimal amount in minor units of ``currency``; None when it is not one."""
    try:
        amount = Decimal(text.strip()).scaleb(_scale(currency))
    except (InvalidOperation, ValueError, KeyError):
        return None
    if not amount.is_finite() or amount != amount.to_integral_value():
        return None
    return int(amount)


class SettlementFileError(ValueError):
    """The file is not a settlement CSV (its header lacks a required column)."""


def reconcile(lines: Iterable[str], expected: Mapping[str, Expected], outcome: Outcome,
              progress: Callable[[int], None] | None = None) -> Iterator[Discrepancy]:
    """Yield every discrepancy between the settlement ``lines`` and the ``expected`` payments.

    ``outcome`` is filled as the lines go by (matched lines are counted, not yielded). Payments that
    the file never mentions are yielded as ``missing`` once the file is read to the end.
    """
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader, [])]
    try:
        i_ref, i_amount, i_currency = (header.index(name) for name in ("transaction_ref", "amount", "currency"))
    except ValueError as exc:
        raise SettlementFileError("the header must name transaction_ref, amount and currency") from exc
    i_bill = header.index("bill_number") if "bill_number" in header else None
    width = max(i_ref, i_amount, i_currency, i_bill or 0) + 1
    seen: set[str] = set()
    counts = outcome.counts
    line_no = 1
    for line_no, row in enumerate(reader, start=2):
        if progress is not None and line_no % 100_000 == 0:
            progress(line_no)
        if not row:
            continue
        outcome.lines += 1
        if len(row) < width:
            counts["unreadable"] += 1
            yield Discrepancy("unreadable", None, None, line_no, None, None, None)
            continue
        ref, currency = row[i_ref].strip(), row[i_currency].strip().upper()
        bill_number = row[i_bill].strip() if i_bill is not None else None
        try:
            settled = to_minor(row[i_amount], currency)
        except ValueError:
            settled = None
        if not ref or settled is None:
            counts["unreadable"] += 1
            yield Discrepancy("unreadable", ref or None, bill_number, line_no, None, None, currency or None)
            continue
        if ref in seen:
            counts["duplicate"] += 1
            found = expected.get(ref)
            yield Discrepancy("duplicate", ref, bill_number, line_no, found.minor if found else None, settled,
                              currency)
            continue
        seen.add(ref)
        found = expected.get(ref)
        if found is None:
            counts["unexpected"] += 1
            yield Discrepancy("unexpected", ref, bill_number, line_no, None, settled, currency)
        elif found.minor != settled or found.currency != currency:
            counts["amount_mismatch"] += 1
            yield Discrepancy("amount_mismatch", ref, found.bill_number, line_no, found.minor, settled, currency)
        else:
            counts["matched"] += 1
            outcome.matched_minor[currency] += settled
    for ref, found in expected.items():
        if ref not in seen:
            counts["missing"] += 1
            yield Discrepancy("missing", ref, found.bill_number, None, found.minor, None, found.currency)
