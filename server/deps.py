"""Small helpers shared by the route modules."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.openapi.datastructures import ResponseSpec

from server.schemas import ErrorOut
from workbench.app import Workbench
from workbench.auth import Principal


def workbench_of(request: Request[Any, Any, Any]) -> Workbench:
    """The Workbench this app serves."""
    return request.app.state.workbench


def caller(request: Request[Any, Any, Any], scope: str | None = None) -> Principal:
    """The authenticated principal, checked for ``scope``."""
    principal: Principal = request.user
    if scope is not None:
        principal.require(scope)
    return principal


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI descriptions of the error responses a route can give (all share one body)."""
    text = {
        400: "Malformed request (bad JSON, bad parameter).",
        401: "Not authenticated.",
        403: "A scope is missing.",
        404: "Not found (or not yours).",
        409: "Conflict.",
        413: "Body too large.",
        422: "Invalid input; located problems listed.",
        429: "Rate limited; see Retry-After.",
        502: "A server this one talks to failed.",
        503: "A dependency is unavailable.",
    }
    base = {400, 401, 403, 429}
    return {
        code: ResponseSpec(data_container=ErrorOut, description=text[code], generate_examples=False)
        for code in sorted(base | set(codes))
    }
