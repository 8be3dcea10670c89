"""The Library's pieces without a browser, on real PostgreSQL: the agents table (escaped), schedules in
words, the schedule form's preview and its refusals field by field, and the page deleting an agent
through the service (refused while a run is live)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import param

from tests.store.monitor_data import new_user, sleeping_agent
from workbench.app import Workbench
from workbench.ui.context import UiContext
from workbench.ui.library import LibraryPage, agents_table
from workbench.ui.library_schedules import ScheduleForm, describe_when
from workbench.ui.library_store import LibraryAgent, LibraryStore


def store_of(wb: Workbench, user: str) -> LibraryStore:
    return LibraryStore(UiContext(wb=wb, user_id=user, email=None))


def typed(widget: Any, **values: Any) -> None:
    """Set a widget's values as the browser would, without running its watchers (the test calls what
    they would)."""
    with param.parameterized.discard_events(widget):
        widget.param.update(**values)


def test_agents_table_escapes_names_and_marks_the_selected_one() -> None:
    now = datetime.now(UTC)
    agent = LibraryAgent("a1", "<b>Bold</b>", 3, 3, 2, 1, 7, 1, now, 4, 3, now)
    shown = agents_table([agent], selected="a1")
    assert "&lt;b&gt;Bold&lt;/b&gt;" in shown and "<b>Bold</b>" not in shown
    assert 'href="?agent=a1"' in shown and "▸" in shown
    assert "75 %" in shown and "of 4" in shown and "(1 live)" in shown and "(1 active)" in shown
    assert "No agents match." in agents_table([])


async def test_schedules_in_words(wb: Workbench) -> None:
    user = await new_user(wb, "library-words")
    store = store_of(wb, user)
    graph = await wb.graphs.create(sleeping_agent(0, "Words"), user)
    base = {"graph_id": graph.id, "inputs": {"text": "x"}}
    soon = (datetime.now(UTC) + timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)
    made = [
        await store.create_schedule({**base, "schedule_type": "INTERVAL", "interval_seconds": 90}),
        await store.create_schedule({**base, "schedule_type": "DAILY", "time_of_day": "07:30"}),
        await store.create_schedule(
            {**base, "schedule_type": "WEEKLY", "time_of_day": "18:00:05", "weekdays": ["fri", "mon"]}
        ),
        await store.create_schedule(
            {**base, "schedule_type": "ONCE", "run_at": soon, "timezone": "Europe/Madrid"}
        ),
    ]
    words = [describe_when(s) for s in made]
    assert words[:3] == ["every 1 min 30 s", "daily at 07:30", "weekly mon, fri at 18:00:05"]
    assert re.fullmatch(r"once at \w{3} \d{4}-\d\d-\d\d 0[78]:00:00 CES?T", words[3]), words[3]


async def test_the_form_previews_and_names_each_bad_field(wb: Workbench) -> None:
    user = await new_user(wb, "library-form")
    store = store_of(wb, user)
    graph = await wb.graphs.create(sleeping_agent(0, "Former"), user)
    form = ScheduleForm(store=store, graph_id=graph.id, versions=[1], inputs={"text": ""})
    assert form.inputs.value == '{"text": ""}'

    typed(form.kind, value="INTERVAL")
    typed(form.interval, value_input="ten")
    await form.refresh_preview()
    assert "interval_seconds" in form.preview.object and "wb-fires" not in form.preview.object
    typed(form.interval, value_input="120")
    await form.refresh_preview()
    assert form.preview.object.count("<li>") == 5 and "(UTC)" not in form.preview.object

    typed(form.kind, value="WEEKLY")
    typed(form.time_of_day, value_input="18:00")
    typed(form.weekdays, value=["fri"])
    typed(form.timezone, value_input="America/New_York")
    await form.refresh_preview()
    assert form.preview.object.count("<li>Fri ") == 5 and "18:00:00 E" in form.preview.object

    typed(form.inputs, value_input="{oops")
    assert await form.submit() is None
    assert form.errors.visible and "`inputs`: is not JSON" in form.errors.object
    typed(form.inputs, value_input='{"text": "hi"}')
    typed(form.timezone, value_input="Nowhere/Land")
    assert await form.submit() is None
    assert "`timezone`" in form.errors.object

    typed(form.timezone, value_input="")
    typed(form.version, value="1")
    typed(form.name_input, value_input="Friday evening")
    created = await form.submit()
    assert created is not None and not form.errors.visible and form.saved.visible
    assert (created.graph_version, created.name, created.weekdays, created.timezone) == (
        1,
        "Friday evening",
        ["fri"],
        "UTC",
    )
    assert created.inputs == {"text": "hi"}


async def test_the_page_deletes_through_the_service(wb: Workbench) -> None:
    user = await new_user(wb, "library-page")
    store = store_of(wb, user)
    agent = await wb.graphs.create(sleeping_agent(30, "Busy"), user)
    page = LibraryPage(store=store)
    await page.refresh()
    await page.select(agent.id)
    assert page._detail.visible and "Busy" in page._title.object

    run = await wb.executions.submit(agent.id, {"text": "zz"}, user_id=user)
    assert not await page.delete_selected()
    assert page._delete_message.visible and "queued or running" in page._delete_message.object
    assert [a.id for a in await store.agents()] == [agent.id]

    await wb.executions.cancel(run, user)
    for _ in range(100):
        if (await wb.executions.get(run, user)).status.is_final:
            break
        await asyncio.sleep(0.1)
    assert await page.delete_selected()
    assert not page._detail.visible and page._notice.visible
    assert "No agents yet" in page._table.object

    await page.select("00000000-0000-0000-0000-000000000000")  # not (or no longer) the user's
    assert page._versions_message.visible and "not found" in page._versions_message.object
