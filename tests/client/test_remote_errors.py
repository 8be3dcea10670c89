"""The remote client raises, for a server's error answer, the class the error table names (the same
class the local transport raises), with the server's message and located problems."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from workbench.client.remote import _raise_for
from workbench.errors import (
    AuthError,
    ConflictError,
    GraphValidationError,
    InputError,
    NotFoundError,
    PermissionDenied,
    ServerError,
    WorkbenchError,
)
from workbench.knowledge import KnowledgeInputError


def answer(
    status: int, code: str | None = None, message: str = "what went wrong", **extra: Any
) -> httpx.Response:
    """An error answer in the server's shape."""
    error = {"status": status, "code": code, "message": message, **extra}
    return httpx.Response(status, json={"error": error})


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "unauthorized", AuthError),
        (403, "forbidden", PermissionDenied),
        (404, "not_found", NotFoundError),
        (409, "conflict", ConflictError),
        (422, "invalid_input", InputError),
        (400, "bad_request", InputError),
        (429, "rate_limited", InputError),
        (500, "internal", ServerError),
        (503, "unavailable", ServerError),
    ],
)
def test_each_answer_raises_its_class(status: int, code: str, expected: type[WorkbenchError]) -> None:
    with pytest.raises(expected) as raised:
        _raise_for(answer(status, code))
    assert type(raised.value) is expected
    assert "what went wrong" in str(raised.value)


def test_a_server_failure_says_so_with_its_status() -> None:
    with pytest.raises(ServerError, match=r"the server failed \(503\): the database is unavailable"):
        _raise_for(answer(503, "unavailable", "the database is unavailable"))


def test_a_graphs_problems_come_back_located() -> None:
    problems = [{"code": "invalid", "node_id": "n1", "pin": "text", "link_id": None, "message": "required"}]
    with pytest.raises(GraphValidationError) as raised:
        _raise_for(answer(422, "invalid_graph", "the graph has problems", problems=problems))
    assert [(p.node_id, p.pin, p.message) for p in raised.value.problems] == [("n1", "text", "required")]


def test_field_details_are_named_in_the_message_or_raised_as_fields() -> None:
    details = [{"key": "timezone", "message": "unknown zone", "source": "body"}]
    with pytest.raises(InputError, match="the request is not valid: timezone: unknown zone"):
        _raise_for(answer(422, "invalid_input", "the request is not valid", details=details))
    with pytest.raises(KnowledgeInputError) as raised:
        _raise_for(
            answer(422, "invalid_input", "the request is not valid", details=details), KnowledgeInputError
        )
    assert raised.value.problems == [("timezone", "unknown zone")]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(404, text="<html>no such page</html>"), NotFoundError),
        (httpx.Response(502, text="bad gateway"), ServerError),
        (httpx.Response(400, json={"error": "a string, not our shape"}), InputError),
        (httpx.Response(404, json={"detail": "someone else's shape"}), NotFoundError),
        (
            httpx.Response(422, json={"error": {"code": "invalid_graph", "message": "no problems"}}),
            InputError,
        ),
    ],
)
def test_answers_not_in_our_shape_fall_back_on_the_status(
    response: httpx.Response, expected: type[WorkbenchError]
) -> None:
    with pytest.raises(expected):
        _raise_for(response)


def test_success_raises_nothing() -> None:
    _raise_for(httpx.Response(200, json={}))
    _raise_for(httpx.Response(204))
