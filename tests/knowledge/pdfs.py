"""PDF files for the tests, written with fpdf2 (a real PDF with a text layer, as editors make them)."""

from __future__ import annotations

from fpdf import FPDF


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A PDF with one page per text (paragraphs separated by blank lines)."""
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        for para in text.split("\n\n"):
            pdf.multi_cell(0, 8, para)
            pdf.ln(8)
    return bytes(pdf.output())
