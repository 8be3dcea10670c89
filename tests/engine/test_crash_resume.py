"""A process killed mid-run (kill -9) leaves a run that the next start completes without re-running
completed nodes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.store.database import Database

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "support" / "crash_driver.py"
INPUT, OUTPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b", "363ae599-353e-4804-937e-b2ee3cef3da4"
MARK, GATE = "6f9a4a8e-6f43-4f0b-9a53-3a1c55c0e001", "6f9a4a8e-6f43-4f0b-9a53-3a1c55c0e002"


def crash_graph(gate: Path) -> dict:
    """x -> m1 -> m2 -> gate -> m3 -> out_y;  x -> m4 -> out_z (finishes before the crash)."""
    nodes = [
        {"id": "x", "block_id": INPUT, "input_default": {"name": "x"}},
        {"id": "m1", "block_id": MARK, "input_default": {"key": "m1"}},
        {"id": "m2", "block_id": MARK, "input_default": {"key": "m2"}},
        {"id": "gate", "block_id": GATE, "input_default": {"gate": str(gate)}},
        {"id": "m3", "block_id": MARK, "input_default": {"key": "m3"}},
        {"id": "m4", "block_id": MARK, "input_default": {"key": "m4"}},
        {"id": "out_y", "block_id": OUTPUT, "input_default": {"name": "y"}},
        {"id": "out_z", "block_id": OUTPUT, "input_default": {"name": "z"}},
    ]
    chain = [("x", "result", "m1"), ("m1", "value", "m2"), ("m2", "value", "gate"), ("gate", "value", "m3")]
    links = [{"source_id": s, "source_name": p, "sink_id": d, "sink_name": "value"} for s, p, d in chain]
    links += [
        {"source_id": "m3", "source_name": "value", "sink_id": "out_y", "sink_name": "value"},
        {"source_id": "x", "source_name": "result", "sink_id": "m4", "sink_name": "value"},
        {"source_id": "m4", "source_name": "value", "sink_id": "out_z", "sink_name": "value"},
    ]
    return {"name": "crash test", "nodes": nodes, "links": links}


async def _node_statuses(db: Database, execution_id: str) -> dict[str, str]:
    rows = await db.pool.fetch(
        "SELECT node_id, status FROM node_executions WHERE graph_execution_id = $1", execution_id
    )
    return {r["node_id"]: r["status"] for r in rows}


@pytest.mark.slow
async def test_kill_9_mid_run_then_restart_completes_without_rerunning(tmp_path: Path) -> None:
    home, marks, gate = tmp_path / "home", tmp_path / "marks.txt", tmp_path / "gate"
    graph_file = tmp_path / "graph.json"
    graph_file.write_text(json.dumps(crash_graph(gate)))
    env = {
        **os.environ,
        "WORKBENCH_HOME": str(home),
        "WORKBENCH_TEST_MARKS": str(marks),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DATABASE_URL", None)

    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), "start", str(graph_file), json.dumps({"x": 41})],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = await asyncio.to_thread(proc.stdout.readline)
        execution_id = json.loads(line)["started"]
        db = Database(Settings.from_env({"WORKBENCH_HOME": str(home)}))
        await db.start(run_migrations=False)
        deadline = time.monotonic() + 30
        while True:
            statuses = await _node_statuses(db, execution_id)
            done = all(statuses.get(n) == "COMPLETED" for n in ("x", "m1", "m2", "m4", "out_z"))
            if done and statuses.get("gate") == "RUNNING":
                break
            assert time.monotonic() < deadline, f"run did not reach the gate: {statuses}"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert (
        await db.pool.fetchval("SELECT status FROM graph_executions WHERE id = $1", execution_id) == "RUNNING"
    )
    gate.write_text("open")
    resumed = subprocess.run(
        [sys.executable, str(DRIVER), "resume"], env=env, capture_output=True, text=True, timeout=90
    )
    assert resumed.returncode == 0, resumed.stderr
    lines = [json.loads(x) for x in resumed.stdout.splitlines()]
    assert lines[0] == {"resumed": [execution_id]}
    assert lines[1]["status"] == "COMPLETED"
    assert lines[1]["outputs"] == {"y": [41], "z": [41]}

    ran = marks.read_text().split()
    assert ran.count("m1") == 1 and ran.count("m2") == 1 and ran.count("m4") == 1  # not re-run
    assert ran.count("m3") == 1
    assert ran.count("gate-start") == 2  # it was running when killed: it runs again

    rec = await db.pool.fetchrow("SELECT status, outputs FROM graph_executions WHERE id = $1", execution_id)
    assert rec["status"] == "COMPLETED" and rec["outputs"] == {"y": [41], "z": [41]}
    counts = await db.pool.fetch(
        "SELECT node_id, count(*) AS n FROM node_executions WHERE graph_execution_id = $1 GROUP BY node_id",
        execution_id,
    )
    assert {r["node_id"]: r["n"] for r in counts} == dict.fromkeys(
        ["x", "m1", "m2", "gate", "m3", "m4", "out_y", "out_z"], 1
    )
    await db.stop()
