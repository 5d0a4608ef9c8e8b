"""Identifiers: UUIDv7 primary keys and check digits for numbers people read aloud."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_RANDOM_CHUNK = 4096
_random = b""
_random_at = 0
_random_pid = 0


def _random_bytes(count: int) -> bytes:
    """Bytes of the system's CSPRNG, fetched a few kilobytes at a time (call with ``_lock`` held).

    ``os.urandom`` lets go of the GIL for its system call; asked for twice per id, a thread making
    ids (a batch of payments) kept handing the interpreter back and forth with the event loop's thread,
    each switch costing up to the 5 ms switch interval.
    """
    global _random, _random_at, _random_pid
    # A forked child must never reuse its parent's bytes.
    if _random_at + count > len(_random) or _random_pid != os.getpid():
        _random, _random_at, _random_pid = os.urandom(_RANDOM_CHUNK), 0, os.getpid()
    chunk = _random[_random_at:_random_at + count]
    _random_at += count
    return chunk


def uuid7() -> uuid.UUID:
    """A UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then randomness.

    Within one millisecond a 12-bit counter keeps ids from this process strictly increasing.
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(_random_bytes(2), "big") & 0x7FF
        _last_ms = ms
        counter = _counter
        rand = int.from_bytes(_random_bytes(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return uuid.UUID(int=value)


_DAMM_TABLE = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> str:
    """The Damm check digit of a string of decimal digits.

    Damm catches every single-digit error and every swap of two neighbouring digits, which are the
    mistakes people make when copying a number from paper.
    """
    if not digits.isdigit() or not digits.isascii():
        raise ValueError("only ASCII digits have a Damm check digit")
    interim = 0
    for ch in digits:
        interim = _DAMM_TABLE[interim][ord(ch) - 48]
    return str(interim)


def damm_valid(number: str) -> bool:
    """True when the last digit of ``number`` is the Damm check digit of the rest."""
    if len(number) < 2 or not number.isdigit() or not number.isascii():
        return False
    return damm_digit(number[:-1]) == number[-1]
