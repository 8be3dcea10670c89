"""Executor scaling and memory, with real RabbitMQ and PostgreSQL. Prints JSON.

1. Fill the queue with N small executions (three-node graph), then start 1 executor process and
   time until all are COMPLETED; again with 2 executor processes. Executions per second for each.
2. Memory: one executor works through M executions; its resident memory (from /metrics) after
   the first 1,000 and at the end.

Targets: two executors >= 1.8x one; memory growth < 10%.
Needs RabbitMQ on 127.0.0.1 (a fresh vhost is created and deleted) and rabbitmqctl.

Usage: python tests/benchmarks/bench_executors.py [--executions 20000] [--memory-executions 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.bench_api import GRAPH  # noqa: E402
from workbench.app import Workbench  # noqa: E402
from workbench.config import Settings  # noqa: E402
from workbench.graph.autogpt import parse_graph  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_executor(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "launch.cli", "executor", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("executor did not start")


def cpu_snapshot(executor_pids: list[int]) -> dict[str, float]:
    """CPU seconds used so far: the whole machine (busy), and by role (executors, PostgreSQL,
    RabbitMQ, this benchmark), to show where the cores go."""
    roles = {"executors": 0.0, "postgres": 0.0, "rabbitmq": 0.0, "benchmark": 0.0, "other": 0.0}
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        used = times.user + times.system
        name = proc.info["name"] or ""
        if proc.info["pid"] in executor_pids:
            roles["executors"] += used
        elif name.startswith("postgres"):
            roles["postgres"] += used
        elif name.startswith("beam"):
            roles["rabbitmq"] += used
        elif proc.info["pid"] == os.getpid():
            roles["benchmark"] += used
        else:
            roles["other"] += used
    machine = psutil.cpu_times()
    roles["machine_busy"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    return roles


def cpu_report(a: dict[str, float], b: dict[str, float], seconds: float, executions: int) -> dict[str, Any]:
    cores = psutil.cpu_count() or 1
    return {
        "machine_busy_percent": round((b["machine_busy"] - a["machine_busy"]) / (seconds * cores) * 100, 1),
        "cpu_ms_per_execution": {
            role: round((b[role] - a[role]) / max(executions, 1) * 1000, 3)
            for role in ("executors", "postgres", "rabbitmq", "benchmark", "other")
        },
    }


def rss(base: str) -> int:
    for line in httpx.get(base + "/metrics", timeout=5).text.splitlines():
        if line.startswith("process_resident_memory_bytes"):
            return int(line.split()[1])
    raise RuntimeError("no memory metric")


async def fill(wb: Workbench, graph_id: str, n: int) -> None:
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with sem:
            await wb.executions.submit(graph_id, {"name": f"n{i}"})

    await asyncio.gather(*(one(i) for i in range(n)))


async def completed(wb: Workbench, since: float) -> int:
    assert wb.db is not None
    return await wb.db.pool.fetchval(
        "SELECT count(*) FROM graph_executions WHERE status = 'COMPLETED' AND created_at >= to_timestamp($1)",
        since,
    )


async def drain(wb: Workbench, env: dict[str, str], n: int, executors: int, since: float) -> dict[str, Any]:
    """Steady-state rate: completions between 10% and 90% of the queue (start-up excluded)."""
    started = time.perf_counter()
    procs = [start_executor(env) for _ in range(executors)]
    pids = [proc.pid for proc, _ in procs]
    marks: dict[str, tuple[float, int]] = {}
    cpu: dict[str, dict[str, float]] = {}
    try:
        while True:
            done = await completed(wb, since)
            now = time.perf_counter()
            if "p10" not in marks and done >= n * 0.1:
                marks["p10"] = (now, done)
                cpu["p10"] = cpu_snapshot(pids)
            if done >= n * 0.9 and "p90" not in marks:
                marks["p90"] = (now, done)
                cpu["p90"] = cpu_snapshot(pids)
            if done >= n:
                break
            await asyncio.sleep(0.25)
        took = time.perf_counter() - started
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=60)
    (t10, c10), (t90, c90) = marks["p10"], marks["p90"]
    return {
        "executors": executors,
        "executions": n,
        "wall_seconds_with_startup": round(took, 2),
        "executions_per_s": round((c90 - c10) / max(t90 - t10, 1e-6), 1),
        "cpu": cpu_report(cpu["p10"], cpu["p90"], t90 - t10, c90 - c10),
    }


async def memory(wb: Workbench, env: dict[str, str], graph_id: str, n: int) -> dict[str, Any]:
    proc, base = start_executor(env)
    try:
        since = time.time()
        await fill(wb, graph_id, 1000)
        while await completed(wb, since) < 1000:
            await asyncio.sleep(0.25)
        before = rss(base)
        since = time.time()
        await fill(wb, graph_id, n)
        while await completed(wb, since) < n:
            await asyncio.sleep(0.5)
        after = rss(base)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {
        "executions": n,
        "rss_after_warmup_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "growth_percent": round((after - before) / before * 100, 1),
    }


async def main(n: int, m: int) -> dict[str, Any]:
    vhost = f"wb-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    home = Path(tempfile.mkdtemp(prefix="wb-bench-exec-")) / "home"
    env = {**os.environ, "WORKBENCH_HOME": str(home), "AMQP_URL": amqp, "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    settings = Settings.from_env({"WORKBENCH_HOME": str(home), "AMQP_URL": amqp})
    out: dict[str, Any] = {"targets": {"two_over_one": 1.8, "memory_growth_percent": 10}}
    try:
        async with Workbench(settings) as wb:
            graph = await wb.graphs.create(parse_graph(GRAPH), "00000000-0000-0000-0000-000000000001")
            runs = []
            for executors in (1, 2):
                since = time.time()
                await fill(wb, graph.id, n)
                runs.append(await drain(wb, env, n, executors, since))
            out["scaling"] = runs
            out["two_over_one"] = round(runs[1]["executions_per_s"] / runs[0]["executions_per_s"], 2)
            out["memory"] = await memory(wb, env, graph.id, m)
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], check=False, capture_output=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=20_000)
    parser.add_argument("--memory-executions", type=int, default=50_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.executions, args.memory_executions)), indent=2))
