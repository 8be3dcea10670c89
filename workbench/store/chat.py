"""Chat repository: a user's conversations with agents and their messages (plain SQL, asyncpg).

Every query names the user: a session of another user is not found, and its messages are not
listed. Database failures come out as :class:`~workbench.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from workbench.errors import StoreError

ROLES = ("user", "assistant", "error")
"""Who a message is from: the user, the agent's reply, or an error (a failed or stopped run)."""


@dataclass(frozen=True, slots=True)
class ChatSessionRecord:
    """A conversation as stored."""

    id: str
    user_id: str
    graph_id: str
    title: str
    pins: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChatMessageRecord:
    """One message of a conversation."""

    id: int
    session_id: str
    role: str
    text: str
    execution_id: str | None
    created_at: datetime


def _session(row: asyncpg.Record) -> ChatSessionRecord:
    return ChatSessionRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        graph_id=str(row["graph_id"]),
        title=row["title"],
        pins=dict(row["pins"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _message(row: asyncpg.Record) -> ChatMessageRecord:
    return ChatMessageRecord(
        id=row["id"],
        session_id=str(row["session_id"]),
        role=row["role"],
        text=row["text"],
        execution_id=str(row["execution_id"]) if row["execution_id"] is not None else None,
        created_at=row["created_at"],
    )


@asynccontextmanager
async def _database(what: str) -> AsyncIterator[None]:
    """Translate the driver's failures into StoreError naming what was being done."""
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise StoreError(f"cannot {what}: {exc}") from exc


class ChatRepository:
    """Stores chat sessions and messages, each query scoped to one user."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_session(
        self, user_id: str, graph_id: str, title: str, pins: dict[str, Any]
    ) -> ChatSessionRecord:
        """A new conversation of ``user_id`` with agent ``graph_id``."""
        async with _database("store the conversation"):
            row = await self.pool.fetchrow(
                """INSERT INTO chat_sessions (user_id, graph_id, title, pins)
                   VALUES ($1, $2, $3, $4) RETURNING *""",
                user_id,
                graph_id,
                title,
                pins,
            )
        return _session(row)

    async def get_session(self, session_id: str, user_id: str) -> ChatSessionRecord | None:
        """The user's conversation ``session_id`` (None if absent or another user's)."""
        async with _database("read the conversation"):
            row = await self.pool.fetchrow(
                "SELECT * FROM chat_sessions WHERE id = $1 AND user_id = $2", session_id, user_id
            )
        return _session(row) if row is not None else None

    async def list_sessions(
        self, user_id: str, *, graph_id: str | None = None, limit: int = 100
    ) -> list[ChatSessionRecord]:
        """The user's conversations (with one agent, or all), most recently active first."""
        async with _database("list the conversations"):
            rows = await self.pool.fetch(
                """SELECT * FROM chat_sessions
                   WHERE user_id = $1 AND ($2::uuid IS NULL OR graph_id = $2)
                   ORDER BY updated_at DESC, id DESC LIMIT $3""",
                user_id,
                graph_id,
                limit,
            )
        return [_session(r) for r in rows]

    async def update_session(
        self, session_id: str, user_id: str, *, title: str | None = None, pins: dict[str, Any] | None = None
    ) -> ChatSessionRecord | None:
        """Rename the conversation and/or change its pins; None if it is not the user's."""
        async with _database("change the conversation"):
            row = await self.pool.fetchrow(
                """UPDATE chat_sessions
                   SET title = coalesce($3, title), pins = coalesce($4, pins), updated_at = now()
                   WHERE id = $1 AND user_id = $2 RETURNING *""",
                session_id,
                user_id,
                title,
                pins,
            )
        return _session(row) if row is not None else None

    async def delete_session(self, session_id: str, user_id: str) -> bool:
        """Delete the conversation and its messages; False if it is not the user's."""
        async with _database("delete the conversation"):
            status = await self.pool.execute(
                "DELETE FROM chat_sessions WHERE id = $1 AND user_id = $2", session_id, user_id
            )
        return status.endswith(" 1")

    async def add_message(
        self, session_id: str, user_id: str, role: str, text: str, execution_id: str | None = None
    ) -> ChatMessageRecord | None:
        """Append a message to the user's conversation (and mark it active); None if it is not theirs."""
        async with _database("store the message"), self.pool.acquire() as conn, conn.transaction():
            touched = await conn.execute(
                "UPDATE chat_sessions SET updated_at = now() WHERE id = $1 AND user_id = $2",
                session_id,
                user_id,
            )
            if not touched.endswith(" 1"):
                return None
            row = await conn.fetchrow(
                """INSERT INTO chat_messages (session_id, role, text, execution_id)
                   VALUES ($1, $2, $3, $4) RETURNING *""",
                session_id,
                role,
                text,
                execution_id,
            )
        return _message(row)

    async def messages(self, session_id: str, user_id: str) -> list[ChatMessageRecord]:
        """The messages of the user's conversation, oldest first (none if it is not theirs)."""
        async with _database("read the messages"):
            rows = await self.pool.fetch(
                """SELECT m.* FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id
                   WHERE m.session_id = $1 AND s.user_id = $2 ORDER BY m.id""",
                session_id,
                user_id,
            )
        return [_message(r) for r in rows]
