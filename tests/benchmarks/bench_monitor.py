"""Monitor query benchmark: the executions table and every dashboard query over 1,000,000 node executions.

A fresh embedded PostgreSQL (a temporary WORKBENCH_HOME, all migrations applied) is filled in SQL
(``generate_series``, no Python rows): two users, 20 agents of the measured user and 2 of the other;
``--runs`` runs (default 100,000) with ``--nodes`` node executions each (default 10: 1,000,000 rows),
90 % of them the measured user's, created over the last 7 days, mostly COMPLETED, some FAILED,
CANCELLED, RUNNING; one node of each run reports tokens and cost as an LLM block does, and every
node execution carries a few hundred bytes of inputs and outputs as real ones do. Then ``VACUUM
ANALYZE`` (what autovacuum does to a live table).

Each query the Monitor runs is timed through :class:`~workbench.store.monitor.MonitorRepository`
(``--repeat`` times after one warm-up run; median and worst in ms), for each dashboard window (hour,
day, 7 days: the last covers every row of the user). Target: every query under 300 ms. The per-block
percentiles cover the window's latest 10,000 runs (``BLOCK_STATS_MAX_RUNS``), as the dashboard asks
them; the same query over every run of the window is timed too, for comparison.

Usage: python tests/benchmarks/bench_monitor.py [--runs 100000] [--nodes 10] [--repeat 5] [--home DIR]
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.app import Workbench  # noqa: E402
from workbench.config import Settings  # noqa: E402
from workbench.services.monitor import BLOCK_STATS_MAX_RUNS, MonitorService, Window  # noqa: E402
from workbench.store.monitor import Cursor, ExecutionFilter, MonitorRepository  # noqa: E402

USER = "00000000-0000-0000-0000-00000000b001"
OTHER = "00000000-0000-0000-0000-00000000b002"
TARGET_MS = 300.0
DEEP = 50_000
"""How many runs the deep page skips (page 1,001 of 50 runs)."""

FILL = """
INSERT INTO users (id, email, name) VALUES ($1, 'bench@example.com', 'Bench'), ($2, 'other@example.com', 'Other');

INSERT INTO graphs (id, version, user_id, name)
SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 1,
       CASE WHEN i <= 20 THEN $1::uuid ELSE $2::uuid END, 'agent ' || i
FROM generate_series(1, 22) AS i;

CREATE TEMP TABLE bench_blocks AS
SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM (SELECT id FROM blocks ORDER BY id LIMIT 10) b;

INSERT INTO graph_executions (id, graph_id, graph_version, user_id, status, inputs, stats,
                              created_at, started_at, ended_at, updated_at)
SELECT gen_random_uuid(), graph_id, 1, user_id, status, jsonb_build_object('text', 'question ' || i),
       CASE WHEN status IN ('COMPLETED', 'FAILED', 'CANCELLED')
            THEN jsonb_build_object('input_tokens', 100 + i % 400, 'output_tokens', 20 + i % 80,
                                    'cost_usd', (100 + i % 400) * 0.000003, 'node_executions', $4::int)
            ELSE '{}'::jsonb END,
       created, created + interval '5 ms',
       CASE WHEN status IN ('RUNNING', 'QUEUED') THEN NULL
            ELSE created + make_interval(secs => 0.05 + random() * 3) END,
       created
FROM (
    SELECT i, now() - make_interval(secs => random() * 7 * 86400) AS created,
           CASE WHEN i % 10 = 0 THEN $2::uuid ELSE $1::uuid END AS user_id,
           ('00000000-0000-0000-0000-' || lpad((CASE WHEN i % 10 = 0 THEN 21 + i % 2 ELSE 1 + i % 20 END)::text,
                                               12, '0'))::uuid AS graph_id,
           CASE WHEN i % 100 < 85 THEN 'COMPLETED' WHEN i % 100 < 95 THEN 'FAILED'
                WHEN i % 100 < 98 THEN 'CANCELLED' ELSE 'RUNNING' END AS status
    FROM generate_series(1, $3::int) AS i
) runs;

INSERT INTO node_executions (id, graph_execution_id, node_id, block_id, seq, status, inputs, outputs,
                             error, attempts, queued_at, started_at, ended_at, stats)
SELECT gen_random_uuid(), ge.id, 'node-' || pos, b.id, 0,
       CASE WHEN ge.status = 'FAILED' AND pos = $4 - 1 THEN 'FAILED'
            WHEN ge.status = 'RUNNING' AND pos = $4 - 1 THEN 'RUNNING' ELSE 'COMPLETED' END,
       jsonb_build_object('prompt', repeat('Summarise the following text in three sentences. ', 3), 'k', pos),
       jsonb_build_array(jsonb_build_array('response', repeat('A short answer. ', 8))),
       CASE WHEN ge.status = 'FAILED' AND pos = $4 - 1 THEN 'boom' END, 1,
       ge.started_at, ge.started_at + make_interval(secs => pos * 0.01),
       CASE WHEN ge.status = 'RUNNING' AND pos = $4 - 1 THEN NULL
            ELSE ge.started_at + make_interval(secs => pos * 0.01 + random() * (1 + pos)) END,
       CASE WHEN pos = 3 THEN ge.stats - 'node_executions' ELSE '{}'::jsonb END
FROM graph_executions ge CROSS JOIN generate_series(0, $4::int - 1) AS s(pos)
JOIN bench_blocks b ON b.k = s.pos % 10;
"""


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, float]:
    """Median and worst milliseconds of ``repeat`` calls after one warm-up call."""
    await call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


async def fill(wb: Workbench, runs: int, nodes: int) -> dict[str, Any]:
    """Fill the database; returns row counts and how long it took."""
    assert wb.db is not None
    started = time.perf_counter()
    async with wb.db.pool.acquire() as conn:
        # Our own constants, written into the SQL: a multi-statement script takes no parameters.
        script = FILL.replace("$1", f"'{USER}'").replace("$2", f"'{OTHER}'")
        await conn.execute(script.replace("$3", str(int(runs))).replace("$4", str(int(nodes))))
        fill_s = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE graph_executions")
        await conn.execute("VACUUM ANALYZE node_executions")
        counts = {
            "graph_executions": await conn.fetchval("SELECT count(*) FROM graph_executions"),
            "node_executions": await conn.fetchval("SELECT count(*) FROM node_executions"),
            "user_node_executions": await conn.fetchval(
                "SELECT count(*) FROM node_executions n JOIN graph_executions g ON g.id = n.graph_execution_id"
                " WHERE g.user_id = $1",
                USER,
            ),
            "node_executions_mb": round(
                await conn.fetchval("SELECT pg_total_relation_size('node_executions')") / 2**20, 1
            ),
        }
    return {
        "fill_s": round(fill_s, 1),
        "vacuum_s": round(time.perf_counter() - started - fill_s, 1),
        **counts,
    }


async def measure(wb: Workbench, repeat: int) -> dict[str, Any]:
    """Time every Monitor query."""
    assert wb.db is not None
    repo = MonitorRepository(wb.db.pool)
    service = MonitorService.from_workbench(wb)
    deep = await wb.db.pool.fetchrow(
        """SELECT created_at, id::text FROM graph_executions WHERE user_id = $1 AND parent_execution_id IS NULL
           ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1""",
        USER,
        DEEP,
    ) or await wb.db.pool.fetchrow(
        "SELECT created_at, id::text FROM graph_executions WHERE user_id = $1 ORDER BY created_at LIMIT 1",
        USER,
    )
    agent = "00000000-0000-0000-0000-000000000007"
    table = {
        "page (newest 50)": lambda: repo.page(USER, ExecutionFilter()),
        "page 1,001 (keyset after 50,000 runs)": lambda: repo.page(
            USER, ExecutionFilter(), after=Cursor(deep["created_at"], deep["id"])
        ),
        "page, one agent": lambda: repo.page(USER, ExecutionFilter(graph_id=agent)),
        "page, FAILED": lambda: repo.page(USER, ExecutionFilter(statuses=("FAILED",))),
        "page, RUNNING (rare)": lambda: repo.page(USER, ExecutionFilter(statuses=("RUNNING",))),
        "agents (filter choices)": lambda: repo.agents(USER),
    }
    results: dict[str, Any] = {"table": {k: await timed(v, repeat) for k, v in table.items()}}
    for window in (Window.HOUR, Window.DAY, Window.WEEK):
        now = datetime.now(UTC)
        since = now - window.span
        queries = {
            "totals (success rate)": lambda since=since: repo.totals(USER, since),
            "runs per bucket by status": lambda since=since, now=now, w=window: repo.rate(
                USER, since, now, w.bucket
            ),
            "per agent (success, p50/p90/p99, usage)": lambda since=since: repo.by_agent(USER, since),
            "per block (p50/p90/p99, latest 10,000 runs)": lambda since=since: repo.by_block(
                USER, since, max_runs=BLOCK_STATS_MAX_RUNS
            ),
            "per block, every run in the window (uncapped)": lambda since=since: repo.by_block(
                USER, since, max_runs=10**9
            ),
            "tokens and cost per agent per day": lambda since=since: repo.daily_usage(USER, since),
            "whole dashboard (concurrently)": lambda w=window: service.dashboard(USER, w),
        }
        results[window.label] = {k: await timed(v, repeat) for k, v in queries.items()}
    worst = max(
        t["median_ms"]
        for section in results.values()
        for name, t in section.items()
        if "whole" not in name and "uncapped" not in name
    )
    results["slowest query median ms (the dashboard's, uncapped variant aside)"] = worst
    results["target met (< 300 ms each)"] = worst < TARGET_MS
    return results


async def run(home: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the database under ``home`` (unless it holds the benchmark's data already) and measure."""
    os.environ["WORKBENCH_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    settings = Settings.from_env({"WORKBENCH_HOME": home})
    async with Workbench(settings, resume=False) as wb:
        assert wb.db is not None
        if await wb.db.pool.fetchval("SELECT count(*) FROM users WHERE id = $1", USER):
            filled: dict[str, Any] = {"reused": home}
        else:
            filled = await fill(wb, args.runs, args.nodes)
        print(json.dumps({"filled": filled}), file=sys.stderr)
        return {"filled": filled, **(await measure(wb, args.repeat))}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.home:
        return await run(args.home, args)
    with tempfile.TemporaryDirectory(prefix="wb-bench-monitor-") as home:
        return await run(home, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--home", help="keep the database in this WORKBENCH_HOME (reused when filled)")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
