"""Search keys of place names: what a name is compared by, so "Siem Reap", "siemreap" and "SIEM-REAP"
meet, and a Khmer name matches with or without its invisible spaces."""

from __future__ import annotations

import unicodedata

KHMER_BLOCKS = ((0x1780, 0x17FF), (0x19E0, 0x19FF))


def has_khmer(text: str) -> bool:
    """Whether ``text`` holds any Khmer letter (then it is searched among the Khmer names)."""
    return any(lo <= ord(ch) <= hi for ch in text for lo, hi in KHMER_BLOCKS)


def latin_key(text: str) -> str:
    """Lower case, accents dropped, only letters and digits: ``"Phnôm-Pénh"`` → ``"phnompenh"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = (ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in "".join(kept).casefold() if ch.isalnum())


def khmer_key(text: str) -> str:
    """NFC, without spaces, zero-width characters and punctuation; Khmer signs and coeng are kept."""
    composed = unicodedata.normalize("NFC", text).casefold()
    return "".join(ch for ch in composed if unicodedata.category(ch)[0] in "LMN")
