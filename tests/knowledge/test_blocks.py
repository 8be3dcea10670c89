"""The knowledge blocks in a real durable run: add documents, then search them, as the running user."""

from __future__ import annotations

from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.graph.builder import GraphBuilder
from workbench.knowledge import KnowledgeService

RUN_TIMEOUT = 60


def rag_graph(wb: Workbench) -> GraphBuilder:
    g = GraphBuilder("Remember and recall", registry=wb.registry)
    notes = g.input("notes")
    question = g.input("question")
    add = g.add("AddToKnowledgeBaseBlock", knowledge_base="block notes", metadata={"origin": "graph"})
    search = g.add("SearchKnowledgeBaseBlock", mode="hybrid", top_k=2, filter={"origin": "graph"})
    notes.result >> add.content
    add.knowledge_base_id >> search.knowledge_base
    question.result >> search.query
    add.chunk_count >> g.output("chunks").value
    search.results >> g.output("results").value
    search.context >> g.output("context").value
    return g


async def test_add_then_search_in_one_run(wb: Workbench, service: KnowledgeService) -> None:
    notes = (
        "# Office\n\n## Wi-Fi\n\nThe guest network is called Harbor and its password is on the fridge.\n\n"
        "## Parking\n\nVisitors park on level -2; the gate code changes every Monday."
    )
    result = await wb.executions.run(
        rag_graph(wb).build(),
        {"notes": notes, "question": "where do visitors leave the car?"},
        timeout=RUN_TIMEOUT,
    )
    assert result.status == "COMPLETED", result.error
    assert result.outputs["chunks"] == [2]
    (results,) = result.outputs["results"]
    assert results[0]["heading"] == "Office > Parking" and results[0]["metadata"] == {"origin": "graph"}
    (context,) = result.outputs["context"]
    assert context.startswith("[1] Office > Parking\nVisitors park on level -2")
    assert "[2] Office > Wi-Fi" in context

    kb = await service.get("block notes", LOCAL_USER_ID)  # created on first use, for the run's user
    assert kb.document_count == 1 and kb.chunk_count == 2


async def test_an_unknown_knowledge_base_fails_the_node_with_its_name(
    wb: Workbench, service: KnowledgeService
) -> None:
    g = GraphBuilder("Search nowhere", registry=wb.registry)
    search = g.add("SearchKnowledgeBaseBlock", knowledge_base="no such kb", query="x")
    search.results >> g.output("results").value
    result = await wb.executions.run(g.build(), {}, timeout=RUN_TIMEOUT)
    assert result.status == "FAILED"
    assert "knowledge base 'no such kb' not found" in (result.error or "")

    g = GraphBuilder("Add nowhere", registry=wb.registry)
    add = g.add("AddToKnowledgeBaseBlock", knowledge_base="missing", content="text", create_if_missing=False)
    add.document_ids >> g.output("ids").value
    result = await wb.executions.run(g.build(), {}, timeout=RUN_TIMEOUT)
    assert result.status == "FAILED" and "knowledge base 'missing' not found" in (result.error or "")


async def test_blocks_without_a_database_say_so(ewb: Workbench) -> None:
    g = GraphBuilder("Ephemeral search", registry=ewb.registry)
    search = g.add("SearchKnowledgeBaseBlock", knowledge_base="kb", query="x")
    search.results >> g.output("results").value
    result = await ewb.executions.run(g.build(), {}, timeout=RUN_TIMEOUT)
    assert result.status == "FAILED" and "needs the platform database" in (result.error or "")
