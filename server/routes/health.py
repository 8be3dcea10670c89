"""/api/v1/health: is the platform able to work?"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from server.deps import workbench_of
from server.schemas import HealthOut
from server.ws import ws_info
from workbench import __version__
from workbench.app import Workbench


@get(
    "/health",
    tags=["health"],
    summary="Health",
    responses={503: ResponseSpec(HealthOut, description="Degraded: something it needs is unreachable.")},
)
async def health(request: Request[Any, Any, Any]) -> Response[HealthOut]:
    """Database, queue and bus reachability; 503 when any is down."""
    wb = workbench_of(request)
    database: dict[str, Any]
    try:
        assert wb.db is not None
        info = await asyncio.wait_for(wb.db.health(), 3)
        database = {
            "ok": True,
            "latency_ms": info["latency_ms"],
            "migrations_pending": info["migrations_pending"],
        }
    except Exception as exc:
        database = {"ok": False, "error": type(exc).__name__}
    queue: dict[str, Any] = {"ok": True, "kind": "in-process"}
    if wb.queue is not None:
        try:
            queue = dict(await asyncio.wait_for(wb.queue.health(), 3))
        except Exception as exc:
            queue = {"ok": False, "kind": wb.queue.kind, "error": type(exc).__name__}
    bus: dict[str, Any]
    try:
        bus = dict(await asyncio.wait_for(wb.bus.health(), 3))
    except Exception as exc:
        bus = {"ok": False, "kind": wb.bus.kind, "error": type(exc).__name__}
    bus.update(ws_info(request.app))
    ok = database["ok"] and queue["ok"] and bus["ok"]
    body = HealthOut(
        status="ok" if ok else "degraded",
        database=database,
        queue=queue,
        bus=bus,
        cluster=await _cluster(wb) if wb.shared.shared else None,
        version=__version__,
    )
    return Response(body, status_code=200 if ok else 503)


async def _cluster(wb: Workbench) -> dict[str, Any]:
    """Totals over the processes that heartbeat in Redis (dead ones drop out within 15 s)."""
    api, executors, schedulers = await asyncio.gather(
        wb.shared.members("api"), wb.shared.members("executor"), wb.shared.members("scheduler")
    )
    return {
        "api_replicas": len(api),
        "executors": len(executors),
        "schedulers": len(schedulers),
        "running": sum(int(m.get("running", 0)) for m in (*api, *executors)),
        "websockets": sum(int(m.get("websockets", 0)) for m in api),
    }
