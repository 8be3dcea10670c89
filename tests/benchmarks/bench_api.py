"""Executions through the REST API: throughput and latency from request to completion. Prints JSON.

A real ``workbench serve`` process (embedded PostgreSQL, --auth none, rate limiting off) runs a
three-node graph (input -> template -> output) through ``POST /api/v1/graphs/{id}/execute?wait=30``,
whose response arrives when the run has completed and is stored.

  unloaded: one request at a time -> p50/p99 latency
  loaded:   a load generator process keeping N requests in flight for T seconds -> executions/s,
            p50/p99 latency

Targets (2-core machine, embedded default): >= 1,000 executions/s, p50 < 5 ms unloaded.

Usage: python tests/benchmarks/bench_api.py [--seconds 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.servers import start_server, stop_server

GRAPH = {
    "name": "bench three nodes",
    "nodes": [
        {"id": "in", "block_id": "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b", "input_default": {"name": "name"}},
        {
            "id": "tpl",
            "block_id": "db7d8f02-2f44-4c55-ab7a-eae0941f0c30",
            "input_default": {"format": "Hello, {{ name }}!"},
        },
        {
            "id": "out",
            "block_id": "363ae599-353e-4804-937e-b2ee3cef3da4",
            "input_default": {"name": "greeting"},
        },
    ],
    "links": [
        {"source_id": "in", "source_name": "result", "sink_id": "tpl", "sink_name": "values_#_name"},
        {"source_id": "tpl", "source_name": "output", "sink_id": "out", "sink_name": "value"},
    ],
}


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) in milliseconds, rounded."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def one(client: httpx.AsyncClient, url: str) -> float:
    started = time.perf_counter()
    r = await client.post(url, json={"inputs": {"name": "Ada"}})
    elapsed = time.perf_counter() - started
    if r.status_code != 200 or r.json()["status"] != "COMPLETED":
        raise RuntimeError(f"run did not complete: {r.status_code} {r.text[:300]}")
    return elapsed


async def unloaded(url: str, n: int) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        for _ in range(20):
            await one(client, url)
        times = [await one(client, url) for _ in range(n)]
    return {
        "requests": n,
        "p50_ms": pct(times, 0.5),
        "p99_ms": pct(times, 0.99),
        "mean_ms": round(statistics.mean(times) * 1000, 2),
    }


async def loaded(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    times: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                times.append(await one(client, url))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - started
    return {
        "generator": "httpx (Python; it competes with the server for the 2 cores)",
        "concurrency": concurrency,
        "seconds": round(took, 2),
        "executions": len(times),
        "executions_per_s": round(len(times) / took, 1),
        "p50_ms": pct(times, 0.5),
        "p99_ms": pct(times, 0.99),
    }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body   = '{"inputs": {"name": "Ada"}}'
wrk.headers["Content-Type"] = "application/json"
"""


def loaded_wrk(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """The same load from wrk (C, one thread), which leaves the server most of the second core."""
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert m is not None
        factor = {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
        return round(float(m.group(1)) * factor, 2)

    return {
        "generator": "wrk",
        "concurrency": concurrency,
        "executions": requests,
        "executions_per_s": rate,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wb-bench-api-")) / "home"
    server = start_server(home, "none", {"WORKBENCH_RATE_LIMIT": "off"})
    try:
        graph = httpx.post(server.base_url + "/api/v1/graphs", json=GRAPH, timeout=30).json()
        url = f"{server.base_url}/api/v1/graphs/{graph['id']}/execute?wait=30"
        result: dict[str, Any] = {
            "targets": {"executions_per_s": 1000, "unloaded_p50_ms": 5},
            "unloaded": asyncio.run(unloaded(url, 300)),
        }
        if shutil.which("wrk"):
            result["loaded"] = loaded_wrk(url, args.seconds, args.concurrency)
        else:
            result["loaded_note"] = "wrk not installed (apt-get install wrk): using the Python generator"
        result["loaded_python_generator"] = asyncio.run(loaded(url, min(args.seconds, 5), args.concurrency))
        listing = httpx.get(
            server.base_url + "/api/v1/executions", params={"status": "COMPLETED", "limit": 1}, timeout=30
        ).json()
        result["completed_and_stored"] = listing["total"]
    finally:
        stop_server(server)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
