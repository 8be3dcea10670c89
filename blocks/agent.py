"""Running another graph as a sub-graph: the agent executor block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema, BlockType, get_context
from workbench.block.context import RunContext


class AgentExecutorBlock(Block):
    """Runs a saved graph as a sub-execution and re-emits its outputs on pins named after them."""

    id = "e189baac-8c20-45a1-94a7-55177ea42565"
    name = "AgentExecutorBlock"
    description = (
        "Runs another agent (graph) with the given inputs; each of its outputs leaves on a pin "
        "named after the output."
    )
    categories = (BlockCategory.AGENT,)
    block_type = BlockType.AGENT
    dynamic_outputs = True
    timeout = 24 * 3600.0  # bounded by the sub-graph's own node timeouts

    class Input(BlockSchema):
        user_id: str = Field(
            default="", description="Owner in the exporting platform (ignored: runs as the caller)."
        )
        graph_id: str = Field(description="The id of the graph to run.")
        graph_version: int | None = Field(default=None, description="Its version; the active one when empty.")
        agent_name: str | None = Field(default=None, description="Display name of the agent.")
        inputs: dict[str, Any] = Field(default_factory=dict, description="Inputs of the sub-graph, by name.")
        input_schema: dict[str, Any] = Field(
            default_factory=dict, description="The sub-graph's input schema."
        )
        output_schema: dict[str, Any] = Field(
            default_factory=dict, description="The sub-graph's output schema."
        )
        nodes_input_masks: dict[str, Any] | None = Field(
            default=None, description="Per-node input overrides."
        )

    class Output(BlockSchema):
        pass

    test_input = [
        {"graph_id": "g", "graph_version": 1, "inputs": {"x": 1}, "input_schema": {"required": ["x"]}},
        {"graph_id": "g", "graph_version": 1, "inputs": {}, "input_schema": {"required": ["x"]}},
    ]
    test_output = [("out", 2), ("error", "missing input(s) of the sub-graph: 'x'")]

    @staticmethod
    async def _fake_subgraph(
        context: RunContext | None, graph_id: str, version: int | None, inputs: dict[str, Any]
    ) -> AsyncIterator[tuple[str, Any]]:
        yield "out", inputs["x"] + 1

    test_mock = {"_subgraph": _fake_subgraph}

    def _subgraph(
        self, context: RunContext | None, graph_id: str, version: int | None, inputs: dict[str, Any]
    ) -> AsyncIterator[tuple[str, Any]]:
        if context is None or context.run_subgraph is None:
            raise RuntimeError("the agent executor block runs only inside a graph run")
        return context.run_subgraph(graph_id, version, inputs)

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        required = input_data.input_schema.get("required") or []
        missing = [k for k in required if input_data.inputs.get(k) is None]
        if missing:
            yield "error", "missing input(s) of the sub-graph: " + ", ".join(map(repr, missing))
            return
        context = get_context(kwargs) if kwargs.get("context") is not None else None
        async for name, value in self._subgraph(
            context, input_data.graph_id, input_data.graph_version, input_data.inputs
        ):
            yield name, value
