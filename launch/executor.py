"""``workbench executor``: a process that takes executions from RabbitMQ and runs them, with
``/health`` and Prometheus ``/metrics`` on port 8002 (:mod:`launch.health`). Start any number of them.

SIGTERM or SIGINT: stop taking work, finish or hand back running executions, exit 0.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from launch import serving
from launch.health import HealthProbe, MetricsProbe, create_health_app
from workbench.app import Workbench
from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.logsetup import configure_logging


async def database_health(wb: Workbench) -> dict[str, Any]:
    """Whether the Workbench's database answers (a worker process's health)."""
    if wb.db is None:  # an ephemeral Workbench: nothing to store runs in
        return {"ok": False, "error": "no database"}
    try:
        await wb.db.pool.fetchval("SELECT 1")
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def executor_probes(wb: Workbench) -> tuple[HealthProbe, MetricsProbe]:
    """The health and metrics probes of an executor running ``wb``."""

    async def health() -> tuple[bool, dict[str, Any]]:
        queue = await wb.queue.health() if wb.queue is not None else {"ok": False}
        database = await database_health(wb)
        ok = bool(queue["ok"] and database["ok"])
        body = {
            "status": "ok" if ok else "degraded",
            "queue": queue,
            "database": database,
            "running": wb.executions.running_count(),
        }
        return ok, body

    async def metrics() -> Mapping[str, float]:
        queue = wb.queue
        samples: dict[str, float] = {
            "workbench_executions_running": wb.executions.running_count(),
            "workbench_queue_delivered_total": getattr(queue, "delivered", 0),
            "workbench_queue_acked_total": getattr(queue, "acked", 0),
            "workbench_queue_dead_lettered_total": getattr(queue, "dead_lettered", 0),
            "workbench_state_rows_written_total": wb.writer.rows_written if wb.writer else 0,
            "workbench_state_flushes_total": wb.writer.flushes if wb.writer else 0,
        }
        if queue is not None:  # ready messages per queue: what an autoscaler scales executors on
            for priority, ready in (await queue.health()).get("depth", {}).items():
                samples[f'workbench_queue_messages_ready{{queue="execution.{priority}"}}'] = ready
        return samples

    return health, metrics


def create_executor_app(settings: Settings, workbench: Workbench | None = None) -> Litestar:
    """The executor's health/metrics app; the Workbench (consuming the queue) runs with it."""
    if not settings.amqp_url:
        raise ConfigError(
            "workbench executor takes work from RabbitMQ: set AMQP_URL (e.g. amqp://guest:guest@localhost/)"
        )
    wb = workbench or Workbench(settings, consume=True)

    @asynccontextmanager
    async def consuming(app: Litestar) -> AsyncIterator[None]:
        async with wb:
            yield

    health, metrics = executor_probes(wb)
    return create_health_app(health, metrics, lifespan=[consuming])


def run_executor(host: str, port: int, log_level: str = "info") -> None:
    """Serve health and metrics and execute until SIGTERM or SIGINT."""
    configure_logging(log_level)
    app = create_executor_app(Settings.from_env())
    sock = serving.bind(host, port, "the executor's health endpoint")
    print(f"executor: health and metrics on http://{host}:{port}", file=sys.stderr)
    serving.serve(app, sock)
