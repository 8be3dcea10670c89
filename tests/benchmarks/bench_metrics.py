"""What metrics and tracing cost: API executions per second with them on and off.

``workbench serve`` processes (embedded PostgreSQL, --auth none, rate limiting off), one at a time,
alternating for --rounds rounds: ``off`` (``WORKBENCH_METRICS=off``, no OTEL_* variables),
``metrics`` (metrics on, no tracing: the default) and ``metrics_and_tracing`` (also traces exported
over OTLP/HTTP to a receiver in this process that accepts and drops them). Each round sends --runs ``POST /graphs/{id}/execute?wait=10`` of a three-node graph
(input -> StoreValueBlock -> output) from --concurrency client threads, after a warm-up.

Figures: runs per second of each round, their medians, and the changes. Target: less than 5% lower
with metrics on.

Usage: python tests/benchmarks/bench_metrics.py [--rounds 3] [--runs 400] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_execute_wait import graph_document
from tests.support.servers import start_server, stop_server


def sink() -> tuple[ThreadingHTTPServer, str]:
    """An OTLP/HTTP endpoint that accepts every export and keeps nothing."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def round_of(mode: str, env: dict[str, str], runs: int, concurrency: int) -> float:
    """Start a server in ``mode``, measure runs per second, stop it."""
    with tempfile.TemporaryDirectory() as home:
        server = start_server(Path(home) / "home", "none", {"WORKBENCH_RATE_LIMIT": "off", **env})
        try:
            base = server.base_url + "/api/v1"
            with httpx.Client(base_url=base, timeout=60) as client:
                graph = client.post("/graphs", json=graph_document("pass")).json()
            url = f"/graphs/{graph['id']}/execute"
            local = threading.local()

            def one(_: int) -> None:
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = httpx.Client(base_url=base, timeout=60)
                r = client.post(url, params={"wait": 10}, json={"inputs": {"name": "Ada"}})
                if r.status_code != 200 or r.json()["status"] != "COMPLETED":
                    raise RuntimeError(f"{mode}: {r.status_code} {r.text[:200]}")

            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(one, range(100)))  # warm-up
                started = time.perf_counter()
                list(pool.map(one, range(runs)))
                return runs / (time.perf_counter() - started)
        finally:
            stop_server(server)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    receiver, endpoint = sink()
    modes = {
        "off": {"WORKBENCH_METRICS": "off"},
        "metrics": {"WORKBENCH_METRICS": "on"},
        "metrics_and_tracing": {
            "WORKBENCH_METRICS": "on",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "workbench-bench",
        },
    }
    figures: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode, env in modes.items():
            figures[mode].append(round_of(mode, env, args.runs, args.concurrency))
    receiver.shutdown()
    medians = {mode: statistics.median(values) for mode, values in figures.items()}
    return {
        "runs_per_round": args.runs,
        "concurrency": args.concurrency,
        "runs_per_s": {mode: [round(v, 1) for v in values] for mode, values in figures.items()},
        "median_runs_per_s": {mode: round(v, 1) for mode, v in medians.items()},
        "metrics_change_pct": round(100 * (medians["metrics"] - medians["off"]) / medians["off"], 1),
        "metrics_and_tracing_change_pct": round(
            100 * (medians["metrics_and_tracing"] - medians["off"]) / medians["off"], 1
        ),
        "target_pct_with_metrics": -5.0,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
