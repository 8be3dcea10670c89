"""``workbench executor``: a process that takes executions from RabbitMQ and runs them, with
``/health`` and Prometheus ``/metrics`` on port 8002. Start any number of them."""

from __future__ import annotations

import os
import sys
from typing import Any

import psutil
import uvicorn
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State

from server.serve import configure_logging
from workbench.app import Workbench
from workbench.config import Settings
from workbench.errors import ConfigError


@get("/health")
async def executor_health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Queue, database and bus reachability of this executor; 503 when any is down."""
    wb: Workbench = request.app.state.workbench
    queue = await wb.queue.health() if wb.queue is not None else {"ok": False}
    try:
        assert wb.db is not None
        await wb.db.pool.fetchval("SELECT 1")
        database = {"ok": True}
    except Exception as exc:
        database = {"ok": False, "error": type(exc).__name__}
    ok = queue["ok"] and database["ok"]
    body = {
        "status": "ok" if ok else "degraded",
        "queue": queue,
        "database": database,
        "running": len(wb.executions._runs),
    }
    return Response(body, status_code=200 if ok else 503)


@get("/metrics", media_type="text/plain; version=0.0.4")
async def metrics(request: Request[Any, Any, Any]) -> str:
    """Prometheus text format."""
    wb: Workbench = request.app.state.workbench
    queue = getattr(wb, "queue", None)
    lines = {
        "workbench_executions_running": len(wb.executions._runs),
        "workbench_queue_delivered_total": getattr(queue, "delivered", 0),
        "workbench_queue_acked_total": getattr(queue, "acked", 0),
        "workbench_queue_dead_lettered_total": getattr(queue, "dead_lettered", 0),
        "workbench_state_rows_written_total": wb.writer.rows_written if wb.writer else 0,
        "workbench_state_flushes_total": wb.writer.flushes if wb.writer else 0,
        "process_resident_memory_bytes": psutil.Process(os.getpid()).memory_info().rss,
    }
    if queue is not None:  # ready messages per queue: what an autoscaler scales executors on
        for priority, ready in (await queue.health()).get("depth", {}).items():
            lines[f'workbench_queue_messages_ready{{queue="execution.{priority}"}}'] = ready
    return "".join(f"{name} {value}\n" for name, value in lines.items())


def create_executor_app(settings: Settings, workbench: Workbench | None = None) -> Litestar:
    """The executor's small HTTP app; the Workbench (consuming the queue) lives with it."""
    if not settings.amqp_url:
        raise ConfigError(
            "workbench executor takes work from RabbitMQ: set AMQP_URL (e.g. amqp://guest:guest@localhost/)"
        )
    wb = workbench or Workbench(settings, consume=True)

    async def start(app: Litestar) -> None:
        await wb.start()

    async def stop(app: Litestar) -> None:
        await wb.stop()

    return Litestar(
        route_handlers=[executor_health, metrics],
        on_startup=[start],
        on_shutdown=[stop],
        state=State({"workbench": wb}),
        logging_config=None,
    )


def run_executor(host: str, port: int, log_level: str = "info") -> None:
    """Serve health and metrics and execute until interrupted (SIGTERM: finish or hand back work)."""
    configure_logging(log_level)
    app = create_executor_app(Settings.from_env())
    print(f"executor: health and metrics on http://{host}:{port}", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
