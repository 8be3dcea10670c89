"""Parsing graph files without detours, and the plan cache of graphs that are not stored."""

from __future__ import annotations

import json
import uuid

import pytest

from blocks.basic import StoreValueBlock
from blocks.io import AgentInputBlock, AgentOutputBlock
from workbench.block.registry import default_registry
from workbench.config import Settings
from workbench.engine.state import fast_uuid
from workbench.errors import GraphValidationError
from workbench.graph.autogpt import LEGACY_BLOCK_IDS, parse_graph
from workbench.graph.model import Graph
from workbench.services.graphs import GraphService

LEGACY_NOTE_ID = "31d1064e-7446-4693-o7d4-65e5ca9110d1"


def chain_document(n: int) -> dict:
    """input -> n pass-throughs -> output, links without ids (derived when parsed)."""
    nodes = [{"id": "in", "block_id": AgentInputBlock.id, "input_default": {"name": "x"}}]
    links = []
    previous, pin = "in", "result"
    for i in range(n):
        nodes.append({"id": f"s{i}", "block_id": StoreValueBlock.id, "input_default": {}})
        links.append({"source_id": previous, "source_name": pin, "sink_id": f"s{i}", "sink_name": "input"})
        previous, pin = f"s{i}", "output"
    nodes.append({"id": "out", "block_id": AgentOutputBlock.id, "input_default": {"name": "y"}})
    links.append({"source_id": previous, "source_name": pin, "sink_id": "out", "sink_name": "value"})
    return {"id": str(uuid.uuid4()), "name": "chain", "nodes": nodes, "links": links}


def test_text_and_document_parse_to_the_same_graph() -> None:
    doc = chain_document(3)
    assert parse_graph(json.dumps(doc)).model_dump() == parse_graph(doc).model_dump()


def test_derived_link_ids_are_uuid5_of_the_link_ends() -> None:
    doc = chain_document(2)
    g = parse_graph(json.dumps(doc))
    for link in g.links:
        key = f"{g.id}|{link.source_id}|{link.source_name}|{link.sink_id}|{link.sink_name}"
        assert link.id == str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def test_legacy_block_ids_are_rewritten_when_parsing_text() -> None:
    doc = chain_document(1)
    doc["nodes"].append({"id": "note", "block_id": LEGACY_NOTE_ID, "input_default": {"text": "hi"}})
    g = parse_graph(json.dumps(doc))
    assert g.node("note").block_id == LEGACY_BLOCK_IDS[LEGACY_NOTE_ID]


def test_a_malformed_text_document_locates_its_problems() -> None:
    doc = chain_document(1)
    del doc["nodes"][1]["block_id"]
    with pytest.raises(GraphValidationError) as caught:
        parse_graph(json.dumps(doc))
    [problem] = caught.value.problems
    assert problem.node_id == "s0"
    assert "block_id" in problem.message


def test_invalid_json_text_is_reported_with_its_position() -> None:
    with pytest.raises(GraphValidationError, match=r"not valid JSON: .* line 1 column"):
        parse_graph('{"nodes": [')


def test_fast_uuid_is_a_random_version_4_uuid() -> None:
    made = {fast_uuid() for _ in range(1000)}
    assert len(made) == 1000
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


async def test_the_cached_plan_of_an_unstored_graph_ignores_later_changes_to_the_caller_s_object() -> None:
    service = GraphService(default_registry(), Settings.from_env({}), None)
    g = parse_graph(chain_document(2))
    checked, plan = await service.checked_plan(g, None)
    assert checked is not g  # a private copy is checked, normalized and planned
    assert all(not link.is_static for link in g.links)  # rule E1 applied to the copy only
    assert all(link.is_static for link in checked.links)

    g.node("s0").input_default["data"] = "changed"
    g.name = "renamed"
    assert plan.nodes["s0"].defaults == {}
    assert plan.graph.name == "chain"
    _, again = await service.checked_plan(g, None)
    assert again is not plan and again.nodes["s0"].defaults == {"data": "changed"}

    g.node("s0").input_default.pop("data")
    g.name = "chain"
    assert (await service.checked_plan(g, None))[1] is plan  # the same content hits the cache


async def test_an_unstored_graph_made_invalid_after_construction_is_refused_located() -> None:
    service = GraphService(default_registry(), Settings.from_env({}), None)
    g = Graph.model_validate(chain_document(1))
    g.node("s0").block_id = "no such block"
    with pytest.raises(GraphValidationError) as caught:
        await service.checked_plan(g, None)
    assert [p.node_id for p in caught.value.problems] == ["s0"]
