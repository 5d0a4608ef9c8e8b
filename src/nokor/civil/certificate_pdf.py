"""The certificate as a PDF page: Khmer and English side by side, with a QR code (no database here).

A civil certificate is a legal document in Khmer with its English version, whatever the language of the
officer who prints it, so its texts are fixed here rather than translated. Khmer needs shaping: fpdf2
shapes each line with HarfBuzz (uharfbuzz) and embeds the glyphs used from the trust services' stamp
font (Latin, Khmer and Arabic from Noto, SIL Open Font Licence; see nokor/trust/fonts/README.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import segno
from fpdf import FPDF
from segno.encoder import DataOverflowError

# The trust services ship the one font that holds Latin, Khmer and Arabic; the certificate reuses it.
FONT = Path(str(files("nokor.trust").joinpath("fonts", "NokorStampSans-Regular.ttf")))

QR_SIZE, TEXT_WIDTH = 60.0, 120.0  # millimetres on an A4 page
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


def _qr_png(content: str) -> bytes:
    """The QR code of ``content``; should the signed payload ever not fit (a very long verification
    address), the code keeps only the link to the verification page, which still shows the record."""
    out = io.BytesIO()
    try:
        code = segno.make(content, error="l")
    except DataOverflowError:
        code = segno.make(content.split("#", 1)[0], error="m")
    code.save(out, kind="png", scale=4, border=2)
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
    # The QR code beside the lines, top right (the trust services' visible seal goes to the bottom right).
    top = pdf.get_y()
    pdf.image(io.BytesIO(_qr_png(qr_content)), x=pdf.w - pdf.r_margin - QR_SIZE, y=top, w=QR_SIZE)
    pdf.set_xy(pdf.w - pdf.r_margin - QR_SIZE, top + QR_SIZE + 1)
    pdf.set_font("nokor", size=8)
    pdf.cell(QR_SIZE, 5, serial, align="C")
    pdf.set_xy(pdf.l_margin, top)
    for line in lines:
        pdf.set_font("nokor", size=9)
        pdf.cell(TEXT_WIDTH, 6, f"{line.label_km} / {line.label_en}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("nokor", size=13)
        pdf.multi_cell(TEXT_WIDTH, 7, line.value or "—", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    pdf.ln(4)
    pdf.set_font("nokor", size=10)
    pdf.multi_cell(TEXT_WIDTH, 6, note_km, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(TEXT_WIDTH, 6, note_en, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
