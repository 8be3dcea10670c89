"""Loaders: plain text, Markdown, HTML and PDF into titled sections; format detection; refusals."""

from __future__ import annotations

import pytest

from tests.knowledge.conftest import CORPUS
from tests.knowledge.pdfs import make_pdf
from workbench.knowledge.loaders import DocumentError, detect_format, load_document


def test_plain_text_is_one_section_of_paragraphs() -> None:
    doc = load_document((CORPUS / "bread.txt").read_bytes(), filename="bread.txt")
    assert doc.content_type == "text/plain" and doc.title == "bread"
    assert len(doc.sections) == 1 and doc.sections[0].heading == ()
    blocks = doc.sections[0].blocks
    assert blocks[0] == "Sourdough bread at home" and len(blocks) == 4
    assert blocks[2].startswith("Shape the loaf")


def test_markdown_sections_follow_the_heading_tree_and_code_fences_are_not_headings() -> None:
    text = (CORPUS / "cats.md").read_text() + "\n## Tools\n\n```sh\n# brush twice a week\nbrush --all\n```\n"
    doc = load_document(text, filename="cats.md")
    assert doc.content_type == "text/markdown" and doc.title == "Caring for cats"
    assert [s.heading for s in doc.sections] == [
        ("Caring for cats",),
        ("Caring for cats", "Feeding"),
        ("Caring for cats", "Grooming"),
        ("Caring for cats", "Tools"),
    ]
    feeding = doc.sections[1].blocks
    assert len(feeding) == 1 and feeding[0].startswith("Adult cats eat two meals")
    assert doc.sections[3].blocks == ["```sh\n# brush twice a week\nbrush --all\n```"]


def test_markdown_lists_and_tables_stay_one_block_each() -> None:
    doc = load_document("# T\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", content_type="markdown")
    assert doc.sections[0].blocks == ["- one\n- two", "| a | b |\n|---|---|\n| 1 | 2 |"]


def test_html_keeps_visible_text_under_its_headings() -> None:
    doc = load_document((CORPUS / "jupiter.html").read_bytes(), filename="jupiter.html")
    assert doc.content_type == "text/html" and doc.title == "The planet Jupiter"
    assert [s.heading for s in doc.sections] == [("Jupiter",), ("Jupiter", "Moons"), ("Jupiter", "Storms")]
    moons = doc.sections[1].blocks
    assert moons[0].startswith("Jupiter has at least 95 known moons.")
    assert "Io, Europa, Ganymede and Callisto" in moons[0] and "\n" not in moons[0]  # whitespace folded
    assert moons[1:] == [
        "- Io has hundreds of active volcanoes.",
        "- Europa hides a salty ocean under its ice.",
    ]
    everything = " ".join(b for s in doc.sections for b in s.blocks)
    for hidden in ("tracking", "color: red", "Home", "Copyright"):  # script, style, nav, footer
        assert hidden not in everything


def test_html_pre_keeps_line_breaks_and_tables_keep_cells_apart() -> None:
    html = "<html><body><h2>Code</h2><pre>line 1\n    line 2</pre><table><tr><td>a</td><td>b</td></tr></table></body></html>"
    doc = load_document(html)
    assert doc.sections[0].heading == ("Code",)
    assert doc.sections[0].blocks[0] == "line 1\n    line 2"
    assert doc.sections[0].blocks[1].replace(" ", "") == "a|b|"


def test_pdf_is_read_page_by_page_with_its_title() -> None:
    data = make_pdf(
        ["Page one talks about apples.\n\nA second paragraph on page one.", "Page two talks about pears."],
        title="Fruit report",
    )
    doc = load_document(data, filename="fruit.pdf")
    assert doc.content_type == "application/pdf" and doc.title == "Fruit report"
    assert [s.page for s in doc.sections] == [1, 2]
    assert "apples" in " ".join(doc.sections[0].blocks) and "pears" in " ".join(doc.sections[1].blocks)


def test_pdf_without_a_title_takes_the_file_name() -> None:
    doc = load_document(make_pdf(["Hello PDF."]), filename="notes/report-2024.pdf")
    assert doc.title == "report-2024"


@pytest.mark.parametrize(
    ("data", "content_type", "filename", "expected"),
    [
        (b"%PDF-1.7 ...", None, None, "application/pdf"),
        (b"<!DOCTYPE html><html></html>", None, None, "text/html"),
        (b"  <html><body>x</body></html>", None, None, "text/html"),
        (b"intro\n\n## Part\n\ntext", None, None, "text/markdown"),
        (b"just words", None, None, "text/plain"),
        (b"just words", None, "a.md", "text/markdown"),
        (b"# looks like markdown", "text/plain; charset=utf-8", "a.md", "text/plain"),
        (b"x", "application/octet-stream", "page.htm", "text/html"),
    ],
)
def test_format_detection(data: bytes, content_type: str | None, filename: str | None, expected: str) -> None:
    assert detect_format(data, content_type, filename) == expected


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (b"x", "image/png", "unsupported content type 'image/png'"),
        (b"%PDF-1.4 this is not really a PDF", None, "not a readable PDF"),
        (b"abc\x00def", "text/plain", "binary"),
        (b"\n\n   \n", "text/plain", "no text"),
    ],
)
def test_unreadable_documents_are_refused_with_the_reason(
    data: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(DocumentError, match=message):
        load_document(data, content_type)


def test_a_pdf_without_a_text_layer_is_refused() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)  # a drawing, no text
    with pytest.raises(DocumentError, match="no text layer"):
        load_document(bytes(pdf.output()))
