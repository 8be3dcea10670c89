"""The Library in a real browser, as a person uses it: the agents with their numbers, search, an agent's
versions; a schedule previewed while it is typed, refused with its bad fields named, saved, paused and
deleted; deleting an agent refused while it has a live run, and an idle one deleted. Every request
stays on 127.0.0.1 (the ``browser`` fixture); screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import Browser

INPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"
COUNTDOWN = "d67a9c52-5e4e-11e2-bcfd-0800200c9a71"


def waiting_agent(name: str) -> dict[str, Any]:
    """input ``text`` -> a countdown of input ``seconds`` -> output ``reply``."""
    return {
        "name": name,
        "nodes": [
            {"id": "text", "block_id": INPUT, "input_default": {"name": "text"}},
            {"id": "seconds", "block_id": INPUT, "input_default": {"name": "seconds", "value": 0}},
            {"id": "wait", "block_id": COUNTDOWN, "input_default": {}},
            {"id": "reply", "block_id": OUTPUT, "input_default": {"name": "reply"}},
        ],
        "links": [
            {"source_id": "text", "source_name": "result", "sink_id": "wait", "sink_name": "input_message"},
            {"source_id": "seconds", "source_name": "result", "sink_id": "wait", "sink_name": "seconds"},
            {"source_id": "wait", "source_name": "output_message", "sink_id": "reply", "sink_name": "value"},
        ],
    }


class Api:
    """The REST API of a local-mode server, as a script would use it."""

    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.base_url + "/api/v1", timeout=30)

    def agent(self, name: str) -> str:
        response = self.http.post("/graphs", json=waiting_agent(name))
        assert response.status_code in (200, 201), response.text
        return str(response.json()["id"])

    def new_version(self, graph_id: str, name: str) -> None:
        response = self.http.put(f"/graphs/{graph_id}", json={**waiting_agent(name), "description": "v2"})
        assert response.status_code == 200, response.text

    def run(self, graph_id: str, seconds: int) -> str:
        response = self.http.post(
            f"/graphs/{graph_id}/execute", json={"inputs": {"text": "hi", "seconds": seconds}}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        return str(body.get("id") or body.get("execution_id"))

    def status(self, execution_id: str) -> str:
        return str(self.http.get(f"/executions/{execution_id}").json()["status"])

    def cancel(self, execution_id: str) -> None:
        assert self.http.post(f"/executions/{execution_id}/cancel").status_code == 200

    def tool_graphs(self) -> set[str]:
        """The graphs served as MCP tools at /mcp."""
        return {t["graph_id"] for t in self.http.get("/mcp/tools").json()}

    def graph_exists(self, graph_id: str) -> bool:
        return self.http.get(f"/graphs/{graph_id}").status_code == 200


def agent_row(page: Any, graph_id: str) -> Any:
    return page.locator(f'tr.wb-row[data-id="{graph_id}"]')


async def wait_until(api: Api, execution_id: str, status: str) -> None:
    import asyncio

    for _ in range(300):
        if api.status(execution_id) == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {execution_id} never became {status}: {api.status(execution_id)}")


async def test_agents_schedules_and_deleting(ui_local_server: ServerProcess, browser: Browser) -> None:
    server = ui_local_server
    assert server.ui_url is not None
    api = Api(server)
    greeter = api.agent("Library greeter")
    api.new_version(greeter, "Library greeter")
    idle = api.agent("Idle helper")
    done = api.run(greeter, 0)
    await wait_until(api, done, "COMPLETED")

    context = await browser.context()
    page = await browser.page(context)
    await page.goto(server.ui_url + "/library")

    # The table: both agents with their numbers.
    await agent_row(page, greeter).wait_for(timeout=TIMEOUT)
    await agent_row(page, idle).wait_for(timeout=TIMEOUT)
    cells = agent_row(page, greeter)
    assert await cells.locator('td[data-field="version"]').inner_text() == "v2"
    assert await cells.locator('td[data-field="versions"]').inner_text() == "2"
    assert await cells.locator('td[data-field="runs"]').inner_text() == "1"
    assert re.match(r"100 %\s+of 1", await cells.locator('td[data-field="success"]').inner_text())
    assert await agent_row(page, idle).locator('td[data-field="success"]').inner_text() == "—"
    await browser.shot(page, "library-agents")

    # Search narrows the table as it is typed.
    search = page.get_by_placeholder("part of a name")
    await search.fill("idle")
    await agent_row(page, greeter).wait_for(state="detached", timeout=TIMEOUT)
    assert await agent_row(page, idle).is_visible()
    await search.fill("")
    await agent_row(page, greeter).wait_for(timeout=TIMEOUT)

    # The agent's detail, opened from its row: versions with the active one marked.
    await agent_row(page, greeter).locator("a").click()
    await page.wait_for_url(re.compile(rf"/library\?agent={greeter}$"))
    await page.get_by_role("heading", name="Versions").wait_for(timeout=TIMEOUT)
    v1 = page.locator(".wb-version-1")
    await v1.get_by_role("button", name="Activate").wait_for(timeout=TIMEOUT)
    assert await page.locator(".wb-version-2").get_by_text("active", exact=True).is_visible()
    builder = page.locator(f'a[href="/builder?graph={greeter}&version=1"]')
    assert await builder.count() == 1

    # As an MCP tool: served by default in the no-login mode; switched off and on again.
    await page.get_by_role("heading", name="As an MCP tool").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "library-detail")
    switch = page.locator(".wb-mcp-switch input[type=checkbox]")  # Bokeh's label is a sibling
    await page.get_by_text("Serve this agent as an MCP tool at /mcp").wait_for(timeout=TIMEOUT)
    await page.get_by_text("Served as Library_greeter").wait_for(timeout=TIMEOUT)
    assert await switch.is_checked()
    await switch.uncheck()
    await page.get_by_text("Not served: MCP clients do not see it.").wait_for(timeout=TIMEOUT)
    assert greeter not in api.tool_graphs()
    await browser.shot(page, "library-mcp-off")
    await switch.check()
    await page.get_by_text("Served as Library_greeter").wait_for(timeout=TIMEOUT)
    assert greeter in api.tool_graphs()

    # A schedule: the preview follows what is typed, in the schedule's timezone.
    cron = page.get_by_placeholder("min hour day month weekday")
    await cron.fill("30 8 * * *")
    await page.get_by_placeholder("your account's (UTC)").fill("Europe/Madrid")
    fires = page.locator("ul.wb-fires li")
    await fires.filter(has_text=re.compile(r"08:30:00 CES?T")).first.wait_for(timeout=TIMEOUT)
    assert await fires.count() == 5
    await cron.fill("99 8 * * *")
    await page.locator(".wb-preview-error", has_text="cron_expression").wait_for(timeout=TIMEOUT)
    await cron.fill("30 8 * * *")
    await fires.first.wait_for(timeout=TIMEOUT)
    await browser.shot(page, "library-schedule-preview")

    # Refused on save, with the field named; then saved.
    inputs = page.get_by_label("Inputs (JSON object)")  # the schedule form's (triggers have theirs)
    await inputs.fill('{"text": ')
    await page.get_by_role("button", name="Save schedule").click()
    await page.get_by_text("The schedule was not saved").wait_for(timeout=TIMEOUT)
    await page.locator(".alert", has_text="inputs").first.wait_for(timeout=TIMEOUT)
    await inputs.fill('{"text": "Good morning", "seconds": 0}')
    await page.get_by_placeholder("optional").fill("Morning hello")
    await page.get_by_role("button", name="Save schedule").click()
    schedule = page.locator(".wb-schedule-row")
    await schedule.get_by_text("cron 30 8 * * *").wait_for(timeout=TIMEOUT)
    assert await schedule.count() == 1
    await schedule.get_by_text("Morning hello").wait_for(timeout=TIMEOUT)
    await schedule.get_by_text("active", exact=True).wait_for(timeout=TIMEOUT)
    await schedule.get_by_text(re.compile(r"08:30:00 CES?T")).wait_for(timeout=TIMEOUT)
    assert "(1 active)" in await agent_row(page, greeter).locator('td[data-field="schedules"]').inner_text()
    await browser.shot(page, "library-schedule-saved")

    # Paused, resumed, deleted.
    await schedule.get_by_role("button", name="Pause").click()
    await schedule.get_by_text("paused", exact=True).wait_for(timeout=TIMEOUT)
    await schedule.get_by_role("button", name="Resume").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "library-schedule-paused")
    await schedule.get_by_role("button", name="Resume").click()
    await schedule.get_by_text("active", exact=True).wait_for(timeout=TIMEOUT)
    await schedule.get_by_role("button", name="Delete").click()
    await page.get_by_text("No schedules yet: add one below.").wait_for(timeout=TIMEOUT)
    assert not await page.get_by_text("Saved: Morning hello.").is_visible()
    assert await page.locator(".wb-schedule-row").count() == 0

    # Deleting an agent with a live run is refused, with the service's reason.
    live = api.run(greeter, 120)
    await wait_until(api, live, "RUNNING")
    await page.get_by_role("button", name="Delete agent").click()
    await page.get_by_text("This cannot be undone.").wait_for(timeout=TIMEOUT)
    await page.get_by_role("button", name="Delete for good").click()
    refusal = page.get_by_text(re.compile(r"The agent was not deleted: .*queued or running"))
    await refusal.wait_for(timeout=TIMEOUT)
    live_row = page.locator(f'tr.wb-row[data-id="{live}"]')  # the run that holds it, in Recent runs
    await live_row.get_by_text("running", exact=True).wait_for(timeout=TIMEOUT)
    assert await live_row.locator(f'a[href="/monitor/run?id={live}"]').count() == 1
    await browser.shot(page, "library-delete-refused")
    assert api.graph_exists(greeter)
    api.cancel(live)
    await wait_until(api, live, "CANCELLED")

    # An idle agent, picked in the selector, is deleted and leaves the table.
    picker = page.locator("select", has=page.locator("option", has_text="Pick an agent"))
    await picker.select_option(label=f"Idle helper ({idle[:8]})")
    await page.get_by_role("heading", name="Idle helper").wait_for(timeout=TIMEOUT)
    await page.get_by_role("button", name="Delete agent").click()
    await page.get_by_role("button", name="Delete for good").click()
    await page.get_by_text("Deleted Idle helper, with its versions and runs.").wait_for(timeout=TIMEOUT)
    await agent_row(page, idle).wait_for(state="detached", timeout=TIMEOUT)
    assert await agent_row(page, greeter).is_visible()
    assert not api.graph_exists(idle)
    await browser.shot(page, "library-deleted")
    await context.close()
