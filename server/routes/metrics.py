"""``GET /metrics``: the API process's Prometheus metrics (``workbench.telemetry.metrics``: requests
by route, status and latency; executions and nodes that ran here; the process's CPU and memory) and
gauges read now: database pool, WebSocket connections, runs going on, queue depth, the notifier's
counters when one runs here.

Who may read it: with ``WORKBENCH_METRICS_TOKEN``, whoever sends it as a bearer token (compared in
constant time; the Host check is skipped for these GETs, see ``server.guard``); without it, only the
no-login mode (loopback), and with accounts a 403 saying to set the token.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from server.config import ServerConfig
from server.deps import workbench_of
from server.ws import ws_info
from workbench.telemetry import metrics
from workbench.telemetry.metrics import pool_gauges


async def _gauges(request: Request[Any, Any, Any]) -> dict[str, float]:
    wb = workbench_of(request)
    samples: dict[str, float] = {"workbench_executions_running": wb.executions.running_count()}
    if wb.db is not None:
        samples.update(pool_gauges(wb.db))
    sockets = ws_info(request.app)
    samples["workbench_websockets_open"] = sockets["websockets"]
    samples["workbench_websockets_opened_total"] = sockets["websockets_total"]
    samples["workbench_websockets_dropped_total"] = sockets["websockets_dropped"]
    if wb.queue is not None and not wb.queue.in_process:
        for priority, ready in ((await wb.queue.health()).get("depth") or {}).items():
            samples[f'workbench_queue_messages_ready{{queue="execution.{priority}"}}'] = ready
    if wb.notifier is not None:
        samples.update(wb.notifier.metrics())
    return samples


@get("/metrics", include_in_schema=False, exclude_from_auth=True, media_type="text/plain; version=0.0.4")
async def prometheus_metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus' text format (see the module documentation for who may read it)."""
    config: ServerConfig = request.app.state.config
    token = config.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise NotAuthorizedException(
                detail="send WORKBENCH_METRICS_TOKEN as a bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif config.auth != "none":
        raise PermissionDeniedException(
            detail="set WORKBENCH_METRICS_TOKEN to scrape /metrics on a server with accounts"
        )
    body = metrics.exposition(await _gauges(request))
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})
