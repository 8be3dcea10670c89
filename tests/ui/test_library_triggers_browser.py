"""The Library's triggers section in a real browser, as a person uses it: an agent with no triggers;
one made (its secret shown once, copied, and its curl example copied and run in a terminal, which
starts a run that the table then counts); its secret rotated after a confirmation (the old one refused
from then on); a GitHub one made with an input mapping (GitHub's settings explained); one deleted after
a confirmation (its URL answers 404). Every request stays on 127.0.0.1 (the ``browser`` fixture);
screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import httpx

from tests.server.api_support import hello_graph
from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import Browser
from workbench.services.trigger_signing import sign

PAGE_TEXT = "document.body.innerText + [...document.querySelectorAll('input, textarea')].map(e => e.value)"


async def value_of(locator: Any) -> str:
    """A field's value once the server has filled it in."""
    for _ in range(100):
        value = await locator.input_value()
        if value:
            return str(value)
        await locator.page.wait_for_timeout(50)
    raise AssertionError("the field stayed empty")


def trigger_row(page: Any, trigger_id: str) -> Any:
    return page.locator(f'tr.wb-row[data-id="{trigger_id}"]')


async def test_triggers_made_called_rotated_and_deleted(
    ui_local_server: ServerProcess, browser: Browser
) -> None:
    server = ui_local_server
    assert server.ui_url is not None
    api = httpx.AsyncClient(base_url=server.base_url + "/api/v1", timeout=30)
    graph = await api.post("/graphs", json=hello_graph(name="Hook target"))
    assert graph.status_code == 201, graph.text
    graph_id = graph.json()["id"]

    context = await browser.context()
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await browser.page(context)
    await page.goto(f"{server.ui_url}/library?agent={graph_id}")
    await page.get_by_role("heading", name="Triggers").wait_for(timeout=TIMEOUT)
    await page.get_by_text("No triggers yet").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "library-triggers-empty")

    # Made: the secret shown once, copied; the example copied too, and run in a terminal.
    await page.get_by_placeholder("e.g. GitHub issues").fill("From CI")
    await page.get_by_role("button", name="Make trigger").click()
    await page.get_by_text("Copy its secret now: it will not be shown again.").wait_for(timeout=TIMEOUT)
    secret = await value_of(page.get_by_label("The trigger's secret"))
    assert secret.startswith("wbh_")
    listed = (await api.get("/triggers", params={"graph_id": graph_id})).json()["items"]
    assert [t["name"] for t in listed] == ["From CI"]
    trigger_id, url = listed[0]["id"], listed[0]["url"]
    row = trigger_row(page, trigger_id)
    await row.wait_for(timeout=TIMEOUT)
    assert await row.locator('td[data-field="url"]').inner_text() == url
    assert await row.locator('td[data-field="auth"]').inner_text() == "HMAC signature"
    assert await row.locator('td[data-field="rate"]').inner_text() == "60/min"
    assert await row.locator('td[data-field="last"]').inner_text() == "never"
    box = page.locator(".wb-trigger-secret")
    await box.get_by_role("button", name=re.compile(r"^\W*Copy$")).click()
    await box.get_by_role("button", name="Copied").wait_for(timeout=TIMEOUT)
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    await box.get_by_role("button", name="Copy example").click()
    await box.get_by_role("button", name="Copied").nth(1).wait_for(timeout=TIMEOUT)
    example = await page.evaluate("navigator.clipboard.readText()")
    assert secret in example and url in example and '"name": "World"' in example
    await browser.shot(page, "library-trigger-made")
    ran = subprocess.run(["bash", "-c", example], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0 and '"execution_id"' in ran.stdout, (ran.stdout, ran.stderr)
    execution_id = json.loads(ran.stdout)["execution_id"]
    await page.get_by_role("button", name="Done").click()
    await box.wait_for(state="hidden", timeout=TIMEOUT)
    assert secret not in await page.evaluate(PAGE_TEXT), "the secret must not stay in the page"

    # The call shows in the table after a reload: one call, when, and the run it started.
    await page.get_by_role("button", name="Reload").click()
    await row.locator('td[data-field="calls"]', has_text="1").wait_for(timeout=TIMEOUT)
    assert await row.locator(f'a[href="/monitor/run?id={execution_id}"]').count() == 1

    # Rotated, after a confirmation: a new secret; the old one refused from now on.
    await row.locator('button[data-action="rotate"]').click()
    await page.get_by_text("The current one stops working at once").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "library-trigger-rotate-confirm")
    await page.get_by_role("button", name="Yes, rotate").click()
    await page.get_by_text("has a new secret").wait_for(timeout=TIMEOUT)
    rotated = await value_of(page.get_by_label("The trigger's secret"))
    assert rotated.startswith("wbh_") and rotated != secret
    body = json.dumps({"name": "old"}).encode()
    headers = {"Content-Type": "application/json"}
    old = await api.post(url, content=body, headers={**headers, **sign(secret, body)})
    assert old.status_code == 401
    new = await api.post(url, content=body, headers={**headers, **sign(rotated, body)})
    assert new.status_code == 202, new.text
    await browser.shot(page, "library-trigger-rotated")
    await page.get_by_role("button", name="Done").click()

    # A GitHub one, with its payload mapped to the agent's input: GitHub's settings explained.
    await page.get_by_placeholder("e.g. GitHub issues").fill("GitHub issues")
    auth = page.locator("select", has=page.locator("option", has_text="GitHub webhook signature"))
    await auth.select_option(label="GitHub webhook signature (X-Hub-Signature-256)")
    await page.get_by_placeholder('{"who": "sender.login"}').fill('{"name": "sender.login"}')
    await page.get_by_role("button", name="Make trigger").click()
    await page.get_by_text("Settings → Webhooks → Add webhook").wait_for(timeout=TIMEOUT)
    hub = [
        t
        for t in (await api.get("/triggers", params={"graph_id": graph_id})).json()["items"]
        if t["name"] == "GitHub issues"
    ]
    assert (
        len(hub) == 1
        and hub[0]["auth_mode"] == "github"
        and hub[0]["input_mapping"] == {"name": "sender.login"}
    )
    github_row = trigger_row(page, hub[0]["id"])
    await github_row.get_by_text("GitHub signature").wait_for(timeout=TIMEOUT)
    await browser.shot(page, "library-trigger-github")
    await page.get_by_role("button", name="Done").click()

    # A refusal is named on the form.
    await page.get_by_placeholder('{"who": "sender.login"}').fill('{"nobody": "x"}')
    await page.get_by_role("button", name="Make trigger").click()
    await page.get_by_text("The trigger was not made").wait_for(timeout=TIMEOUT)
    await page.locator(".alert", has_text="input_mapping.nobody").first.wait_for(timeout=TIMEOUT)
    await browser.shot(page, "library-trigger-refused")

    # Deleted, after a confirmation: gone from the table, its URL answers 404.
    await row.locator('button[data-action="delete"]').click()
    await page.get_by_text("Its URL answers 404 from now on").wait_for(timeout=TIMEOUT)
    await page.get_by_role("button", name="Yes, delete").click()
    await row.wait_for(state="detached", timeout=TIMEOUT)
    assert await github_row.is_visible()
    gone = await api.post(url, content=body, headers={**headers, **sign(rotated, body)})
    assert gone.status_code == 404
    await browser.shot(page, "library-trigger-deleted")
    await api.aclose()
    await context.close()
