"""The error table: each exception class's HTTP status, API code and CLI exit code, and the way back
from a server's answer to the class (what the remote client raises)."""

from __future__ import annotations

import pytest

from workbench.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_USER,
    AuthError,
    ConfigError,
    ConflictError,
    ExecutionFailed,
    GraphValidationError,
    InputError,
    InvalidFields,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    RegistryError,
    ServerError,
    StoreError,
    StoreUnavailable,
    TooManyAttempts,
    UserError,
    WorkbenchError,
    error_class,
)
from workbench.services.graphs import BlocksNotInstalled

TABLE = [
    (WorkbenchError, 500, "internal", EXIT_FAILED),
    (ConfigError, 500, "internal", EXIT_CONFIG),
    (UserError, 422, "invalid_input", EXIT_USER),
    (InputError, 422, "invalid_input", EXIT_USER),
    (InvalidFields, 422, "invalid_input", EXIT_USER),
    (GraphValidationError, 422, "invalid_graph", EXIT_USER),
    (NotFoundError, 404, "not_found", EXIT_USER),
    (ConflictError, 409, "conflict", EXIT_USER),
    (AuthError, 401, "unauthorized", EXIT_USER),
    (PermissionDenied, 403, "forbidden", EXIT_USER),
    (RateLimited, 429, "rate_limited", EXIT_USER),
    (RegistryError, 500, "internal", EXIT_FAILED),
    (StoreError, 500, "internal", EXIT_CONFIG),
    (StoreUnavailable, 503, "unavailable", EXIT_CONFIG),
    (ExecutionFailed, 500, "internal", EXIT_FAILED),
    (ServerError, 502, "server_error", EXIT_FAILED),
]


@pytest.mark.parametrize(
    ("cls", "status", "code", "exit_code"), TABLE, ids=lambda v: getattr(v, "__name__", "")
)
def test_each_class_carries_its_status_code_and_exit_code(
    cls: type[WorkbenchError], status: int, code: str, exit_code: int
) -> None:
    assert (cls.http_status, cls.error_code, cls.exit_code) == (status, code, exit_code)


def test_a_class_with_two_parents_takes_the_first() -> None:
    # Missing blocks are a graph's problems first (422, located), not a 404.
    assert (BlocksNotInstalled.http_status, BlocksNotInstalled.error_code) == (422, "invalid_graph")
    # Too many failed logins: a 429 with Retry-After like any rate limit, and still an AuthError.
    assert issubclass(TooManyAttempts, AuthError) and TooManyAttempts("wait", 3).retry_after == 3
    assert (TooManyAttempts.http_status, TooManyAttempts.error_code) == (429, "rate_limited")


@pytest.mark.parametrize(
    "cls", [InputError, GraphValidationError, NotFoundError, ConflictError, AuthError, PermissionDenied]
)
def test_a_servers_answer_maps_back_to_the_class(cls: type[WorkbenchError]) -> None:
    assert error_class(cls.http_status, cls.error_code) is cls
    assert error_class(cls.http_status) is not None


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, None, NotFoundError),  # no code: the status says it
        (422, None, InputError),
        (422, "something_new", InputError),
        (409, "not_found", ConflictError),  # a code that contradicts the status loses
        (400, "bad_request", InputError),
        (413, "payload_too_large", InputError),
        (429, "rate_limited", InputError),
        (500, "internal", ServerError),
        (503, "unavailable", ServerError),  # the server's database is its problem, not the client's
        (502, None, ServerError),
        (302, None, ServerError),
    ],
)
def test_unknown_or_server_answers_fall_back_by_status(
    status: int, code: str | None, expected: type[WorkbenchError]
) -> None:
    assert error_class(status, code) is expected


def test_invalid_fields_names_each_field() -> None:
    exc = InvalidFields([("timezone", "unknown zone"), ("interval_seconds", "must be at least 60")])
    assert exc.problems == [("timezone", "unknown zone"), ("interval_seconds", "must be at least 60")]
    assert str(exc) == "timezone: unknown zone; interval_seconds: must be at least 60"
    assert isinstance(exc, InputError)
