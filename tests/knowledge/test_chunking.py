"""The chunker: sizes, overlap, paragraphs kept whole, headings never crossed, long text split."""

from __future__ import annotations

import itertools

import pytest

from workbench.knowledge.chunking import Section, chunk_sections, paragraphs, split_long

SENTENCES = [f"Sentence number {i} says something about topic {i % 7}." for i in range(60)]


def test_small_paragraphs_are_packed_together_and_kept_whole() -> None:
    section = Section(heading=("Guide",), blocks=["First paragraph.", "Second paragraph.", "Third."])
    chunks = chunk_sections([section], size=200, overlap=0)
    assert len(chunks) == 1
    assert chunks[0].text == "First paragraph.\n\nSecond paragraph.\n\nThird."
    assert chunks[0].heading == "Guide"
    assert chunks[0].embedding_text() == "Guide\n\n" + chunks[0].text


def test_chunks_respect_the_size_and_never_split_a_paragraph_that_fits() -> None:
    blocks = [" ".join(SENTENCES[i : i + 3]) for i in range(0, 60, 3)]  # ~150 characters each
    chunks = chunk_sections([Section(blocks=blocks)], size=400, overlap=0)
    assert len(chunks) > 5
    assert all(len(c.text) <= 400 for c in chunks)
    for block in blocks:  # every paragraph lies whole inside exactly one chunk
        assert sum(block in c.text for c in chunks) == 1
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_overlap_repeats_the_end_of_the_previous_chunk_from_a_sentence_start() -> None:
    blocks = [" ".join(SENTENCES[i : i + 3]) for i in range(0, 30, 3)]
    chunks = chunk_sections([Section(blocks=blocks)], size=400, overlap=120)
    assert len(chunks) >= 3
    for before, after in itertools.pairwise(chunks):
        head = after.text.split("\n\n")[0]
        assert before.text.endswith(head), (before.text, head)
        assert 0 < len(head) <= 120
        assert head.startswith("Sentence number")  # cut at a sentence start, not mid-word
        assert len(after.text) <= 400


def test_no_chunk_crosses_a_heading_and_each_keeps_its_heading_path_and_page() -> None:
    sections = [
        Section(heading=("Book", "Intro"), blocks=["Short intro."], page=1),
        Section(heading=("Book", "Setup"), blocks=["Install it.", "Configure it."], page=2),
    ]
    chunks = chunk_sections(sections, size=500, overlap=50)
    assert [(c.heading, c.page, c.text) for c in chunks] == [
        ("Book > Intro", 1, "Short intro."),
        ("Book > Setup", 2, "Install it.\n\nConfigure it."),
    ]


def test_a_long_paragraph_is_split_at_sentences_then_words_then_characters() -> None:
    text = " ".join(SENTENCES[:20])
    pieces = split_long(text, 200)
    assert all(len(p) <= 200 for p in pieces)
    assert all(p.rstrip().endswith(".") for p in pieces)  # sentence boundaries
    assert " ".join(pieces) == text

    words = " ".join(["word"] * 200)  # no sentence end at all
    pieces = split_long(words, 100)
    assert all(len(p) <= 100 for p in pieces) and " ".join(pieces) == words

    blob = "x" * 450  # not even a space
    assert split_long(blob, 200) == ["x" * 200, "x" * 200, "x" * 50]


def test_paragraphs_of_plain_text() -> None:
    assert paragraphs("a\nb\n\n\n  c  \n \nd") == ["a\nb", "c", "d"]


@pytest.mark.parametrize(("size", "overlap"), [(50, 0), (9000, 0), (400, 201), (400, -1)])
def test_bad_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk"):
        chunk_sections([Section(blocks=["x"])], size=size, overlap=overlap)
