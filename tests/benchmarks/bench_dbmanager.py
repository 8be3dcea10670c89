"""The database manager on a database with 1,000,000 node executions: backup and restore time, and
prune throughput.

A fresh data folder with its embedded PostgreSQL (16, pgserver) and this version's schema. The data
is made in SQL (``INSERT ... SELECT generate_series``), not by running graphs: ``--users`` users with
one agent each, ``--runs`` top-level runs spread over them, ``--nodes`` node executions per run
(100 by default: 10,000 x 100 = 1,000,000), each with small JSON inputs and outputs, and every tenth
run with one sub-graph run of 5 node executions, so that pruning walks trees.

1. **Backup**: ``workbench db backup`` (:meth:`DatabaseManager.backup`: pg_dump, custom format) to
   a file; seconds, bytes, MB/s of table data.
2. **Restore**: into a new, empty database of the same server (:meth:`DatabaseManager.restore`:
   pg_restore in one transaction, then ANALYZE); seconds; the row counts are checked equal.
3. **Prune**: the server's policy ``WORKBENCH_RETENTION_DAYS=1`` with every run two days old: one
   pass removes everything, in batches of ``--batch`` runs (and at most 20,000 node executions),
   without pausing between batches (the background loop's default pause, 20 ms, is measured apart
   on a part of the data); runs/s and node executions/s.

Usage: python tests/benchmarks/bench_dbmanager.py [--runs 10000] [--nodes 100] [--batch 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg

from workbench.config import Settings
from workbench.services.dbmanager import DatabaseManager, RetentionService
from workbench.services.dbmanager.tools import with_database
from workbench.store import maintenance
from workbench.store.database import Database
from workbench.store.retention import RetentionRepository


async def generate(pool: asyncpg.Pool, users: int, runs: int, nodes: int) -> dict[str, int]:
    """The data: users, an agent each, runs two days old, node executions, sub-graph runs."""
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO users (email) SELECT 'bench-' || i || '@example.com' FROM generate_series(1, $1) i""",
            users,
        )
        await conn.execute(
            """INSERT INTO graphs (id, version, user_id, name)
               SELECT gen_random_uuid(), 1, id, 'agent of ' || email FROM users WHERE email LIKE 'bench-%'"""
        )
        await conn.execute(
            """CREATE TEMP TABLE agents AS
               SELECT row_number() OVER (ORDER BY g.id) - 1 AS k, g.id AS graph_id, g.user_id
               FROM graphs g JOIN users u ON u.id = g.user_id WHERE u.email LIKE 'bench-%'"""
        )
        await conn.execute(
            """INSERT INTO graph_executions (id, graph_id, graph_version, user_id, status, inputs, outputs,
                                             created_at, started_at, ended_at, updated_at)
               SELECT gen_random_uuid(), a.graph_id, 1, a.user_id, 'COMPLETED',
                      jsonb_build_object('text', 'run ' || i), jsonb_build_object('reply', jsonb_build_array('ok')),
                      now() - interval '2 days' - make_interval(secs => i), now() - interval '2 days',
                      now() - interval '2 days', now() - interval '2 days'
               FROM generate_series(1, $1) i JOIN agents a ON a.k = i % $2""",
            runs,
            users,
        )
        await conn.execute(
            """INSERT INTO graph_executions (id, graph_id, graph_version, user_id, status, parent_execution_id,
                                             created_at, ended_at, updated_at)
               SELECT gen_random_uuid(), graph_id, 1, user_id, 'COMPLETED', id, created_at, ended_at, updated_at
               FROM (SELECT *, row_number() OVER (ORDER BY id) AS n FROM graph_executions
                     WHERE parent_execution_id IS NULL) t
               WHERE n % 10 = 0"""
        )
        top = await conn.execute(
            """INSERT INTO node_executions (id, graph_execution_id, node_id, block_id, seq, status, inputs,
                                            outputs, started_at, ended_at, stats)
               SELECT gen_random_uuid(), g.id, 'node-' || n, 'c0a8e994-ebf1-4a9c-a4d8-89d09c86741b', 0,
                      'COMPLETED', jsonb_build_object('value', n, 'name', 'input ' || n),
                      jsonb_build_array(jsonb_build_array('result', 'value ' || n)),
                      g.created_at, g.created_at + interval '5 ms', '{"duration": 0.005}'
               FROM graph_executions g, generate_series(1, $1) n WHERE g.parent_execution_id IS NULL""",
            nodes,
        )
        sub = await conn.execute(
            """INSERT INTO node_executions (id, graph_execution_id, node_id, block_id, seq, status, outputs)
               SELECT gen_random_uuid(), g.id, 'sub-' || n, 'block', 0, 'COMPLETED', '[["out", 1]]'
               FROM graph_executions g, generate_series(1, 5) n WHERE g.parent_execution_id IS NOT NULL"""
        )
        await conn.execute("ANALYZE")
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM graph_executions) AS runs,
                      (SELECT count(*) FROM node_executions) AS node_executions"""
        )
    return {
        "runs": counts["runs"],
        "node_executions": counts["node_executions"],
        "inserted": int(top.split()[-1]) + int(sub.split()[-1]),
    }


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM graph_executions) AS runs,
                      (SELECT count(*) FROM node_executions) AS node_executions,
                      (SELECT count(*) FROM users) AS users"""
        )
        return dict(row)
    finally:
        await conn.close()


async def prune_with(db: Database, settings: Settings, batch: int, pause: float) -> dict[str, Any]:
    service = RetentionService(RetentionRepository(db.pool), settings, batch=batch, pause=pause)
    report = await service.prune()
    return {
        "runs": report.runs,
        "node_executions": report.node_executions,
        "batches": report.batches,
        "seconds": round(report.seconds, 2),
        "runs_per_s": round(report.runs / report.seconds),
        "node_executions_per_s": round(report.node_executions / report.seconds),
        "pause_between_batches_s": pause,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-dbmanager-"))
    settings = Settings(home=home)
    db = Database(settings)
    await db.start()
    result: dict[str, Any] = {"postgres": "embedded (pgserver)"}
    try:
        started = time.perf_counter()
        made = await generate(db.pool, args.users, args.runs, args.nodes)
        result["data"] = {**made, "generate_seconds": round(time.perf_counter() - started, 1)}
        manager = DatabaseManager(db)
        async with db.pool.acquire() as conn:
            result["data"]["database_bytes"] = await maintenance.database_size(conn)
            table_bytes = sum(t.table_bytes for t in await maintenance.tables(conn))

        dump = home / "bench.dump"
        backup = await manager.backup(dump)
        result["backup"] = {
            "seconds": backup["seconds"],
            "dump_bytes": backup["bytes"],
            "table_mb_per_s": round(table_bytes / 1e6 / backup["seconds"], 1),
        }

        assert db.url is not None
        target = with_database(db.url, "restored")
        admin = await asyncpg.connect(with_database(db.url, "postgres"))
        await admin.execute('CREATE DATABASE "restored"')
        await admin.close()
        restored_db = Database(settings.with_(database_url=target))
        await restored_db.start(run_migrations=False)
        try:
            started = time.perf_counter()
            restored = await DatabaseManager(restored_db).restore(dump)
            total = time.perf_counter() - started
        finally:
            await restored_db.stop()
        same = await counts(db.url) == await counts(target)
        result["restore"] = {
            "seconds": round(total, 2),
            "pg_restore_seconds": restored["seconds"],
            "analyze_seconds": round(total - restored["seconds"], 2),
            "counts_equal": same,
        }

        policy = settings.with_(retention_days=1)
        # The background loop's pace (20 ms between batches) on a tenth of the runs: the users whose
        # agent index is 0 (the rest are left for the full-speed pass).
        async with db.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO retention_settings (user_id, days)
                   SELECT id, 1 FROM users WHERE email IN ('bench-1@example.com')"""
            )
        paced = await prune_with(db, settings, args.batch, 0.02)  # no server policy: that user only
        result["prune_background_pace"] = paced
        result["prune"] = await prune_with(db, policy, args.batch, 0.0)
        result["after_prune"] = await counts(db.url)
    finally:
        await db.stop()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
