"""``workbench dbmanager`` as a real process (on a fresh database of the embedded PostgreSQL): it
prunes by the server's retention policy in the background, serves ``/health`` and ``/metrics``, and
stops on SIGTERM with exit code 0."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.dbmanager.conftest import NewDatabase, new_database  # noqa: F401 (the fixture)
from tests.dbmanager.rows import add_run, add_runs, new_graph, new_user, runs_of
from tests.support.servers import free_port
from tests.support.worker_process import start_worker
from workbench.config import Settings
from workbench.store.database import Database

SECRET = "Never-Log-Me-42"


def _samples(text: str) -> dict[str, float]:
    """Prometheus' text format: ``name value`` lines (``#`` lines are comments and types)."""
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


@pytest.mark.slow
async def test_dbmanager_prunes_in_the_background_serves_health_and_metrics_and_stops_on_sigterm(
    new_database: NewDatabase,  # noqa: F811
    settings: Settings,
    workbench_home: Path,
    tmp_path: Path,
) -> None:
    url = await new_database(migrated=True)
    assert "postgres:@" in url
    db = Database(settings.with_(database_url=url))
    await db.start()
    try:
        user = await new_user(db.pool)
        graph = await new_graph(db.pool, user)
        await add_runs(db.pool, user, graph, 120, age=timedelta(days=10), nodes=3)
        keep = await add_run(db.pool, user, graph, age=timedelta(days=1))
        running = await add_run(db.pool, user, graph, age=timedelta(days=10), status="RUNNING")

        port = free_port()
        env = {
            "WORKBENCH_HOME": str(workbench_home),
            # The embedded server trusts local connections: the password is ignored, never shown.
            "DATABASE_URL": url.replace("postgres:@", f"postgres:{SECRET}@", 1),
            "WORKBENCH_RETENTION_DAYS": "5",
            "WORKBENCH_RETENTION_INTERVAL": "0.5",
            "WORKBENCH_RETENTION_BATCH": "50",
        }
        log = tmp_path / "dbmanager.log"
        proc = start_worker("dbmanager", port, env, log)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                deadline = time.monotonic() + 60
                while True:
                    assert proc.poll() is None, f"dbmanager exited {proc.returncode}:\n{log.read_text()}"
                    try:
                        health = await client.get("/health")
                        if health.json().get("retention", {}).get("passes"):
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, f"no retention pass after 60 s:\n{log.read_text()}"
                    await asyncio.sleep(0.1)
                assert health.status_code == 200, health.text
                body = health.json()
                assert body["status"] == "ok" and body["database"] == {"ok": True}
                retention = body["retention"]
                assert retention["server"] == {"days": 5, "per_agent": None}
                assert retention["runs_removed"] == 120 and retention["node_executions_removed"] == 360
                assert retention["last_error"] is None
                assert await runs_of(db.pool, user) == {keep, running}

                # It keeps pruning: runs that age past the bound later go on a later pass.
                late = await add_run(db.pool, user, graph, age=timedelta(days=30))
                deadline = time.monotonic() + 20
                while late in await runs_of(db.pool, user):
                    assert time.monotonic() < deadline, "a later pass did not prune the new old run"
                    await asyncio.sleep(0.1)

                # The run is gone when its batch commits; the counters move when the pass ends.
                while (samples := _samples((await client.get("/metrics")).text))[
                    "workbench_retention_runs_removed_total"
                ] < 121:
                    assert time.monotonic() < deadline, "the later pass was never counted"
                    await asyncio.sleep(0.1)
                assert samples["workbench_retention_runs_removed_total"] == 121
                assert samples["workbench_retention_node_executions_removed_total"] == 362
                assert samples["workbench_retention_passes_total"] >= 2
                assert samples["workbench_retention_failures_total"] == 0
                assert samples["workbench_db_size_bytes"] > 0
                assert samples['workbench_db_connections{state="active"}'] >= 1
                assert samples["workbench_db_pool_size"] >= 1
                assert (await client.get("/nope")).status_code == 404
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        await db.stop()
    text = log.read_text()
    assert f"dbmanager: health and metrics on http://127.0.0.1:{port}" in text
    assert "Application shutdown complete" in text
    assert SECRET not in text
