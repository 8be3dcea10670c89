"""Retention: how long execution data is kept, and pruning what is older, in the background.

The rules:

* The server's policy (``WORKBENCH_RETENTION_DAYS``, ``WORKBENCH_RETENTION_PER_AGENT``) is off by
  default: everything is kept. A user may set bounds of their own (``/api/v1/executions/retention``,
  the client's ``set_retention``); where both exist the stricter applies, so a user can keep less
  than the server does, never more.
* ``days``: a top-level run created more than that many days ago is removed. ``per_agent``: of
  each agent's top-level runs, only that many newest are kept. A removed run takes its sub-graph
  runs, node executions and human reviews with it.
* Only runs that are over: a run that is QUEUED, RUNNING or in REVIEW, or has such a run below it,
  is never removed (it is considered again on the next pass once it has ended). Live runs count
  towards ``per_agent`` like the others.
* Chat history, files, notifications and knowledge bases are never removed by retention (they keep
  a removed run's id; see migration 0019).
* Pruning goes in small batches, each one short transaction (``WORKBENCH_RETENTION_BATCH`` runs, or
  fewer when they hold many node executions), skipping rows others hold; one process prunes at a
  time (an advisory lock), so several ``workbench dbmanager`` processes never do the work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg

from workbench.config import Settings
from workbench.errors import ConflictError, InvalidFields
from workbench.store.retention import LOWEST_ID, Cursor, Policy, Removed, RetentionRepository, UserBounds

log = logging.getLogger(__name__)
PRUNE_LOCK = 0x77627072756E6521  # "wbprune!": held by the one process pruning this database
MAX_DAYS = 36_500
MAX_PER_AGENT = 1_000_000
MAX_NODES_PER_BATCH = 20_000
"""Node executions one batch removes at most (a batch of runs with many nodes is cut short)."""


def _bounds_doc(bounds: UserBounds) -> dict[str, int | None]:
    return {"days": bounds.days, "per_agent": bounds.per_agent}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _stricter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """A user's retention: their own bounds, the server's, and what applies."""

    own: UserBounds
    server: UserBounds

    @property
    def effective(self) -> UserBounds:
        """The stricter of the two, bound by bound (None: no bound)."""
        return UserBounds(
            _stricter(self.own.days, self.server.days), _stricter(self.own.per_agent, self.server.per_agent)
        )

    def document(self) -> dict[str, Any]:
        """The API's form: ``days``, ``per_agent`` (the user's own), ``server``, ``effective``."""
        return {
            **_bounds_doc(self.own),
            "server": _bounds_doc(self.server),
            "effective": _bounds_doc(self.effective),
        }


@dataclass(slots=True)
class PruneReport:
    """What a prune pass removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    runs: int = 0
    """Runs removed, sub-graph runs included."""
    node_executions: int = 0
    kept: int = 0
    """Runs the policy names that were left: still going on, or held by another transaction."""
    users: int = 0
    """Users with a policy in force."""
    batches: int = 0
    seconds: float = 0.0
    server: dict[str, int | None] = field(default_factory=dict)

    def add(self, removed: Removed) -> None:
        """Count one batch."""
        self.runs += removed.runs
        self.node_executions += removed.node_executions
        self.kept += removed.kept
        self.batches += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dry_run": self.dry_run,
            "runs": self.runs,
            "node_executions": self.node_executions,
            "kept": self.kept,
            "users": self.users,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "server": self.server,
        }


class RetentionService:
    """Users' retention settings and pruning."""

    def __init__(
        self,
        repo: RetentionRepository,
        settings: Settings,
        *,
        batch: int | None = None,
        pause: float = 0.02,
        max_nodes: int = MAX_NODES_PER_BATCH,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.batch = batch or settings.retention_batch
        self.pause = pause
        """Seconds to wait between two batches: others' transactions go first."""
        self.max_nodes = max_nodes

    @classmethod
    def of(cls, wb: Any) -> RetentionService:
        """The service of a started, durable Workbench."""
        if wb.db is None:
            raise RuntimeError("retention needs a started workbench with a database")
        return cls(RetentionRepository(wb.db.pool), wb.settings)

    @property
    def server(self) -> UserBounds:
        """The server's policy."""
        return UserBounds(self.settings.retention_days, self.settings.retention_per_agent)

    # ---- a user's settings ---------------------------------------------------------------------

    async def get(self, user_id: str) -> RetentionSettings:
        """The user's retention."""
        return RetentionSettings(await self.repo.bounds(user_id), self.server)

    async def set(self, user_id: str, days: int | None, per_agent: int | None) -> RetentionSettings:
        """Set the user's own bounds (None: follow the server's); InvalidFields names a bad one."""
        problems = []
        if days is not None and not (_whole(days) and 1 <= days <= MAX_DAYS):
            problems.append(("days", f"a whole number of days from 1 to {MAX_DAYS}, or null"))
        if per_agent is not None and not (_whole(per_agent) and 1 <= per_agent <= MAX_PER_AGENT):
            problems.append(("per_agent", f"a whole number of runs from 1 to {MAX_PER_AGENT}, or null"))
        if problems:
            raise InvalidFields(problems)
        bounds = UserBounds(days, per_agent)
        await self.repo.set_bounds(user_id, bounds)
        log.info("user %s set retention: days %s, per agent %s", user_id, days, per_agent)
        return RetentionSettings(bounds, self.server)

    # ---- pruning -------------------------------------------------------------------------------

    async def prune(
        self,
        *,
        dry_run: bool = False,
        stop: asyncio.Event | None = None,
        on_batch: Callable[[PruneReport], None] | None = None,
    ) -> PruneReport:
        """One pass over every user with a policy in force. ``dry_run`` counts without removing;
        ``stop`` ends the pass between two batches. ConflictError when another process is pruning."""
        started = time.perf_counter()
        report = PruneReport(dry_run, server=_bounds_doc(self.server))
        policies = await self.repo.policies(self.settings.retention_days, self.settings.retention_per_agent)
        policies = [p for p in policies if p.days is not None or p.per_agent is not None]
        report.users = len(policies)
        if not policies:
            return report
        async with self.repo.pool.acquire() as conn:
            if not dry_run and not await conn.fetchval("SELECT pg_try_advisory_lock($1)", PRUNE_LOCK):
                raise ConflictError(
                    "another process is pruning this database (a workbench dbmanager?); try again later"
                )
            try:
                now = await conn.fetchval("SELECT now()")
                for policy in policies:
                    if stop is not None and stop.is_set():
                        break
                    await self._prune_user(conn, policy, now, report, stop, on_batch)
            finally:
                if not dry_run:
                    with contextlib.suppress(Exception):
                        await conn.execute("SELECT pg_advisory_unlock($1)", PRUNE_LOCK)
        report.seconds = time.perf_counter() - started
        if report.runs and not dry_run:
            log.info(
                "retention removed %d runs and %d node executions in %.1f s",
                report.runs,
                report.node_executions,
                report.seconds,
            )
        return report

    async def _prune_user(
        self,
        conn: asyncpg.Connection,
        policy: Policy,
        now: Any,
        report: PruneReport,
        stop: asyncio.Event | None,
        on_batch: Callable[[PruneReport], None] | None,
    ) -> None:
        cutoff = now - timedelta(days=policy.days) if policy.days is not None else None
        if cutoff is not None:  # every run older than the cutoff, whichever agent
            await self._walk(conn, policy.user_id, None, (cutoff, LOWEST_ID), None, report, stop, on_batch)
        if policy.per_agent is None:
            return
        # Of each agent, the runs beyond the newest ``per_agent`` (those older than the cutoff are
        # the age rule's: left out here, so a dry run counts each run once).
        for graph_id in await self.repo.agents_over(conn, policy.user_id, policy.per_agent, cutoff):
            boundary = await self.repo.nth_newest(conn, policy.user_id, graph_id, policy.per_agent)
            if boundary is not None:
                await self._walk(conn, policy.user_id, graph_id, boundary, cutoff, report, stop, on_batch)

    async def _walk(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        graph_id: Any,
        before: Cursor,
        not_before: Any,
        report: PruneReport,
        stop: asyncio.Event | None,
        on_batch: Callable[[PruneReport], None] | None,
    ) -> None:
        """Remove the user's runs older than ``before``, newest first, page by page (keyset)."""
        cursor = before
        while True:
            page = await self.repo.older(conn, user_id, graph_id, cursor, self.batch, not_before)
            if not page:
                return
            cursor = page[-1][1]
            ids = [run_id for run_id, _ in page]
            while ids:
                if stop is not None and stop.is_set():
                    return
                try:
                    removed = await self.repo.remove(conn, ids, self.max_nodes, dry_run=report.dry_run)
                except (asyncpg.LockNotAvailableError, asyncpg.QueryCanceledError) as exc:
                    # Someone holds what this batch needs: leave it for the next pass.
                    log.info("retention skipped %d runs for now: %s", len(ids), exc)
                    report.add(Removed(len(ids), 0, 0, len(ids)))
                    ids = []
                    continue
                report.add(removed)
                ids = ids[removed.taken :]
                if on_batch is not None:
                    on_batch(report)
                if self.pause:
                    await asyncio.sleep(self.pause)


class RetentionLoop:
    """Prunes every ``interval`` seconds in the background (``workbench dbmanager``), with counters
    for its ``/metrics``."""

    def __init__(self, service: RetentionService, interval: float) -> None:
        self.service = service
        self.interval = interval
        self.passes = 0
        self.failures = 0
        self.busy = 0
        """Passes skipped because another process was pruning."""
        self.runs_removed = 0
        self.node_executions_removed = 0
        self.last: PruneReport | None = None
        self.last_error: str | None = None
        self.last_finished: float | None = None
        """When the last pass ended (epoch seconds)."""
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> RetentionLoop:
        """Start pruning (the first pass at once)."""
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="retention")
        return self

    async def stop(self, grace: float = 2.0) -> None:
        """Stop between two batches (a pass in progress ends early), or cancel it after ``grace``."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(task, grace)
        except (TimeoutError, asyncio.CancelledError):
            pass

    async def run_once(self) -> PruneReport | None:
        """One pass, counted; None when another process was pruning or the pass failed."""
        try:
            report = await self.service.prune(stop=self._stop)
        except ConflictError:
            self.busy += 1
            return None
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("retention pass failed")
            return None
        self.passes += 1
        self.runs_removed += report.runs
        self.node_executions_removed += report.node_executions
        self.last, self.last_error, self.last_finished = report, None, time.time()
        return report

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    def status(self) -> dict[str, Any]:
        """What ``/health`` shows of it."""
        return {
            "server": _bounds_doc(self.service.server),
            "interval_seconds": self.interval,
            "passes": self.passes,
            "failures": self.failures,
            "runs_removed": self.runs_removed,
            "node_executions_removed": self.node_executions_removed,
            "last_pass": self.last.to_dict() if self.last else None,
            "last_error": self.last_error,
        }
