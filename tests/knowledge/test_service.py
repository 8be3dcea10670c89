"""The knowledge service on the real embedded PostgreSQL with the real local embedding model:
knowledge bases, documents, the three search modes and their ranking, filters, isolation, errors."""

from __future__ import annotations

import itertools
import random
import uuid

import pytest

from tests.knowledge.conftest import corpus_files
from tests.knowledge.pdfs import make_pdf
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.errors import NotFoundError
from workbench.knowledge import KnowledgeInputError, KnowledgeService
from workbench.knowledge.store import ChunkRow, index_name, vector_sql

U = LOCAL_USER_ID
TOPICS = {"cats.md": "pets", "postgres.md": "tech", "bread.txt": "food", "jupiter.html": "space"}


async def corpus_kb(service: KnowledgeService, name: str = "corpus", user_id: str = U) -> str:
    """A knowledge base holding the four corpus documents, each with metadata ``topic``."""
    kb = await service.create(user_id, name, chunk_size=300, chunk_overlap=40)
    for path in corpus_files():
        await service.add_document(
            kb.id, user_id, path.read_bytes(), filename=path.name, metadata={"topic": TOPICS[path.name]}
        )
    return kb.id


def top_sources(hits: list, n: int = 1) -> list[str]:
    return [h.chunk.source for h in hits[:n]]


async def test_create_list_get_delete_and_the_per_kb_hnsw_index(
    service: KnowledgeService, wb: Workbench
) -> None:
    kb = await service.create(U, "Handbook", description="team notes", metadata={"team": "ops"})
    assert (kb.embedding_model, kb.dimension, kb.language) == ("local:all-MiniLM-L6-v2", 384, "english")
    assert (kb.chunk_size, kb.chunk_overlap, kb.document_count, kb.chunk_count) == (800, 100, 0, 0)
    assert kb.metadata == {"team": "ops"}
    assert (await service.get(kb.id, U)).name == "Handbook"
    assert (await service.get("Handbook", U)).id == kb.id
    items, total = await service.list(U)
    assert total == 1 and [k.id for k in items] == [kb.id]

    assert wb.db is not None
    indexdef = await wb.db.pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = $1", index_name(kb.id)
    )
    assert "hnsw" in indexdef and "vector(384)" in indexdef and "vector_cosine_ops" in indexdef
    assert kb.id in indexdef  # partial: this knowledge base only

    await service.delete(kb.id, U)
    with pytest.raises(NotFoundError):
        await service.get(kb.id, U)
    assert (
        await wb.db.pool.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = $1", index_name(kb.id))
        == 0
    )
    with pytest.raises(NotFoundError):
        await service.delete(kb.id, U)


async def test_bad_fields_are_all_named(service: KnowledgeService) -> None:
    with pytest.raises(KnowledgeInputError) as caught:
        await service.create(U, " ", chunk_size=20, language="klingon", dimension=0)
    fields = {f for f, _ in caught.value.problems}
    assert fields == {"name", "chunk_size", "language", "dimension"}

    with pytest.raises(KnowledgeInputError) as caught:
        await service.create(U, "x", chunk_size=500, chunk_overlap=400)
    assert caught.value.problems == [("chunk_overlap", "must be from 0 to half of chunk_size")]

    with pytest.raises(KnowledgeInputError) as caught:
        await service.create(U, "x", embedding_model="local:some-other-model")
    assert caught.value.problems[0][0] == "embedding_model" and "unknown local" in caught.value.problems[0][1]

    await service.create(U, "twice")
    with pytest.raises(KnowledgeInputError, match="already have a knowledge base named 'twice'"):
        await service.create(U, "twice")


async def test_documents_are_chunked_embedded_stored_listed_and_deleted(
    service: KnowledgeService, wb: Workbench
) -> None:
    kb = await service.create(U, "docs", chunk_size=300, chunk_overlap=40)
    added = await service.add_document(
        kb.id, U, (corpus_files()[1]).read_text(), filename="cats.md", metadata={"topic": "pets"}
    )
    doc = added.document
    assert (doc.title, doc.source, doc.content_type) == ("Caring for cats", "cats.md", "text/markdown")
    assert doc.chunk_count >= 3 and doc.metadata == {"topic": "pets"} and len(doc.sha256) == 64
    assert added.embedding_tokens == 0 and added.cost_usd == 0.0  # local model: free

    assert wb.db is not None
    rows = await wb.db.pool.fetch(
        """SELECT chunk_index, heading, metadata, vector_dims(embedding) AS dims, content
           FROM knowledge_chunks WHERE document_id = $1 ORDER BY chunk_index""",
        uuid.UUID(doc.id),
    )
    assert [r["chunk_index"] for r in rows] == list(range(doc.chunk_count))
    assert {r["dims"] for r in rows} == {384}
    assert {r["heading"] for r in rows} >= {"Caring for cats > Feeding", "Caring for cats > Grooming"}
    assert all(r["metadata"] == {"topic": "pets"} and len(r["content"]) <= 300 for r in rows)

    pdf = await service.add_document(
        kb.id, U, make_pdf(["Apples are red.", "Pears are green."]), filename="f.pdf"
    )
    pages = await wb.db.pool.fetch(
        "SELECT page FROM knowledge_chunks WHERE document_id = $1 ORDER BY chunk_index",
        uuid.UUID(pdf.document.id),
    )
    assert [r["page"] for r in pages] == [1, 2]

    docs, total = await service.list_documents(kb.id, U)
    assert total == 2 and [d.id for d in docs] == [pdf.document.id, doc.id]  # newest first
    assert (await service.get(kb.id, U)).chunk_count == doc.chunk_count + 2

    await service.delete_document(kb.id, doc.id, U)
    assert (
        await wb.db.pool.fetchval(
            "SELECT count(*) FROM knowledge_chunks WHERE document_id = $1", uuid.UUID(doc.id)
        )
        == 0
    )
    with pytest.raises(NotFoundError):
        await service.get_document(kb.id, doc.id, U)
    with pytest.raises(NotFoundError):
        await service.delete_document(kb.id, doc.id, U)


async def test_unreadable_or_empty_documents_name_the_content_field(service: KnowledgeService) -> None:
    kb = await service.create(U, "strict")
    for content, kind in ((b"%PDF-1.4 nope", None), ("   ", None), (b"x", "image/png")):
        with pytest.raises(KnowledgeInputError) as caught:
            await service.add_document(kb.id, U, content, content_type=kind)
        assert caught.value.problems[0][0] == "content"
    with pytest.raises(KnowledgeInputError) as caught:
        await service.add_document(kb.id, U, "text", title="t\x00", metadata=["not", "a", "dict"])  # type: ignore[arg-type]
    assert {f for f, _ in caught.value.problems} == {"title", "metadata"}
    assert (await service.list_documents(kb.id, U))[1] == 0  # nothing half-added


async def test_vector_search_finds_by_meaning(service: KnowledgeService) -> None:
    kb_id = await corpus_kb(service)
    hits = await service.search(
        kb_id, U, "How hot should the oven be for baking a loaf?", mode="vector", top_k=3
    )
    assert top_sources(hits) == ["bread.txt"] and "250 degrees" in hits[0].chunk.content
    assert [h.rank for h in hits] == [1, 2, 3] and hits[0].score > hits[1].score >= hits[2].score
    assert hits[0].vector_rank == 1 and hits[0].keyword_rank is None

    hits = await service.search(kb_id, U, "what do young felines eat", mode="vector", top_k=2)
    assert top_sources(hits) == ["cats.md"] and hits[0].chunk.heading == "Caring for cats > Feeding"

    hits = await service.search(kb_id, U, "moons of the biggest planet", mode="vector", top_k=1)
    assert top_sources(hits) == ["jupiter.html"] and hits[0].chunk.title == "The planet Jupiter"


async def test_keyword_search_ranks_by_full_text_match(service: KnowledgeService) -> None:
    kb_id = await corpus_kb(service)
    hits = await service.search(kb_id, U, "autovacuum", mode="keyword")
    assert len(hits) == 1 and hits[0].chunk.heading == "PostgreSQL notes > Vacuum"
    assert hits[0].keyword_rank == 1 and hits[0].vector_rank is None and hits[0].score > 0

    # Stemming (english): "indexes" finds "index" and "indexes"; a chunk with all words comes first.
    hits = await service.search(kb_id, U, "GIN index tsvector", mode="keyword")
    assert hits[0].chunk.heading == "PostgreSQL notes > Indexes"

    # A phrase in quotes must appear as written; -word excludes.
    assert top_sources(await service.search(kb_id, U, '"Great Red Spot"', mode="keyword")) == ["jupiter.html"]
    assert await service.search(kb_id, U, '"Red Great Spot"', mode="keyword") == []
    hits = await service.search(kb_id, U, "meals -kittens", mode="keyword")
    assert hits == []  # the only chunk about meals mentions kittens

    assert await service.search(kb_id, U, "zeppelin", mode="keyword") == []
    assert await service.search(kb_id, U, "the of and", mode="keyword") == []  # stop words only
    hits = await service.search(kb_id, U, "young cats' meals", mode="keyword")  # any word; all first
    assert hits[0].chunk.heading == "Caring for cats > Feeding" and len(hits) > 1


async def test_hybrid_fuses_both_lists(service: KnowledgeService) -> None:
    kb_id = await corpus_kb(service)
    hits = await service.search(kb_id, U, "HNSW ef_construction parameters", mode="hybrid", top_k=4)
    first = hits[0]
    assert first.chunk.heading == "PostgreSQL notes > Indexes"
    assert first.vector_rank is not None and first.keyword_rank == 1
    assert first.score == pytest.approx(1 / (60 + first.vector_rank) + 1 / 61)
    assert [h.rank for h in hits] == [1, 2, 3, 4]
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    # chunks without any of the words still come from the vector list
    assert any(h.keyword_rank is None and h.vector_rank is not None for h in hits)


async def test_metadata_filter_keeps_matching_documents_only(service: KnowledgeService) -> None:
    kb_id = await corpus_kb(service)
    for mode in ("vector", "keyword", "hybrid"):
        hits = await service.search(
            kb_id, U, "fresh water", mode=mode, top_k=10, metadata_filter={"topic": "food"}
        )
        assert hits and {h.chunk.source for h in hits} == {"bread.txt"}, mode
        assert all(h.chunk.metadata == {"topic": "food"} for h in hits)
    unfiltered = await service.search(kb_id, U, "fresh water", mode="keyword", top_k=10)
    assert {h.chunk.source for h in unfiltered} == {"bread.txt", "cats.md"}
    assert await service.search(kb_id, U, "anything", mode="vector", metadata_filter={"topic": "none"}) == []


async def test_search_input_errors_are_named(service: KnowledgeService) -> None:
    kb_id = await corpus_kb(service)
    with pytest.raises(KnowledgeInputError) as caught:
        await service.search(kb_id, U, "", mode="fuzzy", top_k=0)  # type: ignore[arg-type]
    assert {f for f, _ in caught.value.problems} == {"query", "mode", "top_k"}
    with pytest.raises(NotFoundError):
        await service.search(str(uuid.uuid4()), U, "x")


async def test_users_see_only_their_own_knowledge_bases(service: KnowledgeService, other_user: str) -> None:
    mine = await corpus_kb(service, "shared name")
    theirs = await service.create(other_user, "shared name")  # names are per user
    await service.add_document(theirs.id, other_user, "Secret plans of the other user about sourdough.")

    assert [k.id for k in (await service.list(other_user))[0]] == [theirs.id]
    for call in (
        service.get(mine, other_user),
        service.search(mine, other_user, "bread"),
        service.list_documents(mine, other_user),
        service.add_document(mine, other_user, "intrusion"),
        service.delete(mine, other_user),
    ):
        with pytest.raises(NotFoundError):
            await call
    doc_id = (await service.list_documents(mine, U))[0][0].id
    with pytest.raises(NotFoundError):
        await service.delete_document(theirs.id, doc_id, other_user)  # their KB, my document
    # my searches never return their chunks
    hits = await service.search(mine, U, "secret plans sourdough", top_k=20)
    assert all("Secret plans" not in h.chunk.content for h in hits)
    assert (await service.get("shared name", U)).id == mine
    assert (await service.get("shared name", other_user)).id == theirs.id


async def test_vector_queries_use_the_knowledge_bases_hnsw_index(
    service: KnowledgeService, wb: Workbench
) -> None:
    kb = await service.create(U, "synthetic")
    other = await service.create(U, "neighbour")
    rng = random.Random(7)

    def unit() -> list[float]:
        v = [rng.gauss(0, 1) for _ in range(384)]
        norm = sum(x * x for x in v) ** 0.5
        return [x / norm for x in v]

    for target in (kb, other):
        rows = [ChunkRow(i, f"synthetic chunk {i}", "", None, unit()) for i in range(1500)]
        fields = {"title": "synthetic", "source": "", "content_type": "text/plain", "metadata": {},
                  "sha256": "0" * 64, "char_count": 0}  # fmt: skip
        await service.repo.add_document(target, fields, rows)
    kb = await service.get(kb.id, U)
    assert wb.db is not None
    async with wb.db.pool.acquire() as conn:
        await conn.execute("ANALYZE knowledge_chunks")
        plan = "\n".join(
            r[0] for r in await conn.fetch("EXPLAIN " + vector_sql(kb, filtered=False), unit(), 5)
        )
    assert index_name(kb.id) in plan, plan
    assert index_name(other.id) not in plan

    # and the index answers like an exact scan on this data
    query = unit()
    approx = await service.repo.vector_search(kb, query, 10, ef_search=100)
    exact = await service.repo.vector_search(kb, query, 10, exact=True)
    assert len({h.chunk_id for h in approx} & {h.chunk_id for h in exact}) >= 8
    assert all(h.content.startswith("synthetic chunk") for h in approx)
