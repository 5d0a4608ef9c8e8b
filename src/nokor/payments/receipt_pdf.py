"""The receipt of a paid bill as a PDF page, in the reader's language (no database here).

Khmer and Arabic need shaping: fpdf2 shapes each line with HarfBuzz (uharfbuzz) and lays out right-to-left
text with the Unicode bidirectional algorithm; the glyphs come from the trust services' stamp font, which
holds Latin, Khmer and Arabic (Noto, SIL Open Font Licence; see nokor/trust/fonts/README.md). An Arabic
receipt is laid out from the right. The bottom of the page is left free for the visible seal.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from fpdf import FPDF

# The trust services ship the one font that holds Latin, Khmer and Arabic; the receipt reuses it.
FONT = Path(str(files("nokor.trust").joinpath("fonts", "NokorStampSans-Regular.ttf")))
SEAL_ROOM = 60.0  # millimetres kept free at the bottom for the seal's stamp


@dataclass(frozen=True)
class ReceiptLine:
    """One line of the receipt: its label and value, both already in the reader's language."""

    label: str
    value: str
    ltr_value: bool = False  # numbers and references read left to right even on an Arabic receipt


def receipt_pdf(*, title: str, heading: str, lines: list[ReceiptLine], note: str, rtl: bool,
                language: str, document_title: str) -> bytes:
    """An A4 page: the issuer, the title, the lines (label above value) and a note on how to verify."""
    pdf = FPDF(format="A4")
    pdf.set_title(document_title)
    pdf.set_author(heading)
    pdf.set_lang(language)
    pdf.add_font("nokor", fname=str(FONT))
    pdf.set_auto_page_break(True, margin=SEAL_ROOM)
    pdf.add_page()
    align = "R" if rtl else "L"

    def shaped(direction_rtl: bool) -> None:
        pdf.set_text_shaping(True, direction="rtl" if direction_rtl else None)

    shaped(rtl)
    pdf.set_font("nokor", size=12)
    pdf.multi_cell(0, 8, heading, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("nokor", size=20)
    pdf.multi_cell(0, 12, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for line in lines:
        shaped(rtl)
        pdf.set_font("nokor", size=9)
        pdf.multi_cell(0, 6, line.label, align=align, new_x="LMARGIN", new_y="NEXT")
        shaped(rtl and not line.ltr_value)
        pdf.set_font("nokor", size=13)
        pdf.multi_cell(0, 7, line.value or "—", align=align, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.ln(4)
    shaped(rtl)
    pdf.set_font("nokor", size=10)
    pdf.multi_cell(0, 6, note, align=align, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
