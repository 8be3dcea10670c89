"""The database manager: what ``workbench db ...``, ``workbench dbmanager`` and ``/api/v1/admin/db``
call. Every method asked ``by`` a principal (the API) checks first that it is an administrator
(:class:`~workbench.services.admins.AdminService`); ``by=None`` is the operator on the machine (the
command line), who holds the database's credentials anyway. Restoring has no ``by``: it replaces the
database under every process, so it is the command line's alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.auth import Principal
from workbench.config import Settings
from workbench.services.admins import AdminService
from workbench.services.dbmanager.backup import DumpStream, ProgressCallback, dump_to_file, restore_file
from workbench.services.dbmanager.retention import PruneReport, RetentionService
from workbench.services.dbmanager.tools import connection, find_tool
from workbench.store import maintenance
from workbench.store.accounts import AccountRepository
from workbench.store.database import Database
from workbench.store.retention import RetentionRepository

TOP_TABLES = 15
"""Tables listed by size and by dead tuples in a health report."""


class DatabaseManager:
    """Health, optimization, backup, restore and pruning of one database."""

    def __init__(self, db: Database, settings: Settings | None = None) -> None:
        self.db = db
        self.settings = settings or db.settings
        self.admins = AdminService(AccountRepository(db.pool))
        self.retention = RetentionService(RetentionRepository(db.pool), self.settings)

    @classmethod
    def of(cls, wb: Any) -> DatabaseManager:
        """The manager of a started, durable Workbench."""
        if wb.db is None:
            raise RuntimeError("the database manager needs a started workbench with a database")
        return cls(wb.db, wb.settings)

    async def _check(self, by: Principal | None) -> None:
        if by is not None:
            await self.admins.require(by)

    @property
    def url(self) -> str:
        """The database's URL (with its password: never print it; ``describe`` does not show it)."""
        assert self.db.url is not None, "Database.start() has not been called"
        return self.db.url

    async def server_major(self) -> int:
        """The server's major PostgreSQL version."""
        return int(await self.db.pool.fetchval("SHOW server_version_num")) // 10000

    # ---- health ----------------------------------------------------------------------------------

    async def health(self, *, by: Principal | None = None) -> dict[str, Any]:
        """Reachability, versions and migrations, then connections by state, this process's pool,
        the database's size, tables and indexes by size, dead tuples (bloat, estimated), and the
        slowest statements when ``pg_stat_statements`` is installed."""
        await self._check(by)
        report = await self.db.health()
        pool = self.db.pool
        async with pool.acquire() as conn:
            connections = await maintenance.connections(conn)
            size = await maintenance.database_size(conn)
            tables = await maintenance.tables(conn)
            slow = await maintenance.slow_queries(conn)
        dead = sorted((t for t in tables if t.dead_tuples), key=lambda t: -t.dead_tuples)
        return {
            **report,
            "size_bytes": size,
            "connections": connections,
            "pool": {
                "size": pool.get_size(),
                "free": pool.get_idle_size(),
                "min": pool.get_min_size(),
                "max": pool.get_max_size(),
            },
            "tables": [t.to_dict() for t in tables[:TOP_TABLES]],
            "table_count": len(tables),
            "bloat": {
                "dead_tuples": sum(t.dead_tuples for t in tables),
                "live_tuples": sum(t.live_tuples for t in tables),
                "estimated_bytes": sum(t.bloat_bytes for t in tables),
                "tables": [
                    {
                        "table": f"{t.schema}.{t.name}",
                        "dead_tuples": t.dead_tuples,
                        "dead_ratio": round(t.dead_ratio, 4),
                        "estimated_bytes": t.bloat_bytes,
                        "last_vacuum": t.last_vacuum,
                    }
                    for t in dead[:TOP_TABLES]
                ],
            },
            "slow_queries": slow,
            "retention": {
                "days": self.settings.retention_days,
                "per_agent": self.settings.retention_per_agent,
            },
        }

    # ---- optimize --------------------------------------------------------------------------------

    async def optimize(
        self, *, by: Principal | None = None, progress: Callable[[str, int, int], None] | None = None
    ) -> dict[str, Any]:
        """``VACUUM (ANALYZE)`` every table, one at a time (others keep reading and writing them),
        and what it reclaimed: sizes and dead tuples before and after, per table and in all.
        ``progress(table, done, total)`` is told of each table as it starts."""
        await self._check(by)
        started = time.perf_counter()
        async with self.db.pool.acquire() as conn:
            size_before = await maintenance.database_size(conn)
            before = await maintenance.tables(conn)
            for i, table in enumerate(before):
                if progress is not None:
                    progress(f"{table.schema}.{table.name}", i, len(before))
                await maintenance.vacuum_analyze(conn, table)
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            after = {(t.schema, t.name): t for t in await maintenance.tables(conn)}
            size_after = await maintenance.database_size(conn)
        if progress is not None:
            progress("done", len(before), len(before))
        rows = []
        for t in before:
            a = after.get((t.schema, t.name))
            if a is None:  # dropped meanwhile
                continue
            rows.append(
                {
                    "table": f"{t.schema}.{t.name}",
                    "total_bytes_before": t.total_bytes,
                    "total_bytes_after": a.total_bytes,
                    "reclaimed_bytes": t.total_bytes - a.total_bytes,
                    "dead_tuples_before": t.dead_tuples,
                    "dead_tuples_after": a.dead_tuples,
                }
            )
        return {
            "tables": rows,
            "database_bytes_before": size_before,
            "database_bytes_after": size_after,
            "reclaimed_bytes": size_before - size_after,
            "dead_tuples_before": sum(r["dead_tuples_before"] for r in rows),
            "dead_tuples_after": sum(r["dead_tuples_after"] for r in rows),
            "dead_tuples_removed": sum(
                max(0, r["dead_tuples_before"] - r["dead_tuples_after"]) for r in rows
            ),
            "seconds": round(time.perf_counter() - started, 3),
            "note": "VACUUM makes dead tuples' space reusable; files shrink only when their last pages "
            "become empty (VACUUM FULL would rewrite tables under an exclusive lock: not done here)",
        }

    # ---- pruning ---------------------------------------------------------------------------------

    async def prune(self, *, by: Principal | None = None, dry_run: bool = False) -> PruneReport:
        """One retention pass (:class:`RetentionService`); ``dry_run`` counts only."""
        await self._check(by)
        return await self.retention.prune(dry_run=dry_run)

    # ---- backup and restore ----------------------------------------------------------------------

    async def backup(
        self, path: Path, *, by: Principal | None = None, progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Dump the database into ``path`` (custom format), with progress by table bytes."""
        await self._check(by)
        tool = find_tool("pg_dump", await self.server_major())
        async with self.db.pool.acquire() as conn:
            sizes = {f"{t.schema}.{t.name}": t.table_bytes for t in await maintenance.tables(conn)}
        return await dump_to_file(tool, connection(self.url), path, sizes, progress)

    async def backup_stream(self, *, by: Principal | None = None) -> DumpStream:
        """A dump streamed as it is made (started: a failure before the first bytes raises here)."""
        await self._check(by)
        tool = find_tool("pg_dump", await self.server_major())
        return await DumpStream(tool, connection(self.url)).start()

    async def restore(
        self, path: Path, *, force: bool = False, progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Restore a dump into this database: refused unless it is empty or ``force``; afterwards
        the statistics are rebuilt (ANALYZE) and the migrations still pending are reported."""
        tool = find_tool("pg_restore", await self.server_major())
        async with self.db.pool.acquire() as conn:
            contents = await maintenance.contents(conn)
        done = await restore_file(tool, connection(self.url), path, contents, force=force, progress=progress)
        async with self.db.pool.acquire() as conn:
            await conn.execute("ANALYZE")
        health = await self.db.health()
        return {
            **done,
            "database": health["database"],
            "migrations_applied": health["migrations_applied"],
            "migrations_pending": health["migrations_pending"],
        }
