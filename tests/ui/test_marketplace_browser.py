"""The Marketplace in a real browser, as two people use it (accounts mode, two browser contexts): Ada
publishes one of her agents; Bob finds it, looks at its graph and forks it into his library (the
result links to the Builder); a template needing a GitHub credential Bob lacks is refused, naming
the provider and pointing to the Profile page, with nothing stored; the block catalogue shows pins
and an example. Every request stays on 127.0.0.1; screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import PASSWORD, Browser

INPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"
TEMPLATE = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"
GITHUB_READ = "87ce6c27-5752-4bbc-8e26-6da40a3dcfd3"


def greeter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Greets someone by name.",
        "nodes": [
            {"id": "in", "block_id": INPUT, "input_default": {"name": "name"}, "metadata": {}},
            {"id": "greet", "block_id": TEMPLATE, "input_default": {"format": "Hello, {{ who }}!"}},
            {"id": "out", "block_id": OUTPUT, "input_default": {"name": "greeting"}},
        ],
        "links": [
            {"source_id": "in", "source_name": "result", "sink_id": "greet", "sink_name": "values_#_who"},
            {"source_id": "greet", "source_name": "output", "sink_id": "out", "sink_name": "value"},
        ],
    }


def reader(name: str, cred_id: str) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"id": "in", "block_id": INPUT, "input_default": {"name": "path"}},
            {
                "id": "read",
                "block_id": GITHUB_READ,
                "input_default": {
                    "repo_url": "owner/repo",
                    "credentials": {"id": cred_id, "provider": "github"},
                },
            },
            {"id": "out", "block_id": OUTPUT, "input_default": {"name": "text"}},
        ],
        "links": [
            {"source_id": "in", "source_name": "result", "sink_id": "read", "sink_name": "file_path"},
            {"source_id": "read", "source_name": "text_content", "sink_id": "out", "sink_name": "value"},
        ],
    }


class Api:
    """One account's API client (signed up with a display name, logged in)."""

    def __init__(self, server: ServerProcess, email: str, name: str) -> None:
        base = server.base_url + "/api/v1"
        r = httpx.post(
            base + "/auth/signup", json={"email": email, "password": PASSWORD, "name": name}, timeout=30
        )
        assert r.status_code == 202, r.text
        r = httpx.post(base + "/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    def graphs(self) -> list[dict[str, Any]]:
        return list(self.http.get("/graphs").json()["items"])


async def log_in(browser: Browser, ui_url: str, email: str) -> Any:
    context = await browser.context()
    page = await browser.page(context)
    await page.goto(ui_url + "/marketplace")
    await page.wait_for_url(re.compile(r"/login\?next="))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(r"/marketplace$"), timeout=TIMEOUT)
    return page


def template_row(page: Any, name: str) -> Any:
    return page.locator("tr.wb-row", has_text=name)


async def test_publish_as_one_user_and_fork_as_another(
    ui_accounts_server: ServerProcess, browser: Browser
) -> None:
    server = ui_accounts_server
    assert server.ui_url is not None
    tag = uuid.uuid4().hex[:6]
    ada_email, bob_email = f"ada-{tag}@example.com", f"bob-{tag}@example.com"
    ada, bob = Api(server, ada_email, "Ada Publisher"), Api(server, bob_email, "Bob Forker")
    agent_name, reader_name = f"Greeter {tag}", f"README reader {tag}"
    original = ada.post("/graphs", greeter(agent_name))
    cred = ada.post("/credentials", {"provider": "github", "type": "api_key", "secret": {"api_key": "ghp_x"}})
    ada.post("/templates", {"graph_id": ada.post("/graphs", reader(reader_name, cred["id"]))["id"]})

    # Ada publishes her greeter from the Publish tab.
    page = await log_in(browser, server.ui_url, ada_email)
    await page.locator(".bk-tab", has_text="Publish").click()
    agent = page.get_by_label("Agent")
    await agent.wait_for(timeout=TIMEOUT)
    await page.locator(f"select option:has-text('{agent_name}')").wait_for(state="attached", timeout=TIMEOUT)
    await agent.select_option(label=f"{agent_name} (v1)")
    await page.get_by_label("Description").fill("Says hello to whoever you name. No credentials needed.")
    await page.get_by_role("button", name="Publish", exact=True).click()
    await page.get_by_text(f"Published “{agent_name}” (version 1); it needs no credentials.").wait_for(
        timeout=TIMEOUT
    )
    await template_row(page, agent_name).wait_for(timeout=TIMEOUT)  # under "Your templates"
    await browser.shot(page, "marketplace-publish")

    # Bob finds it by a word of its description, sees the publisher's name (never an email).
    page_b = await log_in(browser, server.ui_url, bob_email)
    await template_row(page_b, reader_name).wait_for(timeout=TIMEOUT)
    search = page_b.get_by_label("Search templates")
    await search.fill("whoever you name")
    await search.press("Enter")
    row = template_row(page_b, agent_name)
    await row.wait_for(timeout=TIMEOUT)
    await template_row(page_b, reader_name).wait_for(state="detached", timeout=TIMEOUT)
    assert await row.locator("[data-field=publisher]").inner_text() == "Ada Publisher"
    assert await row.locator("[data-field=credentials]").inner_text() == "none"
    assert "@example.com" not in await page_b.locator("table.wb-table").inner_text()

    # View: its description, blocks and graph (read-only); Fork: a new graph of Bob's, linked.
    await row.get_by_role("button", name="View").click()
    await page_b.get_by_role("heading", name=agent_name).wait_for(timeout=TIMEOUT)
    await page_b.locator(".wb-graph svg .wb-node").first.wait_for(timeout=TIMEOUT)
    assert await page_b.locator(".wb-graph svg .wb-node").count() == 3
    await browser.shot(page_b, "marketplace-template")
    await page_b.get_by_role("button", name="Fork into my library").click()
    opened = page_b.locator("a.wb-open-fork")
    await opened.wait_for(timeout=TIMEOUT)
    href = await opened.get_attribute("href")
    assert href is not None and href.startswith("/builder?graph=")
    fork_id = href.split("=", 1)[1]
    mine = {g["id"]: g for g in bob.graphs()}
    assert fork_id in mine and fork_id != original["id"] and mine[fork_id]["name"] == agent_name
    assert ada.http.get(f"/graphs/{fork_id}").status_code == 404
    await browser.shot(page_b, "marketplace-forked")

    # A template needing a GitHub credential Bob lacks: refused, naming it, pointing to Profile.
    before = len(bob.graphs())
    await search.fill(reader_name)
    await search.press("Enter")
    await template_row(page_b, reader_name).get_by_role("button", name="View").click()
    await page_b.get_by_role("heading", name=reader_name).wait_for(timeout=TIMEOUT)
    await page_b.get_by_text("missing: add one on your").wait_for(timeout=TIMEOUT)
    await page_b.get_by_role("button", name="Fork into my library").click()
    refusal = page_b.locator(".wb-message-bad")
    await refusal.wait_for(timeout=TIMEOUT)
    text = await refusal.inner_text()
    assert "'github'" in text and "GithubReadFileBlock" in text and "nothing was stored" in text
    assert (
        await refusal.get_by_role("link", name="Open your Profile page").get_attribute("href") == "/profile"
    )
    assert len(bob.graphs()) == before
    await browser.shot(page_b, "marketplace-missing-credentials")

    # The block catalogue: search, a card with its pins and its example.
    await page_b.locator(".bk-tab", has_text="Blocks").click()
    cards = page_b.locator("details.wb-block")
    await cards.first.wait_for(timeout=TIMEOUT)
    everything = await cards.count()
    await page_b.get_by_label("Search blocks").fill("template")
    for _ in range(TIMEOUT // 100):  # the search has narrowed the list (the cards are drawn anew)
        if 0 < await cards.count() < everything:
            break
        await page_b.wait_for_timeout(100)
    card = page_b.locator("details.wb-block[data-block=FillTextTemplateBlock]")
    await card.wait_for(timeout=TIMEOUT)
    await card.locator("summary").click()
    await card.get_by_text("Yields, in order:").wait_for(timeout=TIMEOUT)
    assert await card.locator("code", has_text="format").count() >= 1
    await browser.shot(page_b, "marketplace-blocks")

    # Ada unpublishes: gone from Bob's list; his fork stays.
    await page.get_by_role("button", name="Unpublish").first.click()
    await page.get_by_text("Unpublished: forks made from it stay.").wait_for(timeout=TIMEOUT)
    assert bob.http.get(f"/graphs/{fork_id}").status_code == 200
