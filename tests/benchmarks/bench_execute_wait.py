"""Latency of one run through the REST API at concurrency 1: ``POST /graphs/{id}/execute?wait=5``.

A real ``workbench serve`` process (embedded PostgreSQL, --auth none, rate limiting off; the same
start-up as the API tests) stores a small graph; a closed-loop httpx client on the same machine then
sends one request at a time (the next when the previous answered) and times each from send to the
whole response read. The response of ``?wait=`` arrives when the run has completed and its final
state is stored, so each figure is a full durable run as a client sees it.

Graphs (--graph):
  pass     AgentInputBlock -> StoreValueBlock -> AgentOutputBlock (default: the platform's own cost)
  template AgentInputBlock -> FillTextTemplateBlock -> AgentOutputBlock (adds the sandbox pool's
           round trip, as tests/benchmarks/bench_api.py measures)

Figures: p50/p90/p99/mean in milliseconds over --requests requests (default 300) after --warmup
(default 50). Target (2-core machine): p50 < 2 ms.

Usage: python tests/benchmarks/bench_execute_wait.py [--requests 300] [--warmup 50] [--graph pass]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.servers import start_server, stop_server

INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
STORE_VALUE_BLOCK = "1ff065e9-88e8-4358-9d82-8dc91f622ba9"
TEMPLATE_BLOCK = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"
TARGET_P50_MS = 2.0
MIDDLE = {
    "pass": ({"id": "mid", "block_id": STORE_VALUE_BLOCK, "input_default": {}}, "input", "output"),
    "template": (
        {"id": "mid", "block_id": TEMPLATE_BLOCK, "input_default": {"format": "Hello, {{ name }}!"}},
        "values_#_name",
        "output",
    ),
}


def graph_document(kind: str) -> dict[str, Any]:
    """A three-node graph: input ``name`` -> the middle block of ``kind`` -> output ``greeting``."""
    middle, sink_pin, source_pin = MIDDLE[kind]
    return {
        "name": f"bench execute wait ({kind})",
        "nodes": [
            {"id": "in", "block_id": INPUT_BLOCK, "input_default": {"name": "name"}},
            middle,
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "greeting"}},
        ],
        "links": [
            {"source_id": "in", "source_name": "result", "sink_id": "mid", "sink_name": sink_pin},
            {"source_id": "mid", "source_name": source_pin, "sink_id": "out", "sink_name": "value"},
        ],
    }


def quantile_ms(values: list[float], q: float) -> float:
    """The q-quantile (0..1) in milliseconds, rounded to microseconds."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def one(client: httpx.Client, url: str) -> float:
    """Seconds from sending one request to having read its whole response; the run must complete."""
    started = time.perf_counter()
    response = client.post(url, json={"inputs": {"name": "Ada"}})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json().get("status") != "COMPLETED":
        raise RuntimeError(f"run did not complete: {response.status_code} {response.text[:300]}")
    return elapsed


def measure(base_url: str, kind: str, requests: int, warmup: int) -> dict[str, Any]:
    """Store the graph, warm up, then time ``requests`` requests one after another."""
    # Local mode accepts only loopback Host headers and JSON bodies: httpx sends both.
    with httpx.Client(base_url=base_url, timeout=30) as client:
        created = client.post("/api/v1/graphs", json=graph_document(kind))
        created.raise_for_status()
        url = f"/api/v1/graphs/{created.json()['id']}/execute?wait=5"
        for _ in range(warmup):
            one(client, url)
        times = [one(client, url) for _ in range(requests)]
    p50 = quantile_ms(times, 0.5)
    return {
        "graph": kind,
        "requests": requests,
        "warmup": warmup,
        "p50_ms": p50,
        "p90_ms": quantile_ms(times, 0.9),
        "p99_ms": quantile_ms(times, 0.99),
        "mean_ms": round(statistics.fmean(times) * 1000, 3),
        "target_p50_ms": TARGET_P50_MS,
        "meets_target": p50 < TARGET_P50_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--graph", choices=sorted(MIDDLE), default="pass")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wb-bench-wait-")) / "home"
    server = start_server(home, "none", {"WORKBENCH_RATE_LIMIT": "off"})
    try:
        result = measure(server.base_url, options.graph, options.requests, options.warmup)
    finally:
        stop_server(server)
    result["client"] = "httpx (sync, keep-alive), closed loop, concurrency 1, same machine"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
