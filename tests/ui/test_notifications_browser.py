"""Notifications in a real browser, as a person meets them: the header's bell counts a notification
sent while a page is open, without a reload; the inbox shows new ones live at the top, opens one to
its text (marking it read), marks read and unread, marks all read, filters and deletes, and the bell
follows. In Profile → Notifications: a webhook channel added (its secret shown once, then gone from
the page), refused targets and names said under their field, switched off, given a new secret,
deleted; preferences saved and read back through the service (the API's GET); a bad timezone said
under its field with nothing stored; the delivery log as a table. Every request stays on 127.0.0.1
(the ``browser`` fixture); screenshots go to /tmp/shots/ui/."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.server.api_support import hello_graph
from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import PASSWORD, Browser, sign_up
from tests.ui.test_profile_browser import PAGE_TEXT

BELL = "header a.wb-bell"
COUNT = "header a.wb-bell .wb-bell-count"


class Api:
    """The REST API as the same user (a login token), for what happens outside the page."""

    def __init__(self, server: ServerProcess, email: str) -> None:
        r = httpx.post(
            server.base_url + "/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
        )
        assert r.status_code == 200, r.text
        self.http = httpx.AsyncClient(
            base_url=server.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
            timeout=30,
        )

    async def send(self, title: str, text: str, channel: str | None = None) -> None:
        body: dict[str, Any] = {"title": title, "text": text}
        if channel is not None:
            body["channel"] = channel
        r = await self.http.post("/notifications/messages", json=body)
        assert r.status_code == 202, r.text

    async def get(self, path: str, **params: Any) -> Any:
        r = await self.http.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    async def close(self) -> None:
        await self.http.aclose()


async def log_in(page: Any, server: ServerProcess, email: str, path: str) -> None:
    assert server.ui_url is not None
    await page.goto(server.ui_url + path)
    await page.wait_for_url(re.compile(r"/login\?next="))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(server.ui_url + path)


async def bell_says(page: Any, count: int) -> None:
    """Wait until the bell shows ``count`` (hidden badge for 0)."""
    await page.locator(f'{BELL}[data-unread="{count}"]').wait_for(state="attached", timeout=TIMEOUT)
    badge = page.locator(COUNT)
    if count:
        assert await badge.is_visible() and await badge.inner_text() == str(count)
    else:
        assert await badge.is_hidden()


async def back_in_view_until(page: Any, count: int) -> None:
    """Tell the page its tab came back into view until the bell shows ``count`` (the page asks for a
    recount at most every 2 s)."""
    await page.wait_for_function(
        """(n) => {
          const bell = document.querySelector('header a.wb-bell');
          if (bell && bell.dataset.unread === String(n)) return true;
          document.dispatchEvent(new Event('visibilitychange'));
          return false;
        }""",
        arg=count,
        polling=300,
        timeout=TIMEOUT,
    )


async def shot(browser: Browser, page: Any, name: str) -> None:
    """A full-page screenshot taken from the top: scrolled down, the tables' sticky headers would be
    drawn over their last rows in the picture."""
    await page.evaluate("window.scrollTo(0, 0)")
    await browser.shot(page, name)


def row(page: Any, title: str) -> Any:
    return page.locator("tr.wb-row", has=page.locator('td[data-field="title"]', has_text=title))


async def test_bell_and_inbox_are_live(ui_accounts_server: ServerProcess, browser: Browser) -> None:
    server = ui_accounts_server
    email = "inbox-ada@example.com"
    sign_up(server, email)
    api = Api(server, email)
    try:
        context = await browser.context()
        page = await browser.page(context)
        assert server.ui_url is not None
        await page.goto(server.ui_url + "/notifications")  # the inbox needs a login, as every page
        await page.wait_for_url(re.compile(r"/login\?next=%2Fnotifications"))
        await log_in(page, server, email, "/")
        await bell_says(page, 0)
        assert await page.locator(BELL).get_attribute("href") == "/notifications"

        # Sent while Home is open: the bell counts it, without a reload.
        await api.send("Backup finished", "All 3 files were copied.\nNothing was skipped.")
        await bell_says(page, 1)
        assert await page.locator(BELL).get_attribute("aria-label") == "Notifications: 1 unread"
        await shot(browser, page, "notifications-bell")

        # A run that ends, with run_completed switched on for the apps: linked to its run, agent named.
        r = await api.http.patch("/notifications/preferences", json={"events": {"run_completed": ["in_app"]}})
        assert r.status_code == 200, r.text
        graph = (await api.http.post("/graphs", json=hello_graph(name="Greeter"))).json()
        r = await api.http.post(
            f"/graphs/{graph['id']}/execute", params={"wait": 10}, json={"inputs": {"name": "Ada"}}
        )
        assert r.status_code == 200, r.text
        run_id = r.json()["id"]
        await bell_says(page, 2)

        # Read elsewhere (the API): the bell shows it when the tab comes back into view.
        newest = (await api.get("/notifications"))["items"][0]["id"]
        r = await api.http.post("/notifications/read", json={"ids": [newest]})
        assert r.status_code == 200, r.text
        await back_in_view_until(page, 1)
        r = await api.http.post("/notifications/read", json={"ids": [newest], "read": False})
        assert r.status_code == 200, r.text
        await back_in_view_until(page, 2)

        # The bell leads to the inbox: newest first, kinds in words, the run linked.
        await page.locator(BELL).click()
        await page.wait_for_url(server.ui_url + "/notifications")
        assert await page.locator(f"{BELL}[aria-current=page]").count() == 1
        finished = row(page, "Backup finished")
        await finished.wait_for(timeout=TIMEOUT)
        run_row = page.locator("tr.wb-row").first
        assert "Greeter" in await run_row.locator('td[data-field="title"]').inner_text()
        assert await run_row.locator('td[data-field="kind"]').inner_text() == "Run completed"
        assert await run_row.locator('td[data-field="agent"]').inner_text() == "Greeter"
        link = run_row.locator('td[data-field="run"] a')
        assert await link.get_attribute("href") == f"/monitor/run?id={run_id}"
        assert await finished.locator('td[data-field="kind"]').inner_text() == "Message"
        assert await page.locator("tr.wb-unread").count() == 2
        await page.get_by_text("2 unread").wait_for(timeout=TIMEOUT)
        await shot(browser, page, "notifications-inbox")

        # A new one while the inbox is open: at the top, marked new; the bell counts it.
        await api.send("Disk almost full", "The data folder is 91% full.")
        fresh = row(page, "Disk almost full")
        await fresh.wait_for(timeout=TIMEOUT)
        assert await page.locator("tr.wb-row").first.get_attribute("data-id") == await fresh.get_attribute(
            "data-id"
        )
        assert await fresh.locator(".wb-new").inner_text() == "new"
        await bell_says(page, 3)
        await shot(browser, page, "notifications-live")

        # Mark one read: the count goes down, here and for the API.
        await fresh.locator('button[data-action="read"]').click()
        await bell_says(page, 2)
        await fresh.locator('button[data-action="unread"]').wait_for(timeout=TIMEOUT)
        assert (await api.get("/notifications", unread="true"))["unread"] == 2

        # Open one: its text under it, and it is read.
        await finished.locator('button[data-action="open"]').click()
        text = page.locator(".wb-note-text")
        await text.wait_for(timeout=TIMEOUT)
        assert await text.inner_text() == "All 3 files were copied.\nNothing was skipped."
        await bell_says(page, 1)
        await shot(browser, page, "notifications-open")

        # Marked unread again, then the unread-only view, then all read.
        await finished.locator('button[data-action="unread"]').first.click()
        await bell_says(page, 2)
        await page.get_by_role("button", name="Unread only").click()
        await fresh.wait_for(state="detached", timeout=TIMEOUT)  # read: not in the unread view
        assert await page.locator("tr.wb-row").count() == 2
        await page.get_by_role("button", name="Mark all read").click()
        await page.get_by_text("No unread notifications.").wait_for(timeout=TIMEOUT)
        await bell_says(page, 0)
        assert (await api.get("/notifications"))["unread"] == 0
        await page.get_by_role("button", name="All", exact=True).click()
        await fresh.wait_for(timeout=TIMEOUT)

        # Delete, after a confirmation.
        await fresh.locator('button[data-action="delete"]').click()
        await page.get_by_text("Its delivery log entries go with it").wait_for(timeout=TIMEOUT)
        await page.get_by_role("button", name="Yes, delete").click()
        await fresh.wait_for(state="detached", timeout=TIMEOUT)
        titles = [n["title"] for n in (await api.get("/notifications"))["items"]]
        assert "Disk almost full" not in titles and "Backup finished" in titles
        await shot(browser, page, "notifications-after-delete")
        await context.close()
    finally:
        await api.close()


async def test_channels_preferences_and_log_in_profile(
    ui_accounts_server: ServerProcess, browser: Browser
) -> None:
    server = ui_accounts_server
    email = "notify-ada@example.com"
    sign_up(server, email)
    api = Api(server, email)
    try:
        context = await browser.context()
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        page = await browser.page(context)
        await log_in(page, server, email, "/profile")
        await page.get_by_text("No channels yet").wait_for(timeout=TIMEOUT)
        await page.get_by_text("Nothing sent outside the apps yet.").wait_for(timeout=TIMEOUT)
        await page.get_by_label("A run failed: Email").wait_for(timeout=TIMEOUT)
        assert await page.get_by_label("A run failed: In the apps").is_checked()  # the defaults shown
        assert not await page.get_by_label("A run completed: Email").is_checked()
        await shot(browser, page, "profile-notifications")

        # A refused target is said under its field; nothing is stored.
        await page.get_by_label("Channel name").fill("work mail")
        await page.get_by_label("Email address").fill("not an address")
        await page.get_by_role("button", name="Add channel").click()
        await page.get_by_text("must be one email address").wait_for(timeout=TIMEOUT)
        assert await api.get("/notifications/channels") == []
        await shot(browser, page, "profile-notifications-bad-target")

        # A webhook: listed, its secret shown once (copied from the page), then gone from the page.
        await page.get_by_label("Kind").select_option(label="Webhook (signed)")
        await page.get_by_label("Channel name").fill("ops hook")
        await page.get_by_label("Webhook URL").fill("https://hooks.example.com/workbench")
        await page.get_by_role("button", name="Add channel").click()
        await page.get_by_text("Copy the signing secret of “ops hook” now").wait_for(timeout=TIMEOUT)
        assert await page.locator(".wb-field-error:visible").count() == 0
        field = page.get_by_label("Signing secret")
        secret = ""
        for _ in range(50):
            secret = await field.input_value()
            if secret:
                break
            await page.wait_for_timeout(100)
        assert secret.startswith("whsec_") and len(secret) > 30
        await page.get_by_role("button", name="Copy").click()
        await page.get_by_role("button", name="Copied").wait_for(timeout=TIMEOUT)
        assert await page.evaluate("navigator.clipboard.readText()") == secret
        hook = page.locator("tr.wb-row", has=page.locator('td[data-field="name"]', has_text="ops hook"))
        await hook.wait_for(timeout=TIMEOUT)
        assert await hook.locator('td[data-field="kind"]').inner_text() == "Webhook"
        assert await hook.locator('td[data-field="target"]').inner_text() == "https://hooks.example.com/…"
        await shot(browser, page, "profile-notifications-secret")
        listed = await api.get("/notifications/channels")
        assert [(c["kind"], c["name"], c["enabled"]) for c in listed] == [("webhook", "ops hook", True)]
        assert "secret" not in listed[0]
        await page.get_by_role("button", name="Done").click()
        await field.wait_for(state="hidden", timeout=TIMEOUT)
        assert secret not in await page.evaluate(PAGE_TEXT), "the secret must not stay in the page"

        # The same name again: said under the name.
        await page.get_by_label("Channel name").fill("ops hook")
        await page.get_by_label("Webhook URL").fill("https://hooks.example.com/other")
        await page.get_by_role("button", name="Add channel").click()
        await page.get_by_text("you have a channel named 'ops hook' already").wait_for(timeout=TIMEOUT)
        assert len(await api.get("/notifications/channels")) == 1

        # Off, and a new secret (asked first; shown once, different).
        await hook.locator('button[data-action="disable"]').click()
        await hook.locator('td[data-field="enabled"]', has_text="off").wait_for(timeout=TIMEOUT)
        assert (await api.get("/notifications/channels"))[0]["enabled"] is False
        await hook.locator('button[data-action="rotate"]').click()
        await page.get_by_role("button", name="Yes, new secret").click()
        await page.get_by_text("The old one no longer signs").wait_for(timeout=TIMEOUT)
        rotated = ""
        for _ in range(50):
            rotated = await field.input_value()
            if rotated:
                break
            await page.wait_for_timeout(100)
        assert rotated.startswith("whsec_") and rotated != secret
        await page.get_by_role("button", name="Done").click()

        # Preferences: the grid, quiet hours, cap and summary, saved; the service reads them back.
        await page.get_by_label("A run completed: Email").check()
        await page.get_by_label("A run failed: Email").uncheck()
        await page.get_by_label("Messages from agents: Webhook").check()
        await page.get_by_label("Quiet from").fill("22:00")
        await page.get_by_label("Quiet until").fill("07:30")
        zone = page.get_by_label("Quiet hours timezone")
        await zone.fill("Europe/Berlin")
        await page.get_by_label("Daily cap").fill("20")
        await page.get_by_label("Summary", exact=True).select_option(label="Weekly")
        await page.get_by_role("button", name="Save preferences").click()
        await page.get_by_text("Saved: new notifications follow these preferences.").wait_for(timeout=TIMEOUT)
        prefs = await api.get("/notifications/preferences")
        assert prefs["events"]["run_completed"] == ["email"]
        assert prefs["events"]["run_failed"] == ["in_app"]
        assert prefs["events"]["custom"] == ["in_app", "webhook"]
        assert prefs["quiet_hours"] == {"start": "22:00", "end": "07:30", "timezone": "Europe/Berlin"}
        assert prefs["daily_cap"] == 20 and prefs["summary"] == "weekly"
        await shot(browser, page, "profile-notifications-saved")

        # A bad timezone: said under the field, nothing stored.
        await zone.fill("Mars/Olympus_Mons")
        await page.get_by_label("Daily cap").fill("30")
        await page.get_by_role("button", name="Save preferences").click()
        await page.get_by_text("unknown timezone 'Mars/Olympus_Mons'").wait_for(timeout=TIMEOUT)
        await page.get_by_text("Nothing was saved: correct what is marked.").wait_for(timeout=TIMEOUT)
        assert await api.get("/notifications/preferences") == prefs
        await shot(browser, page, "profile-notifications-bad-zone")
        await zone.fill("Europe/Berlin")

        # The delivery log: a message for a channel that does not exist is suppressed, and says why.
        await api.send("Nightly report", "Done.", channel="pager")
        for _ in range(200):  # the notifier stores it in the background
            if await api.get("/notifications/deliveries"):
                break
            await page.wait_for_timeout(50)
        await page.get_by_role("button", name="Refresh").click()
        entry = page.locator(
            "tr.wb-row", has=page.locator('td[data-field="title"]', has_text="Nightly report")
        )
        await entry.wait_for(timeout=TIMEOUT)
        assert await entry.locator('td[data-field="status"]').inner_text() == "suppressed"
        assert await entry.locator('td[data-field="event"]').inner_text() == "Message"
        assert await entry.locator('td[data-field="target"]').inner_text() == "pager"
        assert await entry.locator('td[data-field="attempts"]').inner_text() == "0"
        assert (
            "no enabled channel is named 'pager'"
            in await entry.locator('td[data-field="reason"]').inner_text()
        )
        await shot(browser, page, "profile-notifications-log")

        # Deleted, after a confirmation.
        await hook.locator('button[data-action="delete"]').click()
        await page.get_by_role("button", name="Yes, delete").click()
        await page.get_by_text("No channels yet").wait_for(timeout=TIMEOUT)
        assert await api.get("/notifications/channels") == []
        await context.close()
    finally:
        await api.close()
