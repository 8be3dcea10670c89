"""Execution repository: graph executions and their node executions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from workbench import jsonutil
from workbench.engine.recorder import Replay, StoredNodeExec
from workbench.errors import InputError, NotFoundError


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(slots=True)
class NodeExecutionRecord:
    """A stored node execution."""

    id: str
    node_id: str
    block_id: str
    seq: int
    status: str
    inputs: Any
    outputs: list[list[Any]]
    error: str | None
    attempts: int
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    stats: dict[str, Any] = field(default_factory=dict)
    """Numbers the block reported (tokens, cost)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "node_id": self.node_id,
            "block_id": self.block_id,
            "seq": self.seq,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error": self.error,
            "attempts": self.attempts,
            "queued_at": _iso(self.queued_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "stats": self.stats,
        }


@dataclass(slots=True)
class ExecutionRecord:
    """A stored graph execution, with its node executions when loaded in detail."""

    id: str
    graph_id: str
    graph_version: int
    user_id: str
    status: str
    inputs: dict[str, Any]
    outputs: dict[str, list[Any]]
    error: str | None
    error_node_id: str | None
    stats: dict[str, Any]
    parent_execution_id: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    cancel_requested: bool = False
    credentials: dict[str, str] = field(default_factory=dict)
    safe_mode: bool = True
    """Whether blocks asking for a human review wait for one (``HumanInTheLoopBlock``)."""
    nodes: list[NodeExecutionRecord] = field(default_factory=list)

    def to_dict(self, *, with_nodes: bool = True) -> dict[str, Any]:
        """JSON-ready form."""
        out = {
            "id": self.id,
            "graph_id": self.graph_id,
            "graph_version": self.graph_version,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error": self.error,
            "error_node_id": self.error_node_id,
            "stats": self.stats,
            "parent_execution_id": self.parent_execution_id,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }
        if with_nodes:
            out["node_executions"] = [n.to_dict() for n in self.nodes]
        return out


def _record(row: asyncpg.Record) -> ExecutionRecord:
    return ExecutionRecord(
        id=str(row["id"]),
        graph_id=str(row["graph_id"]),
        graph_version=row["graph_version"],
        user_id=str(row["user_id"]),
        status=row["status"],
        inputs=row["inputs"],
        outputs=row["outputs"],
        error=row["error"],
        error_node_id=row["error_node_id"],
        stats=row["stats"],
        parent_execution_id=str(row["parent_execution_id"]) if row["parent_execution_id"] else None,
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        cancel_requested=row["cancel_requested"],
        credentials=row.get("credentials") or {},
        safe_mode=row.get("safe_mode", True) is not False,
    )


def _node(row: asyncpg.Record) -> NodeExecutionRecord:
    return NodeExecutionRecord(
        id=str(row["id"]),
        node_id=row["node_id"],
        block_id=row["block_id"],
        seq=row["seq"],
        status=row["status"],
        inputs=row["inputs"],
        outputs=row["outputs"],
        error=row["error"],
        attempts=row["attempts"],
        queued_at=row["queued_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        stats=row["stats"] or {},
    )


_LISTED = """{t}.user_id = $1 AND {t}.parent_execution_id IS NULL
    AND ($2::uuid IS NULL OR {t}.graph_id = $2) AND ($3::text IS NULL OR {t}.status = $3)
    AND ($4::timestamptz IS NULL OR {t}.created_at >= $4) AND ($5::timestamptz IS NULL OR {t}.created_at < $5)"""
"""The filters of :meth:`ExecutionRepository.list`, for a table alias ``t``."""


class ExecutionRepository:
    """Stores and loads executions; reads are scoped to a user."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self,
        execution_id: str,
        graph_id: str,
        graph_version: int,
        user_id: str,
        inputs: dict[str, Any],
        *,
        priority: int = 0,
        parent_execution_id: str | None = None,
        parent_node_execution_id: str | None = None,
        executor_key: int | None = None,
        credentials: dict[str, str] | None = None,
        safe_mode: bool = True,
    ) -> None:
        """Insert a QUEUED graph execution owned by the process holding ``executor_key``.

        Inputs a user gave (not a sub-graph run's, which blocks produced) are stored as given or
        refused: a NUL character, which ``jsonb`` cannot hold, is an InputError naming where it is.
        """
        if parent_execution_id is None:
            where = jsonutil.nul_path(inputs, "inputs")
            if where is not None:
                raise InputError(f"{where}: contains a NUL character (U+0000), which cannot be stored")
        try:
            await self.pool.execute(
                """INSERT INTO graph_executions (id, graph_id, graph_version, user_id, status, inputs,
                                                 priority, parent_execution_id, parent_node_execution_id,
                                                 executor_key, credentials, safe_mode)
                   VALUES ($1, $2, $3, $4, 'QUEUED', $5, $6, $7, $8, $9, $10, $11)""",
                execution_id,
                graph_id,
                graph_version,
                user_id,
                inputs,
                priority,
                parent_execution_id,
                parent_node_execution_id,
                executor_key,
                credentials or {},
                safe_mode,
            )
        except asyncpg.ForeignKeyViolationError:
            # The graph (or the parent run) was deleted a moment ago.
            raise NotFoundError(f"graph {graph_id} version {graph_version} not found") from None

    async def claim(self, execution_id: str, my_key: int, lock_class: int) -> ExecutionRecord | None:
        """Take a QUEUED or RUNNING run for this executor unless a live executor holds it; counts the
        attempt. None when the run is finished, unknown, or owned by a live executor."""
        row = await self.pool.fetchrow(
            """UPDATE graph_executions SET executor_key = $2, attempts = attempts + 1, updated_at = now()
               WHERE id = $1 AND status IN ('QUEUED', 'RUNNING')
                 AND CASE WHEN executor_key IS NULL OR executor_key = $2 THEN true
                          ELSE pg_try_advisory_xact_lock($3, executor_key) END
               RETURNING *""",
            execution_id,
            my_key,
            lock_class,
        )
        if row is None:
            return None
        rec = _record(row)
        rec.stats = {**(rec.stats or {}), "attempts": row["attempts"]}
        return rec

    async def fail(self, execution_id: str, reason: str) -> None:
        """End an unfinished run FAILED with ``reason`` (e.g. given up after too many attempts)."""
        await self.pool.execute(
            """UPDATE graph_executions SET status = 'FAILED', error = $2, ended_at = now(), updated_at = now()
               WHERE id = $1 AND status IN ('QUEUED', 'RUNNING')""",
            execution_id,
            reason,
        )

    async def mark_unpublished(self, execution_id: str) -> None:
        """The queue did not take the run's message: the sweeper publishes it again."""
        await self.pool.execute("UPDATE graph_executions SET published_at = NULL WHERE id = $1", execution_id)

    async def to_republish(
        self, lock_class: int, stale_seconds: float, limit: int = 500
    ) -> list[tuple[str, int]]:
        """Runs whose message was never published, or whose owner died long ago: (id, priority)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id::text, priority FROM graph_executions
                   WHERE parent_execution_id IS NULL AND (
                       (status = 'QUEUED' AND published_at IS NULL)
                       OR (status IN ('QUEUED', 'RUNNING') AND executor_key IS NOT NULL
                           AND updated_at < now() - make_interval(secs => $2)
                           AND pg_try_advisory_xact_lock($1, executor_key)))
                   ORDER BY created_at LIMIT $3""",
                lock_class,
                stale_seconds,
                limit,
            )
            ids = [r["id"] for r in rows]
            if ids:
                await conn.execute(
                    "UPDATE graph_executions SET published_at = now(), updated_at = now() WHERE id = ANY($1::uuid[])",
                    ids,
                )
        return [(r["id"], r["priority"]) for r in rows]

    async def claim_orphans(self, lock_class: int, my_key: int) -> list[ExecutionRecord]:
        """Take over unfinished top-level runs whose owner process is gone (its advisory lock is free)."""
        claimed = []
        rows = await self.pool.fetch(
            """SELECT id, executor_key FROM graph_executions WHERE status IN ('QUEUED', 'RUNNING')
               AND parent_execution_id IS NULL AND executor_key IS NOT NULL AND executor_key <> $1
               ORDER BY created_at""",
            my_key,
        )
        for row in rows:
            async with self.pool.acquire() as conn, conn.transaction():
                old = row["executor_key"]
                if old is not None:
                    free = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", lock_class, old)
                    if not free:
                        continue  # its owner is alive
                taken = await conn.fetchrow(
                    """UPDATE graph_executions SET executor_key = $1, updated_at = now()
                       WHERE id = $2 AND executor_key IS NOT DISTINCT FROM $3 AND status IN ('QUEUED', 'RUNNING')
                       RETURNING *""",
                    my_key,
                    row["id"],
                    old,
                )
            if taken is not None:
                claimed.append(_record(taken))
        return claimed

    async def get(
        self, execution_id: str, user_id: str | None, *, with_nodes: bool = True
    ) -> ExecutionRecord | None:
        """One execution (None if absent or not the user's), with node executions in creation order."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM graph_executions WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)",
                execution_id,
                user_id,
            )
            if row is None:
                return None
            record = _record(row)
            if with_nodes:
                rows = await conn.fetch(
                    """SELECT * FROM node_executions WHERE graph_execution_id = $1
                       ORDER BY coalesce(queued_at, started_at, ended_at), node_id, seq""",
                    execution_id,
                )
                record.nodes = [_node(r) for r in rows]
        return record

    async def list(
        self,
        user_id: str,
        *,
        graph_id: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[ExecutionRecord], int]:
        """Top-level executions of the user, newest first, with filters, and how many match.

        The page is read through the user's index of top-level runs and the total counted apart
        (over the index): a window ``count(*) OVER ()`` would read every matching row in full."""
        rows = await self.pool.fetch(
            f"""SELECT *, (SELECT count(*) FROM graph_executions AS c WHERE {_LISTED.format(t="c")}) AS total
                FROM graph_executions AS e WHERE {_LISTED.format(t="e")}
                ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7""",
            user_id,
            graph_id,
            status,
            since,
            until,
            limit,
            offset,
        )
        total = rows[0]["total"] if rows else 0
        return [_record(r) for r in rows], total

    async def unfinished(self) -> list[ExecutionRecord]:
        """Top-level executions that are QUEUED or RUNNING (candidates for pick-up after a restart)."""
        rows = await self.pool.fetch(
            """SELECT * FROM graph_executions WHERE status IN ('QUEUED', 'RUNNING')
               AND parent_execution_id IS NULL ORDER BY created_at"""
        )
        return [_record(r) for r in rows]

    async def child_of(self, parent_node_execution_id: str) -> ExecutionRecord | None:
        """The sub-graph execution started by an agent executor node execution, if any."""
        row = await self.pool.fetchrow(
            "SELECT * FROM graph_executions WHERE parent_node_execution_id = $1 ORDER BY created_at DESC LIMIT 1",
            parent_node_execution_id,
        )
        return _record(row) if row else None

    async def load_replay(self, execution_id: str) -> Replay:
        """What a run stored before it was interrupted, for resuming it."""
        rows = await self.pool.fetch(
            "SELECT id::text, node_id, seq, status, inputs, outputs, error FROM node_executions "
            "WHERE graph_execution_id = $1",
            execution_id,
        )
        replay = Replay()
        for r in rows:
            replay.add(
                StoredNodeExec(
                    id=r["id"],
                    node_id=r["node_id"],
                    seq=r["seq"],
                    status=r["status"],
                    inputs=r["inputs"],
                    outputs=[(o[0], o[1]) for o in r["outputs"]],
                    error=r["error"],
                )
            )
        return replay

    async def request_cancel(self, execution_id: str, user_id: str | None) -> str | None:
        """Flag a run for cancellation; QUEUED runs, and runs waiting for a review (which no executor
        holds), are cancelled at once. Returns the status, or None."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT status FROM graph_executions WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2) FOR UPDATE",
                execution_id,
                user_id,
            )
            if row is None:
                return None
            status = row["status"]
            if status in ("QUEUED", "REVIEW"):
                # Nobody holds it: cancelled at once, with the node executions that wait for a review
                # (a run queued again after a decision may have some) and the sub-graph runs paused
                # under them (found through those node executions).
                await conn.execute(
                    """WITH RECURSIVE tree(id) AS (
                           SELECT $1::uuid
                           UNION ALL
                           SELECT g.id FROM tree t
                           JOIN node_executions n ON n.graph_execution_id = t.id AND n.status = 'REVIEW'
                           JOIN graph_executions g ON g.parent_node_execution_id = n.id),
                       nodes AS (
                           UPDATE node_executions SET status = 'CANCELLED', ended_at = now()
                           WHERE status = 'REVIEW' AND graph_execution_id IN (SELECT id FROM tree))
                       UPDATE graph_executions SET status = 'CANCELLED', error = 'cancelled',
                           cancel_requested = true, ended_at = now(), updated_at = now()
                       WHERE status IN ('QUEUED', 'REVIEW') AND id IN (SELECT id FROM tree)""",
                    execution_id,
                )
                return "CANCELLED"
            if status == "RUNNING":
                await conn.execute(
                    "UPDATE graph_executions SET cancel_requested = true, updated_at = now() WHERE id = $1",
                    execution_id,
                )
            return status

    async def delete(self, execution_id: str, user_id: str) -> bool:
        """Delete a finished execution and its node executions."""
        result = await self.pool.execute(
            "DELETE FROM graph_executions WHERE id = $1 AND user_id = $2 "
            "AND status NOT IN ('QUEUED', 'RUNNING', 'REVIEW')",
            execution_id,
            user_id,
        )
        return result != "DELETE 0"

    async def status(self, execution_id: str) -> str | None:
        """The stored status of an execution."""
        return await self.pool.fetchval("SELECT status FROM graph_executions WHERE id = $1", execution_id)
