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
    queue = {"ok": True, "kind": "in-process"}
    bus = {"ok": True, "kind": type(wb.bus).__name__, **ws_info(request.app)}
    ok = database["ok"] and queue["ok"] and bus["ok"]
    body = HealthOut(
        status="ok" if ok else "degraded", database=database, queue=queue, bus=bus, version=__version__
    )
    return Response(body, status_code=200 if ok else 503)
