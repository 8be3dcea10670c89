"""Review repository: human reviews of node executions (``migrations/0015_human_review.sql``), plain SQL.

A review is found again on every replay of its run by (execution, node, sequence number). Deciding is
one conditional update (a review is decided once); queuing a paused run again is another
(:meth:`ReviewRepository.requeue`), whose condition is the whole rule of when a run may go on: it is
in REVIEW and one of its paused node executions (its own or a sub-graph run's) has a decided review.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from workbench.jsonutil import clean_text, dumps_db

STATUSES = ("WAITING", "APPROVED", "REJECTED", "TIMED_OUT")
"""Every status a review can have."""
UNFINISHED_RUN = ("QUEUED", "RUNNING", "REVIEW")
"""Statuses of a run that a review may still take effect in."""

_SELECT = """
SELECT r.*, g.status AS run_status, coalesce(gr.name, '') AS agent
FROM human_reviews r
JOIN graph_executions g ON g.id = r.root_execution_id
LEFT JOIN graphs gr ON gr.id = r.graph_id AND gr.version = r.graph_version
"""

_DECIDED_PAUSE = """EXISTS (
    SELECT 1 FROM human_reviews r
    JOIN node_executions n
      ON n.graph_execution_id = r.execution_id AND n.node_id = r.node_id AND n.seq = r.seq
    WHERE r.root_execution_id = g.id AND r.status <> 'WAITING' AND n.status = 'REVIEW')"""
"""A paused node execution of run ``g`` (or of a sub-graph run under it) whose review is decided."""

_TIMEOUT_MESSAGE = (
    "format('timed out after %s s: %s by default', timeout_seconds, "
    "CASE default_decision WHEN 'approve' THEN 'approved' ELSE 'rejected' END)"
)


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """A review as stored (with its run's status and its agent's name)."""

    id: str
    execution_id: str
    """The run the node belongs to (a sub-graph run for a node inside one)."""
    root_execution_id: str
    """The top-level run: what the person started, and what is queued again."""
    node_id: str
    seq: int
    node_execution_id: str
    user_id: str
    graph_id: str
    graph_version: int
    name: str
    data: Any
    editable: bool
    status: str
    default_decision: str
    timeout_seconds: float
    created_at: datetime
    decision: str | None = None
    reviewed_data: Any = None
    message: str | None = None
    decided_by: str | None = None
    decided_via: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    run_status: str = "REVIEW"
    agent: str = ""

    @property
    def waiting(self) -> bool:
        """Whether it still waits for a decision that can take effect (its run has not ended)."""
        return self.status == "WAITING" and self.run_status in UNFINISHED_RUN

    def summary(self) -> dict[str, Any]:
        """What watchers of the run are told about it (events, widgets)."""
        return {
            "review_id": self.id,
            "node_id": self.node_id,
            "name": self.name,
            "data": self.data,
            "editable": self.editable,
            "default_decision": self.default_decision,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """The API's document of the review (``execution_id`` is the top-level run; a node inside a
        sub-graph run names that run in ``sub_execution_id``)."""
        return {
            "id": self.id,
            "execution_id": self.root_execution_id,
            "node_execution_id": self.node_execution_id,
            "node_id": self.node_id,
            "seq": self.seq,
            "sub_execution_id": self.execution_id if self.execution_id != self.root_execution_id else None,
            "graph_id": self.graph_id,
            "graph_version": self.graph_version,
            "agent": self.agent,
            "name": self.name,
            "data": self.data,
            "editable": self.editable,
            "status": self.status,
            "decision": self.decision,
            "reviewed_data": self.reviewed_data,
            "message": self.message,
            "default_decision": self.default_decision,
            "timeout_seconds": self.timeout_seconds,
            "decided_via": self.decided_via,
            "created_at": self.created_at,
            "decided_at": self.decided_at,
            "expires_at": self.expires_at,
            "run_status": self.run_status,
        }

    def with_(self, **changes: Any) -> ReviewRecord:
        """A copy with ``changes``."""
        return replace(self, **changes)


def _review(row: asyncpg.Record) -> ReviewRecord:
    return ReviewRecord(
        id=str(row["id"]),
        execution_id=str(row["execution_id"]),
        root_execution_id=str(row["root_execution_id"]),
        node_id=row["node_id"],
        seq=row["seq"],
        node_execution_id=str(row["node_execution_id"]),
        user_id=str(row["user_id"]),
        graph_id=str(row["graph_id"]),
        graph_version=row["graph_version"],
        name=row["name"],
        data=row["data"],
        editable=row["editable"],
        status=row["status"],
        default_decision=row["default_decision"],
        timeout_seconds=row["timeout_seconds"],
        created_at=row["created_at"],
        decision=row["decision"],
        reviewed_data=row["reviewed_data"],
        message=row["message"],
        decided_by=str(row["decided_by"]) if row["decided_by"] else None,
        decided_via=row["decided_via"],
        decided_at=row["decided_at"],
        expires_at=row["expires_at"],
        run_status=row.get("run_status") or "REVIEW",
        agent=row.get("agent") or "",
    )


class ReviewRepository:
    """Stores, finds, decides and times out reviews; reads are scoped to a user."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def find(self, execution_id: str, node_id: str, seq: int) -> ReviewRecord | None:
        """The review of one node execution of a run (the same on every replay)."""
        row = await self.pool.fetchrow(
            _SELECT + "WHERE r.execution_id = $1 AND r.node_id = $2 AND r.seq = $3",
            execution_id,
            node_id,
            seq,
        )
        return _review(row) if row else None

    async def create(self, fields: dict[str, Any]) -> ReviewRecord:
        """Store a WAITING review (``fields``: the columns), or find the one a concurrent attempt
        stored for the same node execution."""
        await self.pool.execute(
            """INSERT INTO human_reviews (execution_id, root_execution_id, node_id, seq, node_execution_id,
                   user_id, graph_id, graph_version, name, data, editable, default_decision,
                   timeout_seconds, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, ($10::text)::jsonb, $11, $12, $13::float8,
                       CASE WHEN $13::float8 > 0 THEN now() + make_interval(secs => $13::float8) END)
               ON CONFLICT (execution_id, node_id, seq) DO NOTHING""",
            fields["execution_id"],
            fields["root_execution_id"],
            fields["node_id"],
            fields["seq"],
            fields["node_execution_id"],
            fields["user_id"],
            fields["graph_id"],
            fields["graph_version"],
            clean_text(fields["name"]) or "",
            dumps_db(fields["data"]),
            fields["editable"],
            fields["default_decision"],
            float(fields["timeout_seconds"]),
        )
        found = await self.find(fields["execution_id"], fields["node_id"], fields["seq"])
        assert found is not None
        return found

    async def get(self, review_id: str, user_id: str | None) -> ReviewRecord | None:
        """One review of the user (any user's for None)."""
        row = await self.pool.fetchrow(
            _SELECT + "WHERE r.id = $1 AND ($2::uuid IS NULL OR r.user_id = $2)", review_id, user_id
        )
        return _review(row) if row else None

    async def list(
        self,
        user_id: str,
        *,
        status: str | None = None,
        execution_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[ReviewRecord], int]:
        """The user's reviews, newest first, and how many match: of one run (top-level or sub-graph)
        with ``execution_id``; ``status`` WAITING means those that can still take effect."""
        where = """r.user_id = $1
            AND ($2::uuid IS NULL OR r.root_execution_id = $2 OR r.execution_id = $2)
            AND ($3::text IS NULL OR r.status = $3)
            AND ($3::text IS DISTINCT FROM 'WAITING' OR g.status IN ('QUEUED', 'RUNNING', 'REVIEW'))"""
        rows = await self.pool.fetch(
            _SELECT + f"WHERE {where} ORDER BY r.created_at DESC, r.id DESC LIMIT $4 OFFSET $5",
            user_id,
            execution_id,
            status,
            limit,
            offset,
        )
        total = await self.pool.fetchval(
            f"""SELECT count(*) FROM human_reviews r JOIN graph_executions g ON g.id = r.root_execution_id
                WHERE {where}""",
            user_id,
            execution_id,
            status,
        )
        return [_review(r) for r in rows], int(total)

    async def decide(
        self,
        review_id: str,
        *,
        decision: str,
        data_given: bool,
        data: Any,
        message: str | None,
        decided_by: str | None,
        via: str,
    ) -> bool:
        """Store a decision, if the review still waits and has not expired (one statement: a second
        decision finds it decided). ``data`` replaces the data when ``data_given``."""
        status = "APPROVED" if decision == "approve" else "REJECTED"
        done = await self.pool.fetchval(
            """UPDATE human_reviews SET status = $2, decision = $3,
                   reviewed_data = CASE WHEN $4 THEN ($5::text)::jsonb ELSE data END,
                   message = $6, decided_by = $7, decided_via = $8, decided_at = now()
               WHERE id = $1 AND status = 'WAITING' AND (expires_at IS NULL OR expires_at > now())
               RETURNING id""",
            review_id,
            status,
            decision,
            data_given,
            dumps_db(data),
            clean_text(message),
            decided_by,
            via,
        )
        return done is not None

    async def time_out(self, review_id: str) -> bool:
        """Apply the default decision to a review whose time is up (False: decided meanwhile)."""
        done = await self.pool.fetchval(
            f"""UPDATE human_reviews SET status = 'TIMED_OUT', decision = default_decision,
                   reviewed_data = data, message = {_TIMEOUT_MESSAGE}, decided_via = 'timeout',
                   decided_at = now()
               WHERE id = $1 AND status = 'WAITING' AND expires_at <= now()
               RETURNING id""",
            review_id,
        )
        return done is not None

    async def time_out_due(self, limit: int = 500) -> list[str]:
        """Apply the default decision to every review whose time is up and whose run goes on; the
        top-level runs they belong to (to queue again)."""
        rows = await self.pool.fetch(
            f"""UPDATE human_reviews SET status = 'TIMED_OUT', decision = default_decision,
                   reviewed_data = data, message = {_TIMEOUT_MESSAGE}, decided_via = 'timeout',
                   decided_at = now()
               WHERE id IN (
                   SELECT r.id FROM human_reviews r JOIN graph_executions g ON g.id = r.root_execution_id
                   WHERE r.status = 'WAITING' AND r.expires_at <= now()
                     AND g.status IN ('QUEUED', 'RUNNING', 'REVIEW')
                   ORDER BY r.expires_at LIMIT $1 FOR UPDATE OF r SKIP LOCKED)
               RETURNING root_execution_id::text""",
            limit,
        )
        return list(dict.fromkeys(r["root_execution_id"] for r in rows))

    async def answered(self, limit: int = 100) -> list[str]:
        """Top-level runs paused for a review that was answered (a decision whose queuing was lost)."""
        rows = await self.pool.fetch(
            f"""SELECT g.id::text FROM graph_executions g
               WHERE g.status = 'REVIEW' AND g.parent_execution_id IS NULL AND {_DECIDED_PAUSE}
               ORDER BY g.updated_at LIMIT $1""",
            limit,
        )
        return [r["id"] for r in rows]

    async def requeue(self, execution_id: str, executor_key: int | None) -> int | None:
        """Queue a paused top-level run again if one of its paused node executions has a decided
        review; its priority, or None when it is not paused or nothing was decided. Its attempts
        start again (a pause is not a failed attempt); ``executor_key`` owns it until it is claimed
        (this process's with the in-process queue, else none)."""
        return await self.pool.fetchval(
            f"""UPDATE graph_executions AS g SET status = 'QUEUED', executor_key = $2, attempts = 0,
                   published_at = now(), updated_at = now()
               WHERE g.id = $1 AND g.status = 'REVIEW' AND g.parent_execution_id IS NULL
                 AND {_DECIDED_PAUSE}
               RETURNING g.priority""",
            execution_id,
            executor_key,
        )
