"""The apps' shell in a real browser, as a person uses it: log in on the page, open Home, run the quick
start, visit every page, log out; a second user sees none of the first one's runs; without accounts
the pages are the local user's. Every request must stay on 127.0.0.1 (the ``browser`` fixture fails
the test otherwise); screenshots of every page go to /tmp/shots/ui/."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.browser import TIMEOUT
from tests.support.servers import ServerProcess
from tests.ui.conftest import PASSWORD, Browser, sign_up

HEADER = ".wb-top"
PAGE_TIMEOUT = TIMEOUT


async def _header_links(page: Any) -> dict[str, str]:
    """Label -> href of the header's navigation."""
    links = page.locator(f"{HEADER} nav a")
    return {await a.inner_text(): await a.get_attribute("href") for a in await links.all()}


async def _log_in(page: Any, ui_url: str, email: str, password: str) -> None:
    await page.goto(ui_url + "/")
    await page.wait_for_url(re.compile(r"/login\?next="))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def test_log_in_run_the_quick_start_and_log_out(
    ui_accounts_server: ServerProcess, browser: Browser
) -> None:
    server = ui_accounts_server
    assert server.ui_url is not None
    sign_up(server, "shell-ada@example.com")
    sign_up(server, "shell-bob@example.com")
    context = await browser.context()
    page = await browser.page(context)

    # Not logged in: any page sends the browser to the login form.
    await page.goto(server.ui_url + "/monitor")
    await page.wait_for_url(re.compile(r"/login\?next=%2Fmonitor"))
    assert await page.get_by_role("heading", name="Log in").is_visible()
    await browser.shot(page, "login")

    # A wrong password: the reason is in the page, the form is kept.
    await page.get_by_label("Email").fill("shell-ada@example.com")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("alert").wait_for()
    assert await page.get_by_role("alert").inner_text() == "Wrong email or password."
    assert await page.get_by_label("Email").input_value() == "shell-ada@example.com"
    await browser.shot(page, "login-error")

    # The right one: Home, with the user's address in the header.
    await _log_in(page, server.ui_url, "shell-ada@example.com", PASSWORD)
    await page.wait_for_url(server.ui_url + "/")
    await page.locator(HEADER).wait_for(timeout=PAGE_TIMEOUT)
    assert await page.locator(".wb-email").inner_text() == "shell-ada@example.com"
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["wb_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]
    assert session["expires"] > 0, "the session cookie must expire"
    assert cookies["wb_refresh"]["httpOnly"]
    assert await page.evaluate("document.cookie") == "", "scripts must not see the session"
    links = await _header_links(page)
    assert list(links)[:1] == ["Home"] and "API docs" in links and "Notebooks" in links
    assert links["API docs"] == server.base_url + "/api/docs"
    await page.get_by_text("No runs yet.").wait_for(timeout=PAGE_TIMEOUT)
    await browser.shot(page, "home-empty")

    # The quick start runs the example agent and shows its greeting; the run is listed.
    name = page.get_by_label("Name")
    await name.fill("Ada")
    await name.press("Enter")
    await page.get_by_role("button", name="Run the example agent").click()
    await page.get_by_text("Hello, Ada!").wait_for(timeout=PAGE_TIMEOUT)
    await page.locator(".wb-table >> text=COMPLETED").first.wait_for(timeout=PAGE_TIMEOUT)
    assert await page.locator(".wb-table >> text=Hello agent").count() >= 2  # agents and runs
    await browser.shot(page, "home")
    # The button's icon font (which Bokeh would fetch from a CDN) came from this server and is used.
    assert any(url.endswith("/ui-static/tabler/fonts/tabler-icons.woff2") for url in browser.requested)
    assert await page.evaluate("document.fonts.check('16px tabler-icons')")

    # Every page is in the shell (whatever its own state), with this user.
    for label, href in links.items():
        if not href.startswith("/") or label == "Home":
            continue
        await page.goto(server.ui_url + href)
        await page.locator(HEADER).wait_for(timeout=PAGE_TIMEOUT)
        assert await page.locator(f"{HEADER} nav a[aria-current=page]").inner_text() == label
        assert await page.locator(".wb-email").inner_text() == "shell-ada@example.com"
        await page.wait_for_timeout(1500)  # let the page draw its data
        await browser.shot(page, label.lower().replace(" ", "-"))

    # The quick start's run, on its own page (when Monitor is there).
    if "Monitor" in links:
        await page.goto(server.ui_url + "/")
        await page.get_by_role("button", name="Run the example agent").click()
        await page.get_by_role("link", name="See the run").click()
        await page.wait_for_url(re.compile(r"/monitor/run\?id="))
        await page.locator(".wb-body").wait_for(timeout=PAGE_TIMEOUT)
        assert await page.locator(".wb-email").inner_text() == "shell-ada@example.com"
        assert await page.locator(f"{HEADER} nav a[aria-current=page]").inner_text() == "Monitor"
        await page.wait_for_timeout(1500)
        await browser.shot(page, "run")

    # Log out: back to the login page, the cookies are gone, Home needs a login again.
    await page.goto(server.ui_url + "/")
    await page.get_by_role("link", name="Log out").click()
    await page.wait_for_url(re.compile(r"/login$"))
    assert not [c for c in await context.cookies() if c["name"].startswith("wb_")]
    await page.goto(server.ui_url + "/")
    await page.wait_for_url(re.compile(r"/login\?next="))
    await context.close()

    # Another user sees none of the first one's agents or runs.
    other = await browser.context()
    page = await browser.page(other)
    await _log_in(page, server.ui_url, "shell-bob@example.com", PASSWORD)
    await page.wait_for_url(server.ui_url + "/")
    await page.get_by_text("No runs yet.").wait_for(timeout=PAGE_TIMEOUT)
    assert await page.get_by_text("No agents yet").count() == 1
    assert await page.get_by_text("Hello agent").count() == 0
    assert await page.locator(".wb-email").inner_text() == "shell-bob@example.com"
    await browser.shot(page, "home-second-user")
    await other.close()


async def test_local_mode_is_the_local_user_without_login(
    ui_local_server: ServerProcess, browser: Browser
) -> None:
    server = ui_local_server
    assert server.ui_url is not None
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as api:
        before = (await api.get("/api/v1/executions")).json()["total"]  # other tests share the server
        context = await browser.context()
        page = await browser.page(context)
        await page.goto(server.ui_url + "/login")
        await page.wait_for_url(server.ui_url + "/")  # nobody to log in
        await page.locator(HEADER).wait_for(timeout=PAGE_TIMEOUT)
        # The name beside the bell (whose count shows when other tests' runs left notifications).
        assert await page.locator(".wb-user").get_by_text("local user", exact=True).count() == 1
        assert await page.locator(".wb-user .wb-email").count() == 0
        assert await page.get_by_role("link", name="Log out").count() == 0
        await page.get_by_role("button", name="Run the example agent").click()
        await page.get_by_text("Hello, World!").wait_for(timeout=PAGE_TIMEOUT)
        await page.locator(".wb-table >> text=COMPLETED").first.wait_for(timeout=PAGE_TIMEOUT)
        await browser.shot(page, "home-local")
        await context.close()
        # The run is the local user's, as the API shows it.
        runs = (await api.get("/api/v1/executions", params={"limit": 1})).json()
    assert runs["total"] == before + 1
    assert runs["items"][0]["status"] == "COMPLETED"
