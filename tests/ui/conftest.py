"""Fixtures of the web apps' tests: real ``workbench serve`` processes with the UI on, and a browser
(Debian's Chromium driven by Playwright) that fails the test on any request leaving 127.0.0.1 and
keeps a screenshot of every page it is asked to."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.browser import async_playwright as browser_entry
from tests.support.servers import ServerProcess, start_server, stop_server

SHOTS = Path("/tmp/shots/ui")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def ui_accounts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``workbench serve --auth accounts`` with the web apps."""
    server = start_server(
        tmp_path_factory.mktemp("ui-accounts") / "home", "accounts", {"WORKBENCH_RATE_LIMIT": "off"}, ui=True
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def ui_local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``workbench serve --auth none`` with the web apps."""
    server = start_server(
        tmp_path_factory.mktemp("ui-local") / "home", "none", {"WORKBENCH_RATE_LIMIT": "off"}, ui=True
    )
    yield server
    stop_server(server)


def sign_up(server: ServerProcess, email: str, password: str = PASSWORD) -> None:
    """Create an account through the API, as a newcomer would."""
    response = httpx.post(
        server.base_url + "/api/v1/auth/signup", json={"email": email, "password": password}, timeout=30
    )
    assert response.status_code == 202, response.text


@dataclass
class Browser:
    """A Chromium that records what would have left the machine and what went wrong in pages."""

    browser: Any
    shots: Path
    foreign: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    async def context(self) -> Any:
        """A fresh browser profile (its own cookies) with every request checked."""

        async def only_this_machine(route: Any) -> None:
            url = route.request.url
            self.requested.append(url)
            if urlsplit(url).hostname != "127.0.0.1":
                self.foreign.append(url)
                await route.abort()
            else:
                await route.continue_()

        context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        await context.route("**/*", only_this_machine)
        return context

    async def page(self, context: Any) -> Any:
        """A tab whose uncaught errors are recorded."""
        page = await context.new_page()
        page.on("pageerror", lambda e: self.page_errors.append(f"{page.url}: {e}"))
        return page

    async def shot(self, page: Any, name: str) -> None:
        """A full-page screenshot, kept under /tmp/shots/ui/ too."""
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS / path.name)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test (``browser`` looks at it to save what a failure showed)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


async def _shoot_what_failed(chromium: Any, name: str) -> None:
    """A screenshot of every page still open when a test failed: /tmp/shots/ui/failed-<test>-<n>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = [page for context in chromium.contexts for page in context.pages]
    for n, page in enumerate(pages):
        try:
            await page.screenshot(path=str(SHOTS / f"failed-{name}-{n}.png"), full_page=True, timeout=10_000)
        except Exception:  # a crashed or closing page: nothing to keep
            pass


@pytest.fixture
async def browser(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    """A browser for one test; the test fails if any page asked for something off this machine."""
    async_playwright = browser_entry()
    shots = tmp_path / "shots"
    shots.mkdir()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        recorder = Browser(chromium, shots)
        try:
            yield recorder
        finally:
            call = getattr(request.node, "report_call", None)
            if call is not None and call.failed:
                await _shoot_what_failed(chromium, request.node.name)
            await chromium.close()
    assert not recorder.foreign, f"the pages asked for something outside this machine: {recorder.foreign}"
    assert not recorder.page_errors, f"uncaught errors in the pages: {recorder.page_errors}"
