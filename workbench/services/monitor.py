"""The monitor service: what the Monitor pages (and later the API) ask about a user's runs.

A page of runs, one run in detail, the dashboards' aggregates (computed in PostgreSQL by
:class:`~workbench.store.monitor.MonitorRepository`), the runtime's queue and executors, and the two
actions the run page offers (cancel, re-run with the same inputs) through the executions service.
Every call names the user; a run of another user is "not found", exactly as the API answers.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.errors import InputError, NotFoundError, StoreUnavailable
from workbench.services.executions import ExecutionResult, ExecutionService
from workbench.services.reviews import UNCHANGED, ReviewService
from workbench.store.database import reaching_database
from workbench.store.monitor import (
    STATUSES,
    AgentStats,
    BlockStats,
    Cursor,
    DailyUsage,
    ExecutionFilter,
    ExecutionPage,
    MonitorRepository,
    RateBucket,
    Totals,
)
from workbench.store.reviews import ReviewRecord

if TYPE_CHECKING:
    from workbench.app import Workbench
    from workbench.block.registry import BlockRegistry
    from workbench.runtime.queue import ExecutionQueue
    from workbench.runtime.shared_state import SharedState

T = TypeVar("T")
PAGE_SIZE_MAX = 500
"""The most runs one page may hold."""
BLOCK_STATS_MAX_RUNS = 10_000
"""Per-block statistics cover at most this many of the window's latest runs (their cost grows with
every node execution they read: 10,000 runs of 10 nodes take about 150 ms here)."""
USAGE_SPAN = timedelta(days=7)
"""The shortest span of the per-day usage chart (a day-by-day chart of one hour says little)."""


class Window(enum.Enum):
    """A dashboard's time window: how far back, and the width of its rate buckets."""

    HOUR = ("last hour", timedelta(hours=1), timedelta(minutes=1))
    DAY = ("last day", timedelta(days=1), timedelta(minutes=10))
    WEEK = ("last 7 days", timedelta(days=7), timedelta(hours=1))
    MONTH = ("last 30 days", timedelta(days=30), timedelta(hours=6))

    def __init__(self, label: str, span: timedelta, bucket: timedelta) -> None:
        self.label = label
        self.span = span
        self.bucket = bucket


@dataclass(frozen=True, slots=True)
class RuntimeHealth:
    """The deployment's execution runtime: the queue's depth and the executors alive."""

    distributed: bool
    """Whether runs go through RabbitMQ or processes share presence through Redis."""
    queue_kind: str
    queue_ok: bool
    queue_depth: dict[str, int]
    """Waiting runs by priority."""
    executors: list[dict[str, Any]] = field(default_factory=list)
    """Live executor processes (their presence heartbeats); empty without Redis."""

    @property
    def waiting(self) -> int:
        """Runs waiting in the queue, all priorities."""
        return sum(self.queue_depth.values())


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Every aggregate the dashboards draw, for one user and one window."""

    window: Window
    since: datetime
    until: datetime
    totals: Totals
    rate: list[RateBucket]
    agents: list[AgentStats]
    blocks: list[BlockStats]
    block_runs: int
    """How many runs ``blocks`` covers."""
    blocks_capped: bool
    """Whether the window held more runs than ``block_runs`` (``blocks`` covers the latest)."""
    usage: list[DailyUsage]
    runtime: RuntimeHealth


@dataclass(frozen=True, slots=True)
class RunDetail:
    """One run with what a person reads about it: the agent's name and each node's block name."""

    result: ExecutionResult
    agent: str
    reviews: tuple[ReviewRecord, ...] = ()
    """Its reviews waiting for the user's answer (the run shows REVIEW while one does)."""


def _uuid(value: str, what: str) -> str:
    """``value`` as a canonical UUID text; NotFoundError naming ``what`` when it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFoundError(f"{what} {value!r} not found (not a valid id)") from None


async def _store(call: Awaitable[T]) -> T:
    """Await a repository call, translating a lost database into StoreUnavailable."""
    try:
        async with reaching_database("reach the database"):
            return await call
    except TimeoutError as exc:  # a pool waiting for a server that is gone
        raise StoreUnavailable("cannot reach the database: it did not answer in time") from exc


class MonitorService:
    """Reads and actions of the Monitor, each scoped to the user it is given."""

    def __init__(
        self,
        repo: MonitorRepository,
        executions: ExecutionService,
        registry: BlockRegistry,
        queue: ExecutionQueue | None = None,
        shared: SharedState | None = None,
        reviews: ReviewService | None = None,
    ) -> None:
        self.repo = repo
        self.executions = executions
        self.registry = registry
        self.queue = queue
        self.shared = shared
        self.reviews = reviews

    @classmethod
    def from_workbench(cls, wb: Workbench) -> MonitorService:
        """The service over a started, durable Workbench's pool and services."""
        if wb.db is None:
            raise InputError(
                "the Monitor needs a durable workbench (this one is ephemeral: nothing is stored)"
            )
        return cls(MonitorRepository(wb.db.pool), wb.executions, wb.registry, wb.queue, wb.shared, wb.reviews)

    # ---- runs ----------------------------------------------------------------------------------

    async def page(
        self,
        user_id: str,
        filters: ExecutionFilter | None = None,
        *,
        after: Cursor | None = None,
        limit: int = 50,
    ) -> ExecutionPage:
        """A page of the user's top-level runs, newest first (``after``: the previous page's cursor)."""
        filters = filters or ExecutionFilter()
        bad = [s for s in filters.statuses if s not in STATUSES]
        if bad:
            raise InputError(f"status: unknown {', '.join(bad)}; one of {', '.join(STATUSES)}")
        if not 1 <= limit <= PAGE_SIZE_MAX:
            raise InputError(f"limit: {limit} is not between 1 and {PAGE_SIZE_MAX}")
        if filters.graph_id is not None:
            filters = replace(filters, graph_id=_uuid(filters.graph_id, "agent"))
        if filters.since and filters.until and filters.since >= filters.until:
            raise InputError("time range: the start must be before the end")
        return await _store(self.repo.page(user_id, filters, after=after, limit=limit))

    async def agents(self, user_id: str) -> list[tuple[str, str]]:
        """``(graph id, name)`` of the user's agents, for the agent filter."""
        return await _store(self.repo.agents(user_id))

    async def run(self, user_id: str, execution_id: str) -> RunDetail:
        """One run of the user with its node executions (NotFoundError otherwise)."""
        execution_id = _uuid(execution_id, "execution")
        result = await _store(self.executions.get(execution_id, user_id))
        for node in result.node_executions:
            if node.block_name is None and node.block_id in self.registry:
                node.block_name = self.registry.get(node.block_id).name
        agents = dict(await self.agents(user_id))
        waiting: list[ReviewRecord] = []
        if self.reviews is not None and not result.status.is_final:
            waiting, _ = await _store(
                self.reviews.list(user_id, status="WAITING", execution_id=execution_id, limit=100)
            )
        return RunDetail(result, agents.get(result.graph_id, result.graph_id), tuple(waiting))

    async def decide(
        self,
        user_id: str,
        review_id: str,
        decision: str,
        *,
        data: Any = UNCHANGED,
        message: str | None = None,
    ) -> ReviewRecord:
        """Answer one of the user's reviews (the review service's rules); the run goes on."""
        if self.reviews is None:
            raise InputError("reviews are not available here")
        return await self.reviews.decide(review_id, user_id, decision, data=data, message=message, via="ui")

    async def cancel(self, user_id: str, execution_id: str) -> str:
        """Cancel a run of the user; returns its status after the request."""
        return await _store(self.executions.cancel(_uuid(execution_id, "execution"), user_id))

    async def rerun(self, user_id: str, execution_id: str) -> str:
        """Start the same agent version again with the same inputs and credentials; the new run's id."""
        execution_id = _uuid(execution_id, "execution")
        result = await _store(self.executions.get(execution_id, user_id))
        credentials = await _store(self.repo.run_credentials(user_id, execution_id))
        return await self.executions.submit(
            result.graph_id,
            dict(result.inputs),
            user_id=user_id,
            version=result.graph_version,
            credentials=credentials or None,
        )

    # ---- dashboards ----------------------------------------------------------------------------

    async def dashboard(self, user_id: str, window: Window = Window.HOUR) -> Dashboard:
        """Every aggregate of the dashboards for the user over ``window`` (queries run concurrently)."""
        until = datetime.now(UTC)
        since = until - window.span
        # Buckets align on whole bucket widths, so the same minute is one bar from one refresh to the next.
        width = window.bucket.total_seconds()
        aligned = datetime.fromtimestamp((until.timestamp() // width + 1) * width, UTC)
        totals, rate, agents, blocks, usage = await asyncio.gather(
            _store(self.repo.totals(user_id, since)),
            _store(self.repo.rate(user_id, aligned - window.span, aligned, window.bucket)),
            _store(self.repo.by_agent(user_id, since)),
            _store(self.repo.by_block(user_id, since, max_runs=BLOCK_STATS_MAX_RUNS)),
            _store(self.repo.daily_usage(user_id, until - max(window.span, USAGE_SPAN))),
        )
        named = [
            replace(b, block_name=self.registry.get(b.block_id).name)
            if b.block_name is None and b.block_id in self.registry
            else b
            for b in blocks.blocks
        ]
        return Dashboard(
            window,
            since,
            until,
            totals,
            rate,
            agents,
            named,
            blocks.runs,
            blocks.capped,
            usage,
            await self.runtime(),
        )

    async def runtime(self) -> RuntimeHealth:
        """The queue's depth and, with Redis, the live executors."""
        health: dict[str, Any] = await self.queue.health() if self.queue is not None else {}
        shared = self.shared is not None and self.shared.shared
        executors = await self.shared.members("executor") if shared and self.shared is not None else []
        return RuntimeHealth(
            distributed=bool(self.queue is not None and not self.queue.in_process) or shared,
            queue_kind=str(health.get("kind", "none")),
            queue_ok=bool(health.get("ok", False)),
            queue_depth={str(k): int(v) for k, v in (health.get("depth") or {}).items()},
            executors=executors,
        )
