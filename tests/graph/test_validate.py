"""Graph validation: every problem at once, each located; parsing problems; rule E1 (static links)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blocks.agent import AgentExecutorBlock
from blocks.basic import StoreValueBlock
from blocks.data import CreateListBlock
from blocks.io import AgentInputBlock, AgentOutputBlock, AgentShortTextInputBlock
from blocks.logic import CalculatorBlock
from blocks.text import FillTextTemplateBlock
from workbench.block.registry import BlockRegistry
from workbench.errors import GraphValidationError, Problem
from workbench.graph.autogpt import load_graph_file, parse_graph
from workbench.graph.model import Graph, Link, Node
from workbench.graph.validate import check_graph, normalize, validate_graph

REPO = Path(__file__).resolve().parents[2]
GRAPH_ID = "5b1c8a8e-2f4e-4c5b-9a57-0d3f2f6c1a02"
UNKNOWN_BLOCK = "00000000-0000-0000-0000-00000000beef"


def located(problems: list[Problem]) -> set[tuple[str, str | None, str | None, str | None]]:
    """(code, node_id, link_id, pin) of each problem."""
    return {(p.code, p.node_id, p.link_id, p.pin) for p in problems}


def bad_graph_doc() -> dict[str, Any]:
    """One graph with one of each kind of problem."""
    return {
        "id": GRAPH_ID,
        "name": "bad",
        "nodes": [
            {"id": "in", "block_id": AgentInputBlock.id, "input_default": {"name": "x"}},
            {"id": "tpl", "block_id": FillTextTemplateBlock.id, "input_default": {}},
            {"id": "mystery", "block_id": UNKNOWN_BLOCK, "input_default": {"anything": 1}},
            {
                "id": "calc",
                "block_id": CalculatorBlock.id,
                "input_default": {"operation": "Modulo", "a": 1, "b": 2},
            },
            {"id": "dup", "block_id": AgentOutputBlock.id, "input_default": {"name": "o1"}},
            {"id": "dup", "block_id": AgentOutputBlock.id, "input_default": {"name": "o2"}},
            {"id": "lst", "block_id": CreateListBlock.id},
        ],
        "links": [
            {
                "id": "l-sink",
                "source_id": "in",
                "source_name": "result",
                "sink_id": "tpl",
                "sink_name": "bogus",
            },
            {
                "id": "l-source",
                "source_id": "in",
                "source_name": "nope",
                "sink_id": "dup",
                "sink_name": "value",
            },
            {
                "id": "l-ghost",
                "source_id": "in",
                "source_name": "result",
                "sink_id": "ghost",
                "sink_name": "value",
            },
            {
                "id": "l-bad",
                "source_id": "in",
                "source_name": "result",
                "sink_id": "tpl",
                "sink_name": "values_#_",
            },
            {
                "id": "l-fine",
                "source_id": "in",
                "source_name": "result",
                "sink_id": "lst",
                "sink_name": "values_$_0",
            },
        ],
    }


# ---- validate_graph: every problem, located ------------------------------------------------------


def test_bad_graph_gives_every_problem_at_once_each_located(registry: BlockRegistry) -> None:
    problems = validate_graph(parse_graph(bad_graph_doc()), registry)
    assert located(problems) == {
        ("unknown_block", "mystery", None, None),
        ("duplicate_node", "dup", None, None),
        ("unknown_pin", "tpl", "l-sink", "bogus"),
        ("unknown_pin", "in", "l-source", "nope"),
        ("missing_node", None, "l-ghost", None),
        ("bad_pin", "tpl", "l-bad", "values_#_"),
        ("missing_input", "tpl", None, "format"),
        ("bad_default", "calc", None, "operation"),
    }
    assert len(problems) == 8


def test_check_graph_raises_with_every_problem(registry: BlockRegistry) -> None:
    graph = parse_graph(bad_graph_doc())
    with pytest.raises(GraphValidationError) as info:
        check_graph(graph, registry)
    assert info.value.problems == validate_graph(graph, registry)
    assert str(info.value).startswith("graph has 8 problem(s):\n")
    # a link is located by the nodes and pins it joins (its id is usually generated)
    assert "  - link from in.result to tpl.bogus: unknown input pin 'bogus'" in str(info.value)
    assert "l-sink" not in str(info.value)


def by_code(problems: list[Problem], code: str) -> list[Problem]:
    return [p for p in problems if p.code == code]


def test_unknown_block_message_names_the_id(registry: BlockRegistry) -> None:
    [p] = by_code(validate_graph(parse_graph(bad_graph_doc()), registry), "unknown_block")
    assert p.message.startswith(f"unknown block {UNKNOWN_BLOCK!r}: no block with this id is installed")
    assert "defined in a notebook" in p.message
    assert str(p).startswith(f"node 'mystery': unknown block {UNKNOWN_BLOCK!r}")


def test_unknown_pins_list_the_valid_pins(registry: BlockRegistry) -> None:
    problems = validate_graph(parse_graph(bad_graph_doc()), registry)
    messages = {p.link_id: p.message for p in by_code(problems, "unknown_pin")}
    assert messages == {
        "l-sink": "link from in.result to tpl.bogus: "
        "unknown input pin 'bogus' of FillTextTemplateBlock; valid: escape_html, format, values",
        "l-source": "link from in.nope to dup.value: "
        "unknown output pin 'nope' of AgentInputBlock; valid: error, result",
    }


def test_link_to_missing_node(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[Node(id="o", block_id=AgentOutputBlock.id, input_default={"name": "o"})],
        links=[Link(id="L", source_id="nowhere", source_name="x", sink_id="o", sink_name="value")],
    )
    problems = validate_graph(g, registry)
    assert [p.to_dict() for p in problems] == [
        {
            "code": "missing_node",
            "node_id": None,
            "link_id": "L",
            "pin": None,
            "message": "link from nowhere.x to o.value: source node 'nowhere' does not exist",
        }
    ]


def test_required_input_neither_linked_nor_defaulted(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[Node(id="c", block_id=CalculatorBlock.id, input_default={"operation": "Add", "a": None})]
    )
    problems = validate_graph(g, registry)
    assert located(problems) == {("missing_input", "c", None, "a"), ("missing_input", "c", None, "b")}
    assert {p.message for p in problems} == {"required input is neither linked nor given a default"}


def test_required_input_satisfied_by_a_link_or_a_dynamic_default(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(id="in", block_id=AgentInputBlock.id, input_default={"name": "x"}),
            Node(id="tpl", block_id=FillTextTemplateBlock.id, input_default={"values_#_a": 1}),
            Node(id="tpl2", block_id=FillTextTemplateBlock.id, input_default={"values": {}}),
        ],
        links=[
            Link(source_id="in", source_name="result", sink_id="tpl", sink_name="format"),
            Link(source_id="in", source_name="result", sink_id="tpl2", sink_name="format"),
        ],
    )
    assert validate_graph(g, registry) == []


def test_default_of_the_wrong_type(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(
                id="c",
                block_id=CalculatorBlock.id,
                input_default={"operation": "Modulo", "a": "abc", "b": 2, "round_result": "maybe"},
            )
        ]
    )
    problems = validate_graph(g, registry)
    assert located(problems) == {
        ("bad_default", "c", None, "operation"),
        ("bad_default", "c", None, "a"),
        ("bad_default", "c", None, "round_result"),
    }
    messages = {p.pin: p.message for p in problems}
    assert messages["operation"].startswith(
        "default has the wrong type: expected Operation, got str 'Modulo'"
    )
    assert messages["a"].startswith("default has the wrong type: expected float, got str 'abc'")
    assert messages["round_result"].startswith("default has the wrong type: expected bool, got str 'maybe'")


def test_defaults_that_validate_leniently_are_accepted(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(
                id="c",
                block_id=CalculatorBlock.id,
                input_default={"operation": "Add", "a": "1.5", "b": 2, "round_result": "true", "extra": 1},
            )
        ]
    )
    assert validate_graph(g, registry) == []


@pytest.mark.parametrize("sink_name", ["values_#_", "values_$_", "values_#_a_$_", "values_@_"])
def test_malformed_dynamic_sink_pin(registry: BlockRegistry, sink_name: str) -> None:
    g = Graph(
        nodes=[
            Node(id="in", block_id=AgentInputBlock.id, input_default={"name": "x"}),
            Node(id="tpl", block_id=FillTextTemplateBlock.id, input_default={"format": "x"}),
        ],
        links=[Link(id="L", source_id="in", source_name="result", sink_id="tpl", sink_name=sink_name)],
    )
    problems = validate_graph(g, registry)
    assert [p.to_dict() for p in problems] == [
        {
            "code": "bad_pin",
            "node_id": "tpl",
            "link_id": "L",
            "pin": sink_name,
            "message": f"link from in.result to tpl.{sink_name}: malformed dynamic pin {sink_name!r}",
        }
    ]


def test_malformed_dynamic_source_selector(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(id="in", block_id=AgentInputBlock.id, input_default={"name": "x"}),
            Node(id="o", block_id=AgentOutputBlock.id, input_default={"name": "o"}),
        ],
        links=[Link(id="L", source_id="in", source_name="result_$_", sink_id="o", sink_name="value")],
    )
    assert located(validate_graph(g, registry)) == {("bad_pin", "in", "L", "result_$_")}


def test_well_formed_dynamic_pins_are_accepted(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(id="in", block_id=AgentInputBlock.id, input_default={"name": "x"}),
            Node(id="tpl", block_id=FillTextTemplateBlock.id, input_default={"format": "x"}),
            Node(id="o", block_id=AgentOutputBlock.id, input_default={"name": "o"}),
        ],
        links=[
            Link(source_id="in", source_name="result_#_a_$_0", sink_id="tpl", sink_name="values_#_a"),
            Link(source_id="in", source_name="result_@_b", sink_id="tpl", sink_name="values_#_b_$_1_@_c"),
            Link(source_id="tpl", source_name="error", sink_id="o", sink_name="value"),
        ],
    )
    assert validate_graph(g, registry) == []


def test_duplicate_node_ids(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(id="same", block_id=StoreValueBlock.id, input_default={"input": 1}),
            Node(id="same", block_id=StoreValueBlock.id, input_default={"input": 2}),
            Node(id="same", block_id=StoreValueBlock.id, input_default={"input": 3}),
        ]
    )
    problems = validate_graph(g, registry)
    assert [p.to_dict() for p in problems] == [
        {
            "code": "duplicate_node",
            "node_id": "same",
            "link_id": None,
            "pin": None,
            "message": "duplicate node id",
        }
    ] * 2


def test_duplicate_link_ids(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(id="a", block_id=StoreValueBlock.id, input_default={"input": 1}),
            Node(id="b", block_id=StoreValueBlock.id),
        ],
        links=[
            Link(id="L", source_id="a", source_name="output", sink_id="b", sink_name="input"),
            Link(id="L", source_id="a", source_name="output", sink_id="b", sink_name="data"),
        ],
    )
    assert located(validate_graph(g, registry)) == {("duplicate_link", None, "L", None)}


def test_agent_executor_node_problems(registry: BlockRegistry) -> None:
    sub = Graph(
        name="sub",
        nodes=[Node(id="t", block_id=FillTextTemplateBlock.id, input_default={"values": {}})],
    )
    g = Graph(
        nodes=[
            Node(id="no_graph", block_id=AgentExecutorBlock.id),
            Node(
                id="unknown",
                block_id=AgentExecutorBlock.id,
                input_default={"graph_id": "11111111-1111-1111-1111-111111111111", "graph_version": 1},
            ),
            Node(
                id="known",
                block_id=AgentExecutorBlock.id,
                input_default={
                    "graph_id": sub.id,
                    "graph_version": 1,
                    "input_schema": {"properties": {"q": {}}},
                    "output_schema": {"properties": {"ans": {}}},
                },
            ),
            Node(id="o", block_id=AgentOutputBlock.id, input_default={"name": "x"}),
        ],
        links=[
            Link(id="L1", source_id="known", source_name="ans", sink_id="o", sink_name="value"),
            Link(id="L2", source_id="known", source_name="zzz", sink_id="o", sink_name="value"),
            Link(id="L3", source_id="o", source_name="output", sink_id="known", sink_name="qq"),
            Link(id="L4", source_id="o", source_name="output", sink_id="known", sink_name="q"),
        ],
        sub_graphs=[sub],
    )
    problems = validate_graph(g, registry, lambda graph_id, version: None)
    assert located(problems) == {
        ("missing_input", "no_graph", None, "graph_id"),
        ("unknown_graph", "unknown", None, "graph_id"),
        ("unknown_pin", "known", "L2", "zzz"),
        ("unknown_pin", "known", "L3", "qq"),
        ("missing_input", "t", None, "format"),
    }
    # the missing graph_id is reported once, not once per check
    assert len(problems) == 5
    messages = {(p.node_id, p.pin): p.message for p in problems}
    assert messages[("known", "zzz")].endswith(
        ": unknown output pin 'zzz' of AgentExecutorBlock; valid: ans, error"
    )
    assert messages[("known", "qq")].endswith(": unknown input pin 'qq' of AgentExecutorBlock; valid: q")
    assert messages[("t", "format")] == (
        f"in sub-graph 'sub' ({sub.id}): required input is neither linked nor given a default"
    )
    # without a resolver (nothing stored to look in) an unknown graph id is not a problem
    assert ("unknown_graph", "unknown", None, "graph_id") not in located(validate_graph(g, registry))


# ---- parse_graph: JSON and schema problems -------------------------------------------------------


def test_invalid_json_text_gives_line_and_column() -> None:
    with pytest.raises(GraphValidationError) as info:
        parse_graph('{\n  "nodes": [,]\n}')
    [p] = info.value.problems
    assert p.code == "json"
    assert p.message == "not valid JSON: Expecting value at line 2 column 13"
    assert (p.node_id, p.link_id, p.pin) == (None, None, None)


def test_invalid_json_bytes() -> None:
    with pytest.raises(GraphValidationError) as info:
        parse_graph(b'{"a":')
    assert [p.to_dict() for p in info.value.problems] == [
        {
            "code": "json",
            "node_id": None,
            "link_id": None,
            "pin": None,
            "message": "not valid JSON: Expecting value at line 1 column 6",
        }
    ]


@pytest.mark.parametrize("doc", ["[1, 2]", '"text"', "42", "null", [1], None, 3.5])
def test_non_object_json(doc: Any) -> None:
    with pytest.raises(GraphValidationError) as info:
        parse_graph(doc)
    assert [(p.code, p.message) for p in info.value.problems] == [("schema", "a graph must be a JSON object")]


def test_schema_errors_are_located_at_the_node_and_link() -> None:
    doc = {
        "id": GRAPH_ID,
        "nodes": [
            {"id": "ok", "block_id": StoreValueBlock.id},
            {"id": "n1", "input_default": {}},
            {"id": "n2", "block_id": StoreValueBlock.id, "input_default": "not a dict"},
        ],
        "links": [{"id": "L", "source_id": "ok", "source_name": "output", "sink_id": "n1"}],
    }
    with pytest.raises(GraphValidationError) as info:
        parse_graph(doc)
    assert [(p.code, p.node_id, p.link_id, p.message) for p in info.value.problems] == [
        ("schema", "n1", None, "block_id: Field required"),
        ("schema", "n2", None, "input_default: Input should be a valid dictionary"),
        ("schema", None, "L", "sink_name: Field required"),
    ]


def test_schema_error_of_a_node_without_id_names_its_position() -> None:
    with pytest.raises(GraphValidationError) as info:
        parse_graph({"nodes": [{"block_id": 5}]})
    [p] = info.value.problems
    assert (p.code, p.node_id) == ("schema", "#0")
    assert p.message.startswith("block_id: Input should be a valid string")


def test_graph_level_schema_errors() -> None:
    with pytest.raises(GraphValidationError) as info:
        parse_graph({"id": "not-a-uuid", "version": 0, "nodes": "x"})
    messages = sorted(p.message for p in info.value.problems)
    assert messages == [
        "id: Value error, graph id must be a UUID, got 'not-a-uuid'",
        "nodes: Input should be a valid list",
        "version: Input should be greater than or equal to 1",
    ]
    assert all((p.node_id, p.link_id, p.code) == (None, None, "schema") for p in info.value.problems)


def test_load_graph_file_reports_json_problems(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"nodes": [}', encoding="utf-8")
    with pytest.raises(GraphValidationError) as info:
        load_graph_file(path)
    assert info.value.problems[0].code == "json"
    assert "line 1 column 12" in info.value.problems[0].message


# ---- E1: static links ----------------------------------------------------------------------------


def e1_graph() -> Graph:
    return Graph(
        nodes=[
            Node(id="in", block_id=AgentInputBlock.id, input_default={"name": "name"}),
            Node(id="short", block_id=AgentShortTextInputBlock.id, input_default={"name": "short"}),
            Node(id="store", block_id=StoreValueBlock.id, input_default={"input": "x"}),
            Node(id="tpl", block_id=FillTextTemplateBlock.id, input_default={"format": "{{a}}{{b}}{{c}}"}),
            Node(id="out", block_id=AgentOutputBlock.id, input_default={"name": "o"}),
            Node(id="out2", block_id=AgentOutputBlock.id, input_default={"name": "o2"}),
        ],
        links=[
            Link(
                id="from_input", source_id="in", source_name="result", sink_id="tpl", sink_name="values_#_a"
            ),
            Link(
                id="from_short",
                source_id="short",
                source_name="result",
                sink_id="tpl",
                sink_name="values_#_b",
            ),
            Link(
                id="from_store",
                source_id="store",
                source_name="output",
                sink_id="tpl",
                sink_name="values_#_c",
            ),
            Link(id="from_tpl", source_id="tpl", source_name="output", sink_id="out", sink_name="value"),
            Link(id="from_output", source_id="out", source_name="output", sink_id="out2", sink_name="value"),
        ],
    )


EXPECTED_STATIC = {
    "from_input": True,
    "from_short": True,
    "from_store": True,
    "from_tpl": False,
    "from_output": True,
}


def test_normalize_makes_links_from_static_output_blocks_static(registry: BlockRegistry) -> None:
    g = e1_graph()
    assert not any(link.is_static for link in g.links)
    normalized = normalize(g, registry)
    assert {link.id: link.is_static for link in normalized.links} == EXPECTED_STATIC


def test_check_graph_applies_e1(registry: BlockRegistry) -> None:
    checked = check_graph(e1_graph(), registry)
    assert {link.id: link.is_static for link in checked.links} == EXPECTED_STATIC


def test_normalize_keeps_a_static_link_static_and_reaches_sub_graphs(registry: BlockRegistry) -> None:
    sub = e1_graph()
    g = Graph(
        nodes=[
            Node(id="a", block_id=CalculatorBlock.id, input_default={"operation": "Add", "a": 1, "b": 1}),
            Node(id="b", block_id=CalculatorBlock.id, input_default={"operation": "Add", "b": 1}),
        ],
        links=[Link(id="L", source_id="a", source_name="result", sink_id="b", sink_name="a", is_static=True)],
        sub_graphs=[sub],
    )
    normalize(g, registry)
    assert g.links[0].is_static is True
    assert {link.id: link.is_static for link in g.sub_graphs[0].links} == EXPECTED_STATIC


def test_exported_document_with_is_static_false_becomes_static(registry: BlockRegistry) -> None:
    doc = e1_graph().export()
    assert all(link["is_static"] is False for link in doc["links"])
    checked = check_graph(parse_graph(json.dumps(doc)), registry)
    assert {link.id: link.is_static for link in checked.links} == EXPECTED_STATIC


# ---- a valid graph --------------------------------------------------------------------------------


def test_valid_graph_has_no_problems(registry: BlockRegistry) -> None:
    graph = load_graph_file(REPO / "examples" / "hello_agent.json")
    assert validate_graph(graph, registry) == []
    checked = check_graph(graph, registry)
    assert checked is graph
    assert [link.is_static for link in checked.links] == [True, False, False, False]


def test_a_link_problem_is_located_by_the_nodes_and_pins_it_joins(registry: BlockRegistry) -> None:
    """Hand-written links get generated ids: the problem names the link by its ends; the id stays a
    detail (``link_id``), as does the node and pin at fault."""
    g = Graph(
        nodes=[
            Node(id="a", block_id=StoreValueBlock.id, input_default={"input": 1}),
            Node(id="b", block_id=StoreValueBlock.id, input_default={"input": 2}),
        ],
        links=[Link(source_id="a", source_name="output", sink_id="b", sink_name="nope")],
    )
    [p] = validate_graph(g, registry)
    assert p.link_id == g.links[0].id and p.link_id  # generated
    assert (p.code, p.node_id, p.pin) == ("unknown_pin", "b", "nope")
    assert str(p) == (
        "link from a.output to b.nope: unknown input pin 'nope' of StoreValueBlock; valid: data, input"
    )
    assert p.link_id not in str(GraphValidationError([p]))


def test_duplicate_link_ids_name_both_links_by_their_ends(registry: BlockRegistry) -> None:
    g = Graph(
        nodes=[
            Node(id="a", block_id=StoreValueBlock.id, input_default={"input": 1}),
            Node(id="b", block_id=StoreValueBlock.id),
        ],
        links=[
            Link(id="L", source_id="a", source_name="output", sink_id="b", sink_name="input"),
            Link(id="L", source_id="a", source_name="output", sink_id="b", sink_name="data"),
        ],
    )
    [p] = validate_graph(g, registry)
    assert str(p) == "link from a.output to b.data: duplicate link id 'L'"
