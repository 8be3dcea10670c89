"""Graph repository: versioned graphs with their nodes and links (plain SQL, asyncpg)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from workbench.errors import ConflictError
from workbench.graph.model import Graph, Link, Node


@dataclass(frozen=True, slots=True)
class GraphSummary:
    """A graph version as listed (without nodes and links)."""

    id: str
    version: int
    name: str
    description: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
    node_count: int
    note: str = ""
    mcp_tool: bool | None = None
    """Served as an MCP tool: True, False, or None for the server's default."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "is_active": self.is_active,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "node_count": self.node_count,
            "note": self.note,
            "mcp_tool": self.mcp_tool,
        }


def _summary(row: asyncpg.Record) -> GraphSummary:
    return GraphSummary(
        id=str(row["id"]),
        version=row["version"],
        name=row["name"],
        description=row["description"],
        is_active=row["is_active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        node_count=row["node_count"],
        note=row["note"],
        mcp_tool=row["mcp_tool"],
    )


class GraphRepository:
    """Stores and loads graphs; every query is scoped to a user."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def insert(
        self,
        conn: asyncpg.Connection,
        graph: Graph,
        user_id: str,
        input_schema: dict[str, Any],
        output_schema: dict[str, Any],
        note: str = "",
    ) -> None:
        """Insert one graph version (caller holds a transaction); activates it if ``is_active``."""
        if graph.is_active:
            await conn.execute(
                "UPDATE graphs SET is_active = false, updated_at = now() WHERE id = $1 AND is_active",
                graph.id,
            )
        await conn.execute(
            """INSERT INTO graphs (id, version, user_id, name, description, is_active, input_schema,
                                   output_schema, note, mcp_tool)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                       (SELECT mcp_tool FROM graphs WHERE id = $1 ORDER BY version DESC LIMIT 1))""",
            graph.id,
            graph.version,
            user_id,
            graph.name,
            graph.description,
            graph.is_active,
            input_schema,
            output_schema,
            note,
        )
        if graph.nodes:
            await conn.executemany(
                """INSERT INTO graph_nodes (graph_id, graph_version, id, position, block_id, input_default, metadata)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                [
                    (graph.id, graph.version, n.id, i, n.block_id, n.input_default, n.metadata)
                    for i, n in enumerate(graph.nodes)
                ],
            )
        if graph.links:
            await conn.executemany(
                """INSERT INTO graph_links (graph_id, graph_version, id, position, source_id, sink_id,
                                            source_name, sink_name, is_static)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                [
                    (
                        graph.id,
                        graph.version,
                        lk.id,
                        i,
                        lk.source_id,
                        lk.sink_id,
                        lk.source_name,
                        lk.sink_name,
                        lk.is_static,
                    )
                    for i, lk in enumerate(graph.links)
                ],
            )

    async def owner(self, graph_id: str) -> str | None:
        """The user owning a graph id (any version), or None."""
        row = await self.pool.fetchval("SELECT user_id::text FROM graphs WHERE id = $1 LIMIT 1", graph_id)
        return row

    async def owned_version(self, graph_id: str, user_id: str, version: int | None) -> int | None:
        """The active version (or ``version`` if it exists) of a graph of the user, else None."""
        if version is None:
            return await self.pool.fetchval(
                "SELECT version FROM graphs WHERE id = $1 AND user_id = $2 AND is_active", graph_id, user_id
            )
        return await self.pool.fetchval(
            "SELECT version FROM graphs WHERE id = $1 AND user_id = $2 AND version = $3",
            graph_id,
            user_id,
            version,
        )

    async def latest_version(self, conn: asyncpg.Connection, graph_id: str) -> int:
        """The highest version number of a graph (0 when it has none)."""
        return await conn.fetchval("SELECT coalesce(max(version), 0) FROM graphs WHERE id = $1", graph_id)

    async def get(
        self, graph_id: str, user_id: str, version: int | None = None, conn: asyncpg.Connection | None = None
    ) -> Graph | None:
        """One version of a graph (the active one when ``version`` is None)."""
        if conn is None:
            async with self.pool.acquire() as own:
                return await self.get(graph_id, user_id, version, own)
        if version is None:
            row = await conn.fetchrow(
                "SELECT * FROM graphs WHERE id = $1 AND user_id = $2 AND is_active", graph_id, user_id
            )
        else:
            row = await conn.fetchrow(
                "SELECT * FROM graphs WHERE id = $1 AND user_id = $2 AND version = $3",
                graph_id,
                user_id,
                version,
            )
        if row is None:
            return None
        nodes = await conn.fetch(
            "SELECT * FROM graph_nodes WHERE graph_id = $1 AND graph_version = $2 ORDER BY position",
            row["id"],
            row["version"],
        )
        links = await conn.fetch(
            "SELECT * FROM graph_links WHERE graph_id = $1 AND graph_version = $2 ORDER BY position",
            row["id"],
            row["version"],
        )
        return Graph(
            id=str(row["id"]),
            version=row["version"],
            is_active=row["is_active"],
            name=row["name"],
            description=row["description"],
            nodes=[
                Node(
                    id=n["id"],
                    block_id=n["block_id"],
                    input_default=n["input_default"],
                    metadata=n["metadata"],
                )
                for n in nodes
            ],
            links=[
                Link(
                    id=lk["id"],
                    source_id=lk["source_id"],
                    sink_id=lk["sink_id"],
                    source_name=lk["source_name"],
                    sink_name=lk["sink_name"],
                    is_static=lk["is_static"],
                )
                for lk in links
            ],
        )

    async def list(
        self, user_id: str, *, search: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[GraphSummary], int]:
        """Active versions of the user's graphs, newest first, optionally filtered by name."""
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") if search else None
        pattern = f"%{escaped}%" if escaped else None
        rows = await self.pool.fetch(
            """SELECT g.*, (SELECT count(*) FROM graph_nodes n
                            WHERE n.graph_id = g.id AND n.graph_version = g.version) AS node_count,
                      count(*) OVER () AS total
               FROM graphs g
               WHERE g.user_id = $1 AND g.is_active AND ($2::text IS NULL OR g.name ILIKE $2 ESCAPE '\\')
               ORDER BY g.updated_at DESC, g.id
               LIMIT $3 OFFSET $4""",
            user_id,
            pattern,
            limit,
            offset,
        )
        total = rows[0]["total"] if rows else 0
        return [_summary(r) for r in rows], total

    async def versions(self, graph_id: str, user_id: str) -> list[GraphSummary]:
        """Every version of a graph, newest first."""
        rows = await self.pool.fetch(
            """SELECT g.*, (SELECT count(*) FROM graph_nodes n
                            WHERE n.graph_id = g.id AND n.graph_version = g.version) AS node_count
               FROM graphs g WHERE g.id = $1 AND g.user_id = $2 ORDER BY g.version DESC""",
            graph_id,
            user_id,
        )
        return [_summary(r) for r in rows]

    async def set_active(self, graph_id: str, version: int, user_id: str) -> bool:
        """Make ``version`` the active one; False when that version does not exist for the user."""
        async with self.pool.acquire() as conn, conn.transaction():
            exists = await conn.fetchval(
                "SELECT 1 FROM graphs WHERE id = $1 AND version = $2 AND user_id = $3 FOR UPDATE",
                graph_id,
                version,
                user_id,
            )
            if not exists:
                return False
            await conn.execute("UPDATE graphs SET is_active = false WHERE id = $1 AND is_active", graph_id)
            await conn.execute(
                "UPDATE graphs SET is_active = true, updated_at = now() WHERE id = $1 AND version = $2",
                graph_id,
                version,
            )
        return True

    async def set_mcp_tool(self, graph_id: str, user_id: str, value: bool | None) -> bool:
        """Serve the graph as an MCP tool (True), not (False), or as the server's default (None), on
        every version; False when the user has no such graph."""
        status = await self.pool.execute(
            "UPDATE graphs SET mcp_tool = $3 WHERE id = $1 AND user_id = $2", graph_id, user_id, value
        )
        return status != "UPDATE 0"

    async def mcp_tools(self, user_id: str, default: bool) -> list[asyncpg.Record]:
        """The active versions of the user's graphs served as MCP tools (``default`` for those the
        owner left unset), the oldest graph first: id, version, name, description, input and output schemas."""
        return await self.pool.fetch(
            """SELECT id::text AS id, version, name, description, input_schema, output_schema
               FROM graphs
               WHERE user_id = $1 AND is_active AND coalesce(mcp_tool, $2)
               ORDER BY (SELECT min(f.created_at) FROM graphs f WHERE f.id = graphs.id), id""",
            user_id,
            default,
        )

    async def delete(self, graph_id: str, user_id: str) -> bool:
        """Delete every version of a graph (and its executions); False when the user has no such graph.

        ConflictError while any of its executions is queued or running: deleting them under a run
        would leave it writing the rows of an execution that no longer exists (cancel them first).
        The graph's rows are locked first, so no run of it can be submitted meanwhile.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            found = await conn.fetch(
                "SELECT 1 FROM graphs WHERE id = $1 AND user_id = $2 FOR UPDATE", graph_id, user_id
            )
            if not found:
                return False
            active = await conn.fetch(
                """SELECT id, status FROM graph_executions
                   WHERE graph_id = $1 AND status IN ('QUEUED', 'RUNNING', 'REVIEW')
                   ORDER BY created_at LIMIT 1000""",
                graph_id,
            )
            if active:
                raise ConflictError(
                    f"graph {graph_id} has {len(active)} queued or running execution(s) (or waiting for "
                    f"a review), e.g. {active[0]['id']} ({active[0]['status']}): cancel them first"
                )
            await conn.execute("DELETE FROM graphs WHERE id = $1 AND user_id = $2", graph_id, user_id)
        return True
