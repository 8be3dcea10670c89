"""Document loaders: plain text, Markdown, HTML and PDF into titled :class:`Section` lists.

- Markdown is parsed with markdown-it-py (CommonMark + tables), so a ``#`` inside a code fence is
  not a heading; every top-level block (paragraph, list, fence, table, quote) keeps its source text.
- HTML goes through selectolax (lexbor): scripts, styles, navigation and footers are dropped,
  ``h1``-``h6`` become headings, block elements become paragraphs, ``pre`` keeps its line breaks.
- PDF text comes from pypdf, one section per page (chunk metadata then carries the page number).
  Scanned PDFs without a text layer give no text: that is an error, not an empty document.

The format is the given content type (``text/markdown``, ``markdown``...), else the file name's
extension, else a guess from the content (``%PDF-``, an HTML tag, Markdown headings, else text).
Every refusal is a :class:`DocumentError` that says what is wrong with the document.

Documents come from users, and reading one is CPU work that a small file can make enormous (a
1 KB PDF whose page tree names the same page thousands of times keeps pypdf busy for minutes). So
:func:`load_document` reads Markdown, HTML and PDF in the sandbox process pool
(:mod:`workbench.sandbox`) under ``WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT`` and the memory limit, and
every format stops at :data:`MAX_PDF_PAGES` pages and :data:`MAX_DOCUMENT_CHARS` characters of text;
plain text up to :data:`INLINE_TEXT_BYTES`, which is read in linear time, stays in-process.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from markdown_it import MarkdownIt

from workbench import sandbox
from workbench.errors import InputError, LimitExceeded
from workbench.knowledge.chunking import Section, paragraphs

FORMATS = {
    "text/plain": "text/plain",
    "text": "text/plain",
    "txt": "text/plain",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "markdown": "text/markdown",
    "md": "text/markdown",
    "text/html": "text/html",
    "application/xhtml+xml": "text/html",
    "html": "text/html",
    "htm": "text/html",
    "application/pdf": "application/pdf",
    "pdf": "application/pdf",
}
"""Accepted content types and short names, to the content type stored with the document."""
MAX_DOCUMENT_BYTES = 50_000_000
MAX_PDF_PAGES = 5_000
"""Most pages of a PDF that are read."""
MAX_DOCUMENT_CHARS = 20_000_000
"""Most characters of text a document may give."""

_MD_HEADING = re.compile(r"^#{1,6}\s+\S", re.MULTILINE)
_HTML_START = re.compile(rb"^\s*(<!doctype html|<html|<head|<body|<\?xml[^>]*>\s*<html)", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class DocumentError(InputError):
    """A document that cannot be read (unknown format, broken PDF, no text); says which and why."""


@dataclass(slots=True)
class LoadedDocument:
    """A document's title, content type and text as sections."""

    title: str
    content_type: str
    sections: list[Section]

    @property
    def char_count(self) -> int:
        """Characters of text in all sections."""
        return sum(len(b) for s in self.sections for b in s.blocks)


def detect_format(data: bytes, content_type: str | None = None, filename: str | None = None) -> str:
    """The content type to read ``data`` as (see the module docstring for the order)."""
    if content_type:
        key = content_type.split(";", 1)[0].strip().lower()
        if key in FORMATS:
            return FORMATS[key]
        if key not in ("application/octet-stream", "auto", ""):
            raise DocumentError(
                f"unsupported content type {content_type!r}; use text/plain, text/markdown, "
                "text/html or application/pdf"
            )
    if filename:
        ext = PurePath(filename).suffix.lower().lstrip(".")
        if ext in FORMATS:
            return FORMATS[ext]
        if ext == "markdown":
            return "text/markdown"
    head = data[:2048]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if _HTML_START.match(head):
        return "text/html"
    if _MD_HEADING.search(data[:100_000].decode("utf-8", errors="replace")):
        return "text/markdown"
    return "text/plain"


def _decode(data: bytes) -> str:
    text = data.decode("utf-8-sig", errors="replace")
    if "\x00" in text:
        raise DocumentError("the document contains NUL characters: it is binary, not text")
    return text


def _default_title(filename: str | None, sections: list[Section]) -> str:
    if filename:
        return PurePath(filename).stem
    for section in sections:
        if section.heading:
            return section.heading[0]
        if section.blocks:
            return section.blocks[0].splitlines()[0][:120]
    return ""


def load_text(text: str, filename: str | None = None) -> LoadedDocument:
    """Plain text: one section of paragraphs (blank lines separate them)."""
    sections = [Section(blocks=paragraphs(text))]
    return LoadedDocument(_default_title(filename, sections), "text/plain", sections)


def load_markdown(text: str, filename: str | None = None) -> LoadedDocument:
    """Markdown: a section per heading, each top-level block's source as one block."""
    lines = text.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    sections = [Section()]
    path: list[tuple[int, str]] = []
    first_h1: str | None = None
    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        if token.type == "heading_open":
            level = int(token.tag[1])
            title = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            if level == 1 and first_h1 is None:
                first_h1 = title
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, title)]
            sections.append(Section(heading=tuple(h for _, h in path)))
            continue
        start, end = token.map
        block = "\n".join(lines[start:end]).strip()
        if block:
            sections[-1].blocks.append(block)
    kept = [s for s in sections if s.blocks]
    title = first_h1 or _default_title(filename, kept)
    return LoadedDocument(title, "text/markdown", kept)


_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "nav", "footer", "head", "object"}
)
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "aside", "li", "ul", "ol", "dl", "dt", "dd",
        "blockquote", "table", "thead", "tbody", "tr", "figure", "figcaption", "form", "fieldset",
        "address", "details", "summary", "hr", "body",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})


class _HtmlWalker:
    """Collects sections from an HTML tree in document order."""

    def __init__(self) -> None:
        self.sections = [Section()]
        self.path: list[tuple[int, str]] = []
        self.buffer: list[str] = []
        self.first_h1: str | None = None

    def flush(self, prefix: str = "") -> None:
        text = _SPACES.sub(" ", "".join(self.buffer))
        text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
        self.buffer = []
        if text:
            self.sections[-1].blocks.append(prefix + text)

    def walk(self, node: object) -> None:
        for child in node.iter(include_text=True):  # type: ignore[attr-defined]
            tag = child.tag
            if tag == "-text":
                self.buffer.append(_WHITESPACE.sub(" ", child.text_content or ""))
            elif tag in _SKIP_TAGS or tag == "-comment":
                continue
            elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
                self.flush()
                level = int(tag[1])
                title = _SPACES.sub(" ", child.text(deep=True, separator=" ")).strip()
                if level == 1 and self.first_h1 is None and title:
                    self.first_h1 = title
                self.path = [(lvl, h) for lvl, h in self.path if lvl < level] + [(level, title)]
                self.sections.append(Section(heading=tuple(h for _, h in self.path)))
            elif tag == "pre":
                self.flush()
                code = (child.text(deep=True) or "").strip("\n")
                if code.strip():
                    self.sections[-1].blocks.append(code)
            elif tag == "br":
                self.buffer.append("\n")
            elif tag in _CELL_TAGS:
                self.buffer.append(" ")
                self.walk(child)
                self.buffer.append(" |")
            elif tag in _BLOCK_TAGS:
                self.flush()
                self.walk(child)
                self.flush("- " if tag == "li" else "")
            else:
                self.walk(child)


def load_html(html: str | bytes, filename: str | None = None) -> LoadedDocument:
    """HTML: visible text, a section per heading (``h1``-``h6``)."""
    from selectolax.lexbor import LexborHTMLParser

    text = html.decode("utf-8", errors="replace") if isinstance(html, bytes) else html
    text = text.replace("\x00", "")
    tree = LexborHTMLParser(text)
    walker = _HtmlWalker()
    root = tree.body or tree.root
    if root is not None:
        walker.walk(root)
        walker.flush()
    kept = [s for s in walker.sections if s.blocks]
    title_node = tree.css_first("title")
    title = (title_node.text(deep=True).strip() if title_node is not None else "") or walker.first_h1
    return LoadedDocument(title or _default_title(filename, kept), "text/html", kept)


def load_pdf(data: bytes, filename: str | None = None) -> LoadedDocument:
    """PDF: the text layer of each page as one section (page numbers from 1).

    Raises:
        DocumentError: not a readable PDF, encrypted, no text, more than :data:`MAX_PDF_PAGES`
            pages or more than :data:`MAX_DOCUMENT_CHARS` characters of text.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("the PDF is encrypted with a password")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise DocumentError(
                f"the PDF has {len(reader.pages):,} pages; at most {MAX_PDF_PAGES:,} are read"
            )
        sections = []
        chars = 0
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").replace("\x00", "")
            chars += len(text)
            if chars > MAX_DOCUMENT_CHARS:
                raise DocumentError(f"the PDF's text exceeds {MAX_DOCUMENT_CHARS:,} characters")
            blocks = paragraphs(text)
            if blocks:
                sections.append(Section(blocks=blocks, page=number))
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"not a readable PDF: {exc}") from None
    if not sections:
        raise DocumentError("the PDF has no text layer (a scan?): nothing to index")
    return LoadedDocument(
        str(meta_title).strip() or _default_title(filename, sections), "application/pdf", sections
    )


def _read(raw: bytes, kind: str, filename: str | None) -> LoadedDocument:
    """Read ``raw`` as ``kind`` in this process, without a time or memory limit (the pool's job)."""
    if kind == "application/pdf":
        loaded = load_pdf(raw, filename)
    elif kind == "text/html":
        loaded = load_html(raw, filename)
    elif kind == "text/markdown":
        loaded = load_markdown(_decode(raw), filename)
    else:
        loaded = load_text(_decode(raw), filename)
    if not any(s.blocks for s in loaded.sections):
        raise DocumentError("the document has no text")
    if loaded.char_count > MAX_DOCUMENT_CHARS:
        raise DocumentError(f"the document's text exceeds {MAX_DOCUMENT_CHARS:,} characters")
    return loaded


INLINE_TEXT_BYTES = 1_000_000
"""Plain text up to this size is read in-process; larger text goes to the pool like other formats."""
_NAMES = {
    "application/pdf": "the PDF",
    "text/html": "the HTML document",
    "text/markdown": "the Markdown document",
}


def _prepare(data: bytes | str, content_type: str | None, filename: str | None) -> tuple[bytes, str]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"the document is larger than {MAX_DOCUMENT_BYTES // 1_000_000} MB")
    return raw, detect_format(raw, content_type, filename)


def load_document(
    data: bytes | str, content_type: str | None = None, filename: str | None = None
) -> LoadedDocument:
    """Read a document of any supported format (see :func:`detect_format`), within the sandbox's
    limits (see the module docstring). Blocks the calling thread: from async code use
    :func:`load_document_async`.

    Raises:
        DocumentError: the document cannot be read, or reading it hit a limit (the message says which).
    """
    raw, kind = _prepare(data, content_type, filename)
    if _reads_inline(raw, kind):
        return _read(raw, kind, filename)
    with _limits_as_document_errors():
        return sandbox.run_sync(_read, raw, kind, filename, **_pool_options(kind))


async def load_document_async(
    data: bytes | str, content_type: str | None = None, filename: str | None = None
) -> LoadedDocument:
    """:func:`load_document` for async code: the event loop goes on while the pool reads."""
    raw, kind = _prepare(data, content_type, filename)
    if _reads_inline(raw, kind):
        return _read(raw, kind, filename)
    with _limits_as_document_errors():
        return await sandbox.run(_read, raw, kind, filename, **_pool_options(kind))


def _reads_inline(raw: bytes, kind: str) -> bool:
    """Plain text is read in linear time: in-process, up to a size that takes milliseconds."""
    return kind == "text/plain" and len(raw) <= INLINE_TEXT_BYTES


def _pool_options(kind: str) -> dict[str, Any]:
    return {
        "what": f"reading {_NAMES.get(kind, 'the text')}",
        "timeout": sandbox.limits().document_timeout,
        "setting": sandbox.DOCUMENT_TIMEOUT_SETTING,
    }


@contextmanager
def _limits_as_document_errors() -> Iterator[None]:
    """A limit the pool hit is the document's problem: a DocumentError saying which."""
    try:
        yield
    except LimitExceeded as exc:
        raise DocumentError(str(exc)) from None
