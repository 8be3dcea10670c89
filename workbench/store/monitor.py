"""Monitor repository: a user's runs page by page and the dashboards' aggregates, computed in SQL.

Every query takes the user's id and reads only that user's runs. Nothing here loads rows into Python
to aggregate them: counts, sums and percentiles are PostgreSQL's (``count ... FILTER``,
``percentile_cont``, ``date_bin``); Python receives one row per page entry, bucket, agent or block.

Numbers blocks report (``RunContext.add_stats``) live in ``node_executions.stats``; a finished run
carries their sum in ``graph_executions.stats``. Tokens are ``input_tokens + output_tokens +
embedding_tokens``, cost is ``cost_usd``. The page sums a run's node executions (so a running run
shows what it has spent so far); the per-day usage reads the finished runs' sums. Indexes:
``migrations/0008_monitor_indexes.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

STATUSES = ("QUEUED", "RUNNING", "REVIEW", "COMPLETED", "FAILED", "CANCELLED")
"""Every status a run can have (REVIEW: waiting for a person's review)."""
SORT_MEMORY = "32MB"
"""PostgreSQL's ``work_mem`` for the per-block percentiles (a transaction's own setting)."""
COUNT_CAP = 10_000
"""Matching runs are counted up to this many (a count of every row would read them all)."""


def _tokens(stats: str) -> str:
    """SQL for the tokens in a stats document ``stats`` (a jsonb expression)."""
    return (
        f"coalesce(({stats}->>'input_tokens')::float8, 0) + coalesce(({stats}->>'output_tokens')::float8, 0)"
        f" + coalesce(({stats}->>'embedding_tokens')::float8, 0)"
    )


def _cost(stats: str) -> str:
    """SQL for the cost in US dollars in a stats document ``stats``."""
    return f"coalesce(({stats}->>'cost_usd')::float8, 0)"


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """Which of a user's runs to list: all of them unless a field narrows it."""

    graph_id: str | None = None
    """One agent (graph id)."""
    statuses: tuple[str, ...] = ()
    """Any of these statuses (empty: every status)."""
    since: datetime | None = None
    """Created at or after."""
    until: datetime | None = None
    """Created before."""

    @property
    def active(self) -> bool:
        """Whether any field narrows the list."""
        return bool(self.graph_id or self.statuses or self.since or self.until)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the keyset ``(created_at, id)`` of its last run."""

    created_at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One run as the executions table shows it."""

    id: str
    graph_id: str
    graph_version: int
    agent: str
    """The graph's name (its version that ran)."""
    status: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    """Seconds from start to end, or to now while it runs."""
    nodes: int
    """Node executions stored so far."""
    tokens: float
    cost_usd: float
    error: str | None


@dataclass(frozen=True, slots=True)
class ExecutionPage:
    """One page of runs, newest first, and where the next (older) page starts."""

    rows: list[ExecutionRow]
    next_cursor: Cursor | None
    """None on the last page."""
    total: int
    """How many runs match, counted up to :data:`COUNT_CAP`."""
    total_capped: bool = False
    """Whether more than ``total`` match."""


@dataclass(frozen=True, slots=True)
class RateBucket:
    """Runs created in one time bucket, by status."""

    start: datetime
    counts: dict[str, int]
    """Status -> runs (every status present, zeros included)."""


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Duration percentiles in seconds (None without finished samples)."""

    p50: float | None
    p90: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class AgentStats:
    """One agent's runs in a window: outcomes, durations, usage."""

    graph_id: str
    agent: str
    runs: int
    completed: int
    failed: int
    cancelled: int
    durations: Percentiles
    tokens: float
    cost_usd: float

    @property
    def success_rate(self) -> float | None:
        """Completed runs over finished runs (None before any finished)."""
        finished = self.completed + self.failed + self.cancelled
        return self.completed / finished if finished else None


@dataclass(frozen=True, slots=True)
class BlockStats:
    """One block's node executions in a window: outcomes and durations."""

    block_id: str
    block_name: str | None
    """The catalogue's name (None for a block unknown to the catalogue)."""
    executions: int
    failed: int
    durations: Percentiles


@dataclass(frozen=True, slots=True)
class BlockUsage:
    """The per-block statistics and the runs they were computed over."""

    blocks: list[BlockStats]
    runs: int
    """How many runs the statistics cover."""
    capped: bool
    """Whether the window held more runs than that (the statistics cover the latest ones)."""


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """Tokens and cost of one agent's finished runs on one day (UTC)."""

    day: datetime
    graph_id: str
    agent: str
    runs: int
    tokens: float
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Totals:
    """A user's runs in a window, by outcome."""

    runs: int
    completed: int
    failed: int
    cancelled: int
    running: int
    queued: int
    by_status: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    """Runs waiting for a person's review (REVIEW)."""

    @property
    def success_rate(self) -> float | None:
        """Completed runs over finished runs (None before any finished)."""
        finished = self.completed + self.failed + self.cancelled
        return self.completed / finished if finished else None


def _percentiles(values: list[float] | None) -> Percentiles:
    if not values:
        return Percentiles(None, None, None)
    return Percentiles(*values)


_AGENT_NAME = """coalesce((SELECT g.name FROM graphs g WHERE g.id = {id} ORDER BY g.is_active DESC, g.version DESC
                          LIMIT 1), {id}::text)"""


class MonitorRepository:
    """Reads for the Monitor; every method is scoped to one user."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ---- the executions table ------------------------------------------------------------------

    async def page(
        self, user_id: str, filters: ExecutionFilter, *, after: Cursor | None = None, limit: int = 50
    ) -> ExecutionPage:
        """Top-level runs of the user matching ``filters``, newest first, older than ``after``."""
        where, args = self._where(user_id, filters)
        keyset_args = [*args, after.created_at if after else None, after.id if after else None, limit + 1]
        n = len(args)
        rows = await self.pool.fetch(
            f"""SELECT ge.id::text AS id, ge.graph_id::text AS graph_id, ge.graph_version, ge.status,
                       coalesce(g.name, ge.graph_id::text) AS agent, ge.created_at, ge.started_at,
                       ge.ended_at, ge.error,
                       date_part('epoch', coalesce(ge.ended_at, now()) - ge.started_at) AS duration_s,
                       s.nodes, s.tokens, s.cost_usd
                FROM graph_executions ge
                LEFT JOIN graphs g ON g.id = ge.graph_id AND g.version = ge.graph_version
                CROSS JOIN LATERAL (
                    SELECT count(*)::int AS nodes, coalesce(sum({_tokens("n.stats")}), 0) AS tokens,
                           coalesce(sum({_cost("n.stats")}), 0) AS cost_usd
                    FROM node_executions n WHERE n.graph_execution_id = ge.id) s
                WHERE {where}
                  AND (${n + 1}::timestamptz IS NULL OR (ge.created_at, ge.id) < (${n + 1}, ${n + 2}::uuid))
                ORDER BY ge.created_at DESC, ge.id DESC
                LIMIT ${n + 3}""",
            *keyset_args,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        total = await self.pool.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM graph_executions ge WHERE {where} LIMIT {COUNT_CAP + 1}) t",
            *args,
        )
        last = rows[-1] if rows and more else None
        return ExecutionPage(
            rows=[ExecutionRow(**dict(r)) for r in rows],
            next_cursor=Cursor(last["created_at"], last["id"]) if last is not None else None,
            total=min(total, COUNT_CAP),
            total_capped=total > COUNT_CAP,
        )

    @staticmethod
    def _where(user_id: str, filters: ExecutionFilter) -> tuple[str, list[Any]]:
        """The WHERE clause of the table's queries over ``graph_executions ge`` and its arguments."""
        where = """ge.user_id = $1 AND ge.parent_execution_id IS NULL
                   AND ($2::uuid IS NULL OR ge.graph_id = $2)
                   AND (cardinality($3::text[]) = 0 OR ge.status = ANY($3))
                   AND ($4::timestamptz IS NULL OR ge.created_at >= $4)
                   AND ($5::timestamptz IS NULL OR ge.created_at < $5)"""
        return where, [user_id, filters.graph_id, list(filters.statuses), filters.since, filters.until]

    async def agents(self, user_id: str) -> list[tuple[str, str]]:
        """``(graph id, name)`` of the user's agents (the newest name of each), by name."""
        rows = await self.pool.fetch(
            """SELECT id::text, name FROM (
                   SELECT DISTINCT ON (id) id, name FROM graphs WHERE user_id = $1
                   ORDER BY id, is_active DESC, version DESC) g
               ORDER BY lower(name), id""",
            user_id,
        )
        return [(r["id"], r["name"]) for r in rows]

    async def run_credentials(self, user_id: str, execution_id: str) -> dict[str, str] | None:
        """The credentials (ids by field) a run of the user was started with; None if not the user's."""
        row = await self.pool.fetchrow(
            "SELECT credentials FROM graph_executions WHERE id = $1 AND user_id = $2", execution_id, user_id
        )
        return None if row is None else dict(row["credentials"] or {})

    # ---- dashboards ----------------------------------------------------------------------------

    async def totals(self, user_id: str, since: datetime) -> Totals:
        """The user's top-level runs created since ``since``, by status."""
        rows = await self.pool.fetch(
            """SELECT status, count(*)::int AS n FROM graph_executions
               WHERE user_id = $1 AND parent_execution_id IS NULL AND created_at >= $2
               GROUP BY status""",
            user_id,
            since,
        )
        by = dict.fromkeys(STATUSES, 0) | {r["status"]: r["n"] for r in rows}
        return Totals(
            runs=sum(by.values()),
            completed=by["COMPLETED"],
            failed=by["FAILED"],
            cancelled=by["CANCELLED"],
            running=by["RUNNING"],
            queued=by["QUEUED"],
            by_status=by,
            waiting=by["REVIEW"],
        )

    async def rate(
        self, user_id: str, since: datetime, until: datetime, bucket: timedelta
    ) -> list[RateBucket]:
        """Top-level runs created per ``bucket`` from ``since`` to ``until``, by status, empty buckets
        included (aligned on ``since``)."""
        rows = await self.pool.fetch(
            """WITH counted AS (
                   SELECT date_bin($4, created_at, $2) AS t,
                          count(*) FILTER (WHERE status = 'QUEUED')::int AS queued,
                          count(*) FILTER (WHERE status = 'RUNNING')::int AS running,
                          count(*) FILTER (WHERE status = 'REVIEW')::int AS review,
                          count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
                          count(*) FILTER (WHERE status = 'FAILED')::int AS failed,
                          count(*) FILTER (WHERE status = 'CANCELLED')::int AS cancelled
                   FROM graph_executions
                   WHERE user_id = $1 AND parent_execution_id IS NULL AND created_at >= $2 AND created_at < $3
                   GROUP BY 1)
               SELECT b.t, coalesce(c.queued, 0) AS queued, coalesce(c.running, 0) AS running,
                      coalesce(c.review, 0) AS review, coalesce(c.completed, 0) AS completed, coalesce(c.failed, 0) AS failed,
                      coalesce(c.cancelled, 0) AS cancelled
               FROM generate_series($2::timestamptz, $3::timestamptz - $4::interval, $4::interval) AS b(t)
               LEFT JOIN counted c ON c.t = b.t
               ORDER BY b.t""",
            user_id,
            since,
            until,
            bucket,
        )
        return [RateBucket(r["t"], {s: r[s.lower()] for s in STATUSES}) for r in rows]

    async def by_agent(self, user_id: str, since: datetime) -> list[AgentStats]:
        """Each agent's top-level runs created since ``since``: outcomes, duration percentiles of the
        finished ones, tokens and cost; busiest first."""
        rows = await self.pool.fetch(
            f"""WITH per AS (
                    SELECT graph_id, count(*)::int AS runs,
                           count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
                           count(*) FILTER (WHERE status = 'FAILED')::int AS failed,
                           count(*) FILTER (WHERE status = 'CANCELLED')::int AS cancelled,
                           percentile_cont(ARRAY[0.5, 0.9, 0.99]::float8[]) WITHIN GROUP (
                               ORDER BY date_part('epoch', ended_at - started_at))
                               FILTER (WHERE ended_at IS NOT NULL AND started_at IS NOT NULL) AS pct,
                           sum({_tokens("stats")}) AS tokens, sum({_cost("stats")}) AS cost_usd
                    FROM graph_executions
                    WHERE user_id = $1 AND parent_execution_id IS NULL AND created_at >= $2
                    GROUP BY graph_id)
                SELECT per.*, graph_id::text AS gid, {_AGENT_NAME.format(id="per.graph_id")} AS agent
                FROM per ORDER BY runs DESC, agent""",
            user_id,
            since,
        )
        return [
            AgentStats(
                graph_id=r["gid"],
                agent=r["agent"],
                runs=r["runs"],
                completed=r["completed"],
                failed=r["failed"],
                cancelled=r["cancelled"],
                durations=_percentiles(r["pct"]),
                tokens=r["tokens"] or 0.0,
                cost_usd=r["cost_usd"] or 0.0,
            )
            for r in rows
        ]

    async def by_block(self, user_id: str, since: datetime, *, max_runs: int) -> BlockUsage:
        """Each block's node executions in the user's latest ``max_runs`` runs (sub-graph runs
        included) created since ``since``: how many, how many failed, duration percentiles of those
        that ended; busiest first. Bounding the runs bounds the work: percentiles need every duration
        sorted, and a week of a busy user is a million node executions."""
        async with self.pool.acquire() as conn, conn.transaction():
            # The durations are sorted per block: in memory, not in temporary files.
            await conn.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
            rows = await conn.fetch(
                """WITH runs AS (
                   SELECT id FROM graph_executions WHERE user_id = $1 AND created_at >= $2
                   ORDER BY created_at DESC LIMIT $3),
               per AS (
                   SELECT n.block_id COLLATE "C" AS block_id, count(*)::int AS executions,
                          count(*) FILTER (WHERE n.status = 'FAILED')::int AS failed,
                          percentile_cont(ARRAY[0.5, 0.9, 0.99]::float8[]) WITHIN GROUP (
                              ORDER BY date_part('epoch', n.ended_at - n.started_at))
                              FILTER (WHERE n.ended_at IS NOT NULL AND n.started_at IS NOT NULL) AS pct
                   FROM runs JOIN node_executions n ON n.graph_execution_id = runs.id
                   GROUP BY 1)
               SELECT per.*, b.name AS block_name, (SELECT count(*) FROM runs)::int AS runs,
                      EXISTS (SELECT 1 FROM graph_executions WHERE user_id = $1 AND created_at >= $2
                              ORDER BY created_at DESC OFFSET $3 LIMIT 1) AS capped
               FROM per LEFT JOIN blocks b ON b.id = per.block_id
               ORDER BY executions DESC, per.block_id""",
                user_id,
                since,
                max_runs,
            )
        blocks = [
            BlockStats(
                block_id=r["block_id"],
                block_name=r["block_name"],
                executions=r["executions"],
                failed=r["failed"],
                durations=_percentiles(r["pct"]),
            )
            for r in rows
        ]
        if not rows:
            return BlockUsage(blocks=[], runs=0, capped=False)
        return BlockUsage(blocks=blocks, runs=rows[0]["runs"], capped=rows[0]["capped"])

    async def daily_usage(self, user_id: str, since: datetime) -> list[DailyUsage]:
        """Tokens and cost of the user's finished runs (sub-graph runs under their own agent) per agent
        and per UTC day since ``since``."""
        rows = await self.pool.fetch(
            f"""WITH per AS (
                    SELECT date_trunc('day', created_at, 'UTC') AS day, graph_id, count(*)::int AS runs,
                           sum({_tokens("stats")}) AS tokens, sum({_cost("stats")}) AS cost_usd
                    FROM graph_executions
                    WHERE user_id = $1 AND created_at >= $2
                      AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
                    GROUP BY 1, 2)
                SELECT per.*, graph_id::text AS gid, {_AGENT_NAME.format(id="per.graph_id")} AS agent
                FROM per ORDER BY day, agent""",
            user_id,
            since,
        )
        return [
            DailyUsage(
                day=r["day"],
                graph_id=r["gid"],
                agent=r["agent"],
                runs=r["runs"],
                tokens=r["tokens"] or 0.0,
                cost_usd=r["cost_usd"] or 0.0,
            )
            for r in rows
        ]
