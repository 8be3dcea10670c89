"""The tools the engine hands a node: one per node its tool pins link to, read from the compiled graph."""

from __future__ import annotations

from typing import Any

from blocks.agent import AgentExecutorBlock
from blocks.ai_agent import SmartDecisionMakerBlock
from blocks.logic import CalculatorBlock
from blocks.text import FillTextTemplateBlock
from workbench import jsonutil
from workbench.block.registry import default_registry
from workbench.engine.context import node_tools
from workbench.engine.plan import Plan
from workbench.graph.model import Graph, Link, Node


def _plan(
    nodes: dict[str, tuple[type, dict[str, Any], dict[str, Any]]], links: list[tuple[str, str]]
) -> Plan:
    """A plan of ``{id: (block, defaults, metadata)}`` joined by ``("a.pin", "b.pin")`` links."""
    graph = Graph(
        name="tools",
        nodes=[
            Node(id=nid, block_id=block.id, input_default=defaults, metadata=metadata)
            for nid, (block, defaults, metadata) in nodes.items()
        ],
        links=[
            Link(
                source_id=source.split(".", 1)[0],
                source_name=source.split(".", 1)[1],
                sink_id=sink.split(".", 1)[0],
                sink_name=sink.split(".", 1)[1],
            )
            for source, sink in links
        ],
    )
    return Plan(graph, default_registry(), 60.0)


def test_a_linked_block_is_a_tool_with_its_linked_pins() -> None:
    plan = _plan(
        {
            "sdm": (SmartDecisionMakerBlock, {}, {}),
            "calc": (CalculatorBlock, {}, {"customized_name": "Calculator"}),
        },
        [("sdm.tools_^_calc_~_operation", "calc.operation"), ("sdm.tools_^_calc_~_a", "calc.a")],
    )
    (tool,) = node_tools(plan.nodes["sdm"])
    assert tool.name == "Calculator"
    assert tool.description == CalculatorBlock.description
    assert list(tool.input_schema["properties"]) == ["operation", "a"]
    assert tool.input_schema["required"] == ["operation", "a"]
    assert "Multiply" in tool.input_schema["properties"]["operation"]["enum"]
    assert "$ref" not in jsonutil.dumps(tool.input_schema), "the schema stands alone"
    assert tool.invoke({"operation": "Add", "a": 2}) == [
        ("tools_^_calc_~_operation", "Add"),
        ("tools_^_calc_~_a", 2),
    ]
    assert tool.invoke({}) == [("tools_^_calc_~_operation", None), ("tools_^_calc_~_a", None)]


def test_a_sub_graph_tool_takes_its_name_and_schema_from_the_agent_node() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    plan = _plan(
        {
            "sdm": (SmartDecisionMakerBlock, {}, {}),
            "weather": (AgentExecutorBlock, {"agent_name": "Weather Agent", "input_schema": schema}, {}),
        },
        [("sdm.tools_^_weather_~_city", "weather.city")],
    )
    (tool,) = node_tools(plan.nodes["sdm"])
    assert (tool.name, tool.description) == ("Weather Agent", "Run the agent Weather Agent.")
    assert tool.input_schema == schema


def test_tools_come_in_link_order_and_other_links_are_not_tools() -> None:
    plan = _plan(
        {
            "sdm": (SmartDecisionMakerBlock, {}, {}),
            "b": (CalculatorBlock, {}, {}),
            "a": (FillTextTemplateBlock, {}, {}),
        },
        [
            ("sdm.tools_^_b_~_a", "b.a"),
            ("sdm.tools_^_a_~_values_#_name", "a.values_#_name"),
            ("sdm.conversations", "sdm.conversation_history"),
        ],
    )
    tools = node_tools(plan.nodes["sdm"])
    assert [t.name for t in tools] == [plan.nodes["b"].block.name, plan.nodes["a"].block.name]
    assert list(tools[1].input_schema["properties"]) == ["values_#_name"]
    assert tools[1].invoke({"values_#_name": "Ada"}) == [("tools_^_a_~_values_#_name", "Ada")]
    assert node_tools(plan.nodes["b"]) == ()
