"""An agent executor node's sub-graph inputs: linked ``inputs_#_<name>`` pins win over the node's
default ``inputs`` (AutoGPT's dynamic-field links into the ``inputs`` dict)."""

from __future__ import annotations

from blocks.agent import AgentExecutorBlock
from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import graph, inp, link, node, out
from workbench.app import Workbench


async def test_a_linked_sub_graph_input_replaces_the_default_one(wb: Workbench) -> None:
    child = graph(
        [
            inp("who", "who"),
            node("greet", FillTextTemplateBlock, format="Hello, {{ who }}!"),
            out("o", "greeting"),
        ],
        [link("who.result", "greet.values_#_who"), link("greet.output", "o.value")],
        name="child",
    )
    parent = graph(
        [
            inp("name", "name"),
            node(
                "agent",
                AgentExecutorBlock,
                graph_id=child.id,
                graph_version=child.version,
                inputs={"who": "nobody"},
            ),
            out("o", "greeting"),
        ],
        [link("name.result", "agent.inputs_#_who"), link("agent.greeting", "o.value")],
        name="parent",
    )
    parent.sub_graphs = [child]
    result = await wb.executions.run(parent, {"name": "Ada"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"greeting": ["Hello, Ada!"]}
