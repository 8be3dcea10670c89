"""Notifications in PostgreSQL: users' channels and preferences, the notifications (the in-app inbox)
and their deliveries (the notifier's outbox and the delivery log). Migration 0016 draws the tables.

Every read and change of a user's rows takes the user id: another user's rows are never found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from workbench import jsonutil

CHANNEL_COLUMNS = "id::text, user_id::text, kind, name, display, enabled, created_at, updated_at"
NOTIFICATION_COLUMNS = (
    "id::text, user_id::text, kind, dedupe_key, title, body, html, data, graph_id::text, "
    "execution_id::text, in_app, read_at, created_at"
)
DELIVERY_COLUMNS = (
    "d.id::text, d.notification_id::text, d.user_id::text, d.channel_id::text, d.channel, d.target, "
    "d.status, d.reason, d.attempts, d.next_attempt_at, d.report, d.created_at, d.updated_at, "
    "d.delivered_at, n.kind, n.title"
)


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A user's outside destination (never its address's secret parts or signing secret)."""

    id: str
    user_id: str
    kind: str
    name: str
    display: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the API's)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "target": self.display,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One stored notification."""

    id: str
    user_id: str
    kind: str
    dedupe_key: str
    title: str
    text: str
    html: str | None
    data: dict[str, Any]
    graph_id: str | None
    execution_id: str | None
    in_app: bool
    read_at: datetime | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the API's, the WebSocket's, the apps')."""
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "data": self.data,
            "graph_id": self.graph_id,
            "execution_id": self.execution_id,
            "read": self.read_at is not None,
            "read_at": self.read_at.isoformat() if self.read_at else None,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery of a notification on an outside channel: a row of the delivery log."""

    id: str
    notification_id: str
    user_id: str
    channel_id: str | None
    channel: str
    target: str
    status: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime
    report: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    kind: str
    title: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the API's delivery log)."""
        return {
            "id": self.id,
            "notification_id": self.notification_id,
            "event": self.kind,
            "title": self.title,
            "channel": self.channel,
            "channel_id": self.channel_id,
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.status == "pending" else None,
            "reports": self.report,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a notifier took to send: the row, its notification, and the sealed target."""

    delivery: DeliveryRecord
    notification: NotificationRecord
    address: bytes | None
    secret: bytes | None


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """A delivery to add with a new notification."""

    channel: str
    channel_id: str | None
    target: str
    status: str = "pending"
    reason: str | None = None
    next_attempt_at: datetime | None = None


_CREATE = f"""
WITH n AS (
    INSERT INTO notifications (user_id, kind, dedupe_key, title, body, html, data, graph_id, execution_id, in_app)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING *),
d AS (
    INSERT INTO notification_deliveries (notification_id, user_id, channel_id, channel, target, status, reason,
                                         next_attempt_at)
    SELECT n.id, n.user_id, x.channel_id, x.channel, x.target, x.status, x.reason, coalesce(x.due, now())
    FROM n, unnest($11::uuid[], $12::text[], $13::text[], $14::text[], $15::text[], $16::timestamptz[])
         AS x(channel_id, channel, target, status, reason, due)
    RETURNING 1)
SELECT {NOTIFICATION_COLUMNS}, (SELECT count(*) FROM d) AS deliveries FROM n"""
"""A notification and its deliveries, in one statement (so, atomically); nothing when it exists."""


def _columns(planned: Sequence[PlannedDelivery]) -> tuple[list[Any], ...]:
    """The deliveries as the columns ``_CREATE`` unnests."""
    return (
        [d.channel_id for d in planned],
        [d.channel for d in planned],
        [d.target for d in planned],
        [d.status for d in planned],
        [d.reason for d in planned],
        [d.next_attempt_at for d in planned],
    )


def _json(value: Any) -> Any:
    return jsonutil.loads(value) if isinstance(value, str | bytes) else value


def _channel(row: asyncpg.Record) -> ChannelRecord:
    return ChannelRecord(*row.values())


def _notification(row: asyncpg.Record, offset: int = 0) -> NotificationRecord:
    values = list(row.values())[offset : offset + 13]
    values[7] = _json(values[7]) or {}
    return NotificationRecord(*values)


def _delivery(row: asyncpg.Record) -> DeliveryRecord:
    values = list(row.values())[:16]
    values[10] = _json(values[10]) or []
    return DeliveryRecord(*values)


class NotificationRepository:
    """The notification tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ---- channels --------------------------------------------------------------------------------

    async def add_channel(
        self, user_id: str, kind: str, name: str, address: bytes, secret: bytes | None, display: str
    ) -> ChannelRecord | None:
        """A new channel; None when the user has one of that name."""
        row = await self.pool.fetchrow(
            f"""INSERT INTO notification_channels (user_id, kind, name, address, secret, display)
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, name) DO NOTHING
                RETURNING {CHANNEL_COLUMNS}""",
            user_id,
            kind,
            name,
            address,
            secret,
            display,
        )
        return _channel(row) if row else None

    async def channels(self, user_id: str) -> list[ChannelRecord]:
        """The user's channels, by name."""
        rows = await self.pool.fetch(
            f"SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE user_id = $1 ORDER BY name", user_id
        )
        return [_channel(r) for r in rows]

    async def channel(self, channel_id: str, user_id: str) -> ChannelRecord | None:
        """One of the user's channels."""
        row = await self.pool.fetchrow(
            f"SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE id = $1 AND user_id = $2",
            channel_id,
            user_id,
        )
        return _channel(row) if row else None

    async def enabled_channels(self, user_id: str) -> list[ChannelRecord]:
        """The user's enabled channels (where new notifications go)."""
        rows = await self.pool.fetch(
            f"SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE user_id = $1 AND enabled ORDER BY name",
            user_id,
        )
        return [_channel(r) for r in rows]

    async def update_channel(
        self, channel_id: str, user_id: str, *, name: str | None = None, enabled: bool | None = None
    ) -> ChannelRecord | None:
        """Rename or switch a channel; None when it is not the user's (ValueError on a taken name)."""
        try:
            row = await self.pool.fetchrow(
                f"""UPDATE notification_channels SET name = coalesce($3, name),
                        enabled = coalesce($4, enabled), updated_at = now()
                    WHERE id = $1 AND user_id = $2 RETURNING {CHANNEL_COLUMNS}""",
                channel_id,
                user_id,
                name,
                enabled,
            )
        except asyncpg.UniqueViolationError:
            raise ValueError(name) from None
        return _channel(row) if row else None

    async def set_channel_secret(self, channel_id: str, user_id: str, secret: bytes) -> ChannelRecord | None:
        """Replace a webhook channel's signing secret."""
        row = await self.pool.fetchrow(
            f"""UPDATE notification_channels SET secret = $3, updated_at = now()
                WHERE id = $1 AND user_id = $2 AND kind = 'webhook' RETURNING {CHANNEL_COLUMNS}""",
            channel_id,
            user_id,
            secret,
        )
        return _channel(row) if row else None

    async def delete_channel(self, channel_id: str, user_id: str) -> bool:
        """Remove a channel (its deliveries stay in the log); False when it is not the user's."""
        done = await self.pool.execute(
            "DELETE FROM notification_channels WHERE id = $1 AND user_id = $2", channel_id, user_id
        )
        return done.endswith(" 1")

    # ---- preferences -----------------------------------------------------------------------------

    async def preferences(self, user_id: str) -> tuple[dict[str, Any] | None, str | None, str | None]:
        """The stored preferences document (None: defaults), the account's timezone and email."""
        row = await self.pool.fetchrow(
            """SELECT p.prefs, u.timezone, u.email FROM users u
               LEFT JOIN notification_preferences p ON p.user_id = u.id WHERE u.id = $1""",
            user_id,
        )
        if row is None:
            return None, None, None
        return _json(row["prefs"]), row["timezone"], row["email"]

    async def set_preferences(self, user_id: str, prefs: dict[str, Any]) -> None:
        """Store the user's preferences document."""
        await self.pool.execute(
            """INSERT INTO notification_preferences (user_id, prefs) VALUES ($1, $2)
               ON CONFLICT (user_id) DO UPDATE SET prefs = EXCLUDED.prefs, updated_at = now()""",
            user_id,
            prefs,
        )

    async def summary_subscribers(self) -> list[tuple[str, str, dict[str, Any], str | None]]:
        """(user id, period, preferences, account timezone) of users who asked for summaries."""
        rows = await self.pool.fetch(
            """SELECT p.user_id::text, p.prefs->>'summary', p.prefs, u.timezone
               FROM notification_preferences p JOIN users u ON u.id = p.user_id
               WHERE p.prefs->>'summary' IN ('daily', 'weekly')"""
        )
        return [(r[0], r[1], _json(r[2]), r[3]) for r in rows]

    # ---- notifications ---------------------------------------------------------------------------

    async def create(
        self,
        user_id: str,
        *,
        kind: str,
        dedupe_key: str,
        title: str,
        text: str,
        html: str | None,
        data: dict[str, Any],
        graph_id: str | None,
        execution_id: str | None,
        in_app: bool,
        deliveries: Sequence[PlannedDelivery],
        cap: int | None = None,
        day_start: datetime | None = None,
    ) -> tuple[NotificationRecord, list[PlannedDelivery]] | None:
        """Store a notification and its deliveries at once (one statement); None when the user has
        one with ``dedupe_key`` already (the event was handled before). Returns the deliveries as
        stored.

        With ``cap``, the user's outside notifications since ``day_start`` are counted first, in the
        same transaction under a lock on the user (two notifiers count one after the other): at the
        cap, the pending deliveries are stored as suppressed instead.
        """
        planned = list(deliveries)
        values: tuple[Any, ...] = (
            user_id,
            kind,
            dedupe_key,
            title,
            text,
            html,
            data,
            graph_id,
            execution_id,
            in_app,
        )
        if cap is None or day_start is None or not any(d.status == "pending" for d in planned):
            row = await self.pool.fetchrow(_CREATE, *values, *_columns(planned))
            return (_notification(row), planned) if row else None
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('wb-notify-cap:' || $1))", user_id)
            used = await conn.fetchval(
                """SELECT count(DISTINCT notification_id) FROM notification_deliveries
                   WHERE user_id = $1 AND created_at >= $2 AND status <> 'suppressed'""",
                user_id,
                day_start,
            )
            if used >= cap:
                reason = f"the daily cap of {cap} notification(s) was reached (preferences: daily_cap)"
                planned = [
                    PlannedDelivery(d.channel, d.channel_id, d.target, "suppressed", reason)
                    if d.status == "pending"
                    else d
                    for d in planned
                ]
            row = await conn.fetchrow(_CREATE, *values, *_columns(planned))
            return (_notification(row), planned) if row else None

    async def inbox(
        self, user_id: str, *, unread: bool = False, limit: int = 50, before: datetime | None = None
    ) -> list[NotificationRecord]:
        """The user's in-app notifications, newest first."""
        rows = await self.pool.fetch(
            f"""SELECT {NOTIFICATION_COLUMNS} FROM notifications
                WHERE user_id = $1 AND in_app AND (NOT $2 OR read_at IS NULL)
                  AND ($3::timestamptz IS NULL OR created_at < $3)
                ORDER BY created_at DESC, id DESC LIMIT $4""",
            user_id,
            unread,
            before,
            limit,
        )
        return [_notification(r) for r in rows]

    async def unread_count(self, user_id: str) -> int:
        """How many in-app notifications the user has not read."""
        return await self.pool.fetchval(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND in_app AND read_at IS NULL", user_id
        )

    async def notification(self, notification_id: str, user_id: str) -> NotificationRecord | None:
        """One of the user's notifications."""
        row = await self.pool.fetchrow(
            f"SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1 AND user_id = $2",
            notification_id,
            user_id,
        )
        return _notification(row) if row else None

    async def mark_read(self, user_id: str, ids: Sequence[str] | None, read: bool = True) -> int:
        """Mark the given notifications (all of the user's when None) read or unread; how many changed."""
        done = await self.pool.execute(
            """UPDATE notifications SET read_at = CASE WHEN $3 THEN now() ELSE NULL END
               WHERE user_id = $1 AND in_app AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
                 AND (read_at IS NULL) = $3""",
            user_id,
            list(ids) if ids is not None else None,
            read,
        )
        return int(done.rsplit(" ", 1)[-1])

    async def delete_notification(self, notification_id: str, user_id: str) -> bool:
        """Remove a notification from the inbox (and its log rows)."""
        done = await self.pool.execute(
            "DELETE FROM notifications WHERE id = $1 AND user_id = $2", notification_id, user_id
        )
        return done.endswith(" 1")

    # ---- deliveries ------------------------------------------------------------------------------

    async def deliveries(
        self, user_id: str, *, status: str | None = None, notification_id: str | None = None, limit: int = 50
    ) -> list[DeliveryRecord]:
        """The user's delivery log, newest first."""
        rows = await self.pool.fetch(
            f"""SELECT {DELIVERY_COLUMNS} FROM notification_deliveries d
                JOIN notifications n ON n.id = d.notification_id
                WHERE d.user_id = $1 AND ($2::text IS NULL OR d.status = $2)
                  AND ($3::uuid IS NULL OR d.notification_id = $3)
                ORDER BY d.created_at DESC, d.id DESC LIMIT $4""",
            user_id,
            status,
            notification_id,
            limit,
        )
        return [_delivery(r) for r in rows]

    async def claim_due(
        self, limit: int, lease_seconds: float, *, busy: Sequence[str] = (), per_target: int = 2
    ) -> list[ClaimedDelivery]:
        """Take up to ``limit`` deliveries due now (or whose sender's lease ran out) for this notifier:
        at most ``per_target`` per channel, none of the ``busy`` channels (ids), so one slow or dead
        destination never holds every sender."""
        rows = await self.pool.fetch(
            f"""WITH ranked AS (
                    SELECT id, row_number() OVER (
                               PARTITION BY coalesce(channel_id::text, target) ORDER BY next_attempt_at) AS k
                    FROM notification_deliveries
                    WHERE ((status = 'pending' AND next_attempt_at <= now())
                           OR (status = 'sending' AND lease_until < now()))
                      AND (channel_id IS NULL OR channel_id <> ALL($3::uuid[]))
                    ORDER BY next_attempt_at LIMIT 1000),
                due AS (
                    SELECT id FROM notification_deliveries
                    WHERE id IN (SELECT id FROM ranked WHERE k <= $4)
                      AND ((status = 'pending' AND next_attempt_at <= now())
                           OR (status = 'sending' AND lease_until < now()))
                    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),
                d AS (
                    UPDATE notification_deliveries x SET status = 'sending', attempts = x.attempts + 1,
                        lease_until = now() + make_interval(secs => $2), updated_at = now()
                    FROM due WHERE x.id = due.id RETURNING x.*)
                SELECT {DELIVERY_COLUMNS}, n.id::text, n.user_id::text, n.kind, n.dedupe_key, n.title,
                       n.body, n.html, n.data, n.graph_id::text, n.execution_id::text, n.in_app,
                       n.read_at, n.created_at, c.address, c.secret, c.enabled
                FROM d JOIN notifications n ON n.id = d.notification_id
                LEFT JOIN notification_channels c ON c.id = d.channel_id""",
            limit,
            lease_seconds,
            list(busy),
            per_target,
        )
        claimed = []
        for r in rows:
            enabled = r["enabled"]
            claimed.append(
                ClaimedDelivery(
                    _delivery(r),
                    _notification(r, 16),
                    r["address"] if enabled else None,
                    r["secret"] if enabled else None,
                )
            )
        return claimed

    async def settle(
        self,
        delivery_id: str,
        status: str,
        report: dict[str, Any] | None,
        *,
        reason: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Record how a claimed delivery went: delivered, failed, or pending again at ``next_attempt_at``."""
        await self.pool.execute(
            """UPDATE notification_deliveries SET status = $2, reason = $3,
                   report = CASE WHEN $4::jsonb IS NULL THEN report ELSE report || jsonb_build_array($4::jsonb) END,
                   next_attempt_at = coalesce($5, next_attempt_at), lease_until = NULL, updated_at = now(),
                   delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END
               WHERE id = $1""",
            delivery_id,
            status,
            reason,
            report,
            next_attempt_at,
        )

    async def next_due(self) -> datetime | None:
        """When the next pending delivery falls due (None: none is pending)."""
        return await self.pool.fetchval(
            "SELECT min(next_attempt_at) FROM notification_deliveries WHERE status = 'pending'"
        )

    async def counts(self) -> dict[str, int]:
        """Deliveries by status (the notifier's metrics)."""
        rows = await self.pool.fetch("SELECT status, count(*) FROM notification_deliveries GROUP BY status")
        return {r[0]: r[1] for r in rows}

    # ---- what the notifier reads about runs and schedules ------------------------------------------

    async def mark_runs_notified(self, execution_ids: Sequence[str]) -> None:
        """The notifier handled these runs' ends."""
        await self.pool.execute(
            "UPDATE graph_executions SET notified_at = now() WHERE id = ANY($1::uuid[]) AND notified_at IS NULL",
            list(execution_ids),
        )

    async def unnotified_runs(self, older_than: float, horizon: float, limit: int) -> list[dict[str, Any]]:
        """Top-level runs that ended between ``horizon`` and ``older_than`` seconds ago and were never
        handled (their event was lost); runs ended longer ago, and sub-graph runs, are marked handled."""
        await self.pool.execute(
            """UPDATE graph_executions SET notified_at = now()
               WHERE notified_at IS NULL AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
                 AND (ended_at < now() - make_interval(secs => $1) OR parent_execution_id IS NOT NULL)""",
            horizon,
        )
        rows = await self.pool.fetch(
            """SELECT id::text, graph_id::text, graph_version, user_id::text, status, error, error_node_id
               FROM graph_executions
               WHERE notified_at IS NULL AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
                 AND ended_at < now() - make_interval(secs => $1)
               ORDER BY ended_at LIMIT $2""",
            older_than,
            limit,
        )
        return [dict(r) for r in rows]

    async def schedule_of(self, execution_id: str) -> str | None:
        """The schedule that started a run, if one did."""
        return await self.pool.fetchval(
            "SELECT schedule_id::text FROM schedule_runs WHERE execution_id = $1", execution_id
        )

    async def run_facts(self, execution_id: str) -> dict[str, Any] | None:
        """What a run's notification says: agent name, status, error, failing node, duration, tokens,
        cost, and the schedule that started it (if one did)."""
        row = await self.pool.fetchrow(
            """SELECT e.id::text AS execution_id, e.user_id::text, e.graph_id::text, e.graph_version,
                      e.status, e.error, e.error_node_id, e.parent_execution_id IS NOT NULL AS is_child,
                      g.name AS agent_name,
                      extract(epoch FROM (e.ended_at - coalesce(e.started_at, e.created_at))) AS duration,
                      e.stats, sr.schedule_id::text AS schedule_id, sr.fire_time,
                      (SELECT coalesce(nullif(gn.metadata->>'customized_name', ''), b.name, gn.block_id)
                         FROM graph_nodes gn LEFT JOIN blocks b ON b.id = gn.block_id
                        WHERE gn.graph_id = e.graph_id AND gn.graph_version = e.graph_version
                          AND gn.id = e.error_node_id) AS node_name
               FROM graph_executions e
               JOIN graphs g ON g.id = e.graph_id AND g.version = e.graph_version
               LEFT JOIN schedule_runs sr ON sr.execution_id = e.id
               WHERE e.id = $1""",
            execution_id,
        )
        if row is None:
            return None
        facts = dict(row)
        facts["stats"] = _json(facts["stats"]) or {}
        return facts

    async def node_totals(self, execution_id: str) -> tuple[float, float]:
        """Tokens and cost (US dollars) of a run's node executions."""
        row = await self.pool.fetchrow(
            """SELECT coalesce(sum(coalesce((stats->>'input_tokens')::float8, 0)
                          + coalesce((stats->>'output_tokens')::float8, 0)
                          + coalesce((stats->>'embedding_tokens')::float8, 0)), 0),
                      coalesce(sum(coalesce((stats->>'cost_usd')::float8, 0)), 0)
               FROM node_executions WHERE graph_execution_id = $1""",
            execution_id,
        )
        return float(row[0]), float(row[1])

    async def failure_streak(
        self, schedule_id: str, failed_execution_id: str | None = None, error: str | None = None
    ) -> tuple[int, datetime | None, str | None]:
        """How many of a schedule's latest fires failed in a row (runs that failed, or could not
        start), when the streak began, and its last error. ``failed_execution_id``: a run known to
        have failed (with ``error``) whose end may not be stored yet."""
        rows = await self.pool.fetch(
            """SELECT sr.fire_time, sr.status AS fire_status,
                      CASE WHEN e.id = $2::uuid THEN 'FAILED' ELSE e.status END AS run_status,
                      CASE WHEN e.id = $2::uuid THEN coalesce($3, e.error) ELSE coalesce(e.error, sr.error)
                      END AS error
               FROM schedule_runs sr LEFT JOIN graph_executions e ON e.id = sr.execution_id
               WHERE sr.schedule_id = $1 AND sr.status IN ('SUBMITTED', 'FAILED')
               ORDER BY sr.fire_time DESC LIMIT 50""",
            schedule_id,
            failed_execution_id,
            error,
        )
        streak, since, last_error = 0, None, None
        for r in rows:
            failed = r["fire_status"] == "FAILED" or r["run_status"] == "FAILED"
            if not failed:
                break
            streak += 1
            since = r["fire_time"]
            last_error = last_error or r["error"]
        return streak, since, last_error

    async def schedule_fire(self, schedule_run_id: str) -> dict[str, Any] | None:
        """A schedule's fire and what its notification says."""
        row = await self.pool.fetchrow(
            """SELECT sr.id::text, sr.schedule_id::text, sr.fire_time, sr.status, sr.error, sr.coalesced,
                      s.user_id::text, s.graph_id::text,
                      (SELECT name FROM graphs g WHERE g.id = s.graph_id ORDER BY is_active DESC, version DESC
                       LIMIT 1) AS agent_name
               FROM schedule_runs sr JOIN schedules s ON s.id = sr.schedule_id WHERE sr.id = $1""",
            schedule_run_id,
        )
        return dict(row) if row else None

    async def mark_fires_notified(self, schedule_run_ids: Sequence[str]) -> None:
        """The notifier handled these fires."""
        await self.pool.execute(
            "UPDATE schedule_runs SET notified_at = now() WHERE id = ANY($1::uuid[]) AND notified_at IS NULL",
            list(schedule_run_ids),
        )

    async def unnotified_fires(self, older_than: float, horizon: float, limit: int) -> list[str]:
        """Missed or failed fires never handled (older ones are marked handled)."""
        await self.pool.execute(
            """UPDATE schedule_runs SET notified_at = now()
               WHERE notified_at IS NULL AND status IN ('MISSED', 'FAILED')
                 AND updated_at < now() - make_interval(secs => $1)""",
            horizon,
        )
        rows = await self.pool.fetch(
            """SELECT id::text FROM schedule_runs
               WHERE notified_at IS NULL AND status IN ('MISSED', 'FAILED')
                 AND updated_at < now() - make_interval(secs => $1)
               ORDER BY updated_at LIMIT $2""",
            older_than,
            limit,
        )
        return [r[0] for r in rows]

    async def period_totals(
        self, user_id: str, start: datetime, end: datetime
    ) -> list[tuple[str, int, int, float, float]]:
        """Per agent: name, runs, failures, tokens, cost of the user's top-level runs created in [start, end)."""
        rows = await self.pool.fetch(
            """SELECT coalesce((SELECT name FROM graphs g WHERE g.id = e.graph_id
                                ORDER BY is_active DESC, version DESC LIMIT 1), e.graph_id::text) AS name,
                      count(*)::int, (count(*) FILTER (WHERE e.status = 'FAILED'))::int,
                      coalesce(sum(t.tokens), 0)::float8, coalesce(sum(t.cost), 0)::float8
               FROM graph_executions e
               LEFT JOIN LATERAL (
                   SELECT sum(coalesce((n.stats->>'input_tokens')::float8, 0)
                              + coalesce((n.stats->>'output_tokens')::float8, 0)
                              + coalesce((n.stats->>'embedding_tokens')::float8, 0)) AS tokens,
                          sum(coalesce((n.stats->>'cost_usd')::float8, 0)) AS cost
                   FROM node_executions n WHERE n.graph_execution_id = e.id) t ON true
               WHERE e.user_id = $1 AND e.parent_execution_id IS NULL
                 AND e.created_at >= $2 AND e.created_at < $3
               GROUP BY e.graph_id ORDER BY count(*) DESC""",
            user_id,
            start,
            end,
        )
        return [tuple(r.values()) for r in rows]  # type: ignore[misc]

    async def has_notification(self, user_id: str, dedupe_key: str) -> bool:
        """Whether the user has a notification with ``dedupe_key``."""
        return bool(
            await self.pool.fetchval(
                "SELECT 1 FROM notifications WHERE user_id = $1 AND dedupe_key = $2", user_id, dedupe_key
            )
        )

    async def waiting_reviews(self, execution_id: str) -> list[dict[str, Any]]:
        """The reviews a top-level run waits on, its sub-graph runs' included (id, name, agent name)."""
        rows = await self.pool.fetch(
            """SELECT r.id::text AS id, r.name,
                      (SELECT name FROM graphs g WHERE g.id = r.graph_id ORDER BY is_active DESC,
                       version DESC LIMIT 1) AS agent_name
               FROM human_reviews r WHERE r.root_execution_id = $1 AND r.status = 'WAITING'
               ORDER BY r.created_at""",
            execution_id,
        )
        return [dict(r) for r in rows]
