"""The health report (connections, pool, sizes, dead tuples, slow queries or why not) and optimize
(VACUUM (ANALYZE), with what it reclaimed)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import pytest

from tests.dbmanager.conftest import NewDatabase
from tests.dbmanager.rows import add_runs, new_graph, new_user
from workbench.config import Settings
from workbench.services.dbmanager import DatabaseManager
from workbench.services.dbmanager.tools import with_database
from workbench.store import maintenance
from workbench.store.database import Database

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = timedelta(days=1)


async def test_health_reports_connections_pool_sizes_bloat_and_slow_queries(
    new_database: NewDatabase, settings: Settings
) -> None:
    url = await new_database(migrated=True)
    db = Database(settings.with_(database_url=url))
    await db.start()
    try:
        user = await new_user(db.pool)
        await add_runs(db.pool, user, await new_graph(db.pool, user), 50, age=DAY, nodes=4)
        report = await DatabaseManager(db).health()
    finally:
        await db.stop()
    assert report["ok"] is True and report["migrations_pending"] == []
    assert report["connections"]["by_state"].get("active", 0) >= 1
    assert report["connections"]["max_connections"] >= report["connections"]["server_total"] >= 1
    assert report["pool"]["size"] >= 1 and 0 <= report["pool"]["free"] <= report["pool"]["size"]
    assert report["size_bytes"] > 1_000_000
    tables = {t["name"]: t for t in report["tables"]}
    assert "node_executions" in tables and "graph_executions" in tables
    node = tables["node_executions"]
    assert node["total_bytes"] >= node["table_bytes"] + node["index_bytes"] - 8192 > 0
    assert set(report["bloat"]) == {"dead_tuples", "live_tuples", "estimated_bytes", "tables"}
    slow = report["slow_queries"]
    assert slow["available"] is False and "pg_stat_statements is not installed" in slow["reason"]
    assert "does not ship it" in slow["reason"]  # pgserver has no contrib modules


async def test_optimize_vacuums_and_reports_the_dead_tuples_it_removed(
    new_database: NewDatabase, settings: Settings
) -> None:
    url = await new_database(migrated=True)
    db = Database(settings.with_(database_url=url))
    await db.start()
    try:
        user = await new_user(db.pool)
        await add_runs(db.pool, user, await new_graph(db.pool, user), 200, age=DAY, nodes=5)
        async with db.pool.acquire() as conn:
            await conn.execute("DELETE FROM node_executions WHERE node_id IN ('n1', 'n2', 'n3')")
            await conn.execute("SELECT pg_stat_force_next_flush()")
        async with db.pool.acquire() as conn:  # the flush happens when that session goes idle
            await conn.execute("SELECT pg_stat_clear_snapshot()")
        seen: list[tuple[str, int, int]] = []
        report = await DatabaseManager(db).optimize(progress=lambda t, i, n: seen.append((t, i, n)))
    finally:
        await db.stop()
    nodes = next(t for t in report["tables"] if t["table"] == "public.node_executions")
    assert nodes["dead_tuples_before"] == 600 and nodes["dead_tuples_after"] == 0
    assert report["dead_tuples_removed"] >= 600
    assert report["database_bytes_before"] > 0 and "reclaimed_bytes" in report
    assert seen[-1] == ("done", len(seen) - 1, len(seen) - 1)
    assert {t for t, _, _ in seen} >= {"public.node_executions", "public.graph_executions"}


async def test_slow_queries_say_why_there_are_none_on_a_server_that_does_not_load_the_module() -> None:
    try:
        admin = await asyncpg.connect(MACHINE_POSTGRES, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"the machine's PostgreSQL is not reachable: {exc}")
    name = f"wbtest_{uuid.uuid4().hex[:12]}"
    try:
        if not await admin.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements')"
        ):
            pytest.skip("the machine's PostgreSQL has no pg_stat_statements")
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(with_database(MACHINE_POSTGRES, name))
        try:
            missing = await maintenance.slow_queries(conn)
            assert missing["available"] is False
            assert "add pg_stat_statements to shared_preload_libraries" in missing["reason"]
            await conn.execute("CREATE EXTENSION pg_stat_statements")
            preloaded = "pg_stat_statements" in await conn.fetchval("SHOW shared_preload_libraries")
            found = await maintenance.slow_queries(conn)
            if preloaded:
                assert found["available"] is True and isinstance(found["queries"], list)
            else:
                assert found["available"] is False and "cannot be read" in found["reason"]
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
