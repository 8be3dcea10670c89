"""What the Library page reads and does, as the logged-in user.

One read-only query of its own (:meth:`LibraryStore.agents`): every agent of the user with its
versions, schedules, runs, live runs, last run and success rate over its latest finished runs, in
one round trip (per-agent subqueries over the indexes, never one query per agent). Everything else
goes through the services, with their rules: versions and deleting an agent through
``wb.graphs`` (a delete is refused while runs are queued or running, as at the API), schedules
through :class:`~workbench.services.schedules.ScheduleService`, runs through ``wb.executions``.

A database that cannot be reached comes out of every read as
:class:`~workbench.errors.StoreUnavailable` naming what was being done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from workbench.scheduler.triggers import zone
from workbench.services.agent_tools import AgentTool
from workbench.services.schedules import ScheduleService
from workbench.store.database import reaching_database
from workbench.store.executions import ExecutionRecord
from workbench.store.graphs import GraphSummary
from workbench.store.schedules import ScheduleRecord
from workbench.ui.context import UiContext

RECENT_RUNS = 20
"""How many of an agent's latest finished runs its success rate is computed over."""
MAX_AGENTS = 500
"""Most agents the table lists (newest changed first)."""

_AGENTS_SQL = """
SELECT g.id, g.name, g.version, g.updated_at,
       (SELECT count(*) FROM graphs v WHERE v.id = g.id AND v.user_id = $1) AS versions,
       s.schedules, s.active_schedules, r.runs, r.live, r.last_run_at, w.finished, w.completed
FROM graphs g
CROSS JOIN LATERAL (
    SELECT count(*) AS schedules, count(*) FILTER (WHERE sc.is_enabled) AS active_schedules
    FROM schedules sc WHERE sc.user_id = $1 AND sc.graph_id = g.id
) s
CROSS JOIN LATERAL (
    SELECT count(*) AS runs,
           count(*) FILTER (WHERE e.status IN ('QUEUED', 'RUNNING', 'REVIEW')) AS live,
           max(e.created_at) AS last_run_at
    FROM graph_executions e
    WHERE e.user_id = $1 AND e.graph_id = g.id AND e.parent_execution_id IS NULL
) r
CROSS JOIN LATERAL (
    SELECT count(*) AS finished, count(*) FILTER (WHERE last.status = 'COMPLETED') AS completed
    FROM (SELECT e.status FROM graph_executions e
          WHERE e.user_id = $1 AND e.graph_id = g.id AND e.parent_execution_id IS NULL
            AND e.status IN ('COMPLETED', 'FAILED', 'CANCELLED')
          ORDER BY e.created_at DESC, e.id DESC
          LIMIT $2) last
) w
WHERE g.user_id = $1 AND g.is_active AND ($3::text IS NULL OR g.name ILIKE $3 ESCAPE '\\')
ORDER BY g.updated_at DESC, g.id
LIMIT $4
"""


@dataclass(frozen=True, slots=True)
class LibraryAgent:
    """One agent of the user as the Library lists it."""

    id: str
    name: str
    version: int
    """The active version."""
    versions: int
    schedules: int
    active_schedules: int
    runs: int
    """Top-level runs of any version (sub-graph runs count inside their parent)."""
    live: int
    """Runs queued or running now."""
    last_run_at: datetime | None
    finished: int
    """How many finished runs the success rate covers (at most ``RECENT_RUNS``)."""
    completed: int
    """Of those, how many completed."""
    updated_at: datetime

    @property
    def success_rate(self) -> float | None:
        """Completed over finished among the latest finished runs (None before any finished), as the
        Monitor counts it: a failed or cancelled run is not a success."""
        return self.completed / self.finished if self.finished else None


def _agent(row: asyncpg.Record) -> LibraryAgent:
    return LibraryAgent(
        id=str(row["id"]),
        name=row["name"],
        version=row["version"],
        versions=row["versions"],
        schedules=row["schedules"],
        active_schedules=row["active_schedules"],
        runs=row["runs"],
        live=row["live"],
        last_run_at=row["last_run_at"],
        finished=row["finished"],
        completed=row["completed"],
        updated_at=row["updated_at"],
    )


def _pattern(search: str | None) -> str | None:
    """An ILIKE pattern matching ``search`` anywhere in a name (its wildcards taken literally)."""
    text = (search or "").strip()
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class LibraryStore:
    """The Library's reads and actions, each scoped to ``ctx.user_id``."""

    def __init__(self, ctx: UiContext, schedules: ScheduleService | None = None) -> None:
        self.ctx = ctx
        self._schedules = schedules

    @property
    def user_id(self) -> str:
        """Who is looking."""
        return self.ctx.user_id

    @property
    def schedule_service(self) -> ScheduleService:
        """The schedule service, as the API builds it (``ScheduleService.of``)."""
        if self._schedules is None:
            self._schedules = ScheduleService.of(self.ctx.wb)
        return self._schedules

    # ---- agents ----------------------------------------------------------------------------------

    async def agents(
        self, search: str | None = None, *, recent: int = RECENT_RUNS, limit: int = MAX_AGENTS
    ) -> list[LibraryAgent]:
        """The user's agents (active versions), most recently changed first, with their numbers;
        ``search`` keeps those whose name contains it (any case)."""
        db = self.ctx.wb.db
        if db is None:
            return []
        async with reaching_database("read your agents"):
            rows = await db.pool.fetch(_AGENTS_SQL, self.user_id, recent, _pattern(search), limit)
        return [_agent(r) for r in rows]

    async def versions(self, graph_id: str) -> list[GraphSummary]:
        """Every version of an agent, newest first."""
        async with reaching_database("read the agent's versions"):
            return await self.ctx.wb.graphs.versions(graph_id, self.user_id)

    async def activate(self, graph_id: str, version: int) -> None:
        """Make a version the active one."""
        async with reaching_database("change the active version"):
            await self.ctx.wb.graphs.set_active(graph_id, version, self.user_id)

    async def delete_agent(self, graph_id: str) -> None:
        """Delete an agent with its versions and runs; ConflictError while runs are live (the
        service's rule, as at ``DELETE /api/v1/graphs/{id}``)."""
        async with reaching_database("delete the agent"):
            await self.ctx.wb.graphs.delete(graph_id, self.user_id)

    async def agent_tool(self, graph_id: str) -> AgentTool | None:
        """The agent as an MCP tool (what ``/mcp`` offers), or None when it is not one."""
        async with reaching_database("read your MCP tools"):
            tools = await self.ctx.wb.agent_tools.list(self.ctx.principal)
        return next((t for t in tools if t.graph_id == graph_id), None)

    async def serve_as_tool(self, graph_id: str, enabled: bool) -> AgentTool | None:
        """Serve the agent as an MCP tool, or stop (the rule ``PUT /graphs/{id}/mcp-tool`` applies)."""
        async with reaching_database("change the MCP tool setting"):
            return await self.ctx.wb.agent_tools.set_served(graph_id, self.ctx.principal, enabled)

    async def runs(self, graph_id: str, limit: int = 10) -> list[ExecutionRecord]:
        """The agent's latest top-level runs, newest first."""
        async with reaching_database("read the agent's runs"):
            records, _ = await self.ctx.wb.executions.list(self.user_id, graph_id=graph_id, limit=limit)
        return records

    # ---- schedules -------------------------------------------------------------------------------

    async def schedules(self, graph_id: str) -> list[ScheduleRecord]:
        """The agent's schedules, newest first."""
        async with reaching_database("read the agent's schedules"):
            found, _ = await self.schedule_service.list(self.user_id, graph_id=graph_id, limit=200)
        return found

    def next_runs(self, schedule: ScheduleRecord, count: int = 3) -> list[datetime]:
        """A schedule's next fire times (none unless active)."""
        return self.schedule_service.next_runs(schedule, count)

    async def preview(self, fields: Mapping[str, Any], count: int = 5) -> list[datetime]:
        """The next fire times of a schedule with these timing fields, before saving it;
        ScheduleInputError naming each bad field."""
        async with reaching_database("preview the schedule"):
            return await self.schedule_service.preview(self.user_id, fields, count)

    async def default_timezone(self) -> str:
        """The timezone a schedule without one gets: the account's, or UTC."""
        async with reaching_database("read your timezone"):
            name = await self.schedule_service.repo.user_timezone(self.user_id)
        try:
            zone(name or "UTC")
        except ValueError:
            return "UTC"
        return name or "UTC"

    async def create_schedule(self, fields: Mapping[str, Any]) -> ScheduleRecord:
        """Validate and store a new schedule; ScheduleInputError naming each bad field."""
        async with reaching_database("save the schedule"):
            return await self.schedule_service.create(self.user_id, fields)

    async def pause(self, schedule_id: str) -> ScheduleRecord:
        """Stop a schedule firing until resumed."""
        async with reaching_database("pause the schedule"):
            return await self.schedule_service.pause(schedule_id, self.user_id)

    async def resume(self, schedule_id: str) -> ScheduleRecord:
        """Fire again from now on."""
        async with reaching_database("resume the schedule"):
            return await self.schedule_service.resume(schedule_id, self.user_id)

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule."""
        async with reaching_database("delete the schedule"):
            await self.schedule_service.delete(schedule_id, self.user_id)

    async def input_template(self, graph_id: str) -> dict[str, Any]:
        """The agent's inputs by name with their defaults ("" when none, or secret): what the
        schedule form starts from."""
        async with reaching_database("read the agent's inputs"):
            plan = await self.ctx.wb.graphs.stored_plan(graph_id, self.user_id)
        props = plan.input_schema().get("properties", {})
        return {name: "" if prop.get("secret") else prop.get("default", "") for name, prop in props.items()}
