"""Cutting a loaded document into chunks: paragraphs packed up to a size, never across a heading.

A document arrives as :class:`Section` objects (the loaders make them): the text under one heading
path (``("Guide", "Install")``), as a list of blocks (paragraphs, lists, code blocks, tables), and for
PDFs the page. :func:`chunk_sections` packs whole blocks into chunks of at most ``size`` characters;
a block longer than that is split at sentence ends, then at spaces, and only as a last resort inside
a word. A chunk never spans two sections, so every chunk has one heading path and one page. Each
chunk after the first of a section starts with the last ``overlap`` characters of the one before
(cut to begin at a sentence or word), so a fact split across a boundary is found from either side.

Sizes are in characters: about four per token for English, so the default 800 stays below the 256
word pieces all-MiniLM-L6-v2 reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 100
MIN_CHUNK_SIZE = 100
MAX_CHUNK_SIZE = 8000

_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\n+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(slots=True)
class Section:
    """The text under one heading path: its blocks in order, and the page (PDFs) it is on."""

    heading: tuple[str, ...] = ()
    blocks: list[str] = field(default_factory=list)
    page: int | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document as stored and embedded: its text, heading path and page."""

    index: int
    text: str
    heading: str = ""
    page: int | None = None

    def embedding_text(self) -> str:
        """What is embedded: the heading path, then the text (the heading carries the topic)."""
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


def paragraphs(text: str) -> list[str]:
    """The paragraphs of plain text (separated by blank lines), stripped, empty ones dropped."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def _split_at(text: str, size: int, pattern: re.Pattern[str] | None) -> list[str]:
    """Pieces of ``text`` of at most ``size`` characters, cut where ``pattern`` matches (or anywhere)."""
    if len(text) <= size:
        return [text]
    if pattern is None:
        return [text[i : i + size] for i in range(0, len(text), size)]
    parts = [p for p in pattern.split(text) if p.strip()]
    if len(parts) <= 1:
        return []
    out: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current} {part}" if current else part
        if len(candidate) <= size:
            current = candidate
            continue
        if current:
            out.append(current)
        current = part
    if current:
        out.append(current)
    return out


def split_long(text: str, size: int) -> list[str]:
    """A block longer than ``size`` as pieces that fit: at sentence ends, else spaces, else anywhere."""
    if len(text) <= size:
        return [text]
    out: list[str] = []
    for sentence_run in _split_at(text, size, _SENTENCE_END) or [text]:
        if len(sentence_run) <= size:
            out.append(sentence_run)
            continue
        for word_run in _split_at(sentence_run, size, re.compile(r"\s+")) or [sentence_run]:
            out.extend(_split_at(word_run, size, None))
    return out


def _tail(text: str, overlap: int) -> str:
    """The last ``overlap`` characters of ``text``, starting at a sentence or word start."""
    if overlap <= 0 or not text:
        return ""
    if len(text) <= overlap:
        return text
    tail = text[-overlap:]
    sentence = _SENTENCE_END.search(tail)
    if sentence is not None and sentence.end() < len(tail):
        return tail[sentence.end() :].strip()
    space = tail.find(" ")
    return tail[space + 1 :].strip() if 0 <= space < len(tail) - 1 else tail.strip()


def _chunk_section(section: Section, size: int, overlap: int) -> list[str]:
    pieces: list[tuple[str, str]] = []  # (text, separator before it when it follows another piece)
    for block in section.blocks:
        block = block.strip()
        if not block:
            continue
        for i, piece in enumerate(split_long(block, size)):
            pieces.append((piece, " " if i else "\n\n"))
    chunks: list[str] = []
    current = ""
    fresh = True  # current holds only overlap (or nothing) so far
    for piece, sep in pieces:
        if current and not fresh and len(current) + len(sep) + len(piece) > size:
            chunks.append(current)
            current = _tail(current, overlap)
            if len(current) + len(sep) + len(piece) > size:
                current = ""
            fresh = True
        current = f"{current}{sep}{piece}" if current else piece
        fresh = False
    if current and not fresh:
        chunks.append(current)
    return chunks


def chunk_sections(
    sections: list[Section], size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP
) -> list[Chunk]:
    """Chunks of every section in order, numbered from 0; see the module docstring for the rules."""
    if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} characters")
    if not 0 <= overlap <= size // 2:
        raise ValueError("chunk overlap must be between 0 and half the chunk size")
    out: list[Chunk] = []
    for section in sections:
        heading = " > ".join(h for h in section.heading if h)
        for text in _chunk_section(section, size, overlap):
            out.append(Chunk(index=len(out), text=text, heading=heading, page=section.page))
    return out
