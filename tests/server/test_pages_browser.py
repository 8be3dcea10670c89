"""The first browser visit in a real browser (Debian's Chromium, driven by Playwright): the home page
and the API docs render with nothing but this server's files, under their Content Security Policies
(a violation is a console error), and no request leaves the machine. Screenshots go to the test's
temporary folder and to /tmp/shots/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.browser import async_playwright as browser_entry
from tests.support.servers import ServerProcess

SHOTS = Path("/tmp/shots")


async def test_home_and_docs_render_offline(
    local_server: ServerProcess, accounts_server: ServerProcess, tmp_path: Path
) -> None:
    async_playwright = browser_entry()
    shots = tmp_path / "shots"
    shots.mkdir()
    foreign: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []

    async def only_this_machine(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname != "127.0.0.1":
            foreign.append(url)
            await route.abort()
        else:
            await route.continue_()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await context.route("**/*", only_this_machine)
            page = await context.new_page()
            page.on(
                "console",
                lambda m: console_errors.append(f"{page.url}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: page_errors.append(f"{page.url}: {e}"))

            # The home page: its stylesheet applies (CSP allows it), its links are there.
            response = await page.goto(local_server.base_url + "/")
            assert response is not None and response.status == 200
            assert await page.title() == "Agent Workbench " + (await page.locator(".version").inner_text())
            width = await page.locator("main").evaluate("e => getComputedStyle(e).maxWidth")
            assert width == "960px", "home.css did not apply"
            for name in ("API docs", "OpenAPI JSON", "Health"):
                assert await page.get_by_role("link", name=name).count() == 1, name
            await page.screenshot(path=str(shots / "home.png"), full_page=True)

            # The docs: Swagger UI renders the operations from the inline spec.
            response = await page.goto(local_server.base_url + "/api/docs")
            assert response is not None and response.status == 200
            await page.wait_for_selector(".opblock", timeout=30_000)
            assert await page.locator(".opblock").count() > 20
            assert await page.get_by_text("Create a graph").count() >= 1
            await page.screenshot(path=str(shots / "docs.png"))

            # With accounts: the same page, public, without the local details.
            response = await page.goto(accounts_server.base_url + "/")
            assert response is not None and response.status == 200
            assert await page.get_by_text("Data folder", exact=True).count() == 0
            await page.screenshot(path=str(shots / "home-accounts.png"), full_page=True)

            # An operation opens (Swagger UI's own rendering under the page's policy).
            await page.goto(local_server.base_url + "/api/docs")
            await page.locator(".opblock-summary", has_text="Health").first.click()
            await page.wait_for_selector(".opblock.is-open", timeout=10_000)
            await page.screenshot(path=str(shots / "docs-open.png"))
        finally:
            await browser.close()

    SHOTS.mkdir(parents=True, exist_ok=True)
    for shot in shots.iterdir():
        shutil.copy(shot, SHOTS / shot.name)
    assert not foreign, f"the pages asked for something outside this machine: {foreign}"
    assert not console_errors, f"console errors (CSP violations show here): {console_errors}"
    assert not page_errors, f"uncaught errors in the page: {page_errors}"
