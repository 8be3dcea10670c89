"""What Home shows, read through the services as the logged-in user: recent agents, recent runs, and
the quick start (the example agent, stored for the user once, run with a name).

A database that cannot be reached comes out of every read and of the quick start as
:class:`~workbench.errors.StoreUnavailable` naming what was being done, never as the driver's own
error (which the page would not know to word)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from workbench.graph.autogpt import load_graph_file
from workbench.graph.model import Graph
from workbench.store.database import reaching_database
from workbench.ui.context import UiContext

EXAMPLE_AGENT = Path(__file__).resolve().parents[2] / "examples" / "hello_agent.json"
"""The quick start's agent: greets someone by name (input ``name``, outputs ``greeting``, ``length``)."""
QUICK_START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One of the user's agents."""

    id: str
    name: str
    version: int
    nodes: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RunRow:
    """One of the user's runs."""

    id: str
    agent: str
    status: str
    created_at: datetime
    duration: float | None


@dataclass(frozen=True, slots=True)
class QuickStartResult:
    """What running the example agent gave."""

    graph_id: str
    execution_id: str
    status: str
    greeting: str | None
    length: int | None
    error: str | None


class HomeStore:
    """Home's queries, each scoped to ``ctx.user_id``."""

    def __init__(self, ctx: UiContext, example: Path = EXAMPLE_AGENT) -> None:
        self.ctx = ctx
        self.example = example

    async def recent_agents(self, limit: int = 10) -> list[AgentRow]:
        """The user's agents, most recently changed first."""
        async with reaching_database("read your agents"):
            graphs, _ = await self.ctx.wb.graphs.list(self.ctx.user_id, limit=limit)
        return [AgentRow(g.id, g.name, g.version, g.node_count, g.updated_at) for g in graphs]

    async def recent_runs(self, limit: int = 10) -> list[RunRow]:
        """The user's latest runs, newest first, with their agents' names."""
        async with reaching_database("read your runs"):
            records, _ = await self.ctx.wb.executions.list(self.ctx.user_id, limit=limit)
            graphs, _ = await self.ctx.wb.graphs.list(self.ctx.user_id, limit=200)
        names = {g.id: g.name for g in graphs}
        rows = []
        for rec in records:
            duration = (
                (rec.ended_at - rec.started_at).total_seconds() if rec.started_at and rec.ended_at else None
            )
            rows.append(
                RunRow(
                    rec.id, names.get(rec.graph_id, rec.graph_id[:8]), rec.status, rec.created_at, duration
                )
            )
        return rows

    async def example_agent(self) -> Graph:
        """The example agent as stored for this user (stored on first use)."""
        graph = load_graph_file(self.example)
        async with reaching_database("read the example agent"):
            graphs, _ = await self.ctx.wb.graphs.list(self.ctx.user_id, search=graph.name, limit=50)
            for summary in graphs:
                if summary.name == graph.name:
                    return await self.ctx.wb.graphs.get(summary.id, self.ctx.user_id)
            return await self.ctx.wb.graphs.create(graph, self.ctx.user_id)

    async def quick_start(self, name: str) -> QuickStartResult:
        """Run the example agent with ``name`` and wait for its result."""
        graph = await self.example_agent()
        async with reaching_database("run the example agent"):
            result = await self.ctx.wb.executions.run(
                graph.id, {"name": name}, user_id=self.ctx.user_id, timeout=QUICK_START_TIMEOUT
            )
        greeting = result.outputs.get("greeting", [None])[-1]
        length = result.outputs.get("length", [None])[-1]
        return QuickStartResult(
            graph.id, result.execution_id, str(result.status), greeting, length, result.error
        )
