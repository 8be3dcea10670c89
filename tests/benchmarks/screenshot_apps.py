"""The README's picture of the apps: the Monitor with a few runs, 1280 pixels wide.

Starts a real ``workbench serve --auth none`` with the web apps on a fresh data folder, stores two
example agents, runs them a few times through the API (one run fails, one is cancelled, so every
status shows), and has Debian's Chromium (Playwright, every request kept on 127.0.0.1) take the
Monitor's runs table.

Usage: python tests/benchmarks/screenshot_apps.py [--out docs/apps.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.servers import start_server, stop_server
from tests.ui.test_monitor_browser import waiting_agent

ROOT = Path(__file__).resolve().parents[2]
HELLO = json.loads((ROOT / "examples" / "hello_agent.json").read_text())


def populate(base_url: str) -> None:
    """Agents and runs worth looking at: completed ones, a failed one, a cancelled one, one running."""
    with httpx.Client(base_url=base_url + "/api/v1", timeout=60) as api:
        hello = api.post("/graphs", json=HELLO).json()["id"]
        waiting = api.post("/graphs", json=waiting_agent("Greeter with a pause")).json()["id"]
        for name in ("Ada", "Grace", "Linus", "Margaret"):
            api.post(f"/graphs/{hello}/execute?wait=30", json={"inputs": {"name": name}}).raise_for_status()
        api.post(f"/graphs/{waiting}/execute?wait=30", json={"inputs": {"text": "Alan", "seconds": 1}})
        api.post(f"/graphs/{waiting}/execute?wait=30", json={"inputs": {"text": "Edsger", "seconds": "soon"}})
        cancelled = api.post(
            f"/graphs/{waiting}/execute", json={"inputs": {"text": "Barbara", "seconds": 60}}
        )
        time.sleep(1)
        api.post(f"/executions/{cancelled.json()['id']}/cancel").raise_for_status()
        api.post(f"/graphs/{waiting}/execute", json={"inputs": {"text": "Katherine", "seconds": 600}})
        time.sleep(1.5)


async def shoot(ui_url: str, out: Path) -> None:
    """The Monitor page, once its table shows the runs."""
    from playwright.async_api import async_playwright

    async def only_this_machine(route: Any) -> None:
        if urlsplit(route.request.url).hostname != "127.0.0.1":
            raise RuntimeError(f"the page asked for {route.request.url}")
        await route.continue_()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 490})
        await context.route("**/*", only_this_machine)
        page = await context.new_page()
        await page.goto(ui_url + "/monitor")
        await page.locator("tr.wb-row").nth(7).wait_for(timeout=30_000)
        await page.wait_for_timeout(1000)  # fonts and the last layout pass
        await page.screenshot(path=str(out))
        await browser.close()


def main() -> None:
    """Start a server, make the runs, take the picture."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "apps.png")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="screenshot-apps-"))
    server = start_server(folder / "home", "none", {"WORKBENCH_RATE_LIMIT": "off"}, ui=True)
    try:
        assert server.ui_url is not None
        populate(server.base_url)
        asyncio.run(shoot(server.ui_url, args.out))
    finally:
        stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)
    print(args.out)


if __name__ == "__main__":
    main()
