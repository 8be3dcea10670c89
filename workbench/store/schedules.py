"""Schedule repository: schedules (per user) and the record of their fires (plain SQL, asyncpg).

Every change a user makes bumps ``updated_at`` and sends NOTIFY on ``CHANNEL`` (delivered when the
transaction commits), so a running scheduler rebuilds that schedule's job at once; fires never
touch ``updated_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import asyncpg

CHANNEL = "workbench_schedules"

COLUMNS = (
    "graph_id",
    "graph_version",
    "name",
    "schedule_type",
    "cron_expression",
    "interval_seconds",
    "run_at",
    "time_of_day",
    "weekdays",
    "timezone",
    "inputs",
    "credentials",
    "misfire_grace_seconds",
    "is_enabled",
    "paused_at",
    "next_run_at",
)
"""The columns a user's changes set (through the service, which validates them)."""


class ActiveLimitReached(Exception):
    """The user has ``active`` active schedules, the most allowed: none was activated."""

    def __init__(self, active: int) -> None:
        self.active = active
        super().__init__(f"{active} active schedules")


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A schedule as stored."""

    id: str
    user_id: str
    graph_id: str
    graph_version: int | None
    name: str
    schedule_type: str
    cron_expression: str | None
    interval_seconds: int | None
    run_at: datetime | None
    time_of_day: time | None
    weekdays: list[str] | None
    timezone: str
    inputs: dict[str, Any]
    credentials: dict[str, str]
    misfire_grace_seconds: int
    is_enabled: bool
    paused_at: datetime | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_fire_time: datetime | None = None
    """The latest fire time recorded in schedule_runs (loaded for the scheduler only)."""

    @property
    def status(self) -> str:
        """``active``; ``paused``; or ``completed`` (a ONCE schedule that has fired or was missed)."""
        if self.is_enabled:
            return "active"
        return "paused" if self.paused_at is not None else "completed"

    def values(self) -> dict[str, Any]:
        """The user-settable columns, by name."""
        return {c: getattr(self, c) for c in COLUMNS}


@dataclass(frozen=True, slots=True)
class ScheduleRunRecord:
    """One fire of a schedule."""

    id: str
    schedule_id: str
    fire_time: datetime
    execution_id: str | None
    status: str
    coalesced: int
    error: str | None
    fired_by: str | None
    created_at: datetime


def _schedule(row: asyncpg.Record) -> ScheduleRecord:
    return ScheduleRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        graph_id=str(row["graph_id"]),
        graph_version=row["graph_version"],
        name=row["name"],
        schedule_type=row["schedule_type"],
        cron_expression=row["cron_expression"],
        interval_seconds=row["interval_seconds"],
        run_at=row["run_at"],
        time_of_day=row["time_of_day"],
        weekdays=list(row["weekdays"]) if row["weekdays"] is not None else None,
        timezone=row["timezone"],
        inputs=row["inputs"] or {},
        credentials=row["credentials"] or {},
        misfire_grace_seconds=row["misfire_grace_seconds"],
        is_enabled=row["is_enabled"],
        paused_at=row["paused_at"],
        next_run_at=row["next_run_at"],
        last_run_at=row["last_run_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_fire_time=row.get("last_fire_time"),
    )


def _run(row: asyncpg.Record) -> ScheduleRunRecord:
    return ScheduleRunRecord(
        id=str(row["id"]),
        schedule_id=str(row["schedule_id"]),
        fire_time=row["fire_time"],
        execution_id=str(row["execution_id"]) if row["execution_id"] is not None else None,
        status=row["status"],
        coalesced=row["coalesced"],
        error=row["error"],
        fired_by=row["fired_by"],
        created_at=row["created_at"],
    )


class ScheduleRepository:
    """Stores schedules and their runs; the user's side is scoped to a user, the scheduler's is not."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ---- the user's side -----------------------------------------------------------------------

    @staticmethod
    async def _make_room(
        conn: asyncpg.Connection, user_id: str, max_active: int, schedule_id: str | None = None
    ) -> None:
        """Inside a transaction: raise ActiveLimitReached unless the user has fewer than
        ``max_active`` active schedules (other than ``schedule_id``). A per-user transaction lock
        makes concurrent activations of one user take turns, so the limit holds exactly."""
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 11))", f"schedules:{user_id}")
        active = await conn.fetchval(
            """SELECT count(*) FROM schedules
               WHERE user_id = $1 AND is_enabled AND ($2::uuid IS NULL OR id <> $2)""",
            user_id,
            schedule_id,
        )
        if active >= max_active:
            raise ActiveLimitReached(active)

    async def insert(
        self, user_id: str, values: dict[str, Any], *, max_active: int | None = None
    ) -> ScheduleRecord:
        """Store a new schedule (validated values by column name); with ``max_active``, an active one
        only while the user has fewer active schedules (else ActiveLimitReached)."""
        names = [c for c in COLUMNS if c in values]
        placeholders = ", ".join(f"${i}" for i in range(2, len(names) + 2))
        async with self.pool.acquire() as conn, conn.transaction():
            if max_active is not None and values.get("is_enabled"):
                await self._make_room(conn, user_id, max_active)
            row = await conn.fetchrow(
                f"INSERT INTO schedules (user_id, {', '.join(names)}) VALUES ($1, {placeholders}) RETURNING *",
                user_id,
                *(values[c] for c in names),
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(row["id"]))
        return _schedule(row)

    async def get(self, schedule_id: str, user_id: str | None) -> ScheduleRecord | None:
        """A schedule of the user (of anyone when ``user_id`` is None)."""
        row = await self.pool.fetchrow(
            "SELECT * FROM schedules WHERE id = $1 AND ($2::uuid IS NULL OR user_id = $2)",
            schedule_id,
            user_id,
        )
        return _schedule(row) if row is not None else None

    async def list(
        self, user_id: str, *, graph_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[ScheduleRecord], int]:
        """The user's schedules, newest first, with the total count."""
        rows = await self.pool.fetch(
            """SELECT *, count(*) OVER () AS total FROM schedules
               WHERE user_id = $1 AND ($2::uuid IS NULL OR graph_id = $2)
               ORDER BY created_at DESC, id LIMIT $3 OFFSET $4""",
            user_id,
            graph_id,
            limit,
            offset,
        )
        total = rows[0]["total"] if rows else 0
        if not rows and offset:
            total = await self.pool.fetchval(
                "SELECT count(*) FROM schedules WHERE user_id = $1 AND ($2::uuid IS NULL OR graph_id = $2)",
                user_id,
                graph_id,
            )
        return [_schedule(r) for r in rows], total

    async def update(
        self, schedule_id: str, user_id: str, values: dict[str, Any], *, max_active: int | None = None
    ) -> ScheduleRecord | None:
        """Change a schedule of the user (validated values by column name); None if there is none.
        With ``max_active`` (the change activates it): ActiveLimitReached when the user's other
        active schedules leave no room."""
        names = [c for c in COLUMNS if c in values]
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(names, start=3))
        async with self.pool.acquire() as conn, conn.transaction():
            if max_active is not None:
                await self._make_room(conn, user_id, max_active, schedule_id)
            row = await conn.fetchrow(
                f"""UPDATE schedules SET {sets}{", " if sets else ""}updated_at = now()
                    WHERE id = $1 AND user_id = $2 RETURNING *""",
                schedule_id,
                user_id,
                *(values[c] for c in names),
            )
            if row is not None:
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, schedule_id)
        return _schedule(row) if row is not None else None

    async def delete(self, schedule_id: str, user_id: str) -> bool:
        """Delete a schedule of the user (and the record of its runs)."""
        async with self.pool.acquire() as conn, conn.transaction():
            result = await conn.execute(
                "DELETE FROM schedules WHERE id = $1 AND user_id = $2", schedule_id, user_id
            )
            if result != "DELETE 0":
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, schedule_id)
        return result != "DELETE 0"

    async def runs(
        self, schedule_id: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[ScheduleRunRecord], int]:
        """The fires of a schedule, latest first, with the total count."""
        rows = await self.pool.fetch(
            """SELECT *, count(*) OVER () AS total FROM schedule_runs WHERE schedule_id = $1
               ORDER BY fire_time DESC LIMIT $2 OFFSET $3""",
            schedule_id,
            limit,
            offset,
        )
        total = rows[0]["total"] if rows else 0
        if not rows and offset:
            total = await self.pool.fetchval(
                "SELECT count(*) FROM schedule_runs WHERE schedule_id = $1", schedule_id
            )
        return [_run(r) for r in rows], total

    async def user_timezone(self, user_id: str) -> str | None:
        """The user's timezone setting."""
        return await self.pool.fetchval("SELECT timezone FROM users WHERE id = $1", user_id)

    async def owned_credentials(self, user_id: str, credential_ids: list[str]) -> set[str]:
        """Which of these credential ids belong to the user."""
        rows = await self.pool.fetch(
            "SELECT id FROM credentials WHERE user_id = $1 AND id = ANY($2::uuid[])", user_id, credential_ids
        )
        return {str(r["id"]) for r in rows}

    # ---- the scheduler's side ------------------------------------------------------------------

    async def enabled_versions(self) -> dict[str, datetime]:
        """Every enabled schedule's id and ``updated_at`` (what the scheduler compares with its jobs)."""
        rows = await self.pool.fetch("SELECT id, updated_at FROM schedules WHERE is_enabled")
        return {str(r["id"]): r["updated_at"] for r in rows}

    async def load(self, ids: list[str]) -> list[ScheduleRecord]:
        """Enabled schedules by id, with the latest fire time recorded for each."""
        rows = await self.pool.fetch(
            """SELECT s.*, (SELECT max(r.fire_time) FROM schedule_runs r WHERE r.schedule_id = s.id)
                   AS last_fire_time
               FROM schedules s WHERE s.id = ANY($1::uuid[]) AND s.is_enabled""",
            ids,
        )
        return [_schedule(r) for r in rows]

    async def claim(
        self,
        schedule: ScheduleRecord,
        fire_time: datetime,
        *,
        execution_id: str | None,
        status: str,
        coalesced: int,
        fired_by: str,
        next_run_at: datetime | None,
        error: str | None = None,
    ) -> str | None:
        """Record a fire, once: returns the new run's id, or None when this fire is recorded already
        (another scheduler took it) or the schedule is no longer enabled. In the same transaction, move the schedule on: ``last_run_at``,
        and (unless the user changed the schedule since the caller loaded it) ``next_run_at``, and a
        ONCE schedule is done."""
        async with self.pool.acquire() as conn, conn.transaction():
            run_id = await conn.fetchval(
                """INSERT INTO schedule_runs (schedule_id, fire_time, execution_id, status, coalesced, error, fired_by)
                   SELECT $1::uuid, $2::timestamptz, $3::uuid, $4::text, $5::integer, $6::text, $7::text
                   WHERE EXISTS (SELECT 1 FROM schedules WHERE id = $1 AND is_enabled)
                   ON CONFLICT (schedule_id, fire_time) DO NOTHING RETURNING id""",
                schedule.id,
                fire_time,
                execution_id,
                status,
                coalesced,
                error,
                fired_by,
            )
            if run_id is None:
                return None
            done = schedule.schedule_type == "ONCE" or next_run_at is None
            await conn.execute(
                """UPDATE schedules SET
                       last_run_at = CASE WHEN $5 THEN greatest(last_run_at, $2) ELSE last_run_at END,
                       next_run_at = CASE WHEN updated_at = $3 THEN $4 ELSE next_run_at END,
                       is_enabled = CASE WHEN updated_at = $3 AND $6 THEN false ELSE is_enabled END
                   WHERE id = $1""",
                schedule.id,
                fire_time,
                schedule.updated_at,
                None if done else next_run_at,
                status != "MISSED",
                done,
            )
        return str(run_id)

    async def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """Set the outcome of a PENDING run."""
        await self.pool.execute(
            """UPDATE schedule_runs SET status = $2, error = $3, updated_at = now()
               WHERE id = $1 AND status = 'PENDING'""",
            run_id,
            status,
            error,
        )

    async def pending(
        self, older_than_seconds: float
    ) -> list[tuple[ScheduleRunRecord, ScheduleRecord | None]]:
        """PENDING runs older than that (their scheduler died between recording and submitting),
        each with its schedule."""
        rows = await self.pool.fetch(
            """SELECT * FROM schedule_runs
               WHERE status = 'PENDING' AND created_at < now() - make_interval(secs => $1)
               ORDER BY created_at LIMIT 1000""",
            older_than_seconds,
        )
        found = []
        for row in rows:
            schedule = await self.get(str(row["schedule_id"]), None)
            found.append((_run(row), schedule))
        return found

    async def execution_exists(self, execution_id: str) -> bool:
        """Whether the execution was created."""
        return bool(await self.pool.fetchval("SELECT 1 FROM graph_executions WHERE id = $1", execution_id))
