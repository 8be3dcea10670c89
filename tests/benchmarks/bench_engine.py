"""Per-node overhead of the executor, ephemeral and durable (embedded PostgreSQL). Prints JSON.

Graphs:
  chain_100     input -> 100 no-op nodes in a row -> output
  fanout_1000   input (a list of 1,000) -> StepThroughItems -> no-op per item -> output per item

Overhead per node = wall time of a whole run (submit to final state stored) / node executions.
Targets on the 2-core reference machine: <= 20 us ephemeral, <= 100 us durable.

Usage: python tests/benchmarks/bench_engine.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workbench.app import Workbench
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.registry import default_registry
from workbench.config import Settings
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph


class NoOpBlock(Block):
    """Passes its value through."""

    id = "0b7f3f0e-7a55-4d8e-9d55-0d5c3c0b0b01"
    description = "Benchmark no-op."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        value: Any = None

    class Output(BlockSchema):
        value: Any

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "value", input_data.value


def chain(n: int) -> Graph:
    g = GraphBuilder(f"chain {n}")
    prev = g.input("x").result
    for _ in range(n):
        node = g.add(NoOpBlock)
        prev >> node.value
        prev = node.value
    prev >> g.output("y").value
    return g.build()


def fanout(n: int) -> Graph:
    g = GraphBuilder(f"fanout {n}")
    items = g.add("StepThroughItemsBlock")
    g.input("items").result >> items.items
    noop = g.add(NoOpBlock)
    items.item >> noop.value
    noop.value >> g.output("y").value
    return g.build()


async def measure(
    wb: Workbench, graph: Graph, inputs: dict[str, Any], runs: int, ephemeral: bool
) -> dict[str, Any]:
    if not ephemeral:
        graph = await wb.graphs.save(graph, "00000000-0000-0000-0000-000000000001")
    # warm-up (plan cache, JIT-free but caches: pydantic, asyncpg statements)
    for _ in range(3):
        r = await wb.executions.run(graph.id if not ephemeral else graph, inputs, ephemeral=ephemeral)
        assert r.ok, r.error
    times = []
    nodes = 0
    gc.collect()
    for _ in range(runs):
        t0 = time.perf_counter()
        r = await wb.executions.run(graph.id if not ephemeral else graph, inputs, ephemeral=ephemeral)
        times.append(time.perf_counter() - t0)
        nodes = len(r.node_executions)
        assert r.ok, r.error
    med = statistics.median(times)
    return {
        "node_executions": nodes,
        "runs": runs,
        "median_run_ms": round(med * 1000, 3),
        "us_per_node": round(med / nodes * 1e6, 2),
        "best_us_per_node": round(min(times) / nodes * 1e6, 2),
    }


async def main(runs: int) -> dict[str, Any]:
    default_registry().register(NoOpBlock, "benchmark")
    home = Path(os.environ.get("WORKBENCH_BENCH_HOME") or tempfile.mkdtemp(prefix="wb-bench-"))
    settings = Settings.from_env({"WORKBENCH_HOME": str(home)})
    cases = {
        "chain_100": (chain(100), {"x": 1}),
        "fanout_1000": (fanout(1000), {"items": list(range(1000))}),
    }
    out: dict[str, Any] = {"targets_us_per_node": {"ephemeral": 20, "durable": 100}}
    async with Workbench(settings, ephemeral=True) as ewb:
        for name, (graph, inputs) in cases.items():
            out.setdefault(name, {})["ephemeral"] = await measure(ewb, graph, inputs, runs, True)
    async with Workbench(settings) as wb:
        for name, (graph, inputs) in cases.items():
            out[name]["durable"] = await measure(wb, graph, inputs, max(5, runs // 4), False)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.runs)), indent=2))
