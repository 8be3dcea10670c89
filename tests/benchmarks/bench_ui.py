"""Time to first paint of each page of the web apps, in Debian's Chromium. Prints JSON.

A real ``workbench serve --auth accounts`` process with the UI on; a user signs up and logs in through
the login page's form (the browser gets the session cookie), runs the example agent once (so Home's
tables and the run page have data), then each page is loaded ``--loads`` times after one warm-up
load, each in a fresh tab:

  first_paint_ms             performance.getEntriesByType('paint'): 'first-paint'
  first_contentful_paint_ms  the same, 'first-contentful-paint' (the first text drawn)
  content_ms                 navigation start -> the page's own content is drawn (Bokeh has
                             pulled and rendered the session's document; the login page is plain
                             HTML, its form counts)

The header of every page is plain HTML in the page template (workbench/ui/shell.py), so the first
paint is the header's, before Bokeh's scripts have run; content_ms says when the rest follows.

Each figure is the median over the loads. Target: first paint under 1 s for every page.

Usage: python tests/benchmarks/bench_ui.py [--loads 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.servers import start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
HELLO = json.loads((ROOT / "examples" / "hello_agent.json").read_text())
EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
TARGET_MS = 1000.0


def prepare(base_url: str) -> str:
    """Sign up, store and run the example agent through the API; the id of the run."""
    with httpx.Client(base_url=base_url, timeout=60) as api:
        api.post("/api/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD}).raise_for_status()
        token = api.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        graph = api.post("/api/v1/graphs", json=HELLO).json()
        run = api.post(f"/api/v1/graphs/{graph['id']}/execute?wait=30", json={"inputs": {"name": "Ada"}})
        run.raise_for_status()
        return str(run.json()["id"])


async def measure(page: Any, url: str, ready: str) -> dict[str, float] | None:
    """Load ``url`` in ``page``; its paint timings and when ``ready`` appeared, in ms (None: the
    server has no such page, its module is not there)."""
    response = await page.goto(url)
    if response is not None and response.status == 404:
        return None
    await page.wait_for_selector(ready, timeout=30_000)
    content = await page.evaluate("performance.now()")
    await page.wait_for_function("performance.getEntriesByType('paint').length >= 2", timeout=10_000)
    paints = await page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))"
    )
    return {
        "first_paint_ms": paints["first-paint"],
        "first_contentful_paint_ms": paints["first-contentful-paint"],
        "content_ms": content,
    }


async def bench(ui_url: str, run_id: str, loads: int) -> dict[str, Any]:
    """Every page, ``loads`` times each (after one warm-up), logged in."""
    from playwright.async_api import async_playwright

    pages = {
        "login": ("/login", "form"),
        "home": ("/", ".wb-body"),
        "chat": ("/chat", ".wb-body"),
        "monitor": ("/monitor", ".wb-body"),
        "run": (f"/monitor/run?id={run_id}", ".wb-body"),
    }
    results: dict[str, Any] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        login = await context.new_page()
        await login.goto(ui_url + "/login")
        await login.get_by_label("Email").fill(EMAIL)
        await login.get_by_label("Password").fill(PASSWORD)
        await login.get_by_role("button", name="Log in").click()
        await login.wait_for_url(ui_url + "/")
        await login.close()
        for name, (path, ready) in pages.items():
            if name == "login":
                target_context = await browser.new_context()  # no session: the form itself
            else:
                target_context = context
            samples = []
            for attempt in range(loads + 1):
                tab = await target_context.new_page()
                try:
                    sample = await measure(tab, ui_url + path, ready)
                except Exception as exc:  # a page that does not render is reported, not hidden
                    results[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
                    break
                finally:
                    await tab.close()
                if sample is None:
                    results[name] = {"absent": "the server has no such page"}
                    break
                if attempt:  # the first load warms the server's imports and the browser's cache
                    samples.append(sample)
            else:
                results[name] = {
                    key: round(statistics.median(s[key] for s in samples), 1) for key in samples[0]
                }
            if target_context is not context:
                await target_context.close()
        await browser.close()
    return results


def main() -> None:
    """Run the benchmark and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    server = start_server(folder / "home", "accounts", {"WORKBENCH_RATE_LIMIT": "off"}, ui=True)
    try:
        assert server.ui_url is not None
        run_id = prepare(server.base_url)
        pages = asyncio.run(bench(server.ui_url, run_id, args.loads))
    finally:
        stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)
    worst = max((p["first_paint_ms"] for p in pages.values() if "first_paint_ms" in p), default=None)
    print(
        json.dumps(
            {
                "benchmark": "ui_first_paint",
                "loads_per_page": args.loads,
                "pages": pages,
                "worst_first_paint_ms": worst,
                "target_first_paint_ms": TARGET_MS,
                "met": worst is not None and worst < TARGET_MS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
