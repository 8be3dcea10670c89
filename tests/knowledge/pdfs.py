"""PDF files for the tests, written with fpdf2 (a real PDF with a text layer, as editors make them)."""

from __future__ import annotations

import io
import zlib

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


def page_tree_bomb(depth: int, fanout: int = 10, operators: int = 2000) -> bytes:
    """A tiny, valid PDF whose page tree names one page ``fanout ** depth`` times.

    Each level of the tree is one ``Pages`` node whose ``Kids`` list the level below ``fanout``
    times, so the file stays about a kilobyte while a reader sees ``fanout ** depth`` pages, each
    with the same content stream of ``operators`` text-showing operators (compressed): extracting
    the text costs about 0.1 s of CPU per page with pypdf.
    """
    text_ops = "BT /F1 12 Tf 10 10 Td " + "(abc) Tj 1 0 Td " * operators + "ET"
    content = zlib.compress(text_ops.encode(), 9)
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        4: b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    child, count = 3, 1
    for level in range(depth):
        number = 10 + level
        count *= fanout
        kids = b" ".join(b"%d 0 R" % child for _ in range(fanout))
        objects[number] = b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count
        child = number
    objects[2] = b"<< /Type /Pages /Kids [%d 0 R] /Count %d >>" % (child, count)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n")
    xref, size = out.tell(), max(objects) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for number in range(1, size):
        out.write(b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n")
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref))
    return out.getvalue()
