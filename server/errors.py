"""Turning every error into one JSON shape, with the right status, and never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from server.schemas import ErrorDetail, ErrorOut
from workbench.errors import (
    AuthError,
    ConflictError,
    GraphValidationError,
    NotFoundError,
    PermissionDenied,
    StoreUnavailable,
    UserError,
    WorkbenchError,
)

log = logging.getLogger("server.errors")

_USER_ERRORS: list[tuple[type[UserError], int, str]] = [
    (GraphValidationError, 422, "invalid_graph"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (AuthError, 401, "unauthorized"),
    (PermissionDenied, 403, "forbidden"),
    (UserError, 422, "invalid_input"),
]
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


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def _response(
    request: Request[Any, Any, Any], detail: ErrorDetail, headers: dict[str, str] | None = None
) -> Response[Any]:
    detail.request_id = _request_id(request)
    return Response(
        ErrorOut(error=detail).model_dump(mode="json"), status_code=detail.status, headers=headers
    )


def handle_workbench_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Our own errors: user mistakes become 4xx with what and where; others 500/503."""
    if isinstance(exc, UserError):
        for cls, status, code in _USER_ERRORS:
            if isinstance(exc, cls):
                problems = (
                    [p.to_dict() for p in exc.problems] if isinstance(exc, GraphValidationError) else []
                )
                message = "the graph has problems" if problems else str(exc)
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return _response(
                    request,
                    ErrorDetail(status=status, code=code, message=message, problems=problems),
                    headers,
                )
    if isinstance(exc, StoreUnavailable):
        log.error("database unavailable: %s", exc)
        return _response(
            request, ErrorDetail(status=503, code="unavailable", message="the database is unavailable")
        )
    assert isinstance(exc, WorkbenchError)
    return handle_internal_error(request, exc)


def handle_http_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Litestar's own HTTP errors (routing, body parsing, size limits, rate limits) in our shape."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    details: list[dict[str, Any]] = []
    message = exc.detail or "error"
    if isinstance(exc, ValidationException):
        # Field errors of a well-formed body are 422; malformed bodies and bad parameters are 400.
        details = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
        status = 422 if details and all(e.get("source") == "body" for e in details) else 400
        message = "the request is not valid" if details else (exc.detail or "the request is not valid")
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


EXCEPTION_HANDLERS = {
    WorkbenchError: handle_workbench_error,
    HTTPException: handle_http_exception,
    Exception: handle_internal_error,
}
