"""The cost of calling an agent as an MCP tool over running it through the REST API.

A real ``workbench serve`` process (embedded PostgreSQL, --auth none, rate limiting off) stores the
three-node graph of bench_execute_wait.py (input -> StoreValueBlock -> output, or --graph template).
One client process then times, one call at a time, alternating rounds of --per-round calls:

- REST: ``POST /api/v1/graphs/{id}/execute?wait=5`` with httpx (keep-alive), answered when the run has
  completed and is stored;
- MCP: ``tools/call`` of the same agent through the official SDK's client on one open connection to
  ``/mcp`` (streamable HTTP), answered with the run's outputs.

Both are full durable runs as a client sees them. Figures: p50/p90/p99 of each in milliseconds and
the difference of the p50s. Target (2-core machine): the MCP p50 under 2 ms above the REST p50.

Usage: python tests/benchmarks/bench_mcp.py [--rounds 6] [--per-round 100] [--warmup 50]
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

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_execute_wait import MIDDLE, graph_document, quantile_ms
from tests.support.servers import start_server, stop_server

TARGET_OVERHEAD_MS = 2.0


async def rest_call(client: httpx.AsyncClient, url: str) -> float:
    """Seconds for one REST run; it must complete."""
    started = time.perf_counter()
    response = await client.post(url, json={"inputs": {"name": "Ada"}})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json().get("status") != "COMPLETED":
        raise RuntimeError(f"run did not complete: {response.status_code} {response.text[:300]}")
    return elapsed


async def mcp_call(client: Client, tool: str) -> float:
    """Seconds for one MCP tool call; it must succeed."""
    started = time.perf_counter()
    result = await client.call_tool(tool, {"name": "Ada"})
    elapsed = time.perf_counter() - started
    if result.is_error or not result.structured_content:
        raise RuntimeError(f"tool call failed: {result}")
    return elapsed


async def measure(base_url: str, kind: str, rounds: int, per_round: int, warmup: int) -> dict[str, Any]:
    """Store the graph, warm both paths up, then time alternating rounds."""
    rest: list[float] = []
    mcp: list[float] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        created = await http.post("/api/v1/graphs", json=graph_document(kind))
        created.raise_for_status()
        url = f"/api/v1/graphs/{created.json()['id']}/execute?wait=5"
        tools = (await http.get("/api/v1/mcp/tools")).json()
        tool = next(t["name"] for t in tools if t["graph_id"] == created.json()["id"])
        async with (
            httpx2.AsyncClient(timeout=30) as http2,
            Client(streamable_http_client(base_url + "/mcp", http_client=http2)) as client,
        ):
            for _ in range(warmup):
                await rest_call(http, url)
                await mcp_call(client, tool)
            for _ in range(rounds):
                rest += [await rest_call(http, url) for _ in range(per_round)]
                mcp += [await mcp_call(client, tool) for _ in range(per_round)]
    rest_p50, mcp_p50 = quantile_ms(rest, 0.5), quantile_ms(mcp, 0.5)
    return {
        "graph": kind,
        "calls_each": len(rest),
        "rest_ms": {"p50": rest_p50, "p90": quantile_ms(rest, 0.9), "p99": quantile_ms(rest, 0.99)},
        "mcp_ms": {"p50": mcp_p50, "p90": quantile_ms(mcp, 0.9), "p99": quantile_ms(mcp, 0.99)},
        "overhead_p50_ms": round(mcp_p50 - rest_p50, 3),
        "target_overhead_ms": TARGET_OVERHEAD_MS,
        "meets_target": mcp_p50 - rest_p50 < TARGET_OVERHEAD_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--graph", choices=sorted(MIDDLE), default="pass")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wb-bench-mcp-")) / "home"
    server = start_server(home, "none", {"WORKBENCH_RATE_LIMIT": "off"})
    try:
        result = asyncio.run(
            measure(server.base_url, options.graph, options.rounds, options.per_round, options.warmup)
        )
    finally:
        stop_server(server)
    result["client"] = "one process, closed loop, concurrency 1, same machine; rounds alternate"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
