"""The database going away, in a real browser: every web app (Home, Monitor, a run's page, Chat) shows a
message a person reads instead of a blank page, a traceback or a "500", and works again once the
database is back, on a real ``workbench serve --auth none`` whose embedded PostgreSQL the test stops
(SIGINT to the postmaster, a fast shutdown) and starts again on the same data folder and socket.
Every request stays on 127.0.0.1 and no page throws (the ``browser`` fixture); screenshots go to
/tmp/shots/ui/ (``outage-*``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock
import httpx
import psutil
import pytest

from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import graph, inp, link, node, out
from tests.support.browser import TIMEOUT
from tests.support.postgres_processes import postgres_of, wait_postgres_gone
from tests.support.servers import ServerProcess, start_server, stop_server
from tests.ui.conftest import Browser

pytestmark = pytest.mark.slow

DOWN = re.compile(r"database cannot be reached", re.IGNORECASE)
"""What every page says while the database is gone."""
AGENT = "Outage echo"

PAGE_TEXT = """
() => {
  // Every text of the page, through Bokeh's shadow roots (styles and scripts left out).
  const parts = [];
  const visit = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const tag = n.parentElement ? n.parentElement.tagName : '';
      if (tag !== 'STYLE' && tag !== 'SCRIPT') parts.push(n.textContent);
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) visit(el.shadowRoot);
  };
  visit(document);
  return parts.join(' ');
}
"""


class EmbeddedPostgres:
    """The workbench's embedded PostgreSQL, taken away and brought back as an outage would."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.pgdata = (home / "pgdata").resolve()
        self.handle: Any = None
        """pgserver's handle of the server this test started again (None: not started here)."""

    def stop(self) -> None:
        """A fast shutdown of the running server (SIGINT to the postmaster); waits until it is gone."""
        pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGINT)
        left = wait_postgres_gone(self.pgdata, timeout=20)
        assert not left, f"PostgreSQL did not stop: {left}"

    def start(self) -> None:
        """Start it again on the same data folder, with the options (Unix socket only, in the same
        folder) the workbench's own start used: pgserver's ``get_server``, under the workbench's lock."""
        import pgserver

        with filelock.FileLock(self.home / ".pgdata.lock", timeout=120):
            self.handle = pgserver.get_server(self.pgdata, cleanup_mode="stop")

    def leave(self) -> None:
        """This process stops using the server; being the last user (call it after the workbench
        stopped), it stops the server. Anything still running after that is killed, and fails."""
        if self.handle is not None:
            handles = self.pgdata / ".handle_pids.json"
            if handles.exists():  # a workbench killed without leaving must not keep the server up
                alive = [p for p in json.loads(handles.read_text()) if psutil.pid_exists(p)]
                handles.write_text(json.dumps(alive))
            self.handle.cleanup()
            self.handle = None
        left = wait_postgres_gone(self.pgdata, timeout=20)
        for pid in left:
            psutil.Process(pid).kill()
        assert not left, f"the embedded PostgreSQL was left running: {left}"


@pytest.fixture
def outage_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, EmbeddedPostgres]]:
    """A server of this test's own (its database is taken away), and its embedded PostgreSQL."""
    server = start_server(tmp_path / "home", "none", {"WORKBENCH_RATE_LIMIT": "off"}, ui=True)
    database = EmbeddedPostgres(server.home)
    try:
        yield server, database
    finally:
        stop_server(server)
        database.leave()


async def health(api: httpx.AsyncClient) -> int:
    """The health route's status (0: no answer)."""
    try:
        return (await api.get("/api/v1/health")).status_code
    except httpx.HTTPError:
        return 0


async def wait_health(api: httpx.AsyncClient, status: int, timeout: float = 30) -> None:
    """Wait until the health route answers ``status``."""
    deadline = time.monotonic() + timeout
    while (seen := await health(api)) != status:
        assert time.monotonic() < deadline, f"health still answers {seen}, not {status}"
        await asyncio.sleep(0.2)


async def run_agent(api: httpx.AsyncClient, graph_id: str, message: str) -> str:
    """Start a run of the echo agent and wait until it completed; its id."""
    started = await api.post(f"/api/v1/graphs/{graph_id}/execute", json={"inputs": {"message": message}})
    assert started.status_code == 202, started.text
    run = started.json()
    execution_id = str(run.get("id") or run.get("execution_id"))
    deadline = time.monotonic() + 30
    while (await api.get(f"/api/v1/executions/{execution_id}")).json()["status"] != "COMPLETED":
        assert time.monotonic() < deadline, "the run did not complete"
        await asyncio.sleep(0.2)
    return execution_id


def monitor_row(page: Any, execution_id: str) -> Any:
    """The Monitor table's row of a run."""
    return page.locator(f'tr.wb-row[data-id="{execution_id}"]')


async def assert_says_database_is_down(page: Any) -> None:
    """The page shows a message about the database: a page with its header, no traceback, no 500."""
    await page.get_by_text(DOWN).first.wait_for(timeout=TIMEOUT)
    await page.wait_for_timeout(500)  # let the page finish drawing
    await assert_readable(page)


async def assert_readable(page: Any) -> None:
    """Nothing a person should not see: no traceback, no server error, and the header is there."""
    text = await page.evaluate(PAGE_TEXT)
    assert "Traceback" not in text, text
    assert "Internal Server Error" not in text, text
    assert not re.search(r"\b500\b", text), text
    assert await page.locator("header.wb-top").is_visible(), "the page has no header"


async def reload(page: Any) -> None:
    """Reload as a person does; the page itself must answer (never a 500 or a 503)."""
    response = await page.reload()
    assert response is not None and response.status == 200, response and response.status


async def test_pages_say_the_database_is_gone_and_recover(
    outage_server: tuple[ServerProcess, EmbeddedPostgres], browser: Browser
) -> None:
    server, database = outage_server
    assert server.ui_url is not None
    ui = server.ui_url
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as api:
        echo = graph(
            [
                inp("in", "message"),
                node("t", FillTextTemplateBlock, format="Echo: {{ m }}"),
                out("out", "reply"),
            ],
            [link("in.result", "t.values_#_m"), link("t.output", "out.value")],
            name=AGENT,
        )
        created = await api.post("/api/v1/graphs", json=echo.model_dump(mode="json"))
        assert created.status_code == 201, created.text
        agent = str(created.json()["id"])
        before = await run_agent(api, agent, "before the outage")

        # ---- every page works -------------------------------------------------------------------
        context = await browser.context()
        home = await browser.page(context)
        await home.goto(ui + "/")
        await home.get_by_text(AGENT).first.wait_for(timeout=TIMEOUT)

        monitor = await browser.page(context)
        await monitor.goto(ui + "/monitor")
        await monitor_row(monitor, before).wait_for(timeout=TIMEOUT)

        run = await browser.page(context)
        await run.goto(f"{ui}/monitor/run?id={before}")
        await run.locator(".tabulator-row").first.wait_for(timeout=TIMEOUT)
        assert await run.locator(".tabulator-row").count() == 3

        chat = await browser.page(context)
        await chat.goto(f"{ui}/chat?agent={agent}")
        box = chat.get_by_placeholder("Message the agent (Enter sends)")
        await box.fill("hello")
        await box.press("Enter")
        await chat.locator(".wb-reply", has_text="Echo: hello").wait_for(timeout=TIMEOUT)

        # ---- the database goes away -------------------------------------------------------------
        await asyncio.to_thread(database.stop)
        await wait_health(api, 503)
        assert not postgres_of(database.pgdata)

        # Home, reloaded.
        await reload(home)
        await assert_says_database_is_down(home)
        assert await home.get_by_text("Loading…").count() == 0  # nothing pretends to be on its way
        await browser.shot(home, "outage-home-down")

        # The Monitor: reloaded, then the dashboards and their Refresh button.
        await reload(monitor)
        await assert_says_database_is_down(monitor)
        await browser.shot(monitor, "outage-monitor-down")
        await monitor.get_by_text("Dashboards", exact=True).click()
        await monitor.get_by_role("button", name="Refresh").click()
        await assert_says_database_is_down(monitor)
        await browser.shot(monitor, "outage-monitor-dashboards-down")
        await monitor.get_by_text("Runs", exact=True).first.click()

        # The run's page: Re-run (an action on the page shown), then a reload.
        await run.get_by_role("button", name="Re-run with the same inputs").click()
        await assert_says_database_is_down(run)
        await reload(run)
        await assert_says_database_is_down(run)
        await browser.shot(run, "outage-run-down")

        # Chat: a message sent in the open page, then the page opened anew.
        await box.fill("are you there?")
        await box.press("Enter")
        failed = chat.locator(".wb-reply-error", has_text=DOWN)
        await failed.wait_for(timeout=TIMEOUT)
        await assert_readable(chat)
        await browser.shot(chat, "outage-chat-send-down")
        chat_again = await browser.page(context)
        await chat_again.goto(f"{ui}/chat?agent={agent}")
        await assert_says_database_is_down(chat_again)
        await browser.shot(chat_again, "outage-chat-down")

        # ---- the database comes back ------------------------------------------------------------
        await asyncio.to_thread(database.start)
        await wait_health(api, 200)
        assert (await api.get("/api/v1/graphs")).status_code == 200

        # Home: the quick start runs, and the tables come back with the alert gone (no reload).
        await home.get_by_role("button", name="Run the example agent").click()
        await home.get_by_text("the run completed").wait_for(timeout=TIMEOUT)
        await home.get_by_text(AGENT).first.wait_for(timeout=TIMEOUT)
        assert await home.get_by_text(DOWN).count() == 0
        await reload(home)
        await home.get_by_text(AGENT).first.wait_for(timeout=TIMEOUT)
        await home.locator(f'a[href$="{before}"]').wait_for(timeout=TIMEOUT)
        assert await home.get_by_text(DOWN).count() == 0
        await assert_readable(home)
        await browser.shot(home, "outage-home-back")

        # The Monitor, left showing the outage: a new run appears in it live, the alert goes.
        after = await run_agent(api, agent, "after the outage")
        await monitor_row(monitor, after).wait_for(timeout=TIMEOUT)
        await monitor_row(monitor, before).wait_for(timeout=TIMEOUT)
        assert await monitor.get_by_text(DOWN).count() == 0
        await monitor.get_by_text("Dashboards", exact=True).click()
        await monitor.get_by_role("button", name="Refresh").click()
        await monitor.get_by_text("Success rate").first.wait_for(timeout=TIMEOUT)
        assert await monitor.get_by_text(DOWN).count() == 0
        await monitor.get_by_text("Runs", exact=True).first.click()
        await reload(monitor)
        await monitor_row(monitor, after).wait_for(timeout=TIMEOUT)
        assert await monitor.get_by_text(DOWN).count() == 0
        await assert_readable(monitor)
        await browser.shot(monitor, "outage-monitor-back")

        # The run's page, reloaded: its summary and nodes; Re-run works.
        await reload(run)
        await run.locator(".tabulator-row").first.wait_for(timeout=TIMEOUT)
        assert await run.locator(".tabulator-row").count() == 3
        await run.get_by_role("button", name="Re-run with the same inputs").click()
        await run.get_by_text("Started again as run").wait_for(timeout=TIMEOUT)
        assert await run.get_by_text(DOWN).count() == 0
        await assert_readable(run)
        await browser.shot(run, "outage-run-back")

        # Chat: the page that failed to send sends again and gets its reply; the page opened during
        # the outage, reloaded, has the agent and the conversation.
        await box.fill("back again?")
        await box.press("Enter")
        await chat.locator(".wb-reply", has_text="Echo: back again?").wait_for(timeout=TIMEOUT)
        await assert_readable(chat)
        await browser.shot(chat, "outage-chat-send-back")
        await reload(chat_again)
        await chat_again.locator(".wb-reply", has_text="Echo: back again?").wait_for(timeout=TIMEOUT)
        await chat_again.get_by_text("Echo: back again?").first.wait_for(timeout=TIMEOUT)
        await chat_again.wait_for_timeout(1000)  # the feed draws its messages one after the other
        assert await chat_again.get_by_text(DOWN).count() == 0  # nothing of the failed send was stored
        await assert_readable(chat_again)
        await browser.shot(chat_again, "outage-chat-back")
        await context.close()
