"""The scheduler runtime in this process: fires create executions with the schedule's inputs and are
recorded once; changes are picked up at once; one leader at a time; two schedulers firing together
never run anything twice; missed runs are coalesced (or recorded MISSED past the grace period)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.scheduler.conftest import hello_graph
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.scheduler import Scheduler
from workbench.services.schedules import ScheduleService
from workbench.store.schedules import ScheduleRecord

USER = LOCAL_USER_ID


async def runs_of(wb: Workbench, schedule_id: str) -> list[dict[str, Any]]:
    assert wb.db is not None
    rows = await wb.db.pool.fetch(
        "SELECT * FROM schedule_runs WHERE schedule_id = $1 ORDER BY fire_time", schedule_id
    )
    return [dict(r) for r in rows]


async def wait_runs(
    wb: Workbench, schedule_id: str, count: int, timeout: float = 10, **where: Any
) -> list[dict[str, Any]]:
    """Poll until the schedule has ``count`` runs (matching ``where``)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [r for r in await runs_of(wb, schedule_id) if all(r[k] == v for k, v in where.items())]
        if len(runs) >= count:
            return runs
        assert time.monotonic() < deadline, f"{len(runs)} runs of {schedule_id} after {timeout}s: {runs}"
        await asyncio.sleep(0.1)


async def interval(
    service: ScheduleService, wb: Workbench, seconds: int = 1, **fields: Any
) -> ScheduleRecord:
    graph = await hello_graph(wb)
    return await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "INTERVAL", "interval_seconds": seconds, **fields}
    )


async def executions_of_graph(wb: Workbench, graph_id: str) -> list[str]:
    assert wb.db is not None
    rows = await wb.db.pool.fetch("SELECT id FROM graph_executions WHERE graph_id = $1", graph_id)
    return [str(r["id"]) for r in rows]


def check_accounting(runs: list[dict[str, Any]], step: timedelta) -> None:
    """Every fire time on the grid from the first run to the last is accounted for exactly once: by
    its own run, or coalesced into the next run that fired (or was recorded MISSED)."""
    times = [r["fire_time"] for r in runs]
    assert len(set(times)) == len(times)
    assert all((t - times[0]) % step == timedelta(0) for t in times)  # on the grid
    expected = (times[-1] - times[0]) // step + 1
    assert runs[0]["coalesced"] >= 1
    assert sum(r["coalesced"] for r in runs[1:]) == expected - 1, [
        (r["fire_time"], r["coalesced"]) for r in runs
    ]


async def test_fires_create_executions_with_the_inputs(wb: Workbench, service: ScheduleService) -> None:
    schedule = await interval(service, wb, inputs={"name": "Ada"})
    async with Scheduler(wb, poll_interval=0.5) as scheduler:
        runs = await wait_runs(wb, schedule.id, 3, status="SUBMITTED")
        assert scheduler.is_leader and scheduler.status()["jobs"] >= 1
    runs = await runs_of(wb, schedule.id)
    assert all(r["status"] == "SUBMITTED" and r["coalesced"] == 1 for r in runs), runs
    assert [r["fire_time"] - runs[0]["fire_time"] for r in runs] == [
        timedelta(seconds=i) for i in range(len(runs))
    ]
    assert runs[0]["fire_time"] == schedule.run_at  # the first fire is the grid's anchor
    for run in runs:
        result = await wb.executions.wait(str(run["execution_id"]), timeout=10)
        assert result.inputs == {"name": "Ada"} and result.outputs["greeting"] == ["Hello, Ada!"]
        assert result.user_id == USER
    assert sorted(await executions_of_graph(wb, schedule.graph_id)) == sorted(
        str(r["execution_id"]) for r in runs
    )
    stored = await service.get(schedule.id, USER)
    assert stored.last_run_at == runs[-1]["fire_time"]
    assert stored.next_run_at == runs[-1]["fire_time"] + timedelta(seconds=1)
    listed, total = await service.runs(schedule.id, USER)
    assert total == len(runs) and listed[0].fire_time == runs[-1]["fire_time"]  # latest first


async def test_changes_are_picked_up_at_once(wb: Workbench, service: ScheduleService) -> None:
    schedule = await interval(service, wb, seconds=3600)
    # A long poll interval: only the NOTIFY sent with each change can make these quick.
    async with Scheduler(wb, poll_interval=60) as scheduler:
        while not scheduler.is_leader:
            await asyncio.sleep(0.05)
        await service.update(schedule.id, USER, {"interval_seconds": 1})
        await wait_runs(wb, schedule.id, 2, timeout=5)
        await service.pause(schedule.id, USER)
        await asyncio.sleep(0.5)
        paused_count = len(await runs_of(wb, schedule.id))
        await asyncio.sleep(1.5)
        assert len(await runs_of(wb, schedule.id)) == paused_count
        assert scheduler.status()["jobs"] == 0
        resumed = await service.resume(schedule.id, USER)
        await wait_runs(wb, schedule.id, paused_count + 1, timeout=5)
        runs = await runs_of(wb, schedule.id)
        assert runs[paused_count]["fire_time"] >= resumed.next_run_at  # nothing made up for the pause
        await service.delete(schedule.id, USER)
        await asyncio.sleep(0.5)
        assert scheduler.status()["jobs"] == 0


async def test_once_fires_once_then_completes(wb: Workbench, service: ScheduleService) -> None:
    graph = await hello_graph(wb)
    when = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    once = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "ONCE", "run_at": when, "inputs": {"name": "Once"}}
    )
    async with Scheduler(wb, poll_interval=0.5):
        (run,) = await wait_runs(wb, once.id, 1, timeout=6, status="SUBMITTED")
        await asyncio.sleep(1.0)
    assert run["fire_time"] == when
    assert len(await runs_of(wb, once.id)) == 1
    done = await service.get(once.id, USER)
    assert done.status == "completed" and done.next_run_at is None and done.last_run_at == when
    result = await wb.executions.wait(str(run["execution_id"]), timeout=10)
    assert result.outputs["greeting"] == ["Hello, Once!"]


async def test_one_leader_fires_and_a_standby_takes_over(wb: Workbench, service: ScheduleService) -> None:
    schedule = await interval(service, wb)
    first = await Scheduler(wb, poll_interval=0.5).start()
    await asyncio.sleep(0.3)
    second = await Scheduler(wb, poll_interval=0.5).start()
    try:
        await wait_runs(wb, schedule.id, 2)
        assert (first.role, second.role) == ("leader", "standby")
        assert second.status()["jobs"] == 0
        await first.stop()  # releases the lock: the standby takes over
        stopped = time.monotonic()
        while not second.is_leader:
            assert time.monotonic() - stopped < 3, second.status()
            await asyncio.sleep(0.05)
        count = len(await runs_of(wb, schedule.id))
        await wait_runs(wb, schedule.id, count + 2)
    finally:
        await first.stop()
        await second.stop()
    runs = await runs_of(wb, schedule.id)
    assert {r["fired_by"] for r in runs} == {first.identity, second.identity}
    check_accounting(runs, timedelta(seconds=1))
    assert all(r["status"] == "SUBMITTED" for r in runs)
    assert len(set(await executions_of_graph(wb, schedule.graph_id))) == len(runs)


async def test_two_schedulers_firing_together_never_run_anything_twice(
    wb: Workbench, service: ScheduleService
) -> None:
    """No election (as if two leaders overlapped): the UNIQUE fire record lets one of them win each fire."""
    schedules = [await interval(service, wb) for _ in range(3)]
    both = [await Scheduler(wb, poll_interval=0.5, elect=False).start() for _ in range(2)]
    try:
        deadline = time.monotonic() + 5
        while not all(s.is_leader for s in both):
            assert time.monotonic() < deadline, [s.status() for s in both]
            await asyncio.sleep(0.05)
        for schedule in schedules:
            await wait_runs(wb, schedule.id, 3)
    finally:
        for s in both:
            await s.stop()
    total = 0
    for schedule in schedules:
        runs = await runs_of(wb, schedule.id)
        check_accounting(runs, timedelta(seconds=1))
        assert all(r["status"] == "SUBMITTED" for r in runs)
        executions = await executions_of_graph(wb, schedule.graph_id)
        assert sorted(executions) == sorted(str(r["execution_id"]) for r in runs)  # one per fire
        total += len(runs)
    # Both did fire every time: each fire was won by one and found taken by the other.
    assert sum(s.fires for s in both) == total
    assert sum(s.taken_elsewhere for s in both) >= total - len(schedules)


async def test_missed_runs_are_coalesced_after_a_restart(wb: Workbench, service: ScheduleService) -> None:
    schedule = await interval(service, wb)
    async with Scheduler(wb, poll_interval=0.5):
        await wait_runs(wb, schedule.id, 2)
    before = await runs_of(wb, schedule.id)
    await asyncio.sleep(3.2)  # no scheduler: three or more fire times pass
    restarted = datetime.now(UTC)
    async with Scheduler(wb, poll_interval=0.5):
        runs = await wait_runs(wb, schedule.id, len(before) + 2)
    runs = await runs_of(wb, schedule.id)
    catch_up = runs[len(before)]
    assert catch_up["coalesced"] >= 3, catch_up  # the missed fire times ran once
    assert restarted - timedelta(seconds=1) < catch_up["fire_time"] <= restarted  # the latest of them
    assert catch_up["status"] == "SUBMITTED"
    check_accounting(runs, timedelta(seconds=1))


async def test_runs_missed_beyond_the_grace_period(wb: Workbench, service: ScheduleService) -> None:
    """As if the scheduler had been down: next_run_at is set back in time."""
    assert wb.db is not None
    now = datetime.now(UTC).replace(microsecond=0)
    graph = await hello_graph(wb)
    long_ago, recently = now - timedelta(minutes=5), now - timedelta(seconds=20)
    late = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": long_ago.time().isoformat()}
    )
    within = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "DAILY", "time_of_day": recently.time().isoformat()}
    )
    once = await service.create(
        USER, {"graph_id": graph.id, "schedule_type": "ONCE", "run_at": now + timedelta(hours=1)}
    )
    frequent = await interval(service, wb, misfire_grace_seconds=5)
    await wb.db.pool.execute("UPDATE schedules SET next_run_at = $2 WHERE id = $1", late.id, long_ago)
    await wb.db.pool.execute("UPDATE schedules SET next_run_at = $2 WHERE id = $1", within.id, recently)
    await wb.db.pool.execute(
        "UPDATE schedules SET run_at = $2, next_run_at = $2 WHERE id = $1",
        once.id,
        now - timedelta(minutes=10),
    )
    anchor = frequent.run_at - timedelta(minutes=10)
    await wb.db.pool.execute(
        "UPDATE schedules SET run_at = $2, next_run_at = $2 WHERE id = $1", frequent.id, anchor
    )
    async with Scheduler(wb, poll_interval=0.5):
        (missed,) = await wait_runs(wb, late.id, 1, timeout=5)
        (fired,) = await wait_runs(wb, within.id, 1, timeout=5)
        (once_missed,) = await wait_runs(wb, once.id, 1, timeout=5)
        await wait_runs(wb, frequent.id, 3, timeout=8)
    # 5 minutes late, grace 60 s: not run, recorded MISSED; the next run is tomorrow's.
    assert missed["status"] == "MISSED" and missed["execution_id"] is None and missed["fire_time"] == long_ago
    assert "grace period (60s)" in missed["error"]
    assert (await service.get(late.id, USER)).next_run_at == long_ago + timedelta(days=1)
    # 20 seconds late: within the grace period, it runs (once).
    assert fired["status"] == "SUBMITTED" and fired["fire_time"] == recently and fired["coalesced"] == 1
    assert (await wb.executions.wait(str(fired["execution_id"]), timeout=10)).ok
    # A ONCE schedule missed by far is done without running.
    assert once_missed["status"] == "MISSED"
    assert (await service.get(once.id, USER)).status == "completed"
    # Ten minutes of a 1-second interval missed, grace 5 s: one MISSED record for the fire times
    # older than the grace period, one run for the latest, then on as usual; all accounted for.
    runs = await runs_of(wb, frequent.id)
    assert runs[0]["status"] == "MISSED" and runs[0]["coalesced"] > 500
    assert runs[0]["fire_time"] >= anchor
    assert runs[1]["status"] == "SUBMITTED" and 1 <= runs[1]["coalesced"] <= 8
    assert all(r["status"] == "SUBMITTED" for r in runs[1:])
    assert runs[0]["coalesced"] + sum(r["coalesced"] for r in runs[1:]) == (
        (runs[-1]["fire_time"] - anchor) // timedelta(seconds=1) + 1
    )


async def test_a_fire_interrupted_before_its_execution_is_completed(
    wb: Workbench, service: ScheduleService
) -> None:
    """A scheduler that died between recording a fire and creating its execution: the next leader
    creates it, with the id recorded (and does not create one that exists)."""
    assert wb.db is not None
    schedule = await interval(service, wb, seconds=3600, inputs={"name": "Late"})
    lost, made = str(uuid.uuid4()), None
    fire = schedule.run_at - timedelta(hours=2)
    await wb.db.pool.execute(
        "INSERT INTO schedule_runs (schedule_id, fire_time, execution_id, status) VALUES ($1, $2, $3, 'PENDING')",
        schedule.id,
        fire,
        lost,
    )
    made = await wb.executions.submit(schedule.graph_id, {"name": "Made"}, execution_id=str(uuid.uuid4()))
    await wb.db.pool.execute(
        "INSERT INTO schedule_runs (schedule_id, fire_time, execution_id, status) VALUES ($1, $2, $3, 'PENDING')",
        schedule.id,
        fire - timedelta(hours=1),
        made,
    )
    async with Scheduler(wb, poll_interval=0.5):
        await wait_runs(wb, schedule.id, 2, timeout=5, status="SUBMITTED")
    result = await wb.executions.wait(lost, timeout=10)
    assert result.inputs == {"name": "Late"} and result.ok
    assert sorted(await executions_of_graph(wb, schedule.graph_id)) == sorted([lost, made])


async def test_a_schedule_whose_graph_is_gone_is_paused(wb: Workbench, service: ScheduleService) -> None:
    schedule = await interval(service, wb)
    await wb.graphs.delete(schedule.graph_id, USER)
    async with Scheduler(wb, poll_interval=0.5) as scheduler:
        (run,) = await wait_runs(wb, schedule.id, 1, status="FAILED")
        await asyncio.sleep(1.5)
        assert scheduler.failed == 1
    assert "not found" in run["error"] and "paused" in run["error"] and run["execution_id"] is not None
    assert len(await runs_of(wb, schedule.id)) == 1
    assert (await service.get(schedule.id, USER)).status == "paused"


async def test_a_schedule_that_cannot_be_scheduled_does_not_stop_the_others(
    wb: Workbench, service: ScheduleService
) -> None:
    """A row written around the service (bad crontab, unknown zone) is logged and left alone."""
    assert wb.db is not None
    good = await interval(service, wb)
    for column, value in (("cron_expression", "bogus"), ("timezone", "Nowhere/Town")):
        await wb.db.pool.execute(
            """INSERT INTO schedules (user_id, graph_id, schedule_type, cron_expression, timezone, next_run_at)
                VALUES ($1, $2, 'CRON', $3, $4, now())""",
            USER,
            good.graph_id,
            value if column == "cron_expression" else "* * * * *",
            value if column == "timezone" else "UTC",
        )
    async with Scheduler(wb, poll_interval=0.3) as scheduler:
        await wait_runs(wb, good.id, 2)
        assert scheduler.is_leader and scheduler.status()["jobs"] == 1
    assert (
        await wb.db.pool.fetchval("SELECT count(*) FROM schedule_runs WHERE schedule_id <> $1", good.id) == 0
    )
