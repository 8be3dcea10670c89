"""Agents as tools: which of a user's graphs are offered to tool-calling clients (MCP), under which
names, and how a call runs.

A graph is a tool when its owner marked it (``mcp_tool``: true), or left it unset and the caller is
the local no-login user (on by default there; off with accounts, where a user opts each agent in).
The tool's name comes from the graph's name (``[A-Za-z0-9_-]``, at most 64 characters, which desktop
clients require); when two graphs give the same name, the older graph keeps it and the newer gets its
id's first eight characters appended, so adding a graph never renames another's tool. The input
schema is the graph's (its input nodes: types, descriptions, required), the output schema one property
per output node.

A call is an ordinary execution of the active version: stored, queued, visible in the Monitor and the
API, run with the caller's credentials; ``on_progress`` hears about each node as it finishes, and a
call that is cancelled cancels its run.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.auth import Principal
from workbench.engine.state import fast_uuid
from workbench.errors import NotFoundError
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.executions import ExecutionResult, ExecutionService
from workbench.services.graphs import GraphService

TOOL_NAME_MAX = 64
"""Longest tool name (Claude Desktop and others refuse longer ones; the MCP limit is 128)."""
EXECUTE_SCOPE = "graphs:execute"

Progress = Callable[[float, str], Awaitable[None]]
"""Told ``(how many node executions have finished, what just happened)`` during a call."""


@dataclass(frozen=True, slots=True)
class AgentTool:
    """One of a user's graphs as a tool."""

    name: str
    graph_id: str
    version: int
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API's and the client's)."""
        return {
            "name": self.name,
            "graph_id": self.graph_id,
            "graph_version": self.version,
            "title": self.title,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
        }


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """How a call ended: the run, its outputs as one JSON object, and a text rendering."""

    result: ExecutionResult
    structured: dict[str, Any]
    text: str

    @property
    def ok(self) -> bool:
        """Whether the run completed."""
        return self.result.ok


class UnknownTool(NotFoundError):
    """No tool of the caller's has that name."""


def tool_name_base(name: str) -> str:
    """A graph name as a tool name: runs of other characters become ``_``, at most 64 characters."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:TOOL_NAME_MAX].rstrip("_-")
    return base or "agent"


def tool_names(graphs: list[tuple[str, str]]) -> list[str]:
    """Unique tool names for ``(graph id, graph name)`` pairs, oldest graph first: a name taken by an
    older graph gets the graph id's first eight characters appended."""
    taken: set[str] = set()
    names = []
    for graph_id, name in graphs:
        base = tool_name_base(name)
        candidate = base
        if candidate in taken:
            suffix = "_" + graph_id.replace("-", "")[:8]
            candidate = base[: TOOL_NAME_MAX - len(suffix)] + suffix
        taken.add(candidate)
        names.append(candidate)
    return names


def tool_input_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A graph's input schema as a tool's (always an object schema; the ``secret`` marks dropped)."""
    props = {
        name: {k: v for k, v in prop.items() if k != "secret"}
        for name, prop in (schema.get("properties") or {}).items()
    }
    out: dict[str, Any] = {"type": "object", "properties": props}
    if schema.get("required"):
        out["required"] = list(schema["required"])
    return out


def tool_output_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A graph's output schema as a tool's: one property per output name, any JSON value."""
    return {"type": "object", "properties": dict(schema.get("properties") or {})}


def outcome_of(result: ExecutionResult) -> ToolOutcome:
    """The tool result of a finished run: each output's value (a list when it gave several) and a
    text of ``name: value`` lines; for a run that did not complete, why (and which node)."""
    structured = {name: values[0] if len(values) == 1 else values for name, values in result.outputs.items()}
    if result.ok:
        lines = [f"{name}: {_as_text(value)}" for name, value in structured.items()]
        return ToolOutcome(result, structured, "\n".join(lines) or "The agent completed without outputs.")
    where = f" at node {result.error_node_id}" if result.error_node_id else ""
    reason = result.error or "no reason given"
    return ToolOutcome(
        result, structured, f"The run {result.execution_id} ended {result.status}{where}: {reason}"
    )


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


class AgentToolService:
    """Lists a user's agents as tools and runs them (the business rules every front door shares)."""

    def __init__(self, graphs: GraphService, executions: ExecutionService) -> None:
        self.graphs = graphs
        self.executions = executions

    @staticmethod
    def served_by_default(principal: Principal) -> bool:
        """Whether a graph its owner left unset is a tool: only for the local no-login user."""
        return principal.via == "local"

    async def list(self, principal: Principal) -> list[AgentTool]:
        """The caller's agents that are tools, the oldest graph first."""
        repo = self.graphs.repo
        if repo is None:
            return []
        rows = await repo.mcp_tools(principal.user_id, self.served_by_default(principal))
        names = tool_names([(r["id"], r["name"]) for r in rows])
        return [
            AgentTool(
                name=name,
                graph_id=r["id"],
                version=r["version"],
                title=r["name"],
                description=r["description"] or f"Run the agent {r['name']!r}.",
                input_schema=tool_input_schema(r["input_schema"] or {}),
                output_schema=tool_output_schema(r["output_schema"] or {}),
            )
            for name, r in zip(names, rows, strict=True)
        ]

    async def find(self, principal: Principal, name: str) -> AgentTool:
        """The caller's tool called ``name``; NotFoundError naming the tools there are otherwise."""
        tools = await self.list(principal)
        for tool in tools:
            if tool.name == name:
                return tool
        known = ", ".join(t.name for t in tools) or "none"
        raise UnknownTool(f"no agent tool named {name!r} (yours: {known})")

    async def set_served(self, graph_id: str, principal: Principal, value: bool | None) -> AgentTool | None:
        """Mark a graph of the caller's as a tool (True), not one (False), or back to the default
        (None); the tool it now is, or None. NotFoundError when the caller has no such graph."""
        principal.require("graphs:write")
        repo = self.graphs.repo
        if repo is None or not await repo.set_mcp_tool(graph_id, principal.user_id, value):
            raise NotFoundError(f"graph {graph_id} not found")
        return next((t for t in await self.list(principal) if t.graph_id == graph_id), None)

    async def call(
        self,
        principal: Principal,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        on_progress: Progress | None = None,
    ) -> ToolOutcome:
        """Run the tool ``name`` with ``arguments`` as the agent's inputs and wait for the end.

        Bad arguments raise the same located InputError as ``POST /graphs/{id}/execute``; a run that
        fails or is cancelled gives an outcome that says so. If the call itself is cancelled (the
        client gave up), the run is cancelled too.
        """
        principal.require(EXECUTE_SCOPE)
        tool = await self.find(principal, name)
        execution_id = fast_uuid()
        inputs = dict(arguments or {})
        try:
            if on_progress is None:  # the REST path's: no subscription to the run's events
                await self.executions.submit(
                    tool.graph_id,
                    inputs,
                    user_id=principal.user_id,
                    version=tool.version,
                    execution_id=execution_id,
                )
                result = await self.executions.wait(execution_id, user_id=principal.user_id)
            else:
                result = await self._followed(principal, tool, inputs, execution_id, on_progress)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_quietly(execution_id, principal.user_id))
            raise
        return outcome_of(result)

    async def _followed(
        self,
        principal: Principal,
        tool: AgentTool,
        inputs: dict[str, Any],
        execution_id: str,
        on_progress: Progress,
    ) -> ExecutionResult:
        finished = 0
        async for event in self.executions.stream(
            tool.graph_id, inputs, user_id=principal.user_id, version=tool.version, execution_id=execution_id
        ):
            if _is_node_end(event):
                finished += 1
                block = event.data.get("block_name") or "a node"
                await on_progress(finished, f"{block} {event.status.lower()} ({event.node_id})")
        return await self.executions.wait(execution_id, user_id=principal.user_id)

    async def _cancel_quietly(self, execution_id: str, user_id: str) -> None:
        try:
            await self.executions.cancel(execution_id, user_id)
        except NotFoundError:  # never stored (refused before it started)
            pass


def _is_node_end(event: ExecutionEvent) -> bool:
    return event.type == EventType.NODE_EXECUTED and event.status in ("COMPLETED", "FAILED", "CANCELLED")
