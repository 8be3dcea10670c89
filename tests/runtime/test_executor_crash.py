"""kill -9 of an executor process mid-run: another executor resumes the run from what is stored,
with no completed node run again (real processes, real RabbitMQ and PostgreSQL)."""

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

from tests.engine.test_crash_resume import DRIVER, ROOT, crash_graph
from tests.support import process_blocks
from workbench.app import Workbench
from workbench.block.registry import default_registry
from workbench.config import Settings
from workbench.graph.autogpt import parse_graph


def _executor(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), "executor"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline()) == {"ready": True}, proc.stderr.read() if proc.stderr else ""
    return proc


@pytest.mark.slow
async def test_kill_9_executor_mid_run_another_executor_finishes(tmp_path: Path, amqp_url: str) -> None:
    home, marks, gate = tmp_path / "home", tmp_path / "marks.txt", tmp_path / "gate"
    env = {
        **os.environ,
        "WORKBENCH_HOME": str(home),
        "WORKBENCH_TEST_MARKS": str(marks),
        "AMQP_URL": amqp_url,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DATABASE_URL", None)
    registry = default_registry().copy()
    registry.register_module(process_blocks, "tests.support.process_blocks")
    first = await asyncio.to_thread(_executor, env)
    second = None
    settings = Settings.from_env({"WORKBENCH_HOME": str(home), "AMQP_URL": amqp_url})
    try:
        async with Workbench(settings, registry=registry) as api:
            execution_id = await api.executions.submit(parse_graph(crash_graph(gate)), {"x": 41})
            deadline = time.monotonic() + 30
            while True:
                rows = await api.db.pool.fetch(
                    "SELECT node_id, status FROM node_executions WHERE graph_execution_id = $1", execution_id
                )
                statuses = {r["node_id"]: r["status"] for r in rows}
                if statuses.get("gate") == "RUNNING" and statuses.get("out_z") == "COMPLETED":
                    break
                assert time.monotonic() < deadline, statuses
                await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            gate.write_text("open")
            second = await asyncio.to_thread(_executor, env)  # RabbitMQ redelivers the unacked message
            result = await api.executions.wait(execution_id, timeout=60)
            assert result.status == "COMPLETED"
            assert result.outputs == {"y": [41], "z": [41]}
            counts = await api.db.pool.fetch(
                "SELECT node_id, count(*) AS n FROM node_executions WHERE graph_execution_id = $1 GROUP BY node_id",
                execution_id,
            )
            assert all(r["n"] == 1 for r in counts), counts
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
    ran = marks.read_text().split()
    assert ran.count("m1") == ran.count("m2") == ran.count("m4") == ran.count("m3") == 1
    assert ran.count("gate-start") == 2
