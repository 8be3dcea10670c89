"""``GET /health`` and Prometheus ``GET /metrics`` of the worker processes: ``workbench executor``
(port 8002) and ``workbench scheduler`` (8003).

One small Litestar app for both, built from what the process knows about itself:

* a health probe: ``(ok, body)``; ``/health`` answers the body with 200 when ok, 503 otherwise;
* a metrics probe: sample name -> value (gauges read at scrape time), rendered in Prometheus' text
  format with the process's registered metrics (``workbench.telemetry.metrics``: executions, nodes,
  queue processing, CPU and memory…).

Any other path answers a JSON 404, another method a JSON 405. The process's work starts and stops
with the app (``lifespan``), so uvicorn's graceful shutdown stops it too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import HttpMethod, Litestar, Request, Response, route
from litestar.datastructures import State
from litestar.exceptions import MethodNotAllowedException, NotFoundException

from workbench.telemetry import metrics as metrics_module

HealthProbe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
"""Returns ``(ok, body)`` for ``/health``."""
MetricsProbe = Callable[[], Awaitable[Mapping[str, float]]]
"""Returns Prometheus samples: ``{'name{label="value"}': number}``."""
Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]
"""The process's work, started before serving and stopped after (Litestar's ``lifespan``)."""

NO_STORE = {"Cache-Control": "no-store"}
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


async def no_metrics() -> Mapping[str, float]:
    """A metrics probe with nothing beyond what every process reports."""
    return {}


def prometheus_text(samples: Mapping[str, float]) -> str:
    """``samples`` and this process's registered metrics (:mod:`workbench.telemetry.metrics`: its CPU
    and memory among them) in Prometheus' text exposition format."""
    return metrics_module.exposition(samples).decode()


@route("/health", http_method=[HttpMethod.GET, HttpMethod.HEAD])
async def health(request: Request[Any, Any, State]) -> Response[dict[str, Any]]:
    """The process's health: 200 with the probe's body when ok, 503 otherwise."""
    probe: HealthProbe = request.app.state.health_probe
    ok, body = await probe()
    return Response(body, status_code=200 if ok else 503, headers=NO_STORE)


@route("/metrics", http_method=[HttpMethod.GET, HttpMethod.HEAD], media_type=PROMETHEUS_TEXT)
async def metrics(request: Request[Any, Any, State]) -> Response[str]:
    """Prometheus samples of this process."""
    probe: MetricsProbe = request.app.state.metrics_probe
    return Response(prometheus_text(await probe()), media_type=PROMETHEUS_TEXT, headers=NO_STORE)


def _not_found(request: Request[Any, Any, State], exc: Exception) -> Response[dict[str, str]]:
    return Response(
        {"status": "not_found", "message": "only /health and /metrics are served here"},
        status_code=404,
        headers=NO_STORE,
    )


def _method_not_allowed(request: Request[Any, Any, State], exc: Exception) -> Response[dict[str, str]]:
    return Response(
        {"status": "method_not_allowed", "message": f"{request.url.path} answers GET (and HEAD)"},
        status_code=405,
        headers={**NO_STORE, "Allow": "GET, HEAD"},
    )


def create_health_app(
    health_probe: HealthProbe, metrics_probe: MetricsProbe = no_metrics, *, lifespan: Sequence[Lifespan] = ()
) -> Litestar:
    """The health/metrics app of a worker process; ``lifespan`` runs the process's work."""
    return Litestar(
        route_handlers=[health, metrics],
        lifespan=list(lifespan),
        state=State({"health_probe": health_probe, "metrics_probe": metrics_probe}),
        exception_handlers={NotFoundException: _not_found, MethodNotAllowedException: _method_not_allowed},
        openapi_config=None,
        logging_config=None,
    )
