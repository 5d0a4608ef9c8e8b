"""National ID numbers and virtual IDs: pure functions, no database.

A national ID number is random (so it says nothing about the person), ends with a Verhoeff check
digit (which catches every single-digit error and every swap of neighbouring digits), never starts
with 0 or 1, and avoids shapes people misread or that look made up: runs like 123 or 321, blocks of
one repeated digit, and palindromes.
"""

from __future__ import annotations

import secrets

from nokor.kit.i18n import gettext as _

DEFAULT_LENGTH = 12
VIRTUAL_ID_LENGTH = 16
MAX_SAME_DIGITS = 2  # three equal digits in a row are a "repeated-digit block"

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def verhoeff_digit(digits: str) -> str:
    """The Verhoeff check digit to append to ``digits``."""
    if not _is_digits(digits):
        raise ValueError("only ASCII digits have a Verhoeff check digit")
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][ord(ch) - 48]]
    return str(_INV[c])


def verhoeff_valid(number: str) -> bool:
    """True when the last digit of ``number`` is the Verhoeff check digit of the rest."""
    if len(number) < 2 or not _is_digits(number):
        return False
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = _D[c][_P[i % 8][ord(ch) - 48]]
    return c == 0


def has_run(number: str, length: int = 3) -> bool:
    """True when ``number`` holds ``length`` consecutive ascending or descending digits (123, 321)."""
    for i in range(len(number) - length + 1):
        steps = {int(number[j + 1]) - int(number[j]) for j in range(i, i + length - 1)}
        if steps in ({1}, {-1}):
            return True
    return False


def has_repeated_block(number: str) -> bool:
    """True when one digit repeats more than ``MAX_SAME_DIGITS`` times in a row (e.g. 777)."""
    return any(number[i] == number[i + 1] == number[i + 2] for i in range(len(number) - 2))


def _shape_reasons(number: str) -> list[str]:
    reasons = []
    if number[0] in "01":
        reasons.append(_("The number must not start with 0 or 1."))
    if has_run(number):
        reasons.append(_("The number must not contain a run of three digits such as 123 or 321."))
    if has_repeated_block(number):
        reasons.append(_("The number must not contain the same digit three times in a row."))
    if number == number[::-1]:
        reasons.append(_("The number must not read the same backwards."))
    return reasons


def validate_nin(number: str, length: int = DEFAULT_LENGTH) -> list[str]:
    """Why ``number`` is not a well-formed national ID number (empty when it is one)."""
    if not _is_digits(number):
        return [_("A national ID number has only digits.")]
    if len(number) != length:
        return [_("A national ID number has %(count)d digits.", count=length)]
    reasons = _shape_reasons(number)
    if not verhoeff_valid(number):
        reasons.append(_("The check digit is wrong: the number was probably mistyped."))
    return reasons


def is_valid_nin(number: str, length: int = DEFAULT_LENGTH) -> bool:
    return not validate_nin(number, length)


def _random_number(length: int) -> str:
    while True:
        body = secrets.choice("23456789") + f"{secrets.randbelow(10 ** (length - 2)):0{length - 2}d}"
        number = body + verhoeff_digit(body)
        if not _shape_reasons(number):
            return number


def generate_nin(length: int = DEFAULT_LENGTH) -> str:
    """A new random national ID number of ``length`` digits that passes ``validate_nin``."""
    if length < 4:
        raise ValueError("a national ID number has at least 4 digits")
    return _random_number(length)


def generate_virtual_id() -> str:
    """A new random 16-digit virtual ID (same rules as a national ID number, but longer)."""
    return _random_number(VIRTUAL_ID_LENGTH)


def validate_virtual_id(number: str) -> list[str]:
    """Why ``number`` is not a well-formed virtual ID (empty when it is one)."""
    return validate_nin(number, VIRTUAL_ID_LENGTH)
