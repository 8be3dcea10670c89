"""The Monitor's views without a browser: the table renders the store's page of runs into its Bokeh
model, and follows the bus (a run appears, its node executions count up, it finishes) with no reload;
the dashboards and the run page build their charts from real runs."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from bokeh.document import Document
from bokeh.models import Plot
from panel.models.markup import HTML

from tests.engine.graphs import graph, inp, link, node, out
from tests.store.monitor_data import new_user, register_usage_block, sleeping_agent, usage_agent
from tests.support.blocks import EchoBlock, SleepBlock
from workbench.app import Workbench
from workbench.services.monitor import MonitorService, Window
from workbench.ui.monitor import Dashboards, MonitorPage, runs_html
from workbench.ui.monitor_data import TABLE_COLUMNS, DashboardStore, ExecutionsStore, RunStore, run_href
from workbench.ui.run_page import RunPage, node_frame, readable, timeline_frame


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait until ``check()`` is truthy (the page reacts to events on the same loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"not reached within {timeout} s: {check}")


def table_rows(root: Any) -> dict[str, dict[str, str]]:
    """The runs table as the browser gets it (the HTML pane's markup in the Bokeh document):
    run id -> column -> the cell's text, in the table's order."""
    for model in root.select({"type": HTML}):
        markup = html.unescape(model.text)
        if 'class="wb-table"' in markup or 'class="wb-empty"' in markup:
            rows = {}
            for ident, cells in re.findall(r'<tr class="wb-row" data-id="([^"]+)">(.*?)</tr>', markup):
                found = re.findall(r'<td data-field="(\w+)"[^>]*>(.*?)</td>', cells)
                rows[ident] = {field: html.unescape(re.sub(r"<[^>]+>", "", cell)) for field, cell in found}
            return rows
    raise AssertionError("no runs table in the page")


@pytest.fixture
def service(wb: Workbench) -> MonitorService:
    register_usage_block(wb)
    return MonitorService.from_workbench(wb)


def two_step_agent(seconds: float) -> Any:
    """input -> echo -> sleep ``seconds`` -> output: a node finishes, then the run waits."""
    return graph(
        [
            inp("in", "text"),
            node("echo", EchoBlock),
            node("nap", SleepBlock, seconds=seconds),
            out("out", "reply"),
        ],
        [link("in.result", "echo.value"), link("echo.output", "nap.value"), link("nap.output", "out.value")],
        name="two steps",
    )


async def test_table_renders_the_store_and_follows_the_bus(wb: Workbench, service: MonitorService) -> None:
    user, other = await new_user(wb), await new_user(wb, "other")
    done = await wb.executions.run(usage_agent(), {"text": "hi"}, user_id=user, timeout=30)
    page = MonitorPage(executions=ExecutionsStore(service, user), dashboards=DashboardStore(service, user))
    await page.start(wb.bus, user)
    watcher = MonitorPage(
        executions=ExecutionsStore(service, other), dashboards=DashboardStore(service, other)
    )
    await watcher.start(wb.bus, other)
    try:
        root = page.__panel__().get_root(Document())
        rows = table_rows(root)
        assert list(rows) == [done.execution_id]
        assert rows[done.execution_id]["status"] == "completed"
        assert rows[done.execution_id]["tokens"] == "15"
        assert rows[done.execution_id]["agent"] == "usage agent"
        assert page.executions.agents == [(done.graph_id, "usage agent")]

        run_id = await wb.executions.submit(two_step_agent(1.0), {"text": "go"}, user_id=user)
        # The run appears without a reload, and its finished nodes count up while it runs.
        await until(lambda: run_id in table_rows(root))
        await until(
            lambda: (
                table_rows(root)[run_id]["status"] == "running"
                and int(table_rows(root)[run_id]["nodes"]) >= 2
            )
        )
        # EXECUTION_COMPLETED: the stored final state replaces the live one.
        await until(lambda: table_rows(root)[run_id]["status"] == "completed", timeout=15)
        row = table_rows(root)[run_id]
        assert row["nodes"] == "4" and row["duration"].endswith(" s")
        assert list(table_rows(root)) == [run_id, done.execution_id]
        assert page.feed is not None and page.feed.handled > 0
        # The other user's page saw none of it.
        assert watcher.executions.frame.empty and watcher.executions.total == 0
    finally:
        await page.close()
        await watcher.close()


async def test_filters_and_paging_go_through_sql(wb: Workbench, service: MonitorService) -> None:
    user = await new_user(wb)
    ids = [
        (await wb.executions.run(usage_agent(), {"text": str(i)}, user_id=user, timeout=30)).execution_id
        for i in range(5)
    ]
    store = ExecutionsStore(service, user, page_size=2)
    await store.newest()
    assert list(store.frame["id"]) == ids[::-1][:2] and store.has_older and store.total == 5
    await store.older()
    assert list(store.frame["id"]) == ids[::-1][2:4] and store.position == 2
    await store.older()
    assert list(store.frame["id"]) == ids[::-1][4:] and not store.has_older
    await store.newer()
    assert list(store.frame["id"]) == ids[::-1][2:4]
    store.statuses = ["FAILED"]
    await store.newest()
    assert store.frame.empty and store.total == 0
    store.param.update(statuses=[], time_range="Last hour")
    await store.newest()
    assert store.total == 5 and store.error == ""


async def test_a_lost_database_is_a_message_and_the_page_recovers(
    wb: Workbench, service: MonitorService
) -> None:
    user = await new_user(wb)
    store = ExecutionsStore(service, user)
    pool = service.repo.pool

    class Gone:
        async def fetch(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionRefusedError("connection refused")

        fetchval = fetchrow = fetch

    service.repo.pool = Gone()  # type: ignore[assignment]
    try:
        await store.newest()
        assert "database cannot be reached" in store.error
    finally:
        service.repo.pool = pool
    await store.newest()
    assert store.error == ""


async def test_dashboards_draw_from_the_aggregates(wb: Workbench, service: MonitorService) -> None:
    user = await new_user(wb)
    agent: Any = usage_agent()
    for i in range(3):
        agent = (await wb.executions.run(agent, {"text": str(i)}, user_id=user, timeout=30)).graph_id
    store = DashboardStore(service, user, window=Window.HOUR)
    await store.refresh()
    assert store.error == "" and store.dashboard.totals.completed == 3
    assert store.rate_frame()["COMPLETED"].sum() == 3  # one-minute buckets: runs per minute = runs
    assert list(store.agent_frame()["success %"]) == [100.0]
    assert set(store.block_frame()["block"]) >= {"UsageBlock", "AgentInputBlock"}
    usage = store.usage_frame()
    assert (usage["tokens"].sum(), usage["cost $"].sum()) == (45.0, 0.75)
    root = Dashboards(store=store).__panel__().get_root(Document())
    titles = {p.text for p in root.select({"type": HTML}) if "wb-chart-title" in p.text}
    assert len(titles) == 6 and any("Cost per agent per day" in t for t in titles)
    assert len(list(root.select({"type": Plot}))) == 6


async def test_run_page_shows_nodes_readably_and_cancels(wb: Workbench, service: MonitorService) -> None:
    user = await new_user(wb)
    run_id = await wb.executions.submit(sleeping_agent(30), {"text": "zz"}, user_id=user)
    page = RunPage(store=RunStore(service, user, execution_id=run_id))
    await page.start(wb.bus, user)
    try:
        page.__panel__().get_root(Document())
        await until(
            lambda: (
                page.store.detail is not None
                and any(n.node_id == "nap" for n in page.store.detail.result.node_executions)
            )
        )
        assert not page._cancel.disabled
        frame = timeline_frame(page.store.detail)
        assert "SleepBlock (nap)" in set(frame["node"])
        await page._on_cancel(None)  # type: ignore[arg-type]
        await until(lambda: str(page.store.detail.result.status) == "CANCELLED")
        assert page._cancel.disabled and "Cancel requested" in page.store.notice
        nodes = node_frame(page.store.detail)
        assert nodes.loc[nodes["node"] == "in", "outputs"].item() == "result: zz"
        await page._on_rerun(None)  # type: ignore[arg-type]
        again = await wb.executions.get(page.store.rerun_id, user)
        assert again.inputs == {"text": "zz"}
        await wb.executions.cancel(page.store.rerun_id, user)
    finally:
        await page.close()


def test_values_read_as_text() -> None:
    assert readable("hello") == "hello"
    assert readable(3) == "3" and readable(None) == "" and readable(True) == "true"
    assert readable({"name": "Ada", "age": 36}) == "name: Ada\nage: 36"
    assert readable([1, "two"]) == "1, two"
    assert readable({"a": {"b": [1]}}) == '{"a": {"b": [1]}}'


def test_runs_table_escapes_what_users_wrote() -> None:
    frame = pd.DataFrame(
        [
            {
                "run": "1a2b3c4d",
                "agent": '<img src=x onerror="alert(1)">',
                "status": "FAILED",
                "started": "2026-12-02 10:00:00",
                "duration": "0.50 s",
                "nodes": 3,
                "tokens": 1200,
                "cost": "$0.0100",
                "error": "node 'fetch': <script>steal()</script>",
                "href": run_href("1a2b3c4d-0000"),
                "id": "1a2b3c4d-0000",
            }
        ],
        columns=TABLE_COLUMNS,
    )
    markup = runs_html(frame)
    assert "<img" not in markup and "<script" not in markup
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in markup
    assert '<a href="/monitor/run?id=1a2b3c4d-0000"' in markup
    assert '<td data-field="tokens" class="wb-num">1,200</td>' in markup
    assert 'wb-status-FAILED">failed<' in markup
    assert runs_html(frame.iloc[0:0]) == '<p class="wb-empty">No runs match.</p>'
