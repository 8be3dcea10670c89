"""The engine's side of a block's run context: the tools a node may call, read from the compiled graph.

The context itself (:class:`~workbench.block.context.RunContext` and what it carries) is part of the
block contract and lives in :mod:`workbench.block.context`; blocks never see the plan. For a node with
tool links (a SmartDecisionMaker), :func:`node_tools` turns each node those links lead to into a
:class:`~workbench.block.context.Tool`: its name, description, the JSON Schema of the linked input pins,
a callable giving the outputs that call it through the graph, and (in a run) one that runs it at once.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from workbench.block import pins
from workbench.block.base import BlockType
from workbench.block.context import Tool, ToolCall, ToolResult

if TYPE_CHECKING:
    from workbench.engine.plan import PlannedNode

__all__ = ["SinkRunner", "node_tools"]

_MAX_REF_DEPTH = 8

SinkRunner = Callable[["PlannedNode", tuple[str, ...], Mapping[str, Any]], Awaitable[ToolResult]]
"""``runner(sink, pins, arguments)``: runs the node ``sink`` as a tool with ``arguments`` for ``pins``."""


def node_tools(node: PlannedNode, runner: SinkRunner | None = None) -> tuple[Tool, ...]:
    """The tools of ``node``: one per node its tool pins (``tools_^_{sink}_~_{pin}``) link to.

    With ``runner`` (in a run), each tool's :meth:`~workbench.block.context.Tool.call` runs its node
    through it, taking only the tool's linked pins from the arguments.
    """
    if not node.selector_out:
        return ()
    linked: dict[str, list[str]] = {}
    sinks: dict[str, PlannedNode] = {}
    for route in node.selector_out:
        if pins.is_tool_pin(route.selector):
            fields = linked.setdefault(route.sink.id, [])
            if route.sink_name not in fields:
                fields.append(route.sink_name)
            sinks[route.sink.id] = route.sink
    return tuple(_tool(sinks[sink_id], fields, runner) for sink_id, fields in linked.items())


def _tool(sink: PlannedNode, fields: list[str], runner: SinkRunner | None = None) -> Tool:
    """A tool for the node ``sink``, whose input pins ``fields`` are linked from the tool pins."""
    block = sink.block
    metadata = sink.metadata if isinstance(sink.metadata, dict) else {}
    if block.block_type == BlockType.AGENT:
        schema = sink.defaults.get("input_schema") or {}
        name = metadata.get("customized_name") or sink.defaults.get("agent_name") or "agent"
        description = schema.get("description") or f"Run the agent {name}."
        required_source = set(schema.get("required") or [])
    else:
        schema = block.input_schema()
        name = metadata.get("customized_name") or block.name
        description = block.description or name
        required_source = set(block.required_inputs)
    props_source = schema.get("properties") or {}
    properties = {
        field: _inline_refs(props_source.get(field) or props_source.get(pins.base_name(field)) or {}, schema)
        for field in fields
    }
    return Tool(
        name=str(name),
        description=str(description),
        input_schema={
            "type": "object",
            "properties": properties,
            "required": [f for f in fields if f in required_source],
        },
        invoke=_caller(sink.id, tuple(fields)),
        runner=None if runner is None else functools.partial(runner, sink, tuple(fields)),
    )


def _caller(sink_id: str, fields: tuple[str, ...]) -> ToolCall:
    """Calling the tool: one value per linked pin, yielded on the tool pin that leads to it."""
    outputs = tuple((field, f"tools{pins.TOOL}{sink_id}{pins.TOOL_FIELD}{field}") for field in fields)

    def invoke(arguments: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return [(output, arguments.get(field)) for field, output in outputs]

    return invoke


def _inline_refs(node: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
    """``node`` with local ``$ref``s (``#/$defs/X``) replaced by their definitions (a standalone schema)."""
    if depth > _MAX_REF_DEPTH:
        return node
    if isinstance(node, list):
        return [_inline_refs(v, root, depth + 1) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = (root.get("$defs") or {}).get(ref.removeprefix("#/$defs/"), {})
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline_refs(merged, root, depth + 1)
    return {k: _inline_refs(v, root, depth + 1) for k, v in node.items()}
