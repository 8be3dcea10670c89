"""Retention's SQL: users' own bounds, which runs a policy names, and removing runs in small batches.

A run is removed with its whole tree: its sub-graph runs (``parent_execution_id``), every node
execution of each, and their human reviews (foreign keys with ``ON DELETE CASCADE``). Only top-level
runs are candidates, and only when the run and every run below it are in a final status; a run
still QUEUED, RUNNING or in REVIEW, or one above such a run, is never touched.

Each batch is one short transaction: the candidates are locked with ``FOR UPDATE SKIP LOCKED`` (a
row someone else holds is skipped, not waited for), ``lock_timeout`` bounds any other wait, and a
batch stops adding runs once it holds ``max_nodes`` node executions. Chat messages, files,
notifications, schedule fires and triggers keep a removed run's id (they have no foreign key to
it); knowledge documents do not refer to runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

FINAL = ("COMPLETED", "FAILED", "CANCELLED")
"""Statuses after which nothing happens to a run any more."""
LOCK_TIMEOUT = "2s"
"""The longest a batch waits for a lock it does not skip (it is given up, and retried next pass)."""
STATEMENT_TIMEOUT = "120s"
LOWEST_ID = uuid.UUID(int=0)

Cursor = tuple[datetime, uuid.UUID]
"""A position in a keyset walk over runs, newest first: (created_at, id)."""


@dataclass(frozen=True, slots=True)
class UserBounds:
    """A user's own retention bounds (None: the server's)."""

    days: int | None = None
    per_agent: int | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The bounds in force for one user: the stricter of theirs and the server's."""

    user_id: str
    days: int | None
    per_agent: int | None


@dataclass(frozen=True, slots=True)
class Removed:
    """What one batch removed (or, counting only, would remove)."""

    taken: int
    """Candidates of the batch it dealt with (removed or passed over); the rest wait for the next."""
    runs: int
    """Runs removed, top-level and sub-graph runs together."""
    node_executions: int
    kept: int
    """Candidates left as they are: locked by someone, not final, or above a run that is not."""


class RetentionRepository:
    """SQL for retention."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ---- users' bounds ---------------------------------------------------------------------------

    async def bounds(self, user_id: str) -> UserBounds:
        """The user's own bounds (both None when they set none)."""
        row = await self.pool.fetchrow(
            "SELECT days, per_agent FROM retention_settings WHERE user_id = $1", user_id
        )
        return UserBounds(row["days"], row["per_agent"]) if row else UserBounds()

    async def set_bounds(self, user_id: str, bounds: UserBounds) -> None:
        """Store the user's own bounds (both None: forget them, the server's apply)."""
        if bounds.days is None and bounds.per_agent is None:
            await self.pool.execute("DELETE FROM retention_settings WHERE user_id = $1", user_id)
            return
        await self.pool.execute(
            """INSERT INTO retention_settings (user_id, days, per_agent) VALUES ($1, $2, $3)
               ON CONFLICT (user_id) DO UPDATE
               SET days = EXCLUDED.days, per_agent = EXCLUDED.per_agent, updated_at = now()""",
            user_id,
            bounds.days,
            bounds.per_agent,
        )

    async def policies(self, days: int | None, per_agent: int | None) -> list[Policy]:
        """Every user with a bound in force, given the server's (``days``, ``per_agent``)."""
        if days is None and per_agent is None:  # only users' own bounds: their rows
            rows = await self.pool.fetch(
                "SELECT user_id::text AS user_id, days, per_agent FROM retention_settings ORDER BY user_id"
            )
        else:
            rows = await self.pool.fetch(
                """SELECT u.id::text AS user_id, LEAST(r.days, $1) AS days,
                          LEAST(r.per_agent, $2) AS per_agent
                   FROM users u LEFT JOIN retention_settings r ON r.user_id = u.id
                   ORDER BY u.id""",
                days,
                per_agent,
            )
        return [Policy(r["user_id"], r["days"], r["per_agent"]) for r in rows]

    # ---- candidates --------------------------------------------------------------------------------

    async def agents_over(
        self, conn: asyncpg.Connection, user_id: str, keep: int, newer_than: datetime | None
    ) -> list[uuid.UUID]:
        """The user's agents with more than ``keep`` top-level runs (created after ``newer_than``)."""
        rows = await conn.fetch(
            """SELECT graph_id FROM graph_executions
               WHERE user_id = $1 AND parent_execution_id IS NULL
                 AND ($3::timestamptz IS NULL OR created_at >= $3)
               GROUP BY graph_id HAVING count(*) > $2""",
            user_id,
            keep,
            newer_than,
        )
        return [r["graph_id"] for r in rows]

    async def nth_newest(
        self, conn: asyncpg.Connection, user_id: str, graph_id: uuid.UUID, n: int
    ) -> Cursor | None:
        """The position of the agent's ``n``-th newest top-level run (None: it has fewer)."""
        row = await conn.fetchrow(
            """SELECT created_at, id FROM graph_executions
               WHERE user_id = $1 AND graph_id = $2 AND parent_execution_id IS NULL
               ORDER BY created_at DESC, id DESC OFFSET $3 LIMIT 1""",
            user_id,
            graph_id,
            n - 1,
        )
        return (row["created_at"], row["id"]) if row else None

    async def older(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        graph_id: uuid.UUID | None,
        before: Cursor,
        limit: int,
        not_before: datetime | None = None,
    ) -> list[tuple[uuid.UUID, Cursor]]:
        """The user's top-level runs (of one agent, or all) older than ``before``, newest first, at
        most ``limit`` (and none created before ``not_before``): the next page of a keyset walk.
        Any status: the batch that takes them checks it under lock."""
        if graph_id is None:
            rows = await conn.fetch(
                """SELECT id, created_at FROM graph_executions
                   WHERE user_id = $1 AND parent_execution_id IS NULL AND (created_at, id) < ($2, $3)
                   ORDER BY created_at DESC, id DESC LIMIT $4""",
                user_id,
                before[0],
                before[1],
                limit,
            )
        else:
            rows = await conn.fetch(
                """SELECT id, created_at FROM graph_executions
                   WHERE user_id = $1 AND graph_id = $2 AND parent_execution_id IS NULL
                     AND (created_at, id) < ($3, $4) AND ($6::timestamptz IS NULL OR created_at >= $6)
                   ORDER BY created_at DESC, id DESC LIMIT $5""",
                user_id,
                graph_id,
                before[0],
                before[1],
                limit,
                not_before,
            )
        return [(r["id"], (r["created_at"], r["id"])) for r in rows]

    # ---- removing ----------------------------------------------------------------------------------

    async def remove(
        self, conn: asyncpg.Connection, roots: list[uuid.UUID], max_nodes: int, *, dry_run: bool = False
    ) -> Removed:
        """Remove (or, with ``dry_run``, count) the final runs among ``roots`` with their trees, in
        one short transaction, stopping before ``max_nodes`` node executions (at least one run is
        always taken). Candidates locked by someone else, not final, or above a run that is not,
        are left as they are."""
        async with conn.transaction(readonly=dry_run):
            await conn.execute(
                f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"
            )
            lock = "" if dry_run else "FOR UPDATE SKIP LOCKED"
            held = {
                r["id"]
                for r in await conn.fetch(
                    f"""SELECT id FROM graph_executions
                        WHERE id = ANY($1::uuid[]) AND parent_execution_id IS NULL
                          AND status = ANY($2::text[])
                        {lock}""",
                    roots,
                    list(FINAL),
                )
            }
            trees = await self._trees(conn, [r for r in roots if r in held])
            if not dry_run:  # the runs below: locked too, or their root is left for later
                below = [i for members in trees.values() for i, _ in members[1:]]
                if below:
                    locked = {
                        r["id"]
                        for r in await conn.fetch(
                            "SELECT id FROM graph_executions WHERE id = ANY($1::uuid[]) FOR UPDATE SKIP LOCKED",
                            below,
                        )
                    }
                    trees = {root: m for root, m in trees.items() if all(i in locked for i, _ in m[1:])}
            trees = {root: m for root, m in trees.items() if all(s in FINAL for _, s in m)}
            nodes = await self._node_counts(conn, [i for m in trees.values() for i, _ in m])
            chosen: list[uuid.UUID] = []
            taken = node_total = 0
            for root in roots:
                if node_total >= max_nodes and chosen:
                    break
                taken += 1
                if root in trees:
                    ids = [i for i, _ in trees[root]]
                    chosen.extend(ids)
                    node_total += sum(nodes.get(i, 0) for i in ids)
            if dry_run or not chosen:
                return Removed(taken, len(chosen), node_total, taken - _roots_in(chosen, trees))
            deleted_nodes = await conn.execute(
                "DELETE FROM node_executions WHERE graph_execution_id = ANY($1::uuid[])", chosen
            )
            deleted_runs = await conn.execute(
                "DELETE FROM graph_executions WHERE id = ANY($1::uuid[])", chosen
            )
        return Removed(
            taken,
            int(deleted_runs.split()[-1]),
            int(deleted_nodes.split()[-1]),
            taken - _roots_in(chosen, trees),
        )

    @staticmethod
    async def _trees(
        conn: asyncpg.Connection, roots: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[uuid.UUID, str]]]:
        """Each root's runs, itself first, with their statuses (sub-graph runs at every depth)."""
        if not roots:
            return {}
        rows = await conn.fetch(
            """WITH RECURSIVE tree (root, id, status, depth) AS (
                   SELECT id, id, status, 0 FROM graph_executions WHERE id = ANY($1::uuid[])
                   UNION ALL
                   SELECT t.root, c.id, c.status, t.depth + 1
                   FROM graph_executions c JOIN tree t ON c.parent_execution_id = t.id
               )
               SELECT root, id, status FROM tree ORDER BY root, depth""",
            roots,
        )
        trees: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
        for r in rows:
            trees.setdefault(r["root"], []).append((r["id"], r["status"]))
        return trees

    @staticmethod
    async def _node_counts(conn: asyncpg.Connection, runs: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not runs:
            return {}
        rows = await conn.fetch(
            """SELECT graph_execution_id AS id, count(*) AS n FROM node_executions
               WHERE graph_execution_id = ANY($1::uuid[]) GROUP BY 1""",
            runs,
        )
        return {r["id"]: r["n"] for r in rows}


def _roots_in(chosen: list[uuid.UUID], trees: dict[uuid.UUID, list[tuple[uuid.UUID, str]]]) -> int:
    ids = set(chosen)
    return sum(1 for root in trees if root in ids)
