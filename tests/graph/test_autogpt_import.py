"""Importing an AutoGPT export unchanged: parse, validate, run in both modes, export round-trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blocks.basic import NoteBlock
from blocks.io import AgentInputBlock, AgentOutputBlock, AgentShortTextInputBlock
from blocks.logic import CountItemsBlock, StepThroughItemsBlock
from blocks.text import FillTextTemplateBlock
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.registry import BlockRegistry
from workbench.graph.autogpt import LEGACY_BLOCK_IDS, load_graph_file, parse_graph
from workbench.graph.model import Graph
from workbench.graph.validate import check_graph, validate_graph

EXPORT = Path(__file__).resolve().parents[1] / "data" / "autogpt_export_greeter.json"
GRAPH_ID = "8f14e45f-ceea-467f-a9f5-6bd6b0c1e2a1"
LEGACY_STEP_ID = "f8e7d6c5-b4a3-2c1d-0e9f-8g7h6i5j4k3l"


def nid(i: int) -> str:
    return f"a3c1f1d2-0b1e-4c57-9f0e-1d2a3b4c5d{i:02d}"


def lid(i: int) -> str:
    return f"6e0c2b7a-91d4-4f3e-b8a5-7c9d0e1f2a{i:02d}"


NAMES, GREETING, STEP, TEMPLATE, OUT_GREETINGS, COUNT, OUT_COUNT, NOTE = (nid(i) for i in range(1, 9))


def export_doc() -> dict[str, Any]:
    return json.loads(EXPORT.read_text(encoding="utf-8"))


@pytest.fixture
def greeter() -> Graph:
    return load_graph_file(EXPORT)


# ---- the document ---------------------------------------------------------------------------------


def test_the_document_is_a_real_autogpt_export() -> None:
    doc = export_doc()
    # fields of the exporting platform that we do not model
    for key in ("is_template", "user_id", "forked_from_id", "input_schema", "output_schema", "created_at"):
        assert key in doc
    assert doc["sub_graphs"] == []
    for node in doc["nodes"]:
        assert {"input_links", "output_links", "graph_id", "graph_version", "webhook_id"} <= set(node)
        assert "position" in node["metadata"]
    assert all(link["id"] for link in doc["links"])
    assert LEGACY_STEP_ID in {n["block_id"] for n in doc["nodes"]}


# ---- parsing ---------------------------------------------------------------------------------------


def test_parses_with_extra_fields_dropped(greeter: Graph) -> None:
    assert (greeter.id, greeter.version, greeter.is_active) == (GRAPH_ID, 4, True)
    assert greeter.name == "Greeter"
    assert greeter.description == "Greets every name of a list with a greeting word, and counts the names."
    assert set(greeter.model_dump()) == {
        "id",
        "version",
        "is_active",
        "name",
        "description",
        "nodes",
        "links",
        "sub_graphs",
    }
    assert greeter.sub_graphs == []
    for node in greeter.nodes:
        assert set(node.model_dump()) == {"id", "block_id", "input_default", "metadata"}


def test_nodes_and_links_are_kept_as_exported(greeter: Graph) -> None:
    doc = export_doc()
    assert [n.id for n in greeter.nodes] == [n["id"] for n in doc["nodes"]]
    for node, raw in zip(greeter.nodes, doc["nodes"], strict=True):
        assert node.input_default == raw["input_default"]
        assert node.metadata == raw["metadata"]
    assert greeter.node(TEMPLATE).metadata == {
        "position": {"x": 560.0, "y": 210.0},
        "customized_name": "Compose greeting",
    }
    assert [link.model_dump() for link in greeter.links] == doc["links"]


def test_legacy_block_id_is_rewritten(greeter: Graph) -> None:
    assert LEGACY_BLOCK_IDS[LEGACY_STEP_ID] == StepThroughItemsBlock.id
    assert greeter.node(STEP).block_id == StepThroughItemsBlock.id
    assert {n.id: n.block_id for n in greeter.nodes} == {
        NAMES: AgentInputBlock.id,
        GREETING: AgentShortTextInputBlock.id,
        STEP: StepThroughItemsBlock.id,
        TEMPLATE: FillTextTemplateBlock.id,
        OUT_GREETINGS: AgentOutputBlock.id,
        COUNT: CountItemsBlock.id,
        OUT_COUNT: AgentOutputBlock.id,
        NOTE: NoteBlock.id,
    }


def test_parsing_does_not_touch_the_callers_document() -> None:
    doc = export_doc()
    parse_graph(doc)
    assert doc == export_doc()


def test_legacy_ids_are_rewritten_in_sub_graphs_too() -> None:
    doc = export_doc()
    sub = export_doc()
    sub["id"] = "0c5a8d1e-7d1b-4f0a-9e3c-2b6f4a8d9e10"
    doc["sub_graphs"] = [sub]
    graph = parse_graph(json.dumps(doc))
    assert graph.sub_graphs[0].node(STEP).block_id == StepThroughItemsBlock.id


def test_text_bytes_and_dict_parse_to_the_same_graph(greeter: Graph) -> None:
    text = EXPORT.read_text(encoding="utf-8")
    assert parse_graph(text) == greeter
    assert parse_graph(text.encode()) == greeter
    assert parse_graph(export_doc()) == greeter


# ---- validation ------------------------------------------------------------------------------------


def test_validates_and_e1_makes_input_links_static(greeter: Graph, registry: BlockRegistry) -> None:
    assert validate_graph(greeter, registry) == []
    checked = check_graph(greeter, registry)
    assert {link.id: link.is_static for link in checked.links} == {
        lid(1): True,
        lid(2): True,  # exported as false: AgentShortTextInputBlock has static output (E1)
        lid(3): False,
        lid(4): False,
        lid(5): True,
        lid(6): False,
    }


# ---- running ---------------------------------------------------------------------------------------


async def test_runs_on_an_ephemeral_workbench(ewb: Workbench, greeter: Graph) -> None:
    result = await ewb.executions.run(
        greeter, {"names": ["Ada", "Grace", "Alan"], "greeting": "Hi"}, timeout=10
    )
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"greetings": ["Hi, Ada!", "Hi, Grace!", "Hi, Alan!"], "count": [3]}
    assert result.graph_id == GRAPH_ID
    # the note is never run
    assert NOTE not in {n.node_id for n in result.node_executions}
    assert sum(n.node_id == TEMPLATE for n in result.node_executions) == 3


async def test_runs_with_the_exported_defaults(ewb: Workbench, greeter: Graph) -> None:
    result = await ewb.executions.run(greeter, {}, timeout=10)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"greetings": ["Hello, World!"], "count": [1]}


async def test_runs_on_a_durable_workbench_and_is_stored(wb: Workbench, greeter: Graph) -> None:
    result = await wb.executions.run(greeter, {"names": ["Ada", "Grace"]}, timeout=10)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"greetings": ["Hello, Ada!", "Hello, Grace!"], "count": [2]}
    stored = await wb.executions.get(result.execution_id)
    assert stored.status == "COMPLETED"
    assert stored.outputs == result.outputs
    assert stored.graph_id == GRAPH_ID

    graph = await wb.graphs.get(GRAPH_ID, LOCAL_USER_ID, result.graph_version)
    assert graph.node(STEP).block_id == StepThroughItemsBlock.id
    assert {link.id for link in graph.links if link.is_static} == {lid(1), lid(2), lid(5)}
    # the stored graph's export parses back to the same graph
    doc = await wb.graphs.export(GRAPH_ID, LOCAL_USER_ID, result.graph_version)
    assert parse_graph(json.dumps(doc)) == graph


# ---- export round trip -----------------------------------------------------------------------------


def test_export_round_trips(greeter: Graph) -> None:
    doc = greeter.export()
    assert parse_graph(doc) == greeter
    assert parse_graph(json.dumps(doc)) == greeter


def test_export_has_the_autogpt_shape(greeter: Graph) -> None:
    doc = greeter.export()
    original = export_doc()
    assert doc["links"] == original["links"]
    for node, raw in zip(doc["nodes"], original["nodes"], strict=True):
        assert node["input_links"] == raw["input_links"]
        assert node["output_links"] == raw["output_links"]
        assert (node["graph_id"], node["graph_version"]) == (GRAPH_ID, 4)
    # only the rewritten block id differs from the original document
    assert doc["nodes"][2]["block_id"] == StepThroughItemsBlock.id


def test_checked_graph_export_round_trips(greeter: Graph, registry: BlockRegistry) -> None:
    checked = check_graph(greeter.model_copy(deep=True), registry)
    again = parse_graph(json.dumps(checked.export()))
    assert again == checked
    assert again != greeter  # E1 changed a link, and the export carries it
