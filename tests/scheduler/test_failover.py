"""The scheduler leader killed (kill -9), as real ``workbench scheduler`` processes: the standby takes
over within seconds and firing goes on; nothing fires twice, no fire time is lost track of, and every
fire's execution runs."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.scheduler.conftest import ROOT, hello_graph
from tests.scheduler.test_runtime import (
    USER,
    check_accounting,
    executions_of_graph,
    interval,
    runs_of,
    wait_runs,
)
from tests.support.servers import free_port
from workbench.app import Workbench
from workbench.services.schedules import ScheduleService


def start_scheduler(home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``workbench scheduler`` on a free port; returns the process and its health URL."""
    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "launch.cli", "scheduler", "--port", str(port), "--log-level", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}/health"


async def health_when(
    url: str, role: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> dict[str, Any]:
    """Poll ``/health`` until the process reports ``role``."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert proc.poll() is None, f"scheduler exited {proc.returncode}:\n{log.read_text()}"
            try:
                r = await client.get(url)
                body = r.json()
                if body.get("role") == role:
                    assert r.status_code == 200 and body["status"] == "ok"
                    return body
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"not {role} after {timeout}s:\n{log.read_text()[-3000:]}"
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_leader_killed_the_standby_takes_over(
    wb: Workbench, service: ScheduleService, workbench_home: Path, tmp_path: Path
) -> None:
    schedule = await interval(service, wb, inputs={"name": "Failover"})
    logs = [tmp_path / "leader.log", tmp_path / "standby.log"]
    leader, leader_url = start_scheduler(workbench_home, logs[0])
    standby = None
    try:
        first = await health_when(leader_url, "leader", leader, logs[0])
        standby, standby_url = start_scheduler(workbench_home, logs[1])
        second = await health_when(standby_url, "standby", standby, logs[1])
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(standby_url.replace("/health", "/nope"))).status_code == 404
            assert (await client.post(standby_url)).status_code == 405
        await wait_runs(wb, schedule.id, 3, timeout=10, status="SUBMITTED")

        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        killed = time.monotonic()
        await health_when(standby_url, "leader", standby, logs[1], timeout=10)
        took_over = time.monotonic() - killed
        assert took_over < 5, took_over
        print(f"standby took over {took_over:.2f}s after the leader was killed")
        count = len(await runs_of(wb, schedule.id))
        await wait_runs(wb, schedule.id, count + 3, timeout=10)
        standby.terminate()  # a graceful stop: lets the last runs finish
        assert standby.wait(timeout=20) == 0
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    runs = await runs_of(wb, schedule.id)
    by = [r["fired_by"] for r in runs]
    assert set(by) == {first["identity"], second["identity"]}, by
    switch = by.index(second["identity"])
    assert set(by[:switch]) == {first["identity"]} and set(by[switch:]) == {second["identity"]}
    # The takeover left a gap of a few seconds at most, coalesced into the new leader's first run.
    gap = runs[switch]["fire_time"] - runs[switch - 1]["fire_time"]
    assert gap <= timedelta(seconds=6) and runs[switch]["coalesced"] == gap // timedelta(seconds=1)
    check_accounting(runs, timedelta(seconds=1))  # every fire time once: none twice, none lost track of
    assert all(r["status"] == "SUBMITTED" for r in runs), runs  # none left PENDING
    executions = await executions_of_graph(wb, schedule.graph_id)
    assert sorted(executions) == sorted(str(r["execution_id"]) for r in runs)  # one execution per fire
    for run in runs:  # even those the killed leader was running (the new leader resumed them)
        result = await wb.executions.wait(str(run["execution_id"]), timeout=20)
        assert result.ok and result.outputs["greeting"] == ["Hello, Failover!"], result


@pytest.mark.slow
async def test_a_new_leader_resumes_the_runs_a_dead_scheduler_queued(
    wb: Workbench, workbench_home: Path, tmp_path: Path
) -> None:
    # A scheduler process stores each run QUEUED as its own (its executor key) and hands it to its
    # in-process queue; killed before taking it, the run is nobody's until the next leader resumes it
    # (a process starting resumes orphans too: the standby here started before the run was stored).
    logs = [tmp_path / "leader.log", tmp_path / "standby.log"]
    leader, leader_url = start_scheduler(workbench_home, logs[0])
    standby = None
    try:
        await health_when(leader_url, "leader", leader, logs[0])
        standby, standby_url = start_scheduler(workbench_home, logs[1])
        await health_when(standby_url, "standby", standby, logs[1])
        graph = await hello_graph(wb)
        execution_id = str(uuid.uuid4())
        dead_key = random.randrange(1 << 20, 1 << 30)  # a process that no longer holds its lock
        assert wb.executions.repo is not None
        await wb.executions.repo.create(
            execution_id, graph.id, graph.version, USER, {"name": "Orphan"}, executor_key=dead_key
        )
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        await health_when(standby_url, "leader", standby, logs[1], timeout=10)
        result = await wb.executions.wait(execution_id, timeout=20)
        assert result.ok and result.outputs["greeting"] == ["Hello, Orphan!"], result
    finally:
        for proc in (leader, standby):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
