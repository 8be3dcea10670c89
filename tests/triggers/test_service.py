"""TriggerService on the test run's PostgreSQL: secrets, signatures, replays, mapping, rate limits,
ownership; and the pure parts (paths into a payload, signing)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.scheduler.conftest import hello_graph, new_user, required_input_graph
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID, Principal
from workbench.errors import (
    AuthError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDenied,
    RateLimited,
)
from workbench.logsafe import redact
from workbench.services.trigger_mapping import map_inputs, path_problem, resolve
from workbench.services.trigger_signing import sign, sign_github
from workbench.services.triggers import (
    IssuedSecret,
    MalformedPayload,
    PayloadTooLarge,
    TriggerInputError,
    TriggerService,
    UnsupportedPayload,
)

USER = LOCAL_USER_ID
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def service(wb: Workbench) -> AsyncIterator[TriggerService]:
    """The trigger service; every trigger is deleted afterwards."""
    yield TriggerService.of(wb)
    assert wb.db is not None
    await wb.db.pool.execute("DELETE FROM triggers")


def body(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def signed(issued: IssuedSecret, raw: bytes, timestamp: int | None = None) -> dict[str, str]:
    return {**JSON, **sign(issued.secret, raw, timestamp=timestamp)}


async def runs(wb: Workbench, graph_id: str, user_id: str = USER) -> int:
    return (await wb.executions.list(user_id, graph_id=graph_id, limit=1))[1]


async def test_a_signed_call_runs_the_agent_with_the_payload_as_inputs(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id, "name": "greeter"})
    assert issued.secret.startswith("wbh_") and len(issued.secret) > 40
    assert issued.secret not in repr(issued)
    raw = body({"name": "Ada"})
    fired = await service.fire(issued.trigger.id, signed(issued, raw), raw, wait=10)
    assert str(fired.execution.status) == "COMPLETED"
    assert fired.execution.outputs == {"greeting": ["Hello, Ada!"], "length": [11]}
    again = await service.get(issued.trigger.id, USER)
    assert again.fire_count == 1 and again.last_execution_id == fired.execution.execution_id
    assert again.last_fired_at is not None
    # Without waiting, the answer comes at once with the execution's id.
    raw = body({"name": "Bo"})
    started = await service.fire(issued.trigger.id, signed(issued, raw), raw)
    result = await wb.executions.wait(started.execution.execution_id, timeout=10, user_id=USER)
    assert result.inputs == {"name": "Bo"} and result.outputs["greeting"] == ["Hello, Bo!"]


async def test_the_secret_is_stored_encrypted_and_shown_only_when_issued(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id})
    assert wb.db is not None
    row = await wb.db.pool.fetchrow("SELECT * FROM triggers WHERE id = $1", issued.trigger.id)
    assert issued.secret.encode() not in bytes(row["encrypted_secret"])
    assert all(issued.secret not in str(v) for v in dict(row).values())
    listed, total = await service.list(USER, graph_id=graph.id)
    assert total == 1 and not hasattr(listed[0], "secret")
    rotated = await service.rotate_secret(issued.trigger.id, USER)
    assert (
        rotated.secret != issued.secret
        and rotated.trigger.secret_rotated_at > issued.trigger.secret_rotated_at
    )
    raw = body({"name": "Ada"})
    with pytest.raises(AuthError):  # the old secret no longer signs
        await service.fire(issued.trigger.id, signed(issued, raw), raw)
    await service.fire(issued.trigger.id, signed(rotated, raw), raw)


async def test_a_bad_missing_replayed_or_stale_signature_is_refused_and_starts_nothing(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id})
    tid = issued.trigger.id
    raw = body({"name": "Eve"})
    good = signed(issued, raw)
    refusals = {
        "no headers": JSON,
        "another secret": {**JSON, **sign("wbh_" + "x" * 43, raw)},
        "another body": {**JSON, **sign(issued.secret, body({"name": "Mallory"}))},
        "not hex": {**good, "X-Workbench-Signature": "v1=zz"},
        "other version": {
            **good,
            "X-Workbench-Signature": good["X-Workbench-Signature"].replace("v1=", "v0="),
        },
        "bad time": {**good, "X-Workbench-Timestamp": "yesterday"},
        "too old": signed(issued, raw, int(time.time()) - 330),
        "from the future": signed(issued, raw, int(time.time()) + 330),
    }
    for what, headers in refusals.items():
        with pytest.raises(AuthError) as exc:
            await service.fire(tid, headers, raw)
        assert issued.secret not in str(exc.value), what
    assert "300 s" in str(exc.value)
    assert await runs(wb, graph.id) == 0

    await service.fire(tid, good, raw)  # the genuine call, once
    with pytest.raises(AuthError, match="replay"):
        await service.fire(tid, good, raw)
    assert await runs(wb, graph.id) == 1
    # Several signatures may be listed; one matching is enough.
    fresh = signed(issued, raw, int(good["X-Workbench-Timestamp"]) - 1)  # another second: not a replay
    fresh["X-Workbench-Signature"] = "v1=" + "0" * 64 + "," + fresh["X-Workbench-Signature"]
    await service.fire(tid, fresh, raw)
    assert await runs(wb, graph.id) == 2


async def test_concurrent_copies_of_one_signed_call_start_one_run(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id})
    raw = body({"name": "Ada"})
    headers = signed(issued, raw)
    outcomes = await asyncio.gather(
        *(service.fire(issued.trigger.id, headers, raw) for _ in range(8)), return_exceptions=True
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, AuthError) for o in outcomes if isinstance(o, BaseException))
    assert await runs(wb, graph.id) == 1


async def test_bearer_triggers_take_the_secret_itself(wb: Workbench, service: TriggerService) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id, "auth_mode": "bearer"})
    raw = body({"name": "Ada"})
    for wrong in ({}, {"Authorization": "Bearer wbh_wrong"}, {"Authorization": f"Basic {issued.secret}"}):
        with pytest.raises(AuthError, match="Bearer"):
            await service.fire(issued.trigger.id, {**JSON, **wrong}, raw)
    with pytest.raises(AuthError):  # an HMAC signature is not what a bearer trigger takes
        await service.fire(issued.trigger.id, signed(issued, raw), raw)
    fired = await service.fire(
        issued.trigger.id, {**JSON, "authorization": f"bearer {issued.secret}"}, raw, wait=10
    )
    assert fired.execution.outputs["greeting"] == ["Hello, Ada!"]


async def test_github_signed_calls_are_checked_and_each_delivery_runs_once(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id, "auth_mode": "github"})
    assert issued.trigger.auth_mode == "github"
    tid, raw = issued.trigger.id, body({"name": "Octo"})
    good = {**JSON, **sign_github(issued.secret, raw, "delivery-1")}
    refusals = {
        "no headers": JSON,
        "no delivery id": {**JSON, "X-Hub-Signature-256": good["X-Hub-Signature-256"]},
        "no signature": {**JSON, "X-GitHub-Delivery": "delivery-1"},
        "another secret": {**JSON, **sign_github("wbh_" + "x" * 43, raw, "delivery-1")},
        "another body": {**JSON, **sign_github(issued.secret, body({"name": "Mallory"}), "delivery-1")},
        "sha1 named": {**good, "X-Hub-Signature-256": good["X-Hub-Signature-256"].replace("sha256", "sha1")},
        "not hex": {**good, "X-Hub-Signature-256": "sha256=zz"},
        "our scheme": {**JSON, **sign(issued.secret, raw)},
        "the secret as bearer": {**JSON, "Authorization": f"Bearer {issued.secret}"},
        "a control character": {**good, "X-GitHub-Delivery": "a\x00b"},
    }
    for what, headers in refusals.items():
        with pytest.raises(AuthError) as exc:
            await service.fire(tid, headers, raw)
        assert issued.secret not in str(exc.value), what
    assert await runs(wb, graph.id) == 0

    fired = await service.fire(tid, good, raw, wait=10)
    assert fired.execution.outputs["greeting"] == ["Hello, Octo!"]
    with pytest.raises(AuthError, match="replay"):  # the same delivery again
        await service.fire(tid, good, raw)
    other = body({"name": "Cat"})
    with pytest.raises(AuthError, match="replay"):  # its id with another (signed) body
        await service.fire(tid, {**JSON, **sign_github(issued.secret, other, "delivery-1")}, other)
    with pytest.raises(AuthError, match="replay"):  # the captured body under a made-up id
        await service.fire(tid, {**JSON, **sign_github(issued.secret, raw, "delivery-2")}, raw)
    await service.fire(tid, {**JSON, **sign_github(issued.secret, other, "delivery-2")}, other)
    assert await runs(wb, graph.id) == 2
    # A GitHub signature is not accepted by an hmac trigger either.
    plain = await service.create(USER, {"graph_id": graph.id})
    with pytest.raises(AuthError, match="X-Workbench-Timestamp"):
        await service.fire(plain.trigger.id, {**JSON, **sign_github(plain.secret, raw, "d")}, raw)


async def test_a_call_refused_after_the_replay_guard_may_come_again(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(
        USER, {"graph_id": graph.id, "auth_mode": "github", "rate_limit_per_minute": 2}
    )
    tid = issued.trigger.id
    wrong = body({"name": "Ada", "colour": "red"})  # not an input: nothing starts (one call counted)
    with pytest.raises(InputError, match="colour"):
        await service.fire(tid, {**JSON, **sign_github(issued.secret, wrong, "d-1")}, wrong)
    raw = body({"name": "Ada"})
    first = {**JSON, **sign_github(issued.secret, raw, "d-2")}
    await service.fire(tid, first, raw)
    later = body({"name": "Bo"})
    second = {**JSON, **sign_github(issued.secret, later, "d-3")}
    with pytest.raises(RateLimited):
        await service.fire(tid, second, later)
    await service.update(tid, USER, {"rate_limit_per_minute": 5})  # a full allowance again
    await service.fire(tid, second, later)  # the sender's redelivery is not a replay
    with pytest.raises(AuthError, match="replay"):
        await service.fire(tid, first, raw)
    assert await runs(wb, graph.id) == 2


async def test_inputs_are_checked_like_a_run_and_mapped_from_paths(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    plain = await service.create(USER, {"graph_id": graph.id})
    raw = body({"name": "Ada", "colour": "red"})
    with pytest.raises(InputError, match="'colour'") as exc:
        await service.fire(plain.trigger.id, signed(plain, raw), raw)
    assert "name" in str(exc.value)  # the valid inputs are named
    raw = body(["Ada"])
    with pytest.raises(InputError, match="JSON object"):
        await service.fire(plain.trigger.id, signed(plain, raw), raw)

    echo = await required_input_graph(wb)
    mapped = await service.create(
        USER, {"graph_id": echo.id, "input_mapping": {"who": "pull_request.user.login"}}
    )
    github = {"action": "opened", "pull_request": {"title": "Fix", "user": {"login": "octocat"}}}
    raw = body(github)
    fired = await service.fire(mapped.trigger.id, signed(mapped, raw), raw, wait=10)
    assert fired.execution.outputs == {"out": ["octocat"]}
    assert fired.execution.inputs == {"who": "octocat"}
    raw = body({"action": "closed"})
    with pytest.raises(InputError, match="'who'") as exc:
        await service.fire(mapped.trigger.id, signed(mapped, raw), raw)
    assert "pull_request.user.login" in str(exc.value)
    pointer = await service.update(mapped.trigger.id, USER, {"input_mapping": {"who": "/commits/1/a~1b"}})
    assert pointer.input_mapping == {"who": "/commits/1/a~1b"}
    raw = body({"commits": [{}, {"a/b": "second"}]})
    fired = await service.fire(mapped.trigger.id, signed(mapped, raw), raw, wait=10)
    assert fired.execution.outputs == {"out": ["second"]}
    assert await runs(wb, echo.id) == 2


async def test_bodies_must_be_small_json(wb: Workbench, service: TriggerService) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id})
    tid = issued.trigger.id
    raw = b"name=Ada"
    form = {**sign(issued.secret, raw), "Content-Type": "application/x-www-form-urlencoded"}
    with pytest.raises(UnsupportedPayload):
        await service.fire(tid, form, raw)
    raw = b"{not json"
    with pytest.raises(MalformedPayload):
        await service.fire(tid, signed(issued, raw), raw)
    small = TriggerService.of(wb, wb.settings.with_(webhook_max_bytes=64))
    raw = body({"name": "x" * 100})
    with pytest.raises(PayloadTooLarge):
        await small.fire(tid, signed(issued, raw), raw)
    assert await runs(wb, graph.id) == 0
    # An empty body is an empty object: the agent's defaults.
    fired = await service.fire(tid, sign(issued.secret, b""), b"", wait=10)
    assert fired.execution.outputs["greeting"] == ["Hello, World!"]


async def test_the_rate_limit_holds_per_trigger(wb: Workbench, service: TriggerService) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id, "rate_limit_per_minute": 2})
    other = await service.create(USER, {"graph_id": graph.id, "rate_limit_per_minute": 2})
    for n in range(2):
        raw = body({"name": f"n{n}"})
        await service.fire(issued.trigger.id, signed(issued, raw), raw)
    raw = body({"name": "third"})
    with pytest.raises(RateLimited) as exc:
        await service.fire(issued.trigger.id, signed(issued, raw), raw)
    assert 1 <= exc.value.retry_after <= 30 and exc.value.http_status == 429
    await service.fire(other.trigger.id, signed(other, raw), raw)  # another trigger has its own
    await service.update(
        issued.trigger.id, USER, {"rate_limit_per_minute": 3}
    )  # a new rate: a full allowance
    raw = body({"name": "fourth"})
    await service.fire(issued.trigger.id, signed(issued, raw), raw)
    # Calls that do not prove the secret do not use up the allowance.
    fresh = await service.create(USER, {"graph_id": graph.id, "rate_limit_per_minute": 1})
    for _ in range(3):
        with pytest.raises(AuthError):
            await service.fire(fresh.trigger.id, JSON, raw)
    await service.fire(fresh.trigger.id, signed(fresh, raw), raw)
    assert await runs(wb, graph.id) == 5


async def test_disabled_triggers_and_gone_agents_start_nothing(
    wb: Workbench, service: TriggerService
) -> None:
    graph = await hello_graph(wb)
    issued = await service.create(USER, {"graph_id": graph.id, "enabled": False})
    assert not issued.trigger.is_enabled
    raw = body({"name": "Ada"})
    with pytest.raises(AuthError):  # strangers learn nothing about its state
        await service.fire(issued.trigger.id, JSON, raw)
    with pytest.raises(ConflictError, match="disabled"):
        await service.fire(issued.trigger.id, signed(issued, raw), raw)
    enabled = await service.update(issued.trigger.id, USER, {"enabled": True})
    assert enabled.is_enabled and enabled.name == ""
    await wb.graphs.delete(graph.id, USER)
    with pytest.raises(ConflictError, match="not found"):
        await service.fire(issued.trigger.id, signed(issued, raw), raw)
    with pytest.raises(NotFoundError):
        await service.fire("00000000-0000-4000-8000-000000000000", signed(issued, raw), raw)
    with pytest.raises(NotFoundError):
        await service.fire("not-an-id", signed(issued, raw), raw)


async def test_only_the_owner_sees_and_changes_a_trigger(wb: Workbench, service: TriggerService) -> None:
    owner = await new_user(wb)
    graph = await hello_graph(wb, owner)
    issued = await service.create(owner, {"graph_id": graph.id})
    tid = issued.trigger.id
    for attempt in (
        service.get(tid, USER),
        service.update(tid, USER, {"enabled": False}),
        service.rotate_secret(tid, USER),
        service.delete(tid, USER),
    ):
        with pytest.raises(NotFoundError):
            await attempt
    assert (await service.list(USER))[1] == 0
    with pytest.raises(TriggerInputError) as exc:  # nor point a trigger at someone else's agent
        await service.create(USER, {"graph_id": graph.id})
    assert dict(exc.value.problems) == {"graph_id": f"graph {graph.id} not found"}
    # A call runs as the owner.
    raw = body({"name": "Ann"})
    await service.fire(tid, signed(issued, raw), raw)
    assert await runs(wb, graph.id, owner) == 1
    # A deactivated owner's triggers answer as if they did not exist.
    assert wb.db is not None
    await wb.db.pool.execute("UPDATE users SET is_active = false WHERE id = $1", owner)
    raw = body({"name": "Later"})
    with pytest.raises(NotFoundError):
        await service.fire(tid, signed(issued, raw), raw)
    await service.delete(tid, owner)


async def test_fields_are_validated_and_scopes_required(wb: Workbench, service: TriggerService) -> None:
    graph = await hello_graph(wb)
    with pytest.raises(TriggerInputError) as exc:
        await service.create(
            USER,
            {
                "graph_id": graph.id,
                "auth_mode": "basic",
                "rate_limit_per_minute": 0,
                "input_mapping": {"name": "a..b", "nope": "/x"},
                "credentials": {"github": "00000000-0000-4000-8000-000000000000"},
                "name": "x" * 201,
                "colour": "red",
            },
        )
    assert [p[0] for p in exc.value.problems] == ["colour"]  # unknown fields first, alone
    with pytest.raises(TriggerInputError) as exc:
        await service.create(
            USER,
            {
                "graph_id": graph.id,
                "auth_mode": "basic",
                "rate_limit_per_minute": 0,
                "input_mapping": {"name": "a..b", "nope": "/x"},
                "credentials": {"github": "00000000-0000-4000-8000-000000000000"},
                "name": "x" * 201,
            },
        )
    problems = dict(exc.value.problems)
    assert set(problems) == {
        "auth_mode",
        "rate_limit_per_minute",
        "input_mapping.name",
        "input_mapping.nope",
        "credentials.github",
        "name",
    }
    assert "name" in problems["input_mapping.nope"]  # the graph's inputs are named
    with pytest.raises(TriggerInputError) as exc:
        await service.create(USER, {"graph_id": graph.id, "graph_version": 7})
    assert dict(exc.value.problems) == {"graph_version": f"graph {graph.id} has no version 7"}
    issued = await service.create(USER, {"graph_id": graph.id})
    with pytest.raises(TriggerInputError, match="auth_mode"):  # fixed once made
        await service.update(issued.trigger.id, USER, {"auth_mode": "bearer"})
    reader = Principal(USER, frozenset({"graphs:read", "graphs:write"}), via="api_key")
    with pytest.raises(PermissionDenied, match="graphs:execute"):
        await service.create(reader, {"graph_id": graph.id})
    with pytest.raises(PermissionDenied):
        await service.rotate_secret(issued.trigger.id, reader)
    with pytest.raises(PermissionDenied):
        await service.update(issued.trigger.id, reader, {"enabled": True})
    # Disabling and deleting start nothing: graphs:write is enough.
    assert not (await service.update(issued.trigger.id, reader, {"enabled": False})).is_enabled
    await service.delete(issued.trigger.id, reader)


def test_paths_into_a_payload() -> None:
    doc = {"a": {"b.c": [10, {"d": None}]}, "x/y": {"~": 1}, "list": [0, 1, 2]}
    assert resolve(doc, "") == (True, doc)
    assert resolve(doc, "/a/b.c/1/d") == (True, None)
    assert resolve(doc, "/x~1y/~0") == (True, 1)
    assert resolve(doc, "list.2") == (True, 2)
    assert resolve(doc, "list.02") == (False, None)
    assert resolve(doc, "list.3") == (False, None)
    assert resolve(doc, "a.b.c") == (False, None)  # dots split: a key with dots needs a pointer
    assert map_inputs({"one": "list.1", "none": "nope"}, doc) == ({"one": 1}, {"none": "nope"})
    assert path_problem("a.b") is None and path_problem("/a~2") is not None
    assert path_problem(".a") is not None and path_problem(3) is not None and path_problem("a" * 501)


def test_trigger_secrets_are_redacted_from_log_lines() -> None:
    line = "calling with wbh_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA and more"
    assert "Zm9v" not in redact(line) and "wbh_[REDACTED]" in redact(line)
