"""The certificate as a PDF page: Khmer and English side by side, with a QR code (no database here).

A civil certificate is a legal document in Khmer with its English version, whatever the language of the
officer who prints it, so its texts are fixed here rather than translated. Khmer needs shaping: fpdf2
shapes each line with HarfBuzz (uharfbuzz) and embeds the glyphs used from the trust services' stamp
font (Latin, Khmer and Arabic from Noto, SIL Open Font Licence; see nokor/trust/fonts/README.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import segno
from fpdf import FPDF

# The trust services ship the one font that holds Latin, Khmer and Arabic; the certificate reuses it.
FONT = Path(str(files("nokor.trust").joinpath("fonts", "NokorStampSans-Regular.ttf")))

TITLES: dict[str, tuple[str, str]] = {
    "birth": ("សំបុត្របញ្ជាក់កំណើត", "Birth Certificate"),
    "death": ("សំបុត្របញ្ជាក់មរណភាព", "Death Certificate"),
    "marriage": ("សំបុត្របញ្ជាក់អាពាហ៍ពិពាហ៍", "Marriage Certificate"),
}


@dataclass(frozen=True)
class Line:
    """One line of the certificate: its label in Khmer and in English, and the value."""

    label_km: str
    label_en: str
    value: str


@lru_cache(maxsize=1)
def _qr_png(content: str) -> bytes:
    out = io.BytesIO()
    segno.make(content, error="l").save(out, kind="png", scale=4, border=2)
    return out.getvalue()


def certificate_pdf(*, kind: str, lines: list[Line], serial: str, qr_content: str, note_en: str,
                    note_km: str) -> bytes:
    """An A4 page: the kingdom's heading, the title, the lines, the serial and the QR code."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"{TITLES[kind][1]} {serial}")
    pdf.set_author("Kingdom of Cambodia")
    pdf.add_font("nokor", fname=str(FONT))
    pdf.set_text_shaping(True)
    pdf.add_page()
    pdf.set_font("nokor", size=12)
    pdf.cell(0, 8, "ព្រះរាជាណាចក្រកម្ពុជា", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, "ជាតិ សាសនា ព្រះមហាក្សត្រ", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, "Kingdom of Cambodia · Nation Religion King", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("nokor", size=20)
    title_km, title_en = TITLES[kind]
    pdf.cell(0, 12, title_km, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("nokor", size=16)
    pdf.cell(0, 9, title_en, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    for line in lines:
        pdf.set_font("nokor", size=9)
        pdf.cell(0, 6, f"{line.label_km} / {line.label_en}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("nokor", size=13)
        pdf.multi_cell(0, 7, line.value or "—", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    pdf.ln(4)
    pdf.set_font("nokor", size=10)
    pdf.multi_cell(120, 6, note_km, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(120, 6, note_en, new_x="LMARGIN", new_y="NEXT")
    y = max(pdf.get_y() - 30, 200.0)
    pdf.image(io.BytesIO(_qr_png(qr_content)), x=150, y=y, w=45)
    pdf.set_xy(150, y + 46)
    pdf.set_font("nokor", size=8)
    pdf.cell(45, 5, serial, align="C")
    return bytes(pdf.output())
