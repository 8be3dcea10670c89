"""The Monitor's data: a user's runs page by page and the dashboards' aggregates, over runs made through
the real executions service, checked against what those runs stored; and nothing of another user's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.monitor_data import (
    UsageBlock,
    failing_agent,
    new_user,
    register_usage_block,
    sleeping_agent,
    usage_agent,
)
from tests.support.blocks import FailBlock
from workbench.app import Workbench
from workbench.engine.state import ExecutionStatus
from workbench.errors import InputError, NotFoundError
from workbench.services.monitor import MonitorService, Window
from workbench.store.monitor import ExecutionFilter


def percentile(values: list[float], p: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@pytest.fixture
def monitor(wb: Workbench) -> MonitorService:
    register_usage_block(wb)
    return MonitorService.from_workbench(wb)


async def _runs(wb: Workbench, user: str) -> dict[str, list[str]]:
    """Three runs of a usage agent (15 tokens, $0.25 each) and two of a failing agent, as ``user``."""
    good, bad = usage_agent(), failing_agent()
    ids: dict[str, list[str]] = {"good": [], "bad": []}
    for i in range(3):
        result = await wb.executions.run(good, {"text": f"hello {i}"}, user_id=user, timeout=30)
        assert result.ok, result.error
        ids["good"].append(result.execution_id)
        good = await wb.graphs.get(result.graph_id, user)  # the stored graph: later runs reuse it
    for i in range(2):
        result = await wb.executions.run(bad, {"text": f"oops {i}"}, user_id=user, timeout=30)
        assert result.status == ExecutionStatus.FAILED
        ids["bad"].append(result.execution_id)
        bad = await wb.graphs.get(result.graph_id, user)
    return ids


async def test_page_lists_the_users_runs_with_usage_filters_and_keyset_paging(
    wb: Workbench, monitor: MonitorService
) -> None:
    user = await new_user(wb)
    ids = await _runs(wb, user)
    page = await monitor.page(user)
    assert [r.id for r in page.rows] == [*reversed(ids["bad"]), *reversed(ids["good"])]
    assert page.total == 5 and not page.total_capped and page.next_cursor is None
    good = [r for r in page.rows if r.id in ids["good"]]
    assert {(r.agent, r.status, r.tokens, r.cost_usd, r.nodes) for r in good} == {
        ("usage agent", "COMPLETED", 15.0, 0.25, 3)
    }
    bad = [r for r in page.rows if r.id in ids["bad"]]
    assert {(r.agent, r.status, r.tokens) for r in bad} == {("failing agent", "FAILED", 0.0)}
    assert all(r.error and "boom" in r.error for r in bad), [r.error for r in bad]
    assert all(r.duration_s is not None and r.duration_s >= 0 for r in page.rows)

    failed = await monitor.page(user, ExecutionFilter(statuses=("FAILED",)))
    assert [r.id for r in failed.rows] == list(reversed(ids["bad"])) and failed.total == 2
    graph_id = good[0].graph_id
    by_agent = await monitor.page(user, ExecutionFilter(graph_id=graph_id))
    assert [r.id for r in by_agent.rows] == list(reversed(ids["good"]))
    later = await monitor.page(user, ExecutionFilter(since=datetime.now(UTC) + timedelta(minutes=1)))
    assert later.rows == [] and later.total == 0
    middle = page.rows[2].created_at
    older = await monitor.page(user, ExecutionFilter(until=middle))
    assert [r.id for r in older.rows] == [r.id for r in page.rows[3:]]

    seen, cursor, sizes = [], None, []
    while True:
        part = await monitor.page(user, after=cursor, limit=2)
        sizes.append(len(part.rows))
        seen += [r.id for r in part.rows]
        cursor = part.next_cursor
        if cursor is None:
            break
    assert sizes == [2, 2, 1] and seen == [r.id for r in page.rows]
    assert await monitor.agents(user) == sorted(
        [(good[0].graph_id, "usage agent"), (bad[0].graph_id, "failing agent")], key=lambda a: a[1]
    )


async def test_dashboard_aggregates_match_the_stored_runs(wb: Workbench, monitor: MonitorService) -> None:
    user = await new_user(wb)
    ids = await _runs(wb, user)
    board = await monitor.dashboard(user, Window.HOUR)

    assert (board.totals.runs, board.totals.completed, board.totals.failed) == (5, 3, 2)
    assert board.totals.success_rate == pytest.approx(0.6)
    assert len(board.rate) == 60
    assert sum(b.counts["COMPLETED"] for b in board.rate) == 3
    assert sum(b.counts["FAILED"] for b in board.rate) == 2
    assert all(
        set(b.counts) == {"QUEUED", "RUNNING", "REVIEW", "COMPLETED", "FAILED", "CANCELLED"}
        for b in board.rate
    )

    results = {k: [await wb.executions.get(i, user) for i in v] for k, v in ids.items()}
    agents = {a.agent: a for a in board.agents}
    assert set(agents) == {"usage agent", "failing agent"}
    good, bad = agents["usage agent"], agents["failing agent"]
    assert (good.runs, good.completed, good.success_rate, good.tokens, good.cost_usd) == (
        3,
        3,
        1.0,
        45.0,
        0.75,
    )
    assert (bad.runs, bad.failed, bad.success_rate) == (2, 2, 0.0)
    durations = [r.duration for r in results["good"]]
    assert good.durations.p50 == pytest.approx(percentile(durations, 0.5), abs=1e-6)
    assert good.durations.p90 == pytest.approx(percentile(durations, 0.9), abs=1e-6)
    assert good.durations.p99 == pytest.approx(percentile(durations, 0.99), abs=1e-6)

    blocks = {b.block_name: b for b in board.blocks}
    assert blocks["UsageBlock"].executions == 3 and blocks["UsageBlock"].failed == 0
    assert blocks["FailBlock"].executions == 2 and blocks["FailBlock"].failed == 2
    use = [n.duration for r in results["good"] for n in r.node_executions if n.node_id == "use"]
    assert blocks["UsageBlock"].durations.p90 == pytest.approx(percentile(use, 0.9), abs=1e-6)

    assert (board.block_runs, board.blocks_capped) == (5, False)
    latest = await monitor.repo.by_block(user, board.since, max_runs=2)  # the two failing runs
    assert (latest.runs, latest.capped) == (2, True)
    assert {(b.block_id, b.executions) for b in latest.blocks} >= {(FailBlock.id, 2)}
    assert UsageBlock.id not in {b.block_id for b in latest.blocks}

    usage = [(u.agent, u.runs, u.tokens, u.cost_usd) for u in board.usage]
    assert ("usage agent", 3, 45.0, 0.75) in usage and ("failing agent", 2, 0.0, 0.0) in usage
    assert board.usage[0].day == datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert board.runtime.queue_kind == "in-process" and not board.runtime.distributed


async def test_a_second_user_sees_nothing_of_the_first(wb: Workbench, monitor: MonitorService) -> None:
    first, second = await new_user(wb, "first"), await new_user(wb, "second")
    ids = await _runs(wb, first)
    page = await monitor.page(second)
    assert page.rows == [] and page.total == 0
    assert await monitor.agents(second) == []
    board = await monitor.dashboard(second, Window.MONTH)
    assert board.totals.runs == 0 and board.agents == [] and board.blocks == [] and board.usage == []
    assert all(not any(b.counts.values()) for b in board.rate)
    some = ids["good"][0]
    for action in (monitor.run, monitor.cancel, monitor.rerun):
        with pytest.raises(NotFoundError):
            await action(second, some)
    assert (await monitor.run(first, some)).result.execution_id == some


async def test_run_detail_rerun_and_cancel(wb: Workbench, monitor: MonitorService) -> None:
    user = await new_user(wb)
    ids = await _runs(wb, user)
    detail = await monitor.run(user, ids["good"][0])
    assert detail.agent == "usage agent"
    assert {n.node_id: n.block_name for n in detail.result.node_executions} == {
        "in": "AgentInputBlock",
        "use": "UsageBlock",
        "out": "AgentOutputBlock",
    }
    again = await monitor.rerun(user, ids["good"][0])
    rerun = await wb.executions.wait(again, user_id=user, timeout=30)
    assert rerun.ok and rerun.inputs == {"text": "hello 0"} and rerun.graph_id == detail.result.graph_id

    slow = await wb.executions.submit(sleeping_agent(30), {"text": "zz"}, user_id=user)
    for _ in range(100):  # until the sleeping node runs
        if (await wb.executions.get(slow, user)).status == ExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.02)
    await monitor.cancel(user, slow)
    ended = await wb.executions.wait(slow, user_id=user, timeout=10)
    assert ended.status == ExecutionStatus.CANCELLED


async def test_bad_requests_are_named(wb: Workbench, monitor: MonitorService) -> None:
    user = await new_user(wb)
    with pytest.raises(NotFoundError, match="not a valid id"):
        await monitor.run(user, "not-a-uuid")
    with pytest.raises(InputError, match="status: unknown DONE"):
        await monitor.page(user, ExecutionFilter(statuses=("DONE",)))
    with pytest.raises(InputError, match="limit"):
        await monitor.page(user, limit=0)
    with pytest.raises(NotFoundError, match="agent"):
        await monitor.page(user, ExecutionFilter(graph_id="nope"))
    now = datetime.now(UTC)
    with pytest.raises(InputError, match="time range"):
        await monitor.page(user, ExecutionFilter(since=now, until=now - timedelta(hours=1)))
