"""Prometheus metrics of every process, with ``prometheus_client`` (one registry per process).

| metric | labels | where |
|---|---|---|
| ``workbench_http_requests_total`` | method, route, status | the API (route templates, not paths) |
| ``workbench_http_request_duration_seconds`` | method, route | the API |
| ``workbench_executions_finished_total`` | status, agent | where runs end (top-level runs) |
| ``workbench_execution_duration_seconds`` | status | where runs end |
| ``workbench_node_duration_seconds`` | block, status | where nodes run |
| ``workbench_queue_processing_seconds`` | queue | executors: one delivery, claim to settle |
| ``workbench_notifier_deliveries_total`` | channel, outcome | notifiers |
| ``workbench_db_pool_wait_seconds`` | | every process with a database: acquires' waits |
| ``workbench_db_pool_size``, ``workbench_db_pool_idle`` | | the API (at scrape) |
| ``process_cpu_seconds_total``, ``process_resident_memory_bytes``… | | every process (``ProcessCollector``) |

Agents are labelled by graph id, at most ``MAX_AGENTS`` of them per process (then ``other``), so a
busy multi-user server cannot grow the series without bound. ``WORKBENCH_METRICS=off`` turns the
recording off (the figures of ``tests/benchmarks/bench_metrics.py`` compare both).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

ENABLED = os.environ.get("WORKBENCH_METRICS", "on").strip().lower() not in ("off", "0", "false", "no")
"""Whether this process records metrics (``WORKBENCH_METRICS``, on by default)."""
CONTENT_TYPE = CONTENT_TYPE_LATEST
MAX_AGENTS = 500
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

HTTP_REQUESTS = Counter(
    "workbench_http_requests", "HTTP requests answered by the API", ("method", "route", "status")
)
HTTP_DURATION = Histogram(
    "workbench_http_request_duration_seconds",
    "Time to answer an API request",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
)
EXECUTIONS = Counter(
    "workbench_executions_finished",
    "Top-level runs that ended, by final status and agent",
    ("status", "agent"),
)
EXECUTION_DURATION = Histogram(
    "workbench_execution_duration_seconds", "Wall time of top-level runs", ("status",), buckets=RUN_BUCKETS
)
NODES = Histogram(
    "workbench_node_duration_seconds",
    "Time one node execution took, by block",
    ("block", "status"),
    buckets=LATENCY_BUCKETS,
)
QUEUE_PROCESSING = Histogram(
    "workbench_queue_processing_seconds",
    "Time from taking a queue delivery to settling it",
    ("queue",),
    buckets=RUN_BUCKETS,
)
POOL_WAIT = Histogram(
    "workbench_db_pool_wait_seconds",
    "Time an acquire waited for a database connection",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
DELIVERIES = Counter(
    "workbench_notifier_deliveries", "Notification sends, by channel and outcome", ("channel", "outcome")
)

_agents: set[str] = set()


def agent_label(graph_id: str) -> str:
    """``graph_id``, or ``other`` once this process has labelled ``MAX_AGENTS`` agents."""
    if graph_id in _agents:
        return graph_id
    if len(_agents) < MAX_AGENTS:
        _agents.add(graph_id)
        return graph_id
    return "other"


def request_done(method: str, route: str, status: int, seconds: float) -> None:
    """One API request answered."""
    if ENABLED:
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_DURATION.labels(method, route).observe(seconds)


def execution_done(status: str, graph_id: str, seconds: float | None) -> None:
    """A top-level run ended."""
    if ENABLED:
        EXECUTIONS.labels(status, agent_label(graph_id)).inc()
        if seconds is not None:
            EXECUTION_DURATION.labels(status).observe(seconds)


def node_done(block: str, status: str, seconds: float) -> None:
    """A node execution ended."""
    if ENABLED:
        NODES.labels(block, status).observe(seconds)


def queue_processed(queue: str, seconds: float) -> None:
    """A queue delivery was handled (claimed, run, settled)."""
    if ENABLED:
        QUEUE_PROCESSING.labels(queue).observe(seconds)


def pool_waited(seconds: float) -> None:
    """A database connection was acquired after waiting ``seconds``."""
    if ENABLED:
        POOL_WAIT.observe(seconds)


def delivery_done(channel: str, outcome: str) -> None:
    """A notification send ended (``delivered``, ``retried``, ``failed``)."""
    if ENABLED:
        DELIVERIES.labels(channel, outcome).inc()


def pool_gauges(db: Any) -> dict[str, float]:
    """The database pool's size, idle connections and maximum (none before it started)."""
    try:
        pool = db.pool
        return {
            "workbench_db_pool_size": pool.get_size(),
            "workbench_db_pool_idle": pool.get_idle_size(),
            "workbench_db_pool_max": pool.get_max_size(),
        }
    except Exception:
        return {}


def exposition(extra: Mapping[str, float] = ()) -> bytes:  # type: ignore[assignment]
    """This process's metrics in Prometheus' text format, plus ``extra`` samples (gauges a process
    reads when scraped: ``{'name{label="v"}': value}``), each with its ``# TYPE`` line."""
    lines: list[str] = []
    typed: set[str] = set()
    for name, value in dict(extra).items():
        family = name.split("{", 1)[0]
        if family not in typed:
            typed.add(family)
            kind = "counter" if family.endswith("_total") else "gauge"
            lines.append(f"# TYPE {family} {kind}")
        lines.append(f"{name} {value}")
    text = "\n".join(lines) + ("\n" if lines else "")
    return text.encode() + generate_latest(REGISTRY)
