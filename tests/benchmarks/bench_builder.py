"""The Builder with a large graph, in Debian's Chromium against a real ``workbench serve``. Prints JSON.

A ``workbench serve --auth none`` process with the UI on. A ``--nodes``-node agent (a chain of Text
Replace blocks between an input and an output, laid out on a grid) is stored through the API, then:

(a) render: ``/builder?graph=<id>`` is opened ``--loads`` times in a fresh tab; the figure is from the
    navigation's start to every node being on the canvas (``.react-flow__node`` count), and to the
    node's handles being there too.
(b) link: the view is zoomed onto two unlinked nodes and an output pin is dragged to an input pin
    ``--links`` times (each link then undone). The figure is from the mouse button's release to the
    page showing the server's "Linked ..." answer: the edge made in the browser, sent to Python,
    checked and stored in the editor, the graph redrawn, and the answer back in the page. Target:
    under 100 ms.
(c) save: the canvas is saved ``--saves`` times (each a new version of the 300-node agent): from the
    Save click to the page saying "as version N", and, beside it, the graph service's own time to
    store one version (``GraphService.update``) measured through the API's ``PUT`` for comparison.

Usage: python tests/benchmarks/bench_builder.py [--nodes 300] [--loads 3] [--links 15] [--saves 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.servers import start_server, stop_server  # noqa: E402

GRID = 20
"""Nodes per column of the big graph."""


def big_graph(nodes: int) -> dict[str, Any]:
    """input -> replace x (nodes - 3) -> output, plus one unlinked replace at the top left."""
    from workbench.block.registry import default_registry

    registry = default_registry()
    ids = {
        name: registry.find(name).id
        for name in ("AgentShortTextInputBlock", "TextReplaceBlock", "AgentOutputBlock")
    }
    doc: dict[str, Any] = {"name": f"Big agent ({nodes} nodes)", "nodes": [], "links": []}

    def place(i: int) -> dict[str, Any]:
        return {"position": {"x": 300.0 * (i // GRID), "y": 170.0 * (i % GRID)}}

    doc["nodes"].append(
        {
            "id": "in",
            "block_id": ids["AgentShortTextInputBlock"],
            "input_default": {"name": "text"},
            "metadata": place(0),
        }
    )
    doc["nodes"].append(
        {
            "id": "free",
            "block_id": ids["TextReplaceBlock"],
            "input_default": {"text": "x", "old": "a", "new": "b"},
            "metadata": {"position": {"x": -300.0, "y": 0.0}},
        }
    )
    previous = ("in", "result")
    for i in range(1, nodes - 2):
        node_id = f"r{i}"
        doc["nodes"].append(
            {
                "id": node_id,
                "block_id": ids["TextReplaceBlock"],
                "input_default": {"old": "a", "new": "b"},
                "metadata": place(i),
            }
        )
        doc["links"].append(
            {"source_id": previous[0], "source_name": previous[1], "sink_id": node_id, "sink_name": "text"}
        )
        previous = (node_id, "output")
    doc["nodes"].append(
        {
            "id": "out",
            "block_id": ids["AgentOutputBlock"],
            "input_default": {"name": "result"},
            "metadata": place(nodes - 2),
        }
    )
    doc["links"].append(
        {"source_id": previous[0], "source_name": previous[1], "sink_id": "out", "sink_name": "value"}
    )
    return doc


async def _at_least(locator: Any, count: int) -> bool:
    return bool(await locator.count() >= count)


async def _has_class(locator: Any, name: str) -> bool:
    return name in (await locator.get_attribute("class") or "")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def say(page: Any) -> str:
    return str(await page.locator(".wb-say").inner_text())


async def until_said(page: Any, part: str, timeout_s: float = 30.0) -> float:
    """Poll the message line until it holds ``part``; the moment it did (perf_counter)."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if part in await say(page):
            return time.perf_counter()
        await asyncio.sleep(0.005)
    raise TimeoutError(f"the Builder never said {part!r} (it said {await say(page)!r})")


async def until(check: Any, what: str, timeout_s: float = 60.0, step: float = 0.02) -> None:
    """Poll ``await check()`` until it is true; TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.perf_counter() + timeout_s
    while not await check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f} s")
        await asyncio.sleep(step)


def note(message: str) -> None:
    """Progress on stderr (the figures go to stdout as JSON at the end)."""
    print(message, file=sys.stderr, flush=True)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    home = Path(tempfile.mkdtemp(prefix="bench-builder-")) / "home"
    server = start_server(home, "none", {"WORKBENCH_RATE_LIMIT": "off"}, ui=True)
    out: dict[str, Any] = {"nodes": args.nodes}
    try:
        doc = big_graph(args.nodes)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as http:
            created = await http.post("/api/v1/graphs", json=doc)
            created.raise_for_status()
            graph = created.json()
            put_ms = []
            for _ in range(args.saves):
                doc["description"] = f"saved at {time.time()}"
                t0 = time.perf_counter()
                response = await http.put(f"/api/v1/graphs/{graph['id']}", json={**doc, "id": graph["id"]})
                put_ms.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
        out["api_put_version_ms"] = {
            "median": round(statistics.median(put_ms), 1),
            "all": [round(v, 1) for v in put_ms],
        }
        url = f"{server.ui_url}/builder?graph={graph['id']}"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport={"width": 1400, "height": 950})
            render_ms, handles_ms = [], []
            page = None
            for _ in range(args.loads):
                if page is not None:
                    await page.close()
                page = await context.new_page()
                t0 = time.perf_counter()
                await page.goto(url)
                nodes = page.locator(".react-flow__node")
                await until(partial(_at_least, nodes, args.nodes), f"{args.nodes} nodes on the canvas")
                render_ms.append((time.perf_counter() - t0) * 1000)
                handles = page.locator('.react-flow__node[data-id="out"] .react-flow__handle')
                await until(partial(_at_least, handles, 1), "the output node's handles")
                handles_ms.append((time.perf_counter() - t0) * 1000)
                note(f"render: {render_ms[-1]:.0f} ms")
            out["render_ms"] = {
                "median": round(statistics.median(render_ms), 1),
                "all": [round(v) for v in render_ms],
            }
            out["render_with_handles_ms"] = {"median": round(statistics.median(handles_ms), 1)}
            assert page is not None
            await until_said(page, "Opened")
            # Zoom onto the free node and the input node (top left) with the wheel.
            free = page.locator('.react-flow__node[data-id="free"]')
            box = await free.bounding_box()
            assert box is not None
            await page.mouse.move(box["x"] + box["width"], box["y"] + box["height"] / 2)
            for _ in range(12):
                await page.mouse.wheel(0, -300)
                await asyncio.sleep(0.08)
            await asyncio.sleep(0.5)
            link_ms = []
            for _ in range(args.links):
                start = page.locator(
                    '.react-flow__node[data-id="free"] .react-flow__handle[data-handleid="output"]'
                )
                end = page.locator('.react-flow__node[data-id="r1"] .react-flow__handle[data-handleid="old"]')
                a, b = await start.bounding_box(), await end.bounding_box()
                assert a is not None and b is not None, "the two nodes are not both in view"
                await page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
                await page.mouse.down()
                await page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
                await until(
                    partial(_has_class, end, "rf-handle-valid"), "the drop target to light up", 20, 0.01
                )
                t0 = time.perf_counter()
                await page.mouse.up()
                t1 = await until_said(page, "Linked")
                link_ms.append((t1 - t0) * 1000)
                note(f"link: {link_ms[-1]:.0f} ms")
                await page.locator(".wb-undo button").click()
                await until_said(page, "Undone")
            out["drag_to_edge_in_python_ms"] = {
                "p50": pct(link_ms, 0.5),
                "p95": pct(link_ms, 0.95),
                "max": round(max(link_ms), 1),
                "target": 100,
            }
            save_ms = []
            for i in range(args.saves):
                await page.locator(".wb-note input").fill(f"bench save {i}")
                t0 = time.perf_counter()
                await page.locator(".wb-save button").click()
                # 1 version created, then args.saves through the API, then these
                t1 = await until_said(page, f"as version {args.saves + 2 + i}")
                save_ms.append((t1 - t0) * 1000)
            out["save_click_to_stored_ms"] = {
                "median": round(statistics.median(save_ms), 1),
                "all": [round(v) for v in save_ms],
            }
            await browser.close()
    finally:
        stop_server(server)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--links", type=int, default=15)
    parser.add_argument("--saves", type=int, default=3)
    if not CHROMIUM.exists():
        sys.exit(f"needs Debian's chromium at {CHROMIUM}")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
