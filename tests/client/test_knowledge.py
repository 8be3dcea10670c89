"""Knowledge bases through the client: the remote transport against a real server gives what the local
one gives (same documents, chunks, search results and errors), with the offline embedding model."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.knowledge.pdfs import make_pdf
from tests.server.api_support import signup
from tests.support.servers import ServerProcess
from workbench.client import LocalClient, RemoteClient, SearchResult
from workbench.client.base import AsyncClient
from workbench.errors import NotFoundError
from workbench.knowledge import KnowledgeInputError

GARDEN = """# Garden notes

## Tomatoes

Tomatoes need full sun, at least six hours a day, and deep watering twice a week. Pinch out the
side shoots so the plant puts its energy into the fruit.

## Compost

A compost heap wants a mix of green waste (grass cuttings, peelings) and brown waste (dry leaves,
cardboard). Turn it every few weeks; it is ready when it smells of forest soil.
"""
BREAD = """Sourdough bread at home

Mix 500 g of flour, 350 g of water and 100 g of active starter. Leave the dough to rest, then fold it
every thirty minutes for two hours. Bake the loaf in a Dutch oven at 250 degrees Celsius.
"""
MOON = "The Moon\n\nThe Moon orbits the Earth every 27 days and always shows it the same face."


def hit_view(hits: list[SearchResult]) -> list[tuple[Any, ...]]:
    """What must agree between transports: which passage, where, its ranks, its score, its page."""
    assert all(isinstance(h, SearchResult) for h in hits)
    return [
        (h.source, h.heading, h.chunk_index, h.rank, h.vector_rank, h.keyword_rank, round(h.score, 3), h.page)
        for h in hits
    ]


async def lifecycle(client: AsyncClient, files: Path) -> dict[str, Any]:
    """Create a knowledge base, fill it from text and files, search it every way, then empty it."""
    kb = await client.create_knowledge_base(
        "Garden notes", description="home things", chunk_size=300, chunk_overlap=50, metadata={"k": 1}
    )
    md = await client.add_document("Garden notes", GARDEN, source="garden.md", metadata={"kind": "guide"})
    txt = await client.add_document(kb.id, files / "bread.txt", metadata={"kind": "recipe"})
    pdf = await client.add_document(kb.id, files / "moon.pdf", title="Moon facts")
    docs = await client.documents(kb.id)
    filled = await client.knowledge_base("Garden notes")
    out: dict[str, Any] = {
        "kb": (kb.name, kb.description, kb.embedding_model, kb.dimension, kb.language, kb.metadata),
        "chunking": (kb.chunk_size, kb.chunk_overlap, kb.document_count, kb.chunk_count),
        "docs": [
            (d.title, d.source, d.content_type, d.metadata, d.char_count, d.chunk_count, d.sha256)
            for d in docs
        ],
        "ids": [d.id for d in docs] == [pdf.id, txt.id, md.id] and filled.id == kb.id,
        "counts": (filled.document_count, filled.chunk_count),
        "listed": [k.name for k in await client.knowledge_bases()],
    }
    for mode in ("vector", "keyword", "hybrid"):
        out[mode] = hit_view(
            await client.search(kb.id, "how often should I water tomatoes", mode=mode, top_k=3)
        )
    out["filtered"] = hit_view(
        await client.search("Garden notes", "tomatoes sun", mode="vector", filter={"kind": "recipe"})
    )
    out["pdf"] = hit_view(await client.search(kb.id, "Earth orbit", mode="keyword"))
    await client.delete_document("Garden notes", txt.id)
    out["after_delete"] = [d.source for d in await client.documents(kb.id)]
    out["bread_gone"] = await client.search(kb.id, "sourdough", mode="keyword")
    await client.delete_knowledge_base("Garden notes")
    with pytest.raises(NotFoundError):
        await client.knowledge_base(kb.id)
    out["remaining"] = [k.name for k in await client.knowledge_bases()]
    return out


async def test_same_knowledge_bases(clients: tuple[AsyncClient, AsyncClient], tmp_path: Path) -> None:
    (tmp_path / "bread.txt").write_text(BREAD)
    (tmp_path / "moon.pdf").write_bytes(make_pdf([MOON], title="The Moon"))
    local, remote = [await lifecycle(client, tmp_path) for client in clients]
    assert local == remote
    assert local["kb"] == ("Garden notes", "home things", "local:all-MiniLM-L6-v2", 384, "english", {"k": 1})
    assert local["chunking"] == (300, 50, 0, 0) and local["ids"] is True
    titles = [(d[0], d[1], d[2], d[3]) for d in local["docs"]]
    assert titles == [
        ("Moon facts", "moon.pdf", "application/pdf", {}),
        ("bread", "bread.txt", "text/plain", {"kind": "recipe"}),
        ("Garden notes", "garden.md", "text/markdown", {"kind": "guide"}),
    ]
    assert local["counts"] == (3, sum(d[5] for d in local["docs"])) and local["listed"] == ["Garden notes"]
    for mode in ("vector", "keyword", "hybrid"):
        best = local[mode][0]
        assert best[:2] == ("garden.md", "Garden notes > Tomatoes"), (mode, local[mode])
    assert local["vector"][0][4:6] == (1, None) and local["keyword"][0][4:6] == (None, 1)
    assert local["hybrid"][0][4:6] == (1, 1)
    assert {h[0] for h in local["filtered"]} == {"bread.txt"}
    assert local["pdf"][0][0] == "moon.pdf" and local["pdf"][0][-1] == 1  # the PDF's page 1
    assert local["after_delete"] == ["moon.pdf", "garden.md"] and local["bread_gone"] == []
    assert local["remaining"] == []


async def mistakes(client: AsyncClient, other: AsyncClient) -> list[Any]:
    """Bad fields (named), and another user's knowledge base, which does not exist for them."""
    kb = await client.create_knowledge_base("Private notes")
    await client.add_document(kb.id, "# Secret\n\nThe safe code is 4711.", source="secret.md")
    seen: list[Any] = []
    for call in (
        lambda: client.create_knowledge_base("Bad", chunk_size=10),
        lambda: client.create_knowledge_base("Bad", language="klingon"),
        lambda: client.create_knowledge_base("Private notes"),
        lambda: client.add_document(kb.id, "   "),
        lambda: client.search(kb.id, "code", mode="fuzzy", top_k=0),  # type: ignore[arg-type]
    ):
        with pytest.raises(KnowledgeInputError) as bad:
            await call()
        seen.append(sorted(field for field, _ in bad.value.problems))
    for call in (
        lambda: other.knowledge_base(kb.id),
        lambda: other.knowledge_base("Private notes"),
        lambda: other.documents(kb.id),
        lambda: other.search(kb.id, "safe code"),
        lambda: other.add_document(kb.id, "# Mine now"),
        lambda: other.delete_knowledge_base(kb.id),
        lambda: client.knowledge_base(str(uuid.uuid4())),
        lambda: client.delete_document(kb.id, str(uuid.uuid4())),
    ):
        with pytest.raises(NotFoundError):
            await call()
    seen.append(await other.knowledge_bases())
    seen.append([h.source for h in await client.search(kb.id, "safe code", mode="keyword")])
    await client.delete_knowledge_base(kb.id)
    return seen


async def test_same_errors_and_privacy(
    clients: tuple[AsyncClient, AsyncClient], key_server: ServerProcess, tmp_path: Path
) -> None:
    local, remote = clients
    other_local = await LocalClient(tmp_path / "home", user_id=str(uuid.uuid4())).start()
    stranger = signup(key_server, "stranger")
    key, _ = stranger.key("knowledge:read", "knowledge:write", "blocks:read", name="stranger")
    other_remote = await RemoteClient(key_server.base_url, api_key=key).start()
    try:
        outcomes = [await mistakes(local, other_local), await mistakes(remote, other_remote)]
    finally:
        await other_remote.close()
        await other_local.close()
        stranger.close()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == [
        ["chunk_size"],
        ["language"],
        ["name"],
        ["content"],
        ["mode", "top_k"],
        [],
        ["secret.md"],
    ]
