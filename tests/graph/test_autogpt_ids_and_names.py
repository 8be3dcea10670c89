"""Importing AutoGPT exports: blank ids get fresh ones, and a missing AutoGPT block is named by its class."""

from __future__ import annotations

import json
import uuid

import pytest

from blocks.io import AgentInputBlock, AgentOutputBlock
from workbench.block.registry import BlockRegistry
from workbench.errors import GraphValidationError
from workbench.graph.autogpt import parse_graph
from workbench.graph.autogpt_names import AUTOGPT_BLOCK_CLASSES
from workbench.graph.validate import check_graph, validate_graph

YOUTUBE = "f3a8f7e1-4b1d-4e5f-9f2a-7c3d5a2e6b4c"


def _doc(graph_id: object, node_id: object, link_id: object) -> dict[str, object]:
    return {
        "id": graph_id,
        "version": None,
        "name": "blank ids",
        "nodes": [
            {"id": "in", "block_id": AgentInputBlock.id, "input_default": {"name": "x"}},
            {"id": node_id, "block_id": AgentOutputBlock.id, "input_default": {"name": "y"}},
            {"id": "out", "block_id": AgentOutputBlock.id, "input_default": {"name": "z"}},
        ],
        "links": [
            {
                "id": link_id,
                "source_id": "in",
                "source_name": "result",
                "sink_id": "out",
                "sink_name": "value",
            }
        ],
    }


def test_null_and_empty_ids_are_given_fresh_ones_on_both_parsing_paths() -> None:
    for blank in (None, ""):
        for text in (False, True):
            doc = _doc(blank, blank, blank)
            graph = parse_graph(json.dumps(doc) if text else doc)
            uuid.UUID(graph.id)
            assert graph.version == 1
            fresh = graph.nodes[1].id
            uuid.UUID(fresh)
            assert fresh not in ("in", "out")
            assert graph.links[0].id, "a blank link id is derived from its ends"


def test_two_blank_node_ids_become_two_different_nodes() -> None:
    doc = _doc(None, None, None)
    doc["nodes"][2]["id"] = None  # type: ignore[index]
    doc["links"] = []
    graph = parse_graph(doc)
    assert len({n.id for n in graph.nodes}) == 3


def test_a_missing_autogpt_block_is_named_by_its_class() -> None:
    assert AUTOGPT_BLOCK_CLASSES[YOUTUBE] == "TranscribeYoutubeVideoBlock"
    registry = BlockRegistry()
    for cls in (AgentInputBlock, AgentOutputBlock):
        registry.register(cls, "test")
    doc = _doc(str(uuid.uuid4()), "yt", None)
    doc["nodes"].append({"id": "transcribe", "block_id": YOUTUBE, "input_default": {}})  # type: ignore[union-attr]
    doc["nodes"].append({"id": "mystery", "block_id": str(uuid.uuid4()), "input_default": {}})  # type: ignore[union-attr]
    problems = {p.node_id: p for p in validate_graph(parse_graph(doc), registry) if p.code == "unknown_block"}
    assert set(problems) == {"transcribe", "mystery"}
    assert problems["transcribe"].message.startswith(
        "TranscribeYoutubeVideoBlock (AutoGPT) is not available here"
    )
    assert problems["mystery"].message.startswith("unknown block ")
    with pytest.raises(GraphValidationError, match=r"TranscribeYoutubeVideoBlock \(AutoGPT\)"):
        check_graph(parse_graph(doc), registry)
