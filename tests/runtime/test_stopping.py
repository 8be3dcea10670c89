"""Stopping a server (SIGTERM) takes a bounded time whatever its runs are doing, leaves them
resumable, and leaves no embedded PostgreSQL behind once every process using it is gone (real
processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from launch.serving import request_grace
from tests.engine.test_subgraph_limits import self_running
from tests.server.api_support import create_graph, node_running, timer_graph
from tests.support.postgres_processes import postgres_of, wait_postgres_gone
from tests.support.servers import ROOT, ServerProcess, start_server
from workbench.app import Workbench
from workbench.config import Settings

STOP_TIMEOUT = 3.0
SLACK = 3.0
"""On top of the limits: stopping PostgreSQL (its shutdown checkpoint), the interpreter's own exit
(0.3 s idle, a second or more on a loaded 2-core machine) and scheduling delays; the stop's
watchdog (launch/serving.py) allows as much."""
TIMER = 8
"""Seconds the long node waits: more than the stop may take, so waiting for it would fail."""


def _server(home: Path, **env: str) -> ServerProcess:
    return start_server(
        home, "none", {"WORKBENCH_STOP_TIMEOUT": str(STOP_TIMEOUT), "WORKBENCH_RATE_LIMIT": "off", **env}
    )


def _api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base_url + "/api/v1", timeout=30)


def _sigterm(server: ServerProcess) -> float:
    """Send SIGTERM and return the seconds the server took to exit (it must exit with 0)."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        raise
    elapsed = time.monotonic() - started
    assert server.process.returncode == 0, server.log.read_text()[-3000:]
    return elapsed


def _limit() -> float:
    return request_grace(STOP_TIMEOUT) + STOP_TIMEOUT + SLACK


@pytest.mark.slow
async def test_sigterm_during_a_runaway_run_exits_in_time_and_leaves_the_tree_resumable(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    server = _server(home, WORKBENCH_MAX_SUBGRAPH_DEPTH="100000", WORKBENCH_MAX_CHILD_RUNS="1000000")
    try:
        with _api(server) as api:
            graph = create_graph(api, self_running().export())
            execution_id = api.post(f"/graphs/{graph['id']}/execute", json={}).json()["id"]
            deadline = time.monotonic() + 20
            while api.get(f"/executions/{execution_id}").json()["status"] != "RUNNING":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(1.5)  # a few dozen levels deep by now, and going
    finally:
        elapsed = _sigterm(server)
    assert elapsed < _limit(), f"the stop took {elapsed:.1f} s"

    # Nothing recorded an end: the whole tree stays RUNNING (a child created just before the stop,
    # never started, QUEUED), for the next start to resume.
    settings = Settings.from_env({"WORKBENCH_HOME": str(home)})
    async with Workbench(settings, resume=False) as wb:
        assert wb.db is not None
        rows = await wb.db.pool.fetch(
            """WITH RECURSIVE tree AS (
                   SELECT id, status FROM graph_executions WHERE id = $1::uuid
                   UNION ALL SELECT g.id, g.status FROM graph_executions g
                   JOIN tree ON g.parent_execution_id = tree.id)
               SELECT status, count(*) AS n FROM tree GROUP BY status""",
            execution_id,
        )
        top = await wb.db.pool.fetchval(
            "SELECT status FROM graph_executions WHERE id = $1::uuid", execution_id
        )
    statuses = {r["status"]: r["n"] for r in rows}
    assert top == "RUNNING"
    assert set(statuses) <= {"RUNNING", "QUEUED"}, statuses
    assert sum(statuses.values()) > 5, statuses  # it did recurse
    assert wait_postgres_gone(home / "pgdata") == []


@pytest.mark.slow
async def test_sigterm_during_a_long_node_exits_in_time_and_the_run_resumes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = _server(home)
    try:
        with _api(server) as api:
            graph = create_graph(api, timer_graph(TIMER))
            execution_id = api.post(f"/graphs/{graph['id']}/execute", json={}).json()["id"]
            node_running(api, execution_id, "timer")
    finally:
        elapsed = _sigterm(server)
    assert elapsed < _limit() < TIMER, f"the stop took {elapsed:.1f} s: did it wait for the node?"

    settings = Settings.from_env({"WORKBENCH_HOME": str(home)})
    async with Workbench(settings) as wb:  # starting resumes the interrupted run
        result = await wb.executions.wait(execution_id, timeout=TIMER + 20)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"message": ["done"]}
    assert wait_postgres_gone(home / "pgdata") == []


@pytest.mark.slow
def test_an_embedded_database_left_by_killed_processes_is_adopted_and_stopped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = _server(home)
    server.process.kill()  # -9: it never leaves the server it started
    server.process.wait(timeout=10)
    assert postgres_of(home / "pgdata"), "the killed server's PostgreSQL should still be running"

    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "launch.cli", "db", "migrate"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    assert wait_postgres_gone(home / "pgdata") == []  # the last user left: it stopped the server
