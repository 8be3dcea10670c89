"""The API answers our exceptions with the status and code their class carries, in one JSON shape."""

from __future__ import annotations

import pytest
from litestar import get
from litestar.testing import create_test_client

from server.errors import EXCEPTION_HANDLERS
from workbench.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    InputError,
    InvalidFields,
    NotFoundError,
    PermissionDenied,
    Problem,
    StoreUnavailable,
    WorkbenchError,
)
from workbench.services.graphs import BlocksNotInstalled
from workbench.services.schedules import ScheduleInputError

CASES: list[tuple[WorkbenchError, int, str]] = [
    (InputError("inputs.name: required"), 422, "invalid_input"),
    (NotFoundError("graph 1 not found"), 404, "not_found"),
    (ConflictError("exists"), 409, "conflict"),
    (AuthError("bad key"), 401, "unauthorized"),
    (PermissionDenied("needs graphs:write"), 403, "forbidden"),
    (BlocksNotInstalled([Problem("unknown block", node_id="n1")]), 422, "invalid_graph"),
    (StoreUnavailable("connection refused"), 503, "unavailable"),
    (ConfigError("REDIS_URL is wrong"), 500, "internal"),
    (WorkbenchError("a bug"), 500, "internal"),
]


def _answer(exc: Exception) -> tuple[int, dict]:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    with create_test_client([boom], exception_handlers=EXCEPTION_HANDLERS) as client:
        response = client.get("/boom")
    return response.status_code, response.json()["error"]


@pytest.mark.parametrize(("exc", "status", "code"), CASES, ids=lambda v: type(v).__name__)
def test_each_error_is_answered_with_its_class_status(exc: WorkbenchError, status: int, code: str) -> None:
    got_status, error = _answer(exc)
    assert (got_status, error["status"], error["code"]) == (status, status, code)
    assert error["request_id"]


def test_user_errors_say_what_server_errors_hide() -> None:
    assert _answer(NotFoundError("graph 7 not found"))[1]["message"] == "graph 7 not found"
    assert _answer(StoreUnavailable("password=hunter2"))[1]["message"] == "the database is unavailable"
    _, error = _answer(ConfigError("secret detail"))
    assert "secret detail" not in error["message"] and "request id" in error["message"]


def test_a_graphs_problems_are_located() -> None:
    _, error = _answer(BlocksNotInstalled([Problem("unknown block 'x'", node_id="n1", pin=None)]))
    assert error["message"] == "the graph has problems"
    assert [(p["node_id"], p["message"]) for p in error["problems"]] == [("n1", "unknown block 'x'")]


@pytest.mark.parametrize("cls", [InvalidFields, ScheduleInputError])
def test_invalid_fields_are_listed_each_by_name(cls: type[InvalidFields]) -> None:
    status, error = _answer(cls([("timezone", "unknown zone"), ("interval_seconds", "must be at least 60")]))
    assert (status, error["code"], error["message"]) == (422, "invalid_input", "the request is not valid")
    assert error["details"] == [
        {"key": "timezone", "message": "unknown zone", "source": "body"},
        {"key": "interval_seconds", "message": "must be at least 60", "source": "body"},
    ]
