"""The Library's data on real PostgreSQL: per-agent versions, schedules, runs, live runs, last run and
success rate in one query; actions through the services with their rules (a delete refused while a run
is live, a schedule's preview checked like its creation); nothing of another user's."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import Field

from tests.engine.graphs import graph, inp, link, node, out
from tests.store.monitor_data import failing_agent, new_user, sleeping_agent
from workbench.app import Workbench
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.engine.state import ExecutionStatus
from workbench.errors import ConflictError, NotFoundError
from workbench.services.schedules import ScheduleInputError
from workbench.ui.context import UiContext
from workbench.ui.library_store import LibraryStore


class GateBlock(Block):
    """Passes its value on, or fails when the value is ``fail``."""

    id = "5b0f7e2a-3c41-4d8e-9a6b-2f1c7d9e4a10"
    description = "Test block: yields `value`, or the error `no` when it is `fail`."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(BlockSchema):
        value: Any = Field(default=None, description="Passed on unless it is `fail`.")

    class Output(BlockSchema):
        output: Any = Field(description="`value`, unchanged.")

    test_input = [{"value": 1}]
    test_output = [("output", 1)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        if input_data.value == "fail":
            yield "error", "no"
            return
        yield "output", input_data.value


def store_of(wb: Workbench, user: str) -> LibraryStore:
    return LibraryStore(UiContext(wb=wb, user_id=user, email=None))


async def _run_outcomes(wb: Workbench, user: str, outcomes: str) -> tuple[str, list[datetime]]:
    """One agent run once per letter of ``outcomes`` (``c``: completes, ``f``: fails), in order: its
    graph id and the runs' creation times. The agent fails when its input is ``fail``."""
    wb.registry.register(GateBlock, __name__)
    agent = graph(
        [inp("in", "text"), node("gate", GateBlock), out("out", "reply")],
        [link("in.result", "gate.value"), link("gate.output", "out.value")],
        name="Gatekeeper",
    )
    stored = await wb.graphs.create(agent, user)
    times = []
    for letter in outcomes:
        result = await wb.executions.run(stored.id, {"text": "fail" if letter == "f" else "ok"}, user_id=user)
        assert result.status == (ExecutionStatus.FAILED if letter == "f" else ExecutionStatus.COMPLETED)
        times.append((await wb.executions.get(result.execution_id, user)).created_at)
    return stored.id, times


async def test_agents_carry_runs_success_rate_versions_and_schedules(wb: Workbench) -> None:
    user = await new_user(wb, "library")
    store = store_of(wb, user)
    graph_id, times = await _run_outcomes(wb, user, "cccff")
    idle = await wb.graphs.create(failing_agent("Never run"), user)
    stored = await wb.graphs.get(graph_id, user)
    await wb.graphs.update(graph_id, stored.model_copy(update={"description": "v2"}), user)
    await store.create_schedule(
        {"graph_id": graph_id, "inputs": {"text": "ok"}, "schedule_type": "DAILY", "time_of_day": "07:30"}
    )
    paused = await store.create_schedule(
        {
            "graph_id": graph_id,
            "inputs": {"text": "ok"},
            "schedule_type": "INTERVAL",
            "interval_seconds": 3600,
        }
    )
    await store.pause(paused.id)

    agents = {a.id: a for a in await store.agents()}
    assert set(agents) == {graph_id, idle.id}
    gate = agents[graph_id]
    assert (gate.name, gate.version, gate.versions) == ("Gatekeeper", 2, 2)
    assert (gate.schedules, gate.active_schedules) == (2, 1)
    assert (gate.runs, gate.live, gate.finished, gate.completed) == (5, 0, 5, 3)
    assert gate.success_rate == pytest.approx(0.6)
    assert gate.last_run_at == max(times)
    never = agents[idle.id]
    assert (never.runs, never.success_rate, never.last_run_at, never.versions) == (0, None, None, 1)

    # The rate covers the latest finished runs only: of the last three, one completed.
    recent = {a.id: a for a in await store.agents(recent=3)}[graph_id]
    assert (recent.finished, recent.completed, recent.runs) == (3, 1, 5)
    assert recent.success_rate == pytest.approx(1 / 3)

    # Search by name, any case, wildcards literal.
    assert [a.id for a in await store.agents("gatekeep")] == [graph_id]
    assert await store.agents("100%") == []
    assert [a.id for a in await store.agents("  ")] != []

    # The agent's versions, runs and schedules through the services.
    assert [v.version for v in await store.versions(graph_id)] == [2, 1]
    await store.activate(graph_id, 1)
    assert {a.id: a for a in await store.agents()}[graph_id].version == 1
    assert len(await store.runs(graph_id)) == 5
    assert {s.status for s in await store.schedules(graph_id)} == {"active", "paused"}
    assert await store.input_template(graph_id) == {"text": ""}


async def test_another_users_data_never_shows(wb: Workbench) -> None:
    ada, bob = await new_user(wb, "library-ada"), await new_user(wb, "library-bob")
    graph_id, _ = await _run_outcomes(wb, ada, "cf")
    await store_of(wb, ada).create_schedule(
        {"graph_id": graph_id, "inputs": {"text": "ok"}, "schedule_type": "DAILY", "time_of_day": "08:00"}
    )
    bobs_id, _ = await _run_outcomes(wb, bob, "c")

    bobs = store_of(wb, bob)
    listed = await bobs.agents()
    assert [a.id for a in listed] == [bobs_id]
    assert (listed[0].runs, listed[0].schedules, listed[0].success_rate) == (1, 0, 1.0)
    assert await bobs.agents("Gatekeeper") == [a for a in listed if a.name == "Gatekeeper"]
    assert await bobs.schedules(graph_id) == []
    assert await bobs.runs(graph_id) == []
    with pytest.raises(NotFoundError):
        await bobs.versions(graph_id)
    with pytest.raises(NotFoundError):
        await bobs.delete_agent(graph_id)
    assert [a.id for a in await store_of(wb, ada).agents()] == [graph_id]


async def test_delete_is_refused_while_a_run_is_live(wb: Workbench) -> None:
    user = await new_user(wb, "library-live")
    store = store_of(wb, user)
    agent = await wb.graphs.create(sleeping_agent(30, "Sleeper"), user)
    run = await wb.executions.submit(agent.id, {"text": "zz"}, user_id=user)
    live = next(a for a in await store.agents() if a.id == agent.id)
    assert live.live == 1 and live.runs == 1 and live.finished == 0

    with pytest.raises(ConflictError, match="queued or running"):
        await store.delete_agent(agent.id)
    assert [a.id for a in await store.agents()] == [agent.id]

    await wb.executions.cancel(run, user)
    for _ in range(100):
        if (await wb.executions.get(run, user)).status.is_final:
            break
        await asyncio.sleep(0.1)
    await store.delete_agent(agent.id)
    assert await store.agents() == []


async def test_preview_checks_timing_like_create(wb: Workbench) -> None:
    user = await new_user(wb, "library-preview")
    store = store_of(wb, user)
    times = await store.preview({"schedule_type": "CRON", "cron_expression": "0 9 * * *", "timezone": "UTC"})
    assert len(times) == 5 and all(t.hour == 9 and t.minute == 0 for t in times)
    assert times[0] > datetime.now(UTC) and times[1] - times[0] == timedelta(days=1)

    every = await store.preview({"schedule_type": "INTERVAL", "interval_seconds": 120}, count=3)
    assert [b - a for a, b in itertools.pairwise(every)] == [timedelta(seconds=120)] * 2

    with pytest.raises(ScheduleInputError) as bad:
        await store.preview({"schedule_type": "CRON", "cron_expression": "61 * * *", "timezone": "Mars/Base"})
    assert {field for field, _ in bad.value.problems} == {"cron_expression", "timezone"}
    with pytest.raises(ScheduleInputError) as fast:
        await store.preview({"schedule_type": "INTERVAL", "interval_seconds": 5})
    assert "at least 60 seconds" in dict(fast.value.problems)["interval_seconds"]
    assert await store.agents() == []  # nothing stored
