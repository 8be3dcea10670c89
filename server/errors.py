"""Turning every error into one JSON shape, with the right status, and never a traceback."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Request, Response
from litestar._asgi.routing_trie.traversal import traverse_route_map
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from server.middleware import NO_CACHE, request_id_of
from server.schemas import ErrorDetail, ErrorOut
from workbench.errors import (
    GraphValidationError,
    InvalidFields,
    RateLimited,
    ServerError,
    StoreUnavailable,
    UserError,
    WorkbenchError,
)
from workbench.files.scanning import ScannerUnavailable

log = logging.getLogger("server.errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    503: "unavailable",
}


def _request_id(request: Request[Any, Any, Any]) -> str:
    return request_id_of(request.scope)


def _response(
    request: Request[Any, Any, Any], detail: ErrorDetail, headers: dict[str, str] | None = None
) -> Response[Any]:
    """The error response. Its headers are complete by themselves (request id, no-cache, and
    ``WWW-Authenticate`` or ``Retry-After`` where they apply), because errors of routing (unknown
    path, wrong method) are answered outside the middleware that adds them to other responses."""
    detail.request_id = _request_id(request)
    given = {k.lower(): v for k, v in (headers or {}).items()}
    out: dict[str, str] = {"x-request-id": detail.request_id}
    if request.scope.get("path", "").startswith("/api/v1"):
        out.update(NO_CACHE)
    if detail.status == 401:
        out["www-authenticate"] = 'Bearer realm="agent-workbench"'
    if detail.status == 429 and "retry-after" not in given:
        reset = given.get("ratelimit-reset", "")
        out["retry-after"] = str(max(1, int(reset))) if reset.isdigit() else "1"
    out.update(given)
    return Response(ErrorOut(error=detail).model_dump(mode="json"), status_code=detail.status, headers=out)


def handle_workbench_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Our own errors, with the status and code their class carries (``workbench.errors``): user
    mistakes are 4xx with what and where; another server failing is 502; the database or the virus
    scanner gone is 503; anything else is a bug (500)."""
    assert isinstance(exc, WorkbenchError)
    status, code = exc.http_status, exc.error_code
    if isinstance(exc, InvalidFields):  # located like Litestar's own field errors
        details = [{"key": key, "message": message, "source": "body"} for key, message in exc.problems]
        detail = ErrorDetail(status=status, code=code, message="the request is not valid", details=details)
        return _response(request, detail)
    if isinstance(exc, UserError):
        problems = [p.to_dict() for p in exc.problems] if isinstance(exc, GraphValidationError) else []
        message = "the graph has problems" if problems else str(exc)
        detail = ErrorDetail(status=status, code=code, message=message, problems=problems)
        if isinstance(exc, RateLimited):
            return _response(request, detail, {"Retry-After": str(exc.retry_after)})
        return _response(request, detail)
    if isinstance(exc, ServerError):  # another server (an MCP server, say) failed: 502 saying which
        log.warning("upstream failure: %s", exc)
        return _response(request, ErrorDetail(status=status, code=code, message=str(exc)))
    if isinstance(exc, StoreUnavailable):
        log.error("database unavailable: %s", exc)
        return _response(
            request, ErrorDetail(status=status, code=code, message="the database is unavailable")
        )
    if isinstance(exc, ScannerUnavailable):  # written for users: says what happened, not where clamd is
        return _response(request, ErrorDetail(status=status, code=code, message=str(exc)))
    return handle_internal_error(request, exc)


_EXPECTED = {UUID: "not a valid id (expected a UUID)", int: "not a valid integer"}


def _malformed_path_parameter(request: Request[Any, Any, Any], exc: HTTPException) -> dict[str, Any] | None:
    """The path parameter a route could not parse (``/graphs/not-a-uuid``), as a field error.

    Litestar answers such a path 404 (the route matched, the parameter did not parse: a ValueError
    is the cause); finding which parameter means walking its route map again, which only errors do.
    """
    cause = exc.__cause__
    if not isinstance(exc, NotFoundException) or not isinstance(cause, ValueError):
        return None
    if isinstance(cause, HTTPException):  # no route (Litestar's NotFoundException is a ValueError)
        return None
    try:
        node, values, _ = traverse_route_map(
            request.app.asgi_router.root_route_map_node, request.scope["path"]
        )
        definitions = next(iter(node.path_parameters.values()), ())
        for definition, value in zip(definitions, values, strict=False):
            if definition.parser is None:
                continue
            try:
                definition.parser(value)
            except ValueError:
                expected = _EXPECTED.get(definition.type, f"not a valid {definition.type.__name__}")
                return {"key": definition.name, "source": "path", "message": expected}
    except Exception:  # the route map's shape is Litestar's: a generic answer if it ever changes
        log.debug("cannot locate the malformed path parameter of %s", request.url.path, exc_info=True)
    return {"key": "path", "source": "path", "message": "a path parameter is not valid"}


def handle_http_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Litestar's own HTTP errors (routing, body parsing, size limits, rate limits) in our shape.

    A malformed path parameter (``/graphs/not-a-uuid``) is 400 naming it, not a bare 404."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    details: list[dict[str, Any]] = []
    message = exc.detail or "error"
    malformed = _malformed_path_parameter(request, exc)
    if malformed is not None:
        status, details = 400, [malformed]
        message = f"{malformed['key']}: {malformed['message']}"
    elif isinstance(exc, ValidationException):
        # Field errors of a well-formed body are 422; malformed bodies and bad parameters are 400.
        # Litestar marks parameter errors with their source (query, path, header, cookie) and leaves
        # body errors unmarked: mark those "body".
        details = [
            {**e, "source": e.get("source") or "body"}
            for e in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(e, dict)
        ]
        status = 422 if details and all(e["source"] == "body" for e in details) else 400
        message = "the request is not valid" if details else (exc.detail or "the request is not valid")
        if any(e.get("key") == "data" and e.get("message") == "'data'" for e in details):
            # Litestar's way of saying that there was no body at all.
            status, message, details = 400, "a JSON body is required", []
    if status >= 500:
        return handle_internal_error(request, exc)
    return _response(
        request,
        ErrorDetail(status=status, code=_HTTP_CODES.get(status, "error"), message=message, details=details),
        dict(exc.headers or {}),
    )


def handle_internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug: log it with the request id; the client gets the id, never the traceback."""
    log.error(
        "internal error on %s %s [%s]", request.method, request.url.path, _request_id(request), exc_info=exc
    )
    return _response(
        request,
        ErrorDetail(
            status=500, code="internal", message="internal error; quote the request id when reporting it"
        ),
    )


def check_text_parameter(key: str, value: str | None) -> str | None:
    """A text query parameter that goes into SQL: one with a NUL character (which PostgreSQL refuses,
    and no stored text contains) is a bad parameter, 400 like any other."""
    if value is not None and "\x00" in value:
        raise ValidationException(
            detail="the request is not valid",
            extra=[{"message": "must not contain NUL characters", "key": key, "source": "query"}],
        )
    return value


def handle_data_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A value PostgreSQL refused (a NUL character in text, an out-of-range number): the client's
    input, so 422, never 500."""
    log.info("database refused a value on %s %s: %s", request.method, request.url.path, exc)
    message = "a value cannot be stored"
    if "0x00" in str(exc) or "\\u0000" in str(exc):
        message += ": text must not contain NUL characters"
    return _response(request, ErrorDetail(status=422, code="invalid_input", message=message))


def handle_recursion(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Input nested deeper than Python can follow (a JSON document thousands of levels deep, in a
    body, a form field or a value): the client's mistake, so 400, never 500."""
    log.warning("input nested too deeply on %s %s", request.method, request.url.path, exc_info=exc)
    return _response(
        request,
        ErrorDetail(status=400, code="bad_request", message="the input is nested too deeply to be read"),
    )


def handle_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database went away mid-request: 503, so clients know to retry later."""
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return _response(
        request,
        ErrorDetail(status=503, code="unavailable", message="the database is unavailable; retry later"),
        {"Retry-After": "5"},
    )


EXCEPTION_HANDLERS = {
    asyncpg.InterfaceError: handle_unavailable,
    asyncpg.CannotConnectNowError: handle_unavailable,
    asyncpg.PostgresConnectionError: handle_unavailable,
    asyncpg.AdminShutdownError: handle_unavailable,
    # The server shutting down, crashing, or refusing new connections while it does (SQLSTATE 57).
    asyncpg.exceptions.OperatorInterventionError: handle_unavailable,
    asyncpg.exceptions.TooManyConnectionsError: handle_unavailable,
    OSError: handle_unavailable,  # the database socket is gone or refuses connections
    TimeoutError: handle_unavailable,  # a connection that never came (the pool waits for a dead server)
    # A pooled connection the dying server left mid-operation ("cannot switch to state ...").
    asyncpg.exceptions.InternalClientError: handle_unavailable,
    asyncpg.DataError: handle_data_error,
    RecursionError: handle_recursion,
    WorkbenchError: handle_workbench_error,
    HTTPException: handle_http_exception,
    Exception: handle_internal_error,
}
