"""What the database manager asks PostgreSQL: connections, sizes, dead tuples, slow queries, VACUUM,
and what a database holds (so a restore can refuse a database that is not empty).

Read-only statistics views (``pg_stat_activity``, ``pg_stat_user_tables``, ``pg_stat_statements``)
and size functions; nothing here locks more than VACUUM itself does (it takes no lock that blocks
reads or writes of the table: ``SHARE UPDATE EXCLUSIVE``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import asyncpg

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


@dataclass(frozen=True, slots=True)
class TableStats:
    """One table: sizes and (dead) tuples as PostgreSQL counts them."""

    schema: str
    name: str
    table_bytes: int
    """The heap (the rows), with its TOAST table (long values)."""
    index_bytes: int
    total_bytes: int
    live_tuples: int
    dead_tuples: int
    last_vacuum: str | None
    """When it was last vacuumed, by hand or by autovacuum (ISO 8601), or None."""
    last_analyze: str | None

    @property
    def qualified(self) -> str:
        """``schema.name``, quoted for SQL."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def dead_ratio(self) -> float:
        """Dead tuples among all tuples (0..1)."""
        total = self.live_tuples + self.dead_tuples
        return self.dead_tuples / total if total else 0.0

    @property
    def bloat_bytes(self) -> int:
        """Estimated bytes of the heap held by dead tuples: the heap's size times their share (an
        estimate: tuples differ in width, and free space left by earlier vacuums is not counted)."""
        return int(self.table_bytes * self.dead_ratio)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the estimates."""
        return {
            **asdict(self),
            "dead_ratio": round(self.dead_ratio, 4),
            "estimated_bloat_bytes": self.bloat_bytes,
        }


def quote_ident(name: str) -> str:
    """An SQL identifier, double-quoted (a double quote inside doubled)."""
    return '"' + name.replace('"', '""') + '"'


async def connections(conn: asyncpg.Connection) -> dict[str, Any]:
    """The server's connections to this database by state (active, idle, idle in transaction...),
    the longest-running transaction, and the server's limit."""
    rows = await conn.fetch(
        """SELECT coalesce(state, 'unknown') AS state, count(*) AS n,
                  max(extract(epoch FROM now() - xact_start)) AS oldest_xact_s
           FROM pg_stat_activity
           WHERE datname = current_database() AND backend_type = 'client backend'
           GROUP BY 1 ORDER BY 1"""
    )
    limit = await conn.fetchval("SELECT current_setting('max_connections')::int")
    total = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    oldest = max((r["oldest_xact_s"] or 0.0 for r in rows), default=0.0)
    return {
        "by_state": {r["state"]: r["n"] for r in rows},
        "this_database": sum(r["n"] for r in rows),
        "server_total": total,
        "max_connections": limit,
        "oldest_transaction_seconds": round(float(oldest), 3),
    }


async def database_size(conn: asyncpg.Connection) -> int:
    """Bytes of the current database on disk."""
    return int(await conn.fetchval("SELECT pg_database_size(current_database())"))


async def tables(conn: asyncpg.Connection) -> list[TableStats]:
    """Every table of the database outside the system schemas, largest first. Tuple counts come from
    the statistics (exact after a VACUUM or ANALYZE, estimates in between)."""
    rows = await conn.fetch(
        """SELECT n.nspname AS schema, c.relname AS name,
                  pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,
                  pg_total_relation_size(c.oid) AS total_bytes,
                  coalesce(s.n_live_tup, 0) AS live, coalesce(s.n_dead_tup, 0) AS dead,
                  greatest(s.last_vacuum, s.last_autovacuum) AS vacuumed,
                  greatest(s.last_analyze, s.last_autoanalyze) AS analyzed
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
           WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname <> ALL($1::text[])
             AND n.nspname NOT LIKE 'pg_temp%'
           ORDER BY pg_total_relation_size(c.oid) DESC, 1, 2""",
        list(SYSTEM_SCHEMAS),
    )
    return [
        TableStats(
            schema=r["schema"],
            name=r["name"],
            table_bytes=r["table_bytes"],
            index_bytes=r["index_bytes"],
            total_bytes=r["total_bytes"],
            live_tuples=r["live"],
            dead_tuples=r["dead"],
            last_vacuum=r["vacuumed"].isoformat() if r["vacuumed"] else None,
            last_analyze=r["analyzed"].isoformat() if r["analyzed"] else None,
        )
        for r in rows
    ]


async def slow_queries(conn: asyncpg.Connection, limit: int = 10) -> dict[str, Any]:
    """The statements of this database with the longest mean time, from ``pg_stat_statements``, or
    why there are none (the extension is not installed, or not loaded by the server)."""
    installed = await conn.fetchval(
        "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"
    )
    if installed is None:
        available = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements')"
        )
        how = (
            "add pg_stat_statements to shared_preload_libraries, restart PostgreSQL, then run "
            "CREATE EXTENSION pg_stat_statements in this database"
            if available
            else "this PostgreSQL server does not ship it (the contrib modules are not installed)"
        )
        return {"available": False, "reason": f"pg_stat_statements is not installed: {how}", "queries": []}
    columns = {
        r["attname"]
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'pg_stat_statements'::regclass AND attnum > 0"
        )
    }
    total, mean = (
        ("total_exec_time", "mean_exec_time") if "mean_exec_time" in columns else ("total_time", "mean_time")
    )
    try:
        rows = await conn.fetch(
            f"""SELECT left(query, 500) AS query, calls, {total} AS total_ms, {mean} AS mean_ms, rows
                FROM pg_stat_statements
                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                ORDER BY {mean} DESC LIMIT $1""",
            limit,
        )
    except asyncpg.PostgresError as exc:  # installed, but the library is not preloaded
        return {"available": False, "reason": f"pg_stat_statements cannot be read: {exc}", "queries": []}
    return {
        "available": True,
        "version": installed,
        "queries": [
            {
                "query": r["query"],
                "calls": r["calls"],
                "total_ms": round(float(r["total_ms"]), 3),
                "mean_ms": round(float(r["mean_ms"]), 3),
                "rows": r["rows"],
            }
            for r in rows
        ],
    }


async def vacuum_analyze(conn: asyncpg.Connection, table: TableStats) -> None:
    """``VACUUM (ANALYZE)`` one table (outside any transaction: VACUUM cannot run inside one)."""
    await conn.execute(f"VACUUM (ANALYZE) {table.qualified}")


async def contents(conn: asyncpg.Connection) -> dict[str, Any]:
    """What the database holds outside the system schemas: its relations by kind and the tables
    with the most rows (live tuples, as the statistics count them). Empty: no relations at all."""
    kinds = await conn.fetch(
        """SELECT CASE c.relkind WHEN 'r' THEN 'tables' WHEN 'p' THEN 'tables' WHEN 'v' THEN 'views'
                                 WHEN 'm' THEN 'views' WHEN 'S' THEN 'sequences' ELSE 'other' END AS kind,
                  count(*) AS n
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname <> ALL($1::text[])
             AND n.nspname NOT LIKE 'pg_temp%'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
           GROUP BY 1""",
        list(SYSTEM_SCHEMAS),
    )
    counts = {r["kind"]: r["n"] for r in kinds}
    largest: list[dict[str, Any]] = []
    if counts.get("tables"):
        for t in await tables(conn):
            rows = t.live_tuples
            if rows == 0 and t.table_bytes > 0:  # never analyzed: count (bounded) to say something true
                rows = await conn.fetchval(
                    f"SELECT count(*) FROM (SELECT 1 FROM {t.qualified} LIMIT 100000) s"
                )
            largest.append({"table": f"{t.schema}.{t.name}", "rows": rows})
        largest.sort(key=lambda x: -x["rows"])
    migrations = None
    if await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL"):
        migrations = await conn.fetchval("SELECT max(version) FROM public.schema_migrations")
    return {
        "empty": not counts,
        "relations": counts,
        "rows": sum(x["rows"] for x in largest),
        "largest_tables": largest[:5],
        "schema_version": migrations,
    }
