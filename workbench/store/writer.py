"""Write-behind for execution state: node results are written in batches, not one row per step.

Every changed node execution is marked dirty; a background task writes all dirty rows of all runs in
one statement every ``flush_interval`` (sooner when a slow node finishes, so an expensive result is
on disk promptly), and a run's final status is written in the same statement as its last node rows
(one atomic statement: one round trip where a transaction would take four). Concurrent runs
finishing together share one commit (group commit). If a write fails the rows stay dirty and are
retried; a run whose final write fails stays RUNNING in the database and is resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from workbench.engine.recorder import Recorder
from workbench.errors import StoreError
from workbench.jsonutil import clean_text
from workbench.jsonutil import dumps_db as dumps

if TYPE_CHECKING:
    from workbench.engine.run import GraphRun
    from workbench.engine.state import NodeExec

log = logging.getLogger(__name__)
CANCEL_POLL = 0.5
MAX_WRITE_FAILURES = 5
"""Consecutive failed writes of one execution's state before it is given up (logged as an error)."""

_UPSERT_NODES = """
INSERT INTO node_executions (id, graph_execution_id, node_id, block_id, seq, status, inputs, outputs,
                             error, attempts, queued_at, started_at, ended_at, stats)
SELECT id, ge, node_id, block_id, seq, status, inputs::jsonb, outputs::jsonb, error, attempts, q, s, e,
       st::jsonb
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::int[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[],
            $14::text[])
     AS u(id, ge, node_id, block_id, seq, status, inputs, outputs, error, attempts, q, s, e, st)
ON CONFLICT (id) DO UPDATE SET
    status = excluded.status, inputs = excluded.inputs, outputs = excluded.outputs, error = excluded.error,
    attempts = excluded.attempts, queued_at = excluded.queued_at, started_at = excluded.started_at,
    ended_at = excluded.ended_at, stats = excluded.stats
"""

_UPDATE_RUNS = """
UPDATE graph_executions AS g SET
    status = u.status, outputs = u.outputs::jsonb, error = u.error, error_node_id = u.error_node_id,
    started_at = u.started_at, ended_at = u.ended_at, stats = u.stats::jsonb, updated_at = now()
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
            $7::timestamptz[], $8::text[])
     AS u(id, status, outputs, error, error_node_id, started_at, ended_at, stats)
WHERE g.id = u.id
"""


def _renumbered(sql: str, by: int) -> str:
    """``sql`` with its parameters renumbered: ``$1`` becomes ``$(1 + by)``..."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + by}", sql)


_NODE_COLUMNS = 14
_UPSERT_NODES_AND_UPDATE_RUNS = (
    f"WITH written AS ({_UPSERT_NODES.strip()}\nRETURNING 1)\n{_renumbered(_UPDATE_RUNS, _NODE_COLUMNS)}"
)
"""Both writes in one statement: atomic by itself, so one round trip instead of a transaction's four."""


def _summed_stats(run: GraphRun) -> dict[str, float]:
    """The numbers the run's blocks reported (tokens, cost), summed over its node executions."""
    total: dict[str, float] = {}
    for ne in run.node_execs:
        if ne.stats:
            for key, value in ne.stats.items():
                total[key] = total.get(key, 0) + value
    return total


def _ts(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


class WriteBehind:
    """Batches execution writes for every run of this process."""

    def __init__(self, pool: asyncpg.Pool, interval: float) -> None:
        self._pool = pool
        self._interval = interval
        self._nodes: dict[str, tuple[NodeExec, str]] = {}
        self._runs: dict[str, GraphRun] = {}
        self.active: dict[str, GraphRun] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_cancel_poll = 0.0
        self._failures: dict[str, int] = {}
        self.rows_written = 0
        self.flushes = 0

    async def start(self) -> None:
        """Start the background flusher."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="workbench-writer")

    async def stop(self) -> None:
        """Write what is pending and stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    def mark_node(self, ne: NodeExec, execution_id: str, urgent: bool) -> None:
        """A node execution changed; write it with the next batch (soon, when ``urgent``)."""
        self._nodes[ne.id] = (ne, execution_id)
        if urgent:
            self._wake.set()

    def mark_run(self, run: GraphRun) -> None:
        """A run's status changed."""
        self._runs[run.spec.execution_id] = run

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
                await self._poll_cancels()
            except Exception:
                log.exception("writing execution state failed; will retry")
                await asyncio.sleep(min(1.0, self._interval * 10))

    async def flush(self) -> None:
        """Write everything marked so far (waits for a flush already in progress, then writes the rest)."""
        async with self._lock:
            if not self._nodes and not self._runs:
                return
            nodes, self._nodes = self._nodes, {}
            runs, self._runs = self._runs, {}
            try:
                await self._write(nodes, runs)
            except asyncpg.PostgresError:
                # One bad execution (deleted while running, say) must not block everyone's writes:
                # write each execution on its own and deal with the failing ones alone.
                await self._write_isolated(nodes, runs)
            except BaseException as exc:
                self._requeue(nodes, runs)  # connection trouble: keep everything, newer marks win
                if isinstance(exc, OSError | asyncpg.InterfaceError):
                    raise StoreError(f"cannot write execution state: {exc}") from exc
                raise
            self.flushes += 1

    async def _write(self, nodes: dict[str, tuple[NodeExec, str]], runs: dict[str, GraphRun]) -> None:
        if nodes and runs:
            sql, args = (
                _UPSERT_NODES_AND_UPDATE_RUNS,
                self._node_rows(nodes.values()) + self._run_rows(runs.values()),
            )
        elif nodes:
            sql, args = _UPSERT_NODES, self._node_rows(nodes.values())
        else:
            sql, args = _UPDATE_RUNS, self._run_rows(runs.values())
        async with self._pool.acquire() as conn:
            await conn.execute(sql, *args)
        self.rows_written += len(nodes) + len(runs)

    def _requeue(self, nodes: dict[str, tuple[NodeExec, str]], runs: dict[str, GraphRun]) -> None:
        for key, value in nodes.items():
            self._nodes.setdefault(key, value)
        for key, run in runs.items():
            self._runs.setdefault(key, run)

    async def _write_isolated(
        self, nodes: dict[str, tuple[NodeExec, str]], runs: dict[str, GraphRun]
    ) -> None:
        groups: dict[str, tuple[dict[str, tuple[NodeExec, str]], dict[str, GraphRun]]] = {}
        for key, (ne, execution_id) in nodes.items():
            groups.setdefault(execution_id, ({}, {}))[0][key] = (ne, execution_id)
        for key, run in runs.items():
            groups.setdefault(key, ({}, {}))[1][key] = run
        for execution_id, (g_nodes, g_runs) in groups.items():
            try:
                await self._write(g_nodes, g_runs)
                self._failures.pop(execution_id, None)
            except asyncpg.ForeignKeyViolationError:
                log.warning(
                    "execution %s no longer exists (deleted while running); its state is dropped",
                    execution_id,
                )
                run = self.active.pop(execution_id, None)
                if run is not None:
                    run.cancel()
            except asyncpg.PostgresError as exc:
                count = self._failures.get(execution_id, 0) + 1
                self._failures[execution_id] = count
                if count >= MAX_WRITE_FAILURES:
                    log.error(
                        "giving up writing state of execution %s after %d failures: %s",
                        execution_id,
                        count,
                        exc,
                    )
                    self._failures.pop(execution_id, None)
                else:
                    log.warning(
                        "writing state of execution %s failed (%d): %s; will retry", execution_id, count, exc
                    )
                    self._requeue(g_nodes, g_runs)

    @staticmethod
    def _node_rows(items: Any) -> list[list[Any]]:
        cols: list[list[Any]] = [[] for _ in range(14)]
        for ne, execution_id in items:
            cols[0].append(ne.id)
            cols[1].append(execution_id)
            cols[2].append(ne.node.id)
            cols[3].append(ne.node.block.id)
            cols[4].append(ne.seq)
            cols[5].append(str(ne.status))
            cols[6].append(dumps(ne.data if ne.data is not None else ne.inputs))
            cols[7].append(dumps(ne.outputs))
            cols[8].append(clean_text(ne.error))
            cols[9].append(ne.attempts)
            cols[10].append(_ts(ne.queued_at))
            cols[11].append(_ts(ne.started_at))
            cols[12].append(_ts(ne.ended_at))
            cols[13].append(dumps(ne.stats) if ne.stats else "{}")
        return cols

    @staticmethod
    def _run_rows(runs: Any) -> list[list[Any]]:
        cols: list[list[Any]] = [[] for _ in range(8)]
        for run in runs:
            cols[0].append(run.spec.execution_id)
            cols[1].append(str(run.status))
            cols[2].append(dumps(run.outputs))
            cols[3].append(clean_text(run.error))
            cols[4].append(run.error_node_id)
            cols[5].append(_ts(run.started_at))
            cols[6].append(_ts(run.ended_at))
            duration = (run.ended_at - run.started_at) if run.ended_at and run.started_at else None
            stats: dict[str, Any] = {"node_executions": len(run.node_execs), "duration_s": duration}
            if run.status.is_final:
                stats.update(_summed_stats(run))
            cols[7].append(dumps(stats))
        return cols

    async def _poll_cancels(self) -> None:
        """Cancel local runs that another process asked to cancel through the database."""
        now = time.monotonic()
        if not self.active or now - self._last_cancel_poll < CANCEL_POLL:
            return
        self._last_cancel_poll = now
        ids = list(self.active)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id::text FROM graph_executions WHERE id = ANY($1::uuid[]) AND cancel_requested", ids
            )
        for row in rows:
            run = self.active.get(row["id"])
            if run is not None:
                run.cancel()


class StoreRecorder(Recorder):
    """Records one run through the shared :class:`WriteBehind`."""

    durable = True

    def __init__(self, writer: WriteBehind, execution_id: str) -> None:
        self.writer = writer
        self.execution_id = execution_id

    def node_changed(self, ne: NodeExec, *, urgent: bool = False) -> None:
        if not ne.replayed:
            self.writer.mark_node(ne, self.execution_id, urgent)

    async def run_started(self, run: GraphRun) -> None:
        self.writer.active[self.execution_id] = run
        self.writer.mark_run(run)

    async def run_finished(self, run: GraphRun) -> None:
        self.writer.active.pop(self.execution_id, None)
        self.writer.mark_run(run)
        await self.writer.flush()
