"""ScheduleService: validation (every error located), defaults, PATCH, pause and resume, ownership."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from tests.scheduler.conftest import hello_graph, new_user, required_input_graph
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID, Principal
from workbench.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from workbench.services.schedules import ScheduleInputError, ScheduleService
from workbench.store.schedules import ScheduleRepository

USER = LOCAL_USER_ID


def problems(exc: pytest.ExceptionInfo[ScheduleInputError]) -> dict[str, str]:
    return dict(exc.value.problems)


async def refused(service: ScheduleService, fields: dict[str, Any], user: str = USER) -> dict[str, str]:
    with pytest.raises(ScheduleInputError) as exc:
        await service.create(user, fields)
    assert isinstance(exc.value, InputError)
    return problems(exc)


async def test_create_each_type_with_next_runs(wb: Workbench, service: ScheduleService) -> None:
    graph = await hello_graph(wb)
    base = {"graph_id": graph.id, "inputs": {"name": "Ada"}}
    now = datetime.now(UTC)

    once = await service.create(USER, {**base, "schedule_type": "ONCE", "run_at": now + timedelta(hours=1)})
    assert once.status == "active" and once.run_at == (now + timedelta(hours=1)).replace(microsecond=0)
    assert service.next_runs(once) == [once.run_at] and once.next_run_at == once.run_at

    every = await service.create(USER, {**base, "schedule_type": "INTERVAL", "interval_seconds": 90})
    runs = service.next_runs(every)
    assert len(runs) == 5 and all(b - a == timedelta(seconds=90) for a, b in itertools.pairwise(runs))
    assert every.run_at is not None and every.run_at.microsecond == 0  # the grid's anchor, whole seconds
    assert every.next_run_at == every.run_at and runs[0] == every.run_at

    cron = await service.create(
        USER,
        {**base, "schedule_type": "cron", "cron_expression": " 0  9 * * 1-5 ", "timezone": "Europe/Madrid"},
    )
    assert cron.schedule_type == "CRON" and cron.cron_expression == "0 9 * * 1-5"
    assert all(r.astimezone(cron_tz()).strftime("%H:%M") == "09:00" for r in service.next_runs(cron))
    assert all(r.astimezone(cron_tz()).weekday() < 5 for r in service.next_runs(cron))

    daily = await service.create(
        USER, {**base, "schedule_type": "DAILY", "time_of_day": "07:30", "name": "Morning"}
    )
    assert daily.time_of_day == time(7, 30) and daily.name == "Morning" and daily.timezone == "UTC"
    assert [r.strftime("%H:%M") for r in service.next_runs(daily)] == ["07:30"] * 5

    weekly = await service.create(
        USER,
        {**base, "schedule_type": "WEEKLY", "time_of_day": "18:00:05", "weekdays": ["Friday", "mon", "MON"]},
    )
    assert weekly.weekdays == ["mon", "fri"]
    assert {r.strftime("%a %H:%M:%S") for r in service.next_runs(weekly)} <= {"Mon 18:00:05", "Fri 18:00:05"}
    assert weekly.misfire_grace_seconds == 60 and weekly.graph_version is None

    listed, total = await service.list(USER, graph_id=graph.id)
    assert total == 5 and next(s.id for s in listed) == weekly.id  # newest first
    assert (await service.get(daily.id, USER)).name == "Morning"


def cron_tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Madrid")


async def test_timezone_defaults_to_the_users(wb: Workbench, service: ScheduleService) -> None:
    user = await new_user(wb, timezone="America/New_York")
    graph = await hello_graph(wb, user)
    s = await service.create(user, {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": "09:00"})
    assert s.timezone == "America/New_York"
    assert {r.astimezone(UTC).hour for r in service.next_runs(s)} <= {13, 14}  # 09:00 EDT or EST


async def test_once_wall_clock_time_is_in_the_schedule_timezone(
    wb: Workbench, service: ScheduleService
) -> None:
    graph = await hello_graph(wb)
    s = await service.create(
        USER,
        {
            "graph_id": graph.id,
            "schedule_type": "ONCE",
            "run_at": "2090-07-01T12:00:00",
            "timezone": "Asia/Tokyo",
        },
    )
    assert s.run_at == datetime(2090, 7, 1, 3, tzinfo=UTC)
    offset = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "ONCE", "run_at": "2090-07-01T12:00:00+02:00"}
    )
    assert offset.run_at == datetime(2090, 7, 1, 10, tzinfo=UTC)


async def test_every_problem_is_located(wb: Workbench, service: ScheduleService) -> None:
    graph = await hello_graph(wb)
    g = graph.id
    past = datetime.now(UTC) - timedelta(seconds=5)
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"graph_id": g, "schedule_type": "HOURLY"}, {"schedule_type": "must be one of"}),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "timezone": "Mars/Olympus"},
            {"timezone": "unknown IANA timezone"},
        ),
        (
            {"graph_id": g, "schedule_type": "CRON", "cron_expression": "61 * * * *"},
            {"cron_expression": "higher than the maximum"},
        ),
        (
            {"graph_id": g, "schedule_type": "CRON", "cron_expression": "* * *"},
            {"cron_expression": "5 fields"},
        ),
        (
            {"graph_id": g, "schedule_type": "CRON", "cron_expression": "0 0 30 2 *"},
            {"cron_expression": "never fires"},
        ),
        ({"graph_id": g, "schedule_type": "CRON"}, {"cron_expression": "required"}),
        (
            {"graph_id": g, "schedule_type": "INTERVAL", "interval_seconds": 0},
            {"interval_seconds": "at least 1"},
        ),
        (
            {"graph_id": g, "schedule_type": "INTERVAL", "interval_seconds": -5},
            {"interval_seconds": "at least 1"},
        ),
        (
            {"graph_id": g, "schedule_type": "INTERVAL", "interval_seconds": 1.5},
            {"interval_seconds": "whole number"},
        ),
        (
            {"graph_id": g, "schedule_type": "INTERVAL", "interval_seconds": True},
            {"interval_seconds": "whole number"},
        ),
        ({"graph_id": g, "schedule_type": "INTERVAL"}, {"interval_seconds": "required"}),
        ({"graph_id": g, "schedule_type": "ONCE", "run_at": past}, {"run_at": "must be in the future"}),
        ({"graph_id": g, "schedule_type": "ONCE", "run_at": "tomorrow"}, {"run_at": "ISO 8601"}),
        ({"graph_id": g, "schedule_type": "ONCE"}, {"run_at": "required"}),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "25:00"},
            {"time_of_day": "not a time of day"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "weekdays": ["mon"]},
            {"weekdays": "WEEKLY"},
        ),
        (
            {"graph_id": g, "schedule_type": "WEEKLY", "time_of_day": "09:00", "weekdays": []},
            {"weekdays": "non-empty"},
        ),
        (
            {"graph_id": g, "schedule_type": "WEEKLY", "time_of_day": "09:00", "weekdays": ["caturday"]},
            {"weekdays": "not a weekday"},
        ),
        ({"graph_id": g, "schedule_type": "WEEKLY", "time_of_day": "09:00"}, {"weekdays": "required"}),
        (
            {
                "graph_id": g,
                "schedule_type": "ONCE",
                "run_at": past + timedelta(days=1),
                "cron_expression": "* * * * *",
            },
            {"cron_expression": "is for CRON schedules, not ONCE"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "misfire_grace_seconds": -1},
            {"misfire_grace_seconds": "from 0"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "name": "x" * 201},
            {"name": "at most 200"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "colour": "red"},
            {"colour": "not a schedule field"},
        ),
        (
            {"graph_id": "not-a-uuid", "schedule_type": "DAILY", "time_of_day": "09:00"},
            {"graph_id": "must be the id"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "inputs": {"name": "a\x00b"}},
            {"inputs.name": "NUL character"},
        ),
        (
            {"graph_id": str(uuid.uuid4()), "schedule_type": "DAILY", "time_of_day": "09:00"},
            {"graph_id": "not found"},
        ),
        (
            {"graph_id": g, "graph_version": 99, "schedule_type": "DAILY", "time_of_day": "09:00"},
            {"graph_version": "has no version 99"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "inputs": {"nmae": "Ada"}},
            {"inputs": "unknown input(s) 'nmae'"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "inputs": []},
            {"inputs": "must be an object"},
        ),
        (
            {
                "graph_id": g,
                "schedule_type": "DAILY",
                "time_of_day": "09:00",
                "credentials": {"api": str(uuid.uuid4())},
            },
            {"credentials.api": "not found"},
        ),
        (
            {"graph_id": g, "schedule_type": "DAILY", "time_of_day": "09:00", "credentials": {"api": "nope"}},
            {"credentials.api": "not found"},
        ),
    ]
    for fields, expected in cases:
        found = await refused(service, fields)
        for field, text in expected.items():
            assert field in found and text in found[field], (fields, found)
    # Several problems at once, each with its field (also in the message).
    with pytest.raises(ScheduleInputError) as exc:
        await service.create(
            USER,
            {
                "graph_id": g,
                "schedule_type": "INTERVAL",
                "interval_seconds": 0,
                "name": 5,
                "inputs": {"x": 1},
            },
        )
    assert set(problems(exc)) == {"interval_seconds", "name", "inputs"}
    assert "interval_seconds: must be a whole number" in str(exc.value)


async def test_inputs_are_checked_against_the_graph(wb: Workbench, service: ScheduleService) -> None:
    graph = await required_input_graph(wb)
    found = await refused(
        service, {"graph_id": graph.id, "schedule_type": "INTERVAL", "interval_seconds": 60}
    )
    assert "missing required input(s): 'who'" in found["inputs"]
    ok = await service.create(
        USER,
        {"graph_id": graph.id, "schedule_type": "INTERVAL", "interval_seconds": 60, "inputs": {"who": "x"}},
    )
    assert ok.inputs == {"who": "x"}


async def test_another_users_graph_and_schedule(wb: Workbench, service: ScheduleService) -> None:
    other = await new_user(wb)
    theirs = await hello_graph(wb, other)
    found = await refused(service, {"graph_id": theirs.id, "schedule_type": "DAILY", "time_of_day": "09:00"})
    assert "not found" in found["graph_id"]
    schedule = await service.create(
        other, {"graph_id": theirs.id, "schedule_type": "DAILY", "time_of_day": "09:00"}
    )
    for call in (
        service.get(schedule.id, USER),
        service.update(schedule.id, USER, {"name": "mine"}),
        service.pause(schedule.id, USER),
        service.resume(schedule.id, USER),
        service.delete(schedule.id, USER),
        service.runs(schedule.id, USER),
    ):
        with pytest.raises(NotFoundError):
            await call
    with pytest.raises(NotFoundError):
        await service.get("not-a-uuid", USER)
    assert (await service.list(USER, graph_id=theirs.id)) == ([], 0)
    assert (await service.get(schedule.id, other)).name == ""


async def test_patch(wb: Workbench, service: ScheduleService) -> None:
    graph = await hello_graph(wb)
    s = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "CRON", "cron_expression": "0 * * * *"}
    )
    renamed = await service.update(s.id, USER, {"name": "Hourly", "inputs": {"name": "Bo"}})
    assert (
        renamed.name == "Hourly"
        and renamed.inputs == {"name": "Bo"}
        and renamed.cron_expression == "0 * * * *"
    )
    assert renamed.next_run_at == s.next_run_at and renamed.updated_at > s.updated_at
    # Changing the type clears the old type's fields that are not given.
    daily = await service.update(s.id, USER, {"schedule_type": "DAILY", "time_of_day": "06:00"})
    assert daily.cron_expression is None and daily.time_of_day == time(6)
    assert daily.next_run_at is not None and daily.next_run_at.strftime("%H:%M") == "06:00"
    with pytest.raises(ScheduleInputError) as exc:
        await service.update(s.id, USER, {"schedule_type": "WEEKLY"})
    assert "required" in problems(exc)["weekdays"]
    with pytest.raises(ScheduleInputError) as exc:
        await service.update(s.id, USER, {"timezone": "Nowhere/Town", "inputs": {"bad": 1}})
    assert set(problems(exc)) == {"timezone", "inputs"}
    assert (await service.get(s.id, USER)).time_of_day == time(6)  # nothing changed
    # A new interval starts one interval from now.
    every = await service.update(s.id, USER, {"schedule_type": "INTERVAL", "interval_seconds": 3600})
    assert every.run_at is not None and abs((every.run_at - datetime.now(UTC)).total_seconds() - 3600) < 5
    pinned = await service.update(s.id, USER, {"graph_version": graph.version})
    assert pinned.graph_version == graph.version
    unpinned = await service.update(s.id, USER, {"graph_version": None})
    assert unpinned.graph_version is None


async def test_pause_resume_and_completed_once(wb: Workbench, service: ScheduleService) -> None:
    graph = await hello_graph(wb)
    s = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "INTERVAL", "interval_seconds": 10}
    )
    paused = await service.pause(s.id, USER)
    assert paused.status == "paused" and not paused.is_enabled and paused.next_run_at is None
    assert service.next_runs(paused) == []
    assert (await service.pause(s.id, USER)).paused_at == paused.paused_at  # idempotent
    edited = await service.update(s.id, USER, {"interval_seconds": 20})
    assert edited.status == "paused" and edited.next_run_at is None
    resumed = await service.resume(s.id, USER)
    assert resumed.status == "active" and resumed.paused_at is None
    assert resumed.next_run_at is not None and resumed.next_run_at > datetime.now(UTC)
    assert (await service.resume(s.id, USER)).updated_at == resumed.updated_at  # idempotent

    once = await service.create(
        USER,
        {"graph_id": graph.id, "schedule_type": "ONCE", "run_at": datetime.now(UTC) + timedelta(hours=1)},
    )
    assert wb.db is not None
    await wb.db.pool.execute(  # as the scheduler leaves it once it has fired
        "UPDATE schedules SET is_enabled = false, next_run_at = NULL, run_at = now() - interval '1 minute' WHERE id = $1",
        once.id,
    )
    done = await service.get(once.id, USER)
    assert done.status == "completed" and service.next_runs(done) == []
    with pytest.raises(ConflictError):
        await service.pause(once.id, USER)
    with pytest.raises(ScheduleInputError) as exc:
        await service.resume(once.id, USER)
    assert "has passed" in problems(exc)["run_at"]
    renamed = await service.update(once.id, USER, {"name": "done"})
    assert renamed.status == "completed"
    again = await service.update(once.id, USER, {"run_at": datetime.now(UTC) + timedelta(days=1)})
    assert again.status == "active" and again.next_run_at == again.run_at


async def test_delete(wb: Workbench, service: ScheduleService) -> None:
    graph = await hello_graph(wb)
    s = await service.create(USER, {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": "09:00"})
    await service.delete(s.id, USER)
    with pytest.raises(NotFoundError):
        await service.get(s.id, USER)
    with pytest.raises(NotFoundError):
        await service.delete(s.id, USER)


# ---- limits (issue 10) -----------------------------------------------------------------------------


def limited(wb: Workbench, **limits: int) -> ScheduleService:
    """The service under other limits (``min_interval``, ``max_active``)."""
    assert wb.db is not None
    return ScheduleService(ScheduleRepository(wb.db.pool), wb.graphs, **limits)


async def test_cron_expressions_firing_more_often_than_the_minimum_interval_are_refused(
    wb: Workbench, service: ScheduleService
) -> None:
    graph = await hello_graph(wb)
    five_minutes = limited(wb, min_interval=300)
    for expression, gap in (("*/2 * * * *", 120), ("0,1 9 * * *", 60), ("0,58 0,23 * * *", 120)):
        found = await refused(
            five_minutes, {"graph_id": graph.id, "schedule_type": "CRON", "cron_expression": expression}
        )
        message = found["cron_expression"]
        assert f"fires {gap} seconds apart" in message and "WORKBENCH_SCHEDULE_MIN_INTERVAL" in message
    for expression in ("*/5 * * * *", "0 9 * * 1-5", "@hourly", "0 0,12 * * *"):
        ok = await five_minutes.create(
            USER, {"graph_id": graph.id, "schedule_type": "CRON", "cron_expression": expression}
        )
        assert ok.cron_expression == expression
    every_minute = await limited(wb).create(
        USER, {"graph_id": graph.id, "schedule_type": "CRON", "cron_expression": "* * * * *"}
    )
    assert every_minute.status == "active"  # the default minimum is one minute: any crontab fits
    assert (
        await refused(
            limited(wb), {"graph_id": graph.id, "schedule_type": "INTERVAL", "interval_seconds": 30}
        )
    )["interval_seconds"].startswith("must be at least 60 seconds")


async def test_a_too_frequent_paused_schedule_is_not_resumed(wb: Workbench, service: ScheduleService) -> None:
    graph = await hello_graph(wb)
    fast = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "INTERVAL", "interval_seconds": 5}
    )
    await service.pause(fast.id, USER)
    with pytest.raises(ScheduleInputError) as exc:
        await limited(wb).resume(fast.id, USER)  # the operator raised the minimum since
    assert set(problems(exc)) == {"interval_seconds"}
    assert (await service.get(fast.id, USER)).status == "paused"


async def test_the_active_schedule_limit_holds_under_concurrent_creates(
    wb: Workbench, service: ScheduleService
) -> None:
    user = await new_user(wb)
    graph = await hello_graph(wb, user)
    three = limited(wb, max_active=3)
    fields = {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": "09:00"}
    outcomes = await asyncio.gather(*(three.create(user, fields) for _ in range(10)), return_exceptions=True)
    created = [o for o in outcomes if not isinstance(o, BaseException)]
    refusals = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(created) == 3 and len(refusals) == 7
    assert all(
        isinstance(e, ConflictError) and "WORKBENCH_MAX_SCHEDULES_PER_USER=3" in str(e) for e in refusals
    )
    # A completed ONCE schedule given a new time becomes active again: that needs room too.
    await three.pause(created[0].id, user)
    once = await three.create(
        user,
        {
            **fields,
            "schedule_type": "ONCE",
            "time_of_day": None,
            "run_at": datetime.now(UTC) + timedelta(hours=1),
        },
    )
    assert wb.db is not None
    await wb.db.pool.execute("UPDATE schedules SET is_enabled = false WHERE id = $1", uuid.UUID(once.id))
    await three.resume(created[0].id, user)
    with pytest.raises(ConflictError):
        await three.update(once.id, user, {"run_at": datetime.now(UTC) + timedelta(hours=2)})


async def test_the_scopes_are_checked_by_the_service_for_every_front_door(
    wb: Workbench, service: ScheduleService
) -> None:
    graph = await hello_graph(wb)
    schedule = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": "09:00"}
    )
    writer = Principal(USER, frozenset({"graphs:read", "graphs:write"}), via="api_key")
    fields = {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": "10:00"}
    for call in (
        lambda: service.create(writer, fields),
        lambda: service.update(schedule.id, writer, {"inputs": {"name": "Eve"}}),
        lambda: service.update(schedule.id, writer, {"name": "just a name"}),
        lambda: service.resume(schedule.id, writer),
    ):
        with pytest.raises(PermissionDenied, match="graphs:execute"):
            await call()
    reader = Principal(USER, frozenset({"graphs:read"}), via="api_key")
    for call in (lambda: service.pause(schedule.id, reader), lambda: service.delete(schedule.id, reader)):
        with pytest.raises(PermissionDenied, match="graphs:write"):
            await call()
    assert (await service.pause(schedule.id, writer)).status == "paused"
    both = Principal(USER, frozenset({"graphs:write", "graphs:execute"}), via="api_key")
    assert (await service.update(schedule.id, both, {"name": "ok"})).name == "ok"
