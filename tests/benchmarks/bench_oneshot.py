"""One-shot runs of long chains through the CLI, end to end: microseconds per node. Prints JSON.

A chain of N nodes (AgentInputBlock -> N-2 StoreValueBlock pass-throughs -> AgentOutputBlock) is
written to a file and run once by a fresh ``workbench run <file>`` process, ephemeral
(``--ephemeral``) and durable (the embedded PostgreSQL under a WORKBENCH_HOME made fresh for this
benchmark), for N in 1,000, 2,000, 5,000 and 10,000.

What a process costs whatever the graph (interpreter, imports, starting the embedded database,
migrations check) is measured alone: the same command on the smallest chain, N=2 (input ->
output). For each N:

  us_per_node = (median wall(N) - median wall(2)) / (N - 2)

and the least-squares slope of wall time over N (``slope_us_per_node``) says the same without
leaning on one point; ``r2`` is how well a straight line fits the walls (1.0: perfectly). ``linear``
holds when the per-node cost at the largest N exceeds the one at the next size by at most 25% (a
step whose cost grows with the graph, e.g. quadratic, doubles it from 5,000 to 10,000 nodes; the
smaller sizes are left out because a few tens of milliseconds of noise in the fixed cost move their
per-node figures by tens of microseconds).

Before the measured runs, one run of each mode warms the file system cache and creates the
database (initdb happens once, in the warm-up, not in a measured run). Every figure is the median
of --repeats runs (default 5), taken round robin over the sizes.

The embedded database stops when the last process using it leaves, so by default a helper process
holds it open while the durable runs are measured, as a running ``workbench up`` does: each run
joins the running server instead of starting one (starting it costs about a second and varies by
a few hundred milliseconds, more than a thousand nodes' worth). ``--cold-db`` measures without the
helper: every run then starts and stops the server, inside the fixed cost.

Targets: < 25 us per node ephemeral, < 60 us per node durable, linear in N.

Usage: python tests/benchmarks/bench_oneshot.py [--sizes 1000,2000,5000,10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
STORE_VALUE_BLOCK = "1ff065e9-88e8-4358-9d82-8dc91f622ba9"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"
TARGETS = {"ephemeral": 25.0, "durable": 60.0}
LINEARITY_TOLERANCE = 0.25


def chain_document(n: int) -> dict[str, Any]:
    """An AutoGPT-format chain of ``n`` nodes (n >= 2): input, n-2 pass-throughs, output."""
    nodes = [{"id": "n0", "block_id": INPUT_BLOCK, "input_default": {"name": "x"}}]
    links = []
    for i in range(1, n - 1):
        nodes.append({"id": f"n{i}", "block_id": STORE_VALUE_BLOCK, "input_default": {}})
        pin = "result" if i == 1 else "output"
        links.append({"source_id": f"n{i - 1}", "source_name": pin, "sink_id": f"n{i}", "sink_name": "input"})
    nodes.append({"id": f"n{n - 1}", "block_id": OUTPUT_BLOCK, "input_default": {"name": "y"}})
    links.append(
        {
            "source_id": f"n{n - 2}",
            "source_name": "result" if n == 2 else "output",
            "sink_id": f"n{n - 1}",
            "sink_name": "value",
        }
    )
    return {"name": f"chain {n}", "nodes": nodes, "links": links}


def workbench_command() -> list[str]:
    """The ``workbench`` console script next to this interpreter, else its entry point loaded by name
    (wherever the CLI module lives)."""
    script = Path(sys.executable).with_name("workbench")
    if script.exists():
        return [str(script)]
    loader = (
        "import sys; from importlib.metadata import entry_points; "
        "sys.exit(entry_points(group='console_scripts', name='workbench')[0].load()())"
    )
    return [sys.executable, "-c", loader]


HOLD_DATABASE = """
import asyncio, sys
from pathlib import Path
from workbench.store.embedded import embedded_url, release_embedded
home = Path(sys.argv[1])
asyncio.run(embedded_url(home))
print("ready", flush=True)
sys.stdin.read()
asyncio.run(release_embedded(home))
"""


@contextmanager
def database_held(env: dict[str, str]) -> Iterator[None]:
    """Keep the embedded server of ``WORKBENCH_HOME`` running (a helper process uses it) meanwhile."""
    helper = subprocess.Popen(
        [sys.executable, "-c", HOLD_DATABASE, env["WORKBENCH_HOME"]],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert helper.stdin is not None and helper.stdout is not None
    try:
        if helper.stdout.readline().strip() != "ready":
            raise RuntimeError("the helper holding the embedded database did not start it")
        yield
    finally:
        helper.stdin.close()
        helper.wait(timeout=60)


def run_once(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one fresh process; the run must complete with the expected output."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0 or "y: 1" not in done.stdout:
        raise RuntimeError(f"{' '.join(argv[-4:])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return took


def line_fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope of seconds over nodes, and the fit's coefficient of determination."""
    xs = [float(x) for x, _ in points]
    ys = [y for _, y in points]
    fitted = statistics.linear_regression(xs, ys)
    residual = sum((y - (fitted.slope * x + fitted.intercept)) ** 2 for x, y in points)
    mean_y = statistics.fmean(ys)
    total = sum((y - mean_y) ** 2 for y in ys)
    return fitted.slope, 1 - residual / total if total else 1.0


def measure_mode(
    mode: str, files: dict[int, Path], env: dict[str, str], repeats: int, cli: list[str]
) -> dict[str, Any]:
    """Every size of one mode (``ephemeral`` or ``durable``), with the fixed cost subtracted."""
    extra = ["--ephemeral"] if mode == "ephemeral" else []

    def argv(n: int) -> list[str]:
        return [*cli, "run", str(files[n]), "--input", "x=1", *extra]

    run_once(argv(2), env)  # warm-up: page cache, bytecode, initdb for the durable mode
    sizes = sorted(n for n in files if n > 2)
    samples: dict[int, list[float]] = {n: [] for n in [2, *sizes]}
    for _ in range(repeats):  # round robin: a slow moment of the machine touches every size alike
        for n in samples:
            samples[n].append(run_once(argv(n), env))
    fixed = statistics.median(samples[2])
    walls = {n: statistics.median(samples[n]) for n in sizes}
    per_node = {n: (walls[n] - fixed) / (n - 2) * 1e6 for n in sizes}
    fit, r2 = line_fit([(2, fixed), *walls.items()])
    last = per_node[sizes[-1]]
    before_last = per_node[sizes[-2]] if len(sizes) > 1 else last
    return {
        "fixed_cost_s": round(fixed, 3),
        "sizes": {
            str(n): {"wall_s": round(walls[n], 3), "us_per_node": round(per_node[n], 1)} for n in sizes
        },
        "slope_us_per_node": round(fit * 1e6, 1),
        "r2": round(r2, 4),
        "target_us_per_node": TARGETS[mode],
        "meets_target": max(per_node.values()) < TARGETS[mode],
        "linear": last <= (1 + LINEARITY_TOLERANCE) * before_last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,5000,10000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="ephemeral,durable")
    parser.add_argument("--cold-db", action="store_true", help="every durable run starts the database")
    parser.add_argument("--cli", help="the command to run instead of `workbench`, e.g. 'python -m x.cli'")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    cli = shlex.split(options.cli) if options.cli else workbench_command()
    with tempfile.TemporaryDirectory(prefix="bench-oneshot-") as tmp:
        folder = Path(tmp)
        files = {}
        for n in [2, *sizes]:
            files[n] = folder / f"chain_{n}.json"
            files[n].write_text(json.dumps(chain_document(n)))
        env = {**os.environ, "WORKBENCH_HOME": str(folder / "home"), "PYTHONPATH": str(ROOT)}
        env.pop("DATABASE_URL", None)
        result: dict[str, Any] = {
            "graph": "AgentInputBlock -> StoreValueBlock x (N-2) -> AgentOutputBlock",
            "repeats": options.repeats,
            "fixed_cost_from": "the same command on the 2-node chain (input -> output)",
        }
        result["database"] = "started by every run" if options.cold_db else "held open by a helper"
        for mode in options.modes.split(","):
            if mode == "durable" and not options.cold_db:
                with database_held(env):
                    result[mode] = measure_mode(mode, files, env, options.repeats, cli)
            else:
                result[mode] = measure_mode(mode, files, env, options.repeats, cli)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
