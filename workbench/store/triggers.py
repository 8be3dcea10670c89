"""Trigger repository: webhook triggers (per user), their rate limit and the replay guard (plain SQL,
asyncpg).

The encrypted secret never leaves this module inside a :class:`TriggerRecord`: only
:meth:`TriggerRepository.for_fire` hands it out, to the service that verifies a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

COLUMNS = (
    "graph_id",
    "graph_version",
    "name",
    "auth_mode",
    "input_mapping",
    "credentials",
    "is_enabled",
    "rate_limit_per_minute",
)
"""The columns a user's changes set (through the service, which validates them)."""
WINDOW_SECONDS = 60.0
"""The rate limit's period: ``rate_limit_per_minute`` calls per minute, all of them at once at most."""


class _Seen(Exception):
    """A digest of the call being remembered was remembered already (ends the transaction)."""


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """A trigger as stored, without its secret."""

    id: str
    user_id: str
    graph_id: str
    graph_version: int | None
    name: str
    auth_mode: str
    input_mapping: dict[str, str] | None
    credentials: dict[str, str]
    is_enabled: bool
    rate_limit_per_minute: int
    fire_count: int
    last_fired_at: datetime | None
    last_execution_id: str | None
    secret_rotated_at: datetime
    created_at: datetime
    updated_at: datetime

    def values(self) -> dict[str, Any]:
        """The user-settable columns, by name."""
        return {c: getattr(self, c) for c in COLUMNS}


def _trigger(row: asyncpg.Record) -> TriggerRecord:
    return TriggerRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        graph_id=str(row["graph_id"]),
        graph_version=row["graph_version"],
        name=row["name"],
        auth_mode=row["auth_mode"],
        input_mapping=row["input_mapping"],
        credentials=row["credentials"] or {},
        is_enabled=row["is_enabled"],
        rate_limit_per_minute=row["rate_limit_per_minute"],
        fire_count=row["fire_count"],
        last_fired_at=row["last_fired_at"],
        last_execution_id=str(row["last_execution_id"]) if row["last_execution_id"] else None,
        secret_rotated_at=row["secret_rotated_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_PUBLIC = ", ".join(
    (
        "id",
        "user_id",
        *COLUMNS,
        "fire_count",
        "last_fired_at",
        "last_execution_id",
        "secret_rotated_at",
        "created_at",
        "updated_at",
    )
)
"""Every column but the secret and the rate limit's state."""


class TriggerRepository:
    """Stores triggers; the owner's side is scoped to a user, the firing side is not."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # ---- the owner's side ------------------------------------------------------------------------

    async def insert(self, user_id: str, values: dict[str, Any], encrypted_secret: bytes) -> TriggerRecord:
        """Store a new trigger (validated values by column name) with its encrypted secret."""
        names = [c for c in COLUMNS if c in values]
        placeholders = ", ".join(f"${i}" for i in range(3, len(names) + 3))
        row = await self.pool.fetchrow(
            f"""INSERT INTO triggers (user_id, encrypted_secret, {", ".join(names)})
                VALUES ($1, $2, {placeholders}) RETURNING {_PUBLIC}""",
            user_id,
            encrypted_secret,
            *(values[c] for c in names),
        )
        return _trigger(row)

    async def get(self, trigger_id: str, user_id: str) -> TriggerRecord | None:
        """A trigger of the user."""
        row = await self.pool.fetchrow(
            f"SELECT {_PUBLIC} FROM triggers WHERE id = $1 AND user_id = $2", trigger_id, user_id
        )
        return _trigger(row) if row is not None else None

    async def list(
        self, user_id: str, *, graph_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[TriggerRecord], int]:
        """The user's triggers (of one graph, if given), newest first, with the total count."""
        where = "user_id = $1 AND ($2::uuid IS NULL OR graph_id = $2)"
        rows = await self.pool.fetch(
            f"""SELECT {_PUBLIC} FROM triggers WHERE {where}
                ORDER BY created_at DESC, id LIMIT $3 OFFSET $4""",
            user_id,
            graph_id,
            limit,
            offset,
        )
        total = await self.pool.fetchval(f"SELECT count(*) FROM triggers WHERE {where}", user_id, graph_id)
        return [_trigger(r) for r in rows], total

    async def update(self, trigger_id: str, user_id: str, values: dict[str, Any]) -> TriggerRecord | None:
        """Change a trigger of the user (validated values by column name); None if there is none. A new
        rate limit starts with a full allowance."""
        names = [c for c in COLUMNS if c in values]
        sets = "".join(f"{c} = ${i}, " for i, c in enumerate(names, start=3))
        if "rate_limit_per_minute" in names:
            sets += "rate_tat = NULL, "
        row = await self.pool.fetchrow(
            f"""UPDATE triggers SET {sets}updated_at = now()
                WHERE id = $1 AND user_id = $2 RETURNING {_PUBLIC}""",
            trigger_id,
            user_id,
            *(values[c] for c in names),
        )
        return _trigger(row) if row is not None else None

    async def set_secret(
        self, trigger_id: str, user_id: str, encrypted_secret: bytes
    ) -> TriggerRecord | None:
        """Replace the secret of a trigger of the user; None if there is none."""
        row = await self.pool.fetchrow(
            f"""UPDATE triggers SET encrypted_secret = $3, secret_rotated_at = now(), updated_at = now()
                WHERE id = $1 AND user_id = $2 RETURNING {_PUBLIC}""",
            trigger_id,
            user_id,
            encrypted_secret,
        )
        return _trigger(row) if row is not None else None

    async def delete(self, trigger_id: str, user_id: str) -> bool:
        """Delete a trigger of the user (and its replay guard)."""
        result = await self.pool.execute(
            "DELETE FROM triggers WHERE id = $1 AND user_id = $2", trigger_id, user_id
        )
        return result != "DELETE 0"

    # ---- the firing side -------------------------------------------------------------------------

    async def for_fire(self, trigger_id: str) -> tuple[TriggerRecord, bytes] | None:
        """A trigger and its encrypted secret, whoever owns it; None when there is none or its
        owner's account is deactivated."""
        row = await self.pool.fetchrow(
            """SELECT t.* FROM triggers t JOIN users u ON u.id = t.user_id
               WHERE t.id = $1 AND u.is_active""",
            trigger_id,
        )
        return (_trigger(row), bytes(row["encrypted_secret"])) if row is not None else None

    async def remember_signatures(self, trigger_id: str, entries: Sequence[tuple[bytes, datetime]]) -> bool:
        """Record digests of a call (its signature; a delivery id and a body) as used, each until its
        time; False, and nothing recorded, when any of them is recorded already and still within its
        window (a replay). Expired entries of the trigger are dropped on the way."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "DELETE FROM trigger_signatures WHERE trigger_id = $1 AND seen_until < now()", trigger_id
                )
                for digest, seen_until in entries:
                    fresh = await conn.fetchval(
                        """INSERT INTO trigger_signatures (trigger_id, digest, seen_until) VALUES ($1, $2, $3)
                           ON CONFLICT (trigger_id, digest) DO UPDATE SET seen_until = excluded.seen_until
                           WHERE trigger_signatures.seen_until < now()
                           RETURNING true""",
                        trigger_id,
                        digest,
                        seen_until,
                    )
                    if not fresh:
                        raise _Seen  # rolls the transaction back: the call's other digests stay unknown
        except _Seen:
            return False
        return True

    async def remember_signature(self, trigger_id: str, digest: bytes, seen_until: datetime) -> bool:
        """Record one signature as used until ``seen_until``; False when it is recorded already and
        still within its window (a replay)."""
        return await self.remember_signatures(trigger_id, [(digest, seen_until)])

    async def forget_signatures(self, trigger_id: str, digests: Sequence[bytes]) -> None:
        """Drop digests recorded for a call that then started nothing (refused by a later check), so
        that the sender may send it again."""
        if digests:
            await self.pool.execute(
                "DELETE FROM trigger_signatures WHERE trigger_id = $1 AND digest = ANY($2::bytea[])",
                trigger_id,
                list(digests),
            )

    async def take_token(self, trigger_id: str) -> float | None:
        """Take one call from the trigger's allowance: None when admitted, else the seconds until the
        next call would be. A token bucket of ``rate_limit_per_minute`` tokens refilled evenly over a
        minute, kept as one timestamp (GCRA); one atomic UPDATE, so it holds across processes."""
        step = "make_interval(secs => 60.0 / rate_limit_per_minute)"
        next_tat = f"greatest(coalesce(rate_tat, now()), now()) + {step}"
        admitted = await self.pool.fetchval(
            f"""UPDATE triggers SET rate_tat = {next_tat}
                WHERE id = $1 AND {next_tat} <= now() + make_interval(secs => $2) RETURNING true""",
            trigger_id,
            WINDOW_SECONDS,
        )
        if admitted:
            return None
        wait = await self.pool.fetchval(
            f"""SELECT extract(epoch FROM {next_tat} - now() - make_interval(secs => $2))::float8
                FROM triggers WHERE id = $1""",
            trigger_id,
            WINDOW_SECONDS,
        )
        return max(float(wait or 0.0), 0.0)

    async def record_fire(self, trigger_id: str, execution_id: str) -> None:
        """Count a call that started a run."""
        await self.pool.execute(
            """UPDATE triggers SET fire_count = fire_count + 1, last_fired_at = now(), last_execution_id = $2
               WHERE id = $1""",
            trigger_id,
            execution_id,
        )
