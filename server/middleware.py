"""Request id, no-cache headers and one structured (JSON) log line per request."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from litestar._asgi.utils import wrap_in_exception_handler
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from workbench import logsetup
from workbench.telemetry import metrics, tracing

access_log = logging.getLogger("server.access")
CURRENT_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
"""The id of the request being served in this task (for log lines written by services)."""

NO_CACHE = {
    "cache-control": "no-store, no-cache, must-revalidate, private",
    "pragma": "no-cache",
    "expires": "0",
}


class JsonFormatter(logsetup.JsonFormatter):
    """The core's JSON log lines, with the id of the request being served on every line written
    while serving it."""

    def context(self) -> Mapping[str, Any]:
        """The current request's id, when there is one, and the run and node being executed."""
        doc = dict(super().context())
        current = CURRENT_REQUEST_ID.get()
        if current is not None:
            doc["request_id"] = current
        return doc


def request_id_of(scope: Scope) -> str:
    """The request's id: the one already given to it, the client's ``X-Request-ID`` when it is sane
    (1-64 printable characters), or a new one; remembered in the scope state."""
    state = scope.setdefault("state", {})
    request_id = state.get("request_id")
    if request_id is None:
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        state["request_id"] = request_id
    return request_id


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (``X-Request-ID``, kept when the client sends a sane one), add the
    seed's no-cache headers to API responses, and log the request when it ends."""
    # Errors raised by the middleware inside this one (authentication, rate limiting) would otherwise
    # reach Litestar's outermost exception handler, which answers with the raw ``send``: without the
    # request id and no-cache headers, and unseen by the access log. Turn them into responses here.
    guarded = wrap_in_exception_handler(app=app)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        CURRENT_REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        is_api = scope["path"].startswith("/api/v1")

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableScopeHeaders.from_message(message)
                headers["x-request-id"] = request_id
                if is_api:
                    for key, value in NO_CACHE.items():
                        if key not in headers or key == "cache-control":
                            headers[key] = value
            await send(message)

        try:
            if tracing.ENABLED:
                with tracing.span(
                    f"HTTP {scope['method']}", {"http.request.method": scope["method"]}
                ) as span:
                    try:
                        await guarded(scope, receive, send_wrapper)
                    finally:
                        route = scope.get("path_template") or "(unrouted)"
                        span.update_name(f"{scope['method']} {route}")
                        tracing.set_attributes(
                            span,
                            {
                                "http.route": route,
                                "http.response.status_code": status,
                                "workbench.request_id": request_id,
                            },
                        )
            else:
                await guarded(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            metrics.request_done(scope["method"], scope.get("path_template") or "(unrouted)", status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                user = scope.get("user")
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "user_id": getattr(user, "user_id", None),
                    },
                )

    return middleware
