"""``workbench dbmanager``: the database manager process. It prunes execution data by the retention
policy in the background (every ``WORKBENCH_RETENTION_INTERVAL`` seconds, in small batches: see
:mod:`workbench.services.dbmanager.retention`) and serves ``/health`` and Prometheus ``/metrics`` on
port 8005 (:mod:`launch.health`). Any number may run: one prunes at a time (an advisory lock), the
others find the lock held and wait for their next turn.

It needs only PostgreSQL: no queue, no bus, no Workbench (nothing is resumed or executed here).
SIGTERM or SIGINT: the pass in progress stops after its current batch, the process exits 0.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from launch import serving
from launch.health import create_health_app
from workbench.config import Settings
from workbench.logsetup import configure_logging
from workbench.services.dbmanager import DatabaseManager, RetentionLoop
from workbench.store import maintenance
from workbench.store.database import Database


class DbManagerProcess:
    """A database pool and the retention loop, started and stopped with the health app."""

    def __init__(self, settings: Settings, url: str = "") -> None:
        self.settings = settings
        self.url = url
        self.db = Database(settings.with_(pool_size=min(settings.pool_size, 3)))
        self.loop: RetentionLoop | None = None

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        """Connect (and migrate, as every process does), prune in the background; stop both."""
        await self.db.start()
        try:
            manager = DatabaseManager(self.db, self.settings)
            self.loop = RetentionLoop(manager.retention, self.settings.retention_interval).start()
            if self.url:
                print(f"dbmanager: health and metrics on {self.url}", file=sys.stderr, flush=True)
            try:
                yield
            finally:
                await self.loop.stop()
        finally:
            await self.db.stop(timeout=self.settings.stop_timeout)

    async def _database(self) -> dict[str, Any]:
        try:
            await self.db.pool.fetchval("SELECT 1")
        except Exception as exc:
            return {"ok": False, "error": type(exc).__name__}
        return {"ok": True}

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """200 while the database answers and the last retention pass did not fail."""
        if self.loop is None:
            return False, {"status": "starting"}
        database = await self._database()
        retention = self.loop.status()
        ok = bool(database["ok"]) and retention["last_error"] is None
        return ok, {"status": "ok" if ok else "degraded", "database": database, "retention": retention}

    async def metrics(self) -> Mapping[str, float]:
        """Retention's counters, the database's size, connections by state, this pool's state."""
        if self.loop is None:
            return {}
        loop = self.loop
        samples: dict[str, float] = {
            "workbench_retention_passes_total": loop.passes,
            "workbench_retention_failures_total": loop.failures,
            "workbench_retention_busy_total": loop.busy,
            "workbench_retention_runs_removed_total": loop.runs_removed,
            "workbench_retention_node_executions_removed_total": loop.node_executions_removed,
            "workbench_retention_last_pass_seconds": loop.last.seconds if loop.last else 0.0,
            "workbench_retention_last_pass_timestamp_seconds": loop.last_finished or 0.0,
            "workbench_db_pool_size": self.db.pool.get_size(),
            "workbench_db_pool_free": self.db.pool.get_idle_size(),
        }
        try:
            async with self.db.pool.acquire() as conn:
                samples["workbench_db_size_bytes"] = await maintenance.database_size(conn)
                connections = await maintenance.connections(conn)
        except Exception:
            return samples  # the database is down: /health says so
        for state, count in connections["by_state"].items():
            samples[f'workbench_db_connections{{state="{state}"}}'] = count
        samples["workbench_db_max_connections"] = connections["max_connections"]
        return samples

    def app(self) -> Litestar:
        """The health/metrics app; serving it runs the retention loop."""
        return create_health_app(self.health, self.metrics, lifespan=[self.running])


def run_dbmanager(host: str, port: int, log_level: str = "info") -> int:
    """Entry point of ``workbench dbmanager``: run until SIGTERM or SIGINT, then exit 0."""
    configure_logging(log_level)
    process = DbManagerProcess(Settings.from_env(), url=f"http://{host}:{port}")
    sock = serving.bind(host, port, "the database manager's health endpoint")
    serving.serve(process.app(), sock)
    return 0
