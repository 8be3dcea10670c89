"""Cost of bounding CPU work in the sandbox process pool (workbench.sandbox). Prints JSON.

  cold_start_s          first job of a fresh process: the fork server and the workers start
  template_pool_ms      render of a small template with a loop (goes to the pool): p50, p99
  template_inline_us    render of a plain-substitution template (stays in-process): p50, p99
  template_unbounded_us the same loop template rendered in-process without limits (the old way)
  regex_pool_ms         a regex that may backtrack, matched in the pool: p50, p99
  regex_child_ms        the same job in a fresh `python -I -S` child per match (the old way): p50
  math_inline_us        a numeric expression (stays in-process): p50
  math_pool_ms          an expression with texts (goes to the pool): p50
  kill_and_recover_s    a job past its 0.5 s limit, until the next job has run (worker replaced)

Usage: python tests/benchmarks/bench_sandbox.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from blocks.text import _regex_job, run_regex
from blocks.utils import evaluate_bounded
from workbench import sandbox
from workbench.errors import LimitExceeded
from workbench.templating import render, render_inline

LOOP = "{% for item in items %}{{ item.name }}, {% endfor %}"
PLAIN = "Hello {{ user.name }}, you have {{ count }} new messages."
VALUES = {"items": [{"name": f"n{i}"} for i in range(10)], "user": {"name": "Ada"}, "count": 3}
REGEX_JOB = {"op": "search", "pattern": r"(\w+)@(\w+)\.com", "flags": 0, "text": "mail ada@example.com now"}
CHILD = (
    "import json, re, sys\n"
    "job = json.loads(sys.stdin.read())\n"
    "print(json.dumps({'found': re.compile(job['pattern'], job['flags']).search(job['text']) is not None}))\n"
)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(fn: Callable[[], Awaitable[Any]], runs: int, scale: float) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * scale)
    return samples


async def main(runs: int) -> dict[str, Any]:
    started = time.perf_counter()
    await sandbox.run(abs, -1, what="starting")
    cold = time.perf_counter() - started
    for _ in range(20):  # both workers warm, jinja2 imported in each
        await render(LOOP, VALUES)

    pool = await timed(lambda: render(LOOP, VALUES), runs, 1000)
    inline = await timed(lambda: render(PLAIN, VALUES), runs, 1e6)

    async def unbounded() -> str:
        return render_inline(LOOP, VALUES)

    old_template = await timed(unbounded, runs, 1e6)
    regex = await timed(lambda: run_regex(REGEX_JOB), runs, 1000)

    def child() -> None:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", CHILD],
            input=json.dumps(REGEX_JOB),
            text=True,
            capture_output=True,
        )

    child_samples = []
    for _ in range(max(5, runs // 20)):
        t = time.perf_counter()
        child()
        child_samples.append((time.perf_counter() - t) * 1000)
    assert _regex_job(REGEX_JOB) == {"found": True}
    math_inline = await timed(lambda: evaluate_bounded("2 * (x + 1) ** 2", {"x": 3}), runs, 1e6)
    math_pool = await timed(
        lambda: evaluate_bounded("x + ('abc' == 'abc')", {"x": 3}), max(10, runs // 5), 1000
    )

    t = time.perf_counter()
    try:
        await sandbox.run(time.sleep, 5, what="sleeping", timeout=0.5)
    except LimitExceeded:
        pass
    await sandbox.run(abs, -1, what="recovering")
    await sandbox.run(abs, -1, what="recovering")
    recover = time.perf_counter() - t

    return {
        "runs": runs,
        "workers": sandbox.limits().workers,
        "cold_start_s": round(cold, 2),
        "template_pool_ms": {"p50": round(pct(pool, 0.5), 3), "p99": round(pct(pool, 0.99), 3)},
        "template_inline_us": {"p50": round(pct(inline, 0.5), 1), "p99": round(pct(inline, 0.99), 1)},
        "template_unbounded_us": {"p50": round(pct(old_template, 0.5), 1)},
        "regex_pool_ms": {"p50": round(pct(regex, 0.5), 3), "p99": round(pct(regex, 0.99), 3)},
        "regex_child_ms": {"p50": round(statistics.median(child_samples), 1)},
        "math_inline_us": {"p50": round(pct(math_inline, 0.5), 1)},
        "math_pool_ms": {"p50": round(pct(math_pool, 0.5), 3)},
        "kill_and_recover_s": round(recover, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.runs)), indent=2))
