"""Template repository: published agent snapshots that every user can browse (plain SQL, asyncpg).

Reading is open to everyone (that is what publishing is for); writing is scoped to the publisher:
publishing, replacing and unpublishing name the user, and another user's template is not found. The
publisher is shown by display name only (``users.name``), never by email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

PUBLISHER = "coalesce(nullif(btrim(u.name), ''), 'User ' || left(u.id::text, 8))"
"""The publisher's display name: the account's name, else a short anonymous label (never the email)."""


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    """A template as stored (``graph`` is the snapshot document, loaded only when asked for)."""

    id: str
    user_id: str
    publisher: str
    graph_id: str
    graph_version: int
    name: str
    description: str
    block_ids: list[str]
    providers: list[str]
    credentials: list[dict[str, Any]]
    node_count: int
    fork_count: int
    published_at: datetime
    updated_at: datetime
    graph: dict[str, Any] | None = None


def _record(row: asyncpg.Record, with_graph: bool = False) -> TemplateRecord:
    return TemplateRecord(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        publisher=row["publisher"],
        graph_id=str(row["graph_id"]),
        graph_version=row["graph_version"],
        name=row["name"],
        description=row["description"],
        block_ids=list(row["block_ids"]),
        providers=list(row["providers"]),
        credentials=list(row["credentials"]),
        node_count=row["node_count"],
        fork_count=row["fork_count"],
        published_at=row["published_at"],
        updated_at=row["updated_at"],
        graph=row["graph"] if with_graph else None,
    )


_COLUMNS = f"""t.id, t.user_id, t.graph_id, t.graph_version, t.name, t.description, t.block_ids,
               t.providers, t.credentials, t.node_count, t.fork_count, t.published_at, t.updated_at,
               {PUBLISHER} AS publisher"""


def like_pattern(search: str | None) -> str | None:
    """An ILIKE pattern matching ``search`` anywhere, its wildcards taken literally."""
    if not search:
        return None
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class TemplateRepository:
    """Stores, lists and loads templates."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def upsert(
        self,
        *,
        user_id: str,
        graph_id: str,
        graph_version: int,
        name: str,
        description: str,
        block_ids: list[str],
        credentials: list[dict[str, Any]],
        graph: dict[str, Any],
        node_count: int,
    ) -> str:
        """Publish (or replace) the user's template of ``graph_id``; mark that version ``is_template``
        and no other version of the graph. Returns the template's id (kept across replacements)."""
        providers = sorted({str(c["provider"]) for c in credentials})
        async with self.pool.acquire() as conn, conn.transaction():
            template_id = await conn.fetchval(
                """INSERT INTO templates (user_id, graph_id, graph_version, name, description, block_ids,
                                          providers, credentials, graph, node_count)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT (user_id, graph_id) DO UPDATE SET
                       graph_version = excluded.graph_version, name = excluded.name,
                       description = excluded.description, block_ids = excluded.block_ids,
                       providers = excluded.providers, credentials = excluded.credentials,
                       graph = excluded.graph, node_count = excluded.node_count,
                       published_at = now(), updated_at = now()
                   RETURNING id::text""",
                user_id,
                graph_id,
                graph_version,
                name,
                description,
                block_ids,
                providers,
                credentials,
                graph,
                node_count,
            )
            await conn.execute(
                """UPDATE graphs SET is_template = (version = $2)
                   WHERE id = $1 AND user_id = $3 AND is_template <> (version = $2)""",
                graph_id,
                graph_version,
                user_id,
            )
        return str(template_id)

    async def delete(self, template_id: str, user_id: str) -> bool:
        """Unpublish a template of the user (its graph version is no longer ``is_template``); False
        when the user has no such template."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "DELETE FROM templates WHERE id = $1 AND user_id = $2 RETURNING graph_id",
                template_id,
                user_id,
            )
            if row is None:
                return False
            await conn.execute(
                "UPDATE graphs SET is_template = false WHERE id = $1 AND user_id = $2 AND is_template",
                row["graph_id"],
                user_id,
            )
        return True

    async def get(self, template_id: str, *, with_graph: bool = False) -> TemplateRecord | None:
        """One template (anyone's), with its snapshot when ``with_graph``."""
        extra = ", t.graph" if with_graph else ""
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS}{extra} FROM templates t JOIN users u ON u.id = t.user_id WHERE t.id = $1",
            template_id,
        )
        return None if row is None else _record(row, with_graph)

    async def of_graph(self, graph_id: str, user_id: str) -> TemplateRecord | None:
        """The user's template of one of their graphs, if published."""
        row = await self.pool.fetchrow(
            f"""SELECT {_COLUMNS} FROM templates t JOIN users u ON u.id = t.user_id
                WHERE t.graph_id = $1 AND t.user_id = $2""",
            graph_id,
            user_id,
        )
        return None if row is None else _record(row)

    async def search(
        self, *, search: str | None = None, user_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[TemplateRecord], int]:
        """Templates newest first, matching ``search`` in name or description (everyone's, or only
        ``user_id``'s), with the total count of matches."""
        pattern = like_pattern(search)
        rows = await self.pool.fetch(
            f"""SELECT {_COLUMNS}, count(*) OVER () AS total
                FROM templates t JOIN users u ON u.id = t.user_id
                WHERE ($1::text IS NULL OR t.name ILIKE $1 ESCAPE '\\' OR t.description ILIKE $1 ESCAPE '\\')
                  AND ($2::uuid IS NULL OR t.user_id = $2)
                ORDER BY t.published_at DESC, t.id DESC
                LIMIT $3 OFFSET $4""",
            pattern,
            user_id,
            limit,
            offset,
        )
        if rows:
            return [_record(r) for r in rows], rows[0]["total"]
        if not offset:
            return [], 0
        total = await self.pool.fetchval(
            """SELECT count(*) FROM templates t
               WHERE ($1::text IS NULL OR t.name ILIKE $1 ESCAPE '\\' OR t.description ILIKE $1 ESCAPE '\\')
                 AND ($2::uuid IS NULL OR t.user_id = $2)""",
            pattern,
            user_id,
        )
        return [], int(total)

    async def count_fork(self, template_id: str) -> None:
        """Count one more fork of a template."""
        await self.pool.execute("UPDATE templates SET fork_count = fork_count + 1 WHERE id = $1", template_id)
