"""The Monitor in a real browser, as a person uses it: watch a run appear and finish in the table without
reloading, open its timeline, cancel a running one, look at the dashboards; a second user's Monitor
shows none of it. Every request stays on 127.0.0.1 (the ``browser`` fixture); screenshots go to
/tmp/shots/ui/."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import PASSWORD, Browser, sign_up

INPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"
COUNTDOWN = "d67a9c52-5e4e-11e2-bcfd-0800200c9a71"
TEMPLATE = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"


def waiting_agent(name: str) -> dict[str, Any]:
    """input ``text`` -> greeting template -> countdown of ``seconds`` -> output ``reply``."""
    return {
        "name": name,
        "nodes": [
            {"id": "text", "block_id": INPUT, "input_default": {"name": "text"}},
            {"id": "seconds", "block_id": INPUT, "input_default": {"name": "seconds", "value": 1}},
            {"id": "greet", "block_id": TEMPLATE, "input_default": {"format": "Hello, {{ who }}!"}},
            {"id": "wait", "block_id": COUNTDOWN, "input_default": {}},
            {"id": "reply", "block_id": OUTPUT, "input_default": {"name": "reply"}},
        ],
        "links": [
            {"source_id": "text", "source_name": "result", "sink_id": "greet", "sink_name": "values_#_who"},
            {"source_id": "greet", "source_name": "output", "sink_id": "wait", "sink_name": "input_message"},
            {"source_id": "seconds", "source_name": "result", "sink_id": "wait", "sink_name": "seconds"},
            {"source_id": "wait", "source_name": "output_message", "sink_id": "reply", "sink_name": "value"},
        ],
    }


class Api:
    """The API as a script would use it, with an optional bearer token."""

    def __init__(self, server: ServerProcess, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=server.base_url + "/api/v1", headers=headers, timeout=30)

    def agent(self, name: str) -> str:
        response = self.http.post("/graphs", json=waiting_agent(name))
        assert response.status_code in (200, 201), response.text
        return str(response.json()["id"])

    def run(self, graph_id: str, text: str, seconds: int) -> str:
        response = self.http.post(
            f"/graphs/{graph_id}/execute", json={"inputs": {"text": text, "seconds": seconds}}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        return str(body.get("id") or body.get("execution_id"))

    def status(self, execution_id: str) -> str:
        return str(self.http.get(f"/executions/{execution_id}").json()["status"])


def login_token(server: ServerProcess, email: str) -> str:
    response = httpx.post(
        server.base_url + "/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def row(page: Any, execution_id: str) -> Any:
    """The table row of a run (its link names the run's first id block)."""
    return page.locator(f'tr.wb-row[data-id="{execution_id}"]')


def status(page: Any, execution_id: str) -> Any:
    """The status cell of a run's row."""
    return row(page, execution_id).locator('td[data-field="status"]')


async def test_watch_a_run_open_its_timeline_cancel_one(
    ui_local_server: ServerProcess, browser: Browser
) -> None:
    server = ui_local_server
    assert server.ui_url is not None
    api = Api(server)
    graph_id = api.agent("Greeter with a pause")
    first = api.run(graph_id, "Ada", 0)

    context = await browser.context()
    page = await browser.page(context)
    await page.goto(server.ui_url + "/monitor")
    await row(page, first).wait_for(timeout=TIMEOUT)
    await status(page, first).get_by_text("completed").wait_for(timeout=TIMEOUT)

    # A run started elsewhere appears, runs and finishes in the open page: no reload.
    watched = api.run(graph_id, "Grace", 3)
    await status(page, watched).get_by_text("running").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "monitor-running")
    await status(page, watched).get_by_text("completed").wait_for(timeout=TIMEOUT)
    assert await row(page, watched).get_by_text("Greeter with a pause").is_visible()
    await browser.shot(page, "monitor-table")

    # Its page: the summary, the timeline, the nodes with readable values.
    await row(page, watched).locator("a").click()
    await page.wait_for_url(re.compile(r"/monitor/run\?id="))
    nodes = page.locator(".tabulator-row")
    await nodes.first.wait_for(timeout=TIMEOUT)
    await browser.shot(page, "monitor-run-timeline")
    assert await nodes.count() == 5
    await page.get_by_text("Hello, Grace!").first.wait_for(timeout=TIMEOUT)
    await page.locator(".bk-Canvas, canvas").first.wait_for(timeout=TIMEOUT)  # the timeline is drawn

    # A long run: cancel it from its page.
    long = api.run(graph_id, "Linus", 120)
    await page.goto(server.ui_url + f"/monitor/run?id={long}")
    cancel = page.get_by_role("button", name="Cancel run")
    await page.get_by_text("running", exact=True).first.wait_for(timeout=TIMEOUT)
    await cancel.click()
    await page.get_by_text("cancelled", exact=True).first.wait_for(timeout=TIMEOUT)
    assert api.status(long) == "CANCELLED"
    assert await cancel.is_disabled()
    await browser.shot(page, "monitor-run-cancelled")

    # The dashboards.
    await page.goto(server.ui_url + "/monitor")
    await page.get_by_text("Dashboards", exact=True).click()
    await page.get_by_text("Success rate").first.wait_for(timeout=TIMEOUT)
    for title in ("Runs per minute by status", "Run duration per agent", "Node duration per block"):
        await page.get_by_text(title).wait_for(timeout=TIMEOUT)
    await browser.shot(page, "monitor-dashboards")


async def test_a_second_user_sees_none_of_the_first_users_runs(
    ui_accounts_server: ServerProcess, browser: Browser
) -> None:
    server = ui_accounts_server
    assert server.ui_url is not None
    sign_up(server, "monitor-ada@example.com")
    sign_up(server, "monitor-bob@example.com")
    ada = Api(server, login_token(server, "monitor-ada@example.com"))
    ran = ada.run(ada.agent("Ada's agent"), "x", 0)

    for email, sees in (("monitor-ada@example.com", True), ("monitor-bob@example.com", False)):
        context = await browser.context()
        page = await browser.page(context)
        await page.goto(server.ui_url + "/monitor")
        await page.wait_for_url(re.compile(r"/login\?next="))
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(re.compile(r"/monitor$"))
        await page.get_by_role("button", name="Newest").wait_for(timeout=TIMEOUT)
        if sees:
            await row(page, ran).wait_for(timeout=TIMEOUT)
        else:
            await page.get_by_text("No runs yet.").wait_for(timeout=TIMEOUT)
            assert await row(page, ran).count() == 0
            await page.goto(server.ui_url + f"/monitor/run?id={ran}")
            await page.get_by_text("not found").wait_for(timeout=TIMEOUT)
            await browser.shot(page, "monitor-other-user-run")
        await context.close()
