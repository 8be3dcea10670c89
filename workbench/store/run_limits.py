"""Stored counters that bound what one execution may start (plain SQL, asyncpg).

``graph_executions.subgraph_runs`` of a top-level execution counts the sub-graph runs started under
it, at every depth (migration 0007). Taking one more is a single capped ``UPDATE``, atomic in the
database: the cap holds whichever executor runs the tree, and after a resume in another process.
"""

from __future__ import annotations

import asyncpg


async def take_subgraph_run(pool: asyncpg.Pool, root_execution_id: str, cap: int) -> int | None:
    """Count one more sub-graph run of ``root_execution_id``: its new count, or None when ``cap``
    runs were started already (nothing is counted then)."""
    return await pool.fetchval(
        """UPDATE graph_executions SET subgraph_runs = subgraph_runs + 1
           WHERE id = $1 AND subgraph_runs < $2 RETURNING subgraph_runs""",
        root_execution_id,
        cap,
    )


async def subgraph_runs(pool: asyncpg.Pool, execution_id: str) -> int | None:
    """How many sub-graph runs the top-level execution has started (None: no such execution)."""
    return await pool.fetchval("SELECT subgraph_runs FROM graph_executions WHERE id = $1", execution_id)
