"""QR images of payment payloads, drawn with segno (SVG for pages, PNG for print and receipts)."""

from __future__ import annotations

import io
from functools import lru_cache

import segno


def _code(payload: str) -> segno.QRCode:
    # Bank apps read the payload as UTF-8 bytes (Khmer names in tags 59 and 64); error level M is
    # what the KHQR SDKs use: readable from a phone screen with a small smudge.
    return segno.make_qr(payload, error="m", encoding="utf-8")


# A bill's payload never changes and choosing the mask is most of the cost: keep recent images.
@lru_cache(maxsize=2048)
def qr_svg(payload: str, *, scale: int = 6, title: str | None = None) -> str:
    """A standalone SVG document of the payload's QR code (no inline style, no script)."""
    buffer = io.BytesIO()
    _code(payload).save(buffer, kind="svg", scale=scale, border=4, xmldecl=False, title=title, light="#fff",
                        unit=None, svgclass=None, lineclass=None)
    return buffer.getvalue().decode("utf-8")


@lru_cache(maxsize=512)
def qr_png(payload: str, *, scale: int = 8) -> bytes:
    """A PNG image of the payload's QR code."""
    buffer = io.BytesIO()
    _code(payload).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
