"""Reading a hostile document is bounded: a kilobyte PDF that would keep pypdf busy for minutes
fails with a message naming the limit, the event loop keeps running meanwhile, and the page and
text limits stop documents that are merely huge."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.knowledge.pdfs import make_pdf, page_tree_bomb
from tests.support.loop import LoopWatch
from workbench import sandbox
from workbench.knowledge import loaders
from workbench.knowledge.loaders import DocumentError, load_document, load_document_async


@pytest.fixture
def short_limits() -> Iterator[None]:
    """A 1 s document time limit for the test (the pool is warmed up first: its start is not timed)."""
    before = sandbox.limits()
    sandbox.configure(sandbox.Limits(timeout=1, document_timeout=1, memory_mb=256, workers=2))
    sandbox.run_sync(abs, -1, what="warming up the pool")
    yield
    sandbox.configure(before)


def test_a_page_tree_bomb_is_small_and_would_be_slow() -> None:
    # The attack: 1,000 pages that are all the same page, in about a kilobyte.
    data = page_tree_bomb(depth=3)
    assert len(data) < 2_000
    from io import BytesIO

    from pypdf import PdfReader

    page = PdfReader(BytesIO(data)).pages[0]
    started = time.monotonic()
    page.extract_text()
    per_page = time.monotonic() - started
    assert per_page * 1_000 > 5, "reading all pages would take seconds"


def test_a_hostile_pdf_fails_on_the_time_limit(short_limits: None) -> None:
    started = time.monotonic()
    with pytest.raises(DocumentError) as caught:
        load_document(page_tree_bomb(depth=3), filename="bomb.pdf")
    assert str(caught.value) == (
        "Reading the PDF took longer than 1 s (limit WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT)"
    )
    assert time.monotonic() - started < 4
    # The pool replaced the killed worker: the next document reads normally.
    assert load_document(make_pdf(["Still fine."]), filename="ok.pdf").sections[0].blocks == ["Still fine."]


async def test_a_hostile_pdf_does_not_stop_the_event_loop(short_limits: None) -> None:
    async with LoopWatch() as watch:
        with pytest.raises(DocumentError, match=r"took longer than 1 s \(limit WORKBENCH_SANDBOX_DOCUMENT"):
            await load_document_async(page_tree_bomb(depth=3), "application/pdf")
    assert len(watch.ticks) >= 15 and watch.longest_pause < 0.5, (
        "the event loop was blocked while the PDF was read"
    )


def test_a_pdf_with_too_many_pages_is_refused_before_reading_them() -> None:
    started = time.monotonic()
    with pytest.raises(DocumentError, match=r"the PDF has 10,000 pages; at most 5,000 are read"):
        load_document(page_tree_bomb(depth=4), filename="pages.pdf")
    assert time.monotonic() - started < 5


def test_a_pdf_with_too_much_text_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process on purpose: the pool's workers do not see a monkeypatched limit.
    monkeypatch.setattr(loaders, "MAX_DOCUMENT_CHARS", 10_000)
    with pytest.raises(DocumentError, match=r"the PDF's text exceeds 10,000 characters"):
        loaders.load_pdf(page_tree_bomb(depth=1, operators=1000))


async def test_normal_documents_still_load_through_the_pool() -> None:
    doc = await load_document_async("# Title\n\nSome text.", filename="a.md")
    assert (doc.title, doc.content_type) == ("Title", "text/markdown")
    doc = await load_document_async(make_pdf(["Page one."]), "application/pdf")
    assert doc.sections[0].page == 1
