"""GraphBuilder: mistakes fail at the line that makes them; dynamic pins; build(); custom blocks; sub-graphs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from blocks.agent import AgentExecutorBlock
from blocks.io import AgentInputBlock, AgentOutputBlock
from blocks.text import FillTextTemplateBlock
from workbench.app import Workbench
from workbench.block import block
from workbench.block.registry import BlockRegistry
from workbench.errors import GraphValidationError, InputError, NotFoundError
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph

RUN_TIMEOUT = 10


@pytest.fixture
def g(registry: BlockRegistry) -> GraphBuilder:
    return GraphBuilder("Greeter", registry=registry)


# ---- mistakes fail at once -----------------------------------------------------------------------


def test_wrong_pin_name_fails_at_once_listing_valid_pins(g: GraphBuilder) -> None:
    tpl = g.add("FillTextTemplateBlock", format="x")
    with pytest.raises(AttributeError) as info:
        _ = tpl.valuez
    assert str(info.value) == (
        "FillTextTemplateBlock node 'fill_text_template_1' has no pin 'valuez'; "
        "inputs: values, format, escape_html; outputs: output, error"
    )
    with pytest.raises(AttributeError, match="has no pin 'nope'; inputs: values, format"):
        tpl.pin("nope_#_x")


def test_unknown_default_input_fails_at_once(g: GraphBuilder) -> None:
    with pytest.raises(InputError) as info:
        g.add("FillTextTemplateBlock", formatt="x")
    assert str(info.value) == (
        "FillTextTemplateBlock has no input 'formatt'; valid inputs: escape_html, format, values"
    )
    assert g.graph.nodes == []  # nothing was added
    tpl = g.add("FillTextTemplateBlock", format="x")
    with pytest.raises(InputError, match="has no input 'zzz'; valid inputs: escape_html, format, values"):
        tpl.set(zzz=1)
    assert tpl.node.input_default == {"format": "x"}


def test_dynamic_default_names_are_checked_by_their_base(g: GraphBuilder) -> None:
    tpl = g.add("FillTextTemplateBlock", format="{{a}}", **{"values_#_a": 1})
    assert tpl.node.input_default == {"format": "{{a}}", "values_#_a": 1}
    with pytest.raises(InputError, match="has no input 'valuez_#_a'"):
        g.add("FillTextTemplateBlock", **{"valuez_#_a": 1})


def test_linking_in_the_wrong_direction_fails_at_once(g: GraphBuilder) -> None:
    name = g.input("name")
    tpl = g.add("FillTextTemplateBlock", format="x")
    with pytest.raises(InputError) as info:
        tpl.output >> name.result
    assert str(info.value) == (
        "AgentInputBlock node 'input_name' has no input 'result'; "
        "inputs: name, value, title, description, advanced, secret"
    )
    with pytest.raises(InputError) as info:
        name.name >> tpl.format
    assert str(info.value) == "AgentInputBlock node 'input_name' has no output 'name'; outputs: result, error"
    assert g.graph.links == []


def test_pins_of_another_builder_are_refused(g: GraphBuilder, registry: BlockRegistry) -> None:
    other = GraphBuilder(registry=registry)
    with pytest.raises(InputError, match="both pins must belong to nodes of this graph"):
        g.input("a").result >> other.output("b").value


def test_unknown_block_and_duplicate_node_id(g: GraphBuilder) -> None:
    with pytest.raises(NotFoundError, match="NoSuchBlock"):
        g.add("NoSuchBlock")
    g.add("FillTextTemplateBlock", id="tpl", format="x")
    with pytest.raises(InputError, match="node id 'tpl' is already used in this graph"):
        g.add("FillTextTemplateBlock", id="tpl", format="y")


def test_pin_index_must_be_int_or_str(g: GraphBuilder) -> None:
    tpl = g.add("FillTextTemplateBlock", format="x")
    with pytest.raises(TypeError):
        tpl.values[1.5]
    with pytest.raises(TypeError):
        tpl.values[True]


# ---- pins and links ----------------------------------------------------------------------------------


def test_dynamic_pin_names(g: GraphBuilder) -> None:
    tpl = g.add("FillTextTemplateBlock", format="x")
    assert tpl.values["k"].name == "values_#_k"
    assert tpl.values[0].name == "values_$_0"
    assert tpl.values.attr("a").name == "values_@_a"
    assert tpl.values["a"][2].attr("b").name == "values_#_a_$_2_@_b"
    assert tpl.values.name == "values"  # indexing makes a new pin
    assert tpl.pin("values_#_k").name == "values_#_k"


def test_shift_links_output_to_input_and_returns_the_sink(g: GraphBuilder) -> None:
    name = g.input("name")
    tpl = g.add("FillTextTemplateBlock", id="tpl", format="Hello, {{ name }}!")
    sink = tpl.values["name"]
    assert (name.result >> sink) is sink
    [link] = g.graph.links
    assert (link.source_id, link.source_name, link.sink_id, link.sink_name, link.is_static) == (
        "input_name",
        "result",
        "tpl",
        "values_#_name",
        False,
    )
    uuid.UUID(link.id)


def test_dynamic_source_selectors(g: GraphBuilder) -> None:
    src = g.add("StoreValueBlock", id="src", input=[{"k": 1}])
    tpl = g.add("FillTextTemplateBlock", id="tpl", format="x")
    src.output[0]["k"] >> tpl.values["a"]
    src.output.attr("x") >> tpl.values[3]
    assert [(link.source_name, link.sink_name) for link in g.graph.links] == [
        ("output_$_0_#_k", "values_#_a"),
        ("output_@_x", "values_$_3"),
    ]


def test_to_makes_a_static_link(g: GraphBuilder) -> None:
    a = g.add("CalculatorBlock", id="a", operation="Add", a=1, b=1)
    b = g.add("CalculatorBlock", id="b", operation="Add", b=1)
    link = a.result.to(b.a, static=True)
    assert link.is_static is True
    assert g.graph.links == [link]
    assert a.result.to(b.b).is_static is False


def test_node_ids_are_derived_from_block_names(g: GraphBuilder) -> None:
    assert g.add("FillTextTemplateBlock", format="x").id == "fill_text_template_1"
    assert g.add("FillTextTemplateBlock", format="x").id == "fill_text_template_2"
    assert g.input("who").id == "input_who"
    assert g.output("greeting").id == "output_greeting"
    assert g.add(AgentInputBlock, name="x").id == "agent_input_1"


def test_input_and_output_nodes(g: GraphBuilder) -> None:
    name = g.input("name", default="World", title="Who")
    out = g.output("greeting")
    assert name.node.block_id == AgentInputBlock.id
    assert name.node.input_default == {"name": "name", "value": "World", "title": "Who"}
    assert out.node.block_id == AgentOutputBlock.id
    assert out.node.input_default == {"name": "greeting"}


# ---- build ----------------------------------------------------------------------------------------------


def test_build_raises_for_a_missing_required_input(g: GraphBuilder) -> None:
    g.add("CalculatorBlock", id="calc", operation="Add", a=1)
    with pytest.raises(GraphValidationError) as info:
        g.build()
    assert [(p.code, p.node_id, p.pin) for p in info.value.problems] == [("missing_input", "calc", "b")]


def test_build_returns_a_validated_normalized_copy(g: GraphBuilder) -> None:
    name = g.input("name")
    tpl = g.add("FillTextTemplateBlock", id="tpl", format="Hello, {{ name }}!")
    name.result >> tpl.values["name"]
    tpl.output >> g.output("greeting").value
    graph = g.build()
    assert isinstance(graph, Graph)
    assert graph.name == "Greeter"
    assert [link.is_static for link in graph.links] == [True, False]  # E1: input links are static
    assert [link.is_static for link in g.graph.links] == [False, False]  # the builder's graph untouched
    assert graph is not g.graph
    assert [n.block_id for n in graph.nodes] == [
        AgentInputBlock.id,
        FillTextTemplateBlock.id,
        AgentOutputBlock.id,
    ]


async def test_built_graph_runs(ewb: Workbench) -> None:
    g = GraphBuilder("Greeter", registry=ewb.registry)
    name = g.input("name")
    greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")
    name.result >> greet.values["name"]
    greet.output >> g.output("greeting").value
    result = await ewb.executions.run(g.build(), {"name": "Ada"}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"greeting": ["Hello, Ada!"]}


# ---- custom blocks ----------------------------------------------------------------------------------


async def test_custom_block_function_runs(ewb: Workbench) -> None:
    @block
    async def shout(text: str, times: int = 1) -> str:
        """Upper-case a text, repeated."""
        return text.upper() * times

    g = GraphBuilder("Shout", registry=ewb.registry)
    text = g.input("text")
    times = g.input("times")
    node = g.add(shout)
    assert node.id == "shout_1"
    text.result >> node.text
    times.result >> node.times
    node.result >> g.output("loud").value
    graph = g.build()
    assert graph.node("shout_1").block_id == shout.id
    result = await ewb.executions.run(graph, {"text": "hey", "times": "3"}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"loud": ["HEYHEYHEY"]}  # "3" was coerced to the int pin


async def test_custom_generator_block_with_several_outputs_runs(ewb: Workbench) -> None:
    @block(outputs={"word": str, "length": int})
    async def words(text: str) -> AsyncIterator[tuple[str, object]]:
        for w in text.split():
            yield "word", w
        yield "length", len(text.split())

    g = GraphBuilder("Words", registry=ewb.registry)
    node = g.add(words, text="a bb ccc")
    with pytest.raises(AttributeError, match="inputs: text; outputs: word, length, error"):
        _ = node.result
    node.word >> g.output("words").value
    node.length >> g.output("n").value
    result = await ewb.executions.run(g.build(), {}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"words": ["a", "bb", "ccc"], "n": [3]}


async def test_custom_block_failure_fails_the_run(ewb: Workbench) -> None:
    @block
    def explode(x: int) -> int:
        raise ValueError(f"cannot take {x}")

    g = GraphBuilder("Explode", registry=ewb.registry)
    node = g.add(explode, id="boom", x=7)
    node.result >> g.output("never").value
    result = await ewb.executions.run(g.build(), {}, timeout=RUN_TIMEOUT)
    assert result.status == "FAILED"
    assert result.error_node_id == "boom"
    assert "cannot take 7" in (result.error or "")


# ---- sub-graphs ----------------------------------------------------------------------------------------


def shouter(registry: BlockRegistry) -> Graph:
    s = GraphBuilder("Shouter", registry=registry)
    text = s.input("text")
    tpl = s.add("FillTextTemplateBlock", format="{{ t }}!")
    text.result >> tpl.values["t"]
    tpl.output >> s.output("shouted").value
    tpl.output >> s.output("again").value
    return s.build()


def parent_with(sub: Graph, registry: BlockRegistry) -> Graph:
    g = GraphBuilder("Parent", registry=registry)
    word = g.input("word")
    node = g.subgraph(sub, id="sub")
    word.result >> node.text
    tpl = g.add("FillTextTemplateBlock", id="wrap", format="<{{ x }}>")
    node.shouted >> tpl.values["x"]
    tpl.output >> g.output("wrapped").value
    node.again >> g.output("again").value
    return g.build()


def test_subgraph_node_has_the_subgraph_pins(registry: BlockRegistry) -> None:
    sub = shouter(registry)
    graph = parent_with(sub, registry)
    node = graph.node("sub")
    assert node.block_id == AgentExecutorBlock.id
    assert node.input_default["graph_id"] == sub.id
    assert node.input_default["graph_version"] == sub.version
    assert node.input_default["agent_name"] == "Shouter"
    assert set(node.input_default["input_schema"]["properties"]) == {"text"}
    assert set(node.input_default["output_schema"]["properties"]) == {"shouted", "again"}
    assert graph.sub_graphs == [sub]

    g = GraphBuilder(registry=registry)
    handle = g.subgraph(sub)
    with pytest.raises(AttributeError, match="has no pin 'nope'"):
        _ = handle.nope
    g2 = GraphBuilder(registry=registry)
    with pytest.raises(InputError) as info:
        g2.subgraph(sub, text="x", nope=1)
    assert str(info.value) == "sub-graph 'Shouter' has no input(s) 'nope'; valid inputs: text"
    assert g2.graph.nodes == []
    assert g2.graph.sub_graphs == []


async def test_subgraph_runs_nested_and_reemits_outputs_ephemeral(ewb: Workbench) -> None:
    graph = parent_with(shouter(ewb.registry), ewb.registry)
    result = await ewb.executions.run(graph, {"word": "hey"}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"wrapped": ["<hey!>"], "again": ["hey!"]}


async def test_subgraph_runs_nested_and_reemits_outputs_durable(wb: Workbench) -> None:
    graph = parent_with(shouter(wb.registry), wb.registry)
    result = await wb.executions.run(graph, {"word": "yo"}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"wrapped": ["<yo!>"], "again": ["yo!"]}
    stored = await wb.executions.get(result.execution_id)
    assert stored.outputs == result.outputs


async def test_subgraph_inputs_given_as_defaults(ewb: Workbench) -> None:
    sub = shouter(ewb.registry)
    g = GraphBuilder("Parent", registry=ewb.registry)
    node = g.subgraph(sub, id="sub", text="fixed")
    assert node.node.input_default["inputs"] == {"text": "fixed"}
    node.shouted >> g.output("out").value
    result = await ewb.executions.run(g.build(), {}, timeout=RUN_TIMEOUT)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"out": ["fixed!"]}
