"""The Builder page as a person uses it, in Chromium: drag blocks from the palette onto the canvas, link
pins by dragging, fill a node's form, watch problems come and go on the right node, save a version,
run it and see every node complete; import an AutoGPT export; build an agent by chat against a local
OpenAI-compatible server that answers with tool calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.openai_server import LLMServer, serve
from tests.support.servers import ServerProcess, start_server, stop_server
from tests.ui.conftest import Browser

pytestmark = pytest.mark.asyncio(loop_scope="session")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SETTLE_MS = 20_000


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with serve() as server:
        yield server


@pytest.fixture(scope="module")
def builder_server(tmp_path_factory: pytest.TempPathFactory, llm: LLMServer) -> Iterator[ServerProcess]:
    """``workbench serve --auth none`` with the apps; its LLM the local test server (loopback, which the
    outbound guard allows only with WORKBENCH_HTTP_ALLOW)."""
    env = {
        "WORKBENCH_RATE_LIMIT": "off",
        "WORKBENCH_HTTP_ALLOW": "127.0.0.0/8",
        "WORKBENCH_LLM_BASE_URL": llm.base_url,
        "WORKBENCH_LLM_API_KEY": "test-key",
    }
    server = start_server(tmp_path_factory.mktemp("ui-builder") / "home", "none", env, ui=True)
    yield server
    stop_server(server)


async def open_builder(browser: Browser, server: ServerProcess, query: str = "") -> Any:
    context = await browser.context()
    page = await browser.page(context)
    assert server.ui_url
    await page.goto(f"{server.ui_url}/builder{query}")
    await page.wait_for_selector(".react-flow__pane", timeout=SETTLE_MS)
    await page.wait_for_selector(".wb-say", timeout=SETTLE_MS)
    return page


async def say(page: Any) -> str:
    return str(await page.locator(".wb-say").inner_text())


async def wait_count(page: Any, selector: str, count: int, timeout_ms: int = SETTLE_MS) -> None:
    """Until ``count`` elements match (locators see inside the components' shadow roots)."""
    for _ in range(timeout_ms // 100):
        if await page.locator(selector).count() == count:
            return
        await page.wait_for_timeout(100)
    raise AssertionError(f"{selector}: {await page.locator(selector).count()} shown, not {count}")


async def wait_said(page: Any, *parts: str, timeout_ms: int = SETTLE_MS) -> str:
    """Until the Builder's message line holds every one of ``parts``; the message."""
    text = ""
    for _ in range(timeout_ms // 100):
        text = await say(page)
        if all(part in text for part in parts):
            return text
        await page.wait_for_timeout(100)
    raise AssertionError(f"the Builder said {text!r}, not {parts!r}")


async def drop_block(page: Any, name: str) -> str:
    """Drag a block from the palette to the right of the nodes already there; its node id."""
    before = set(await page.locator(".react-flow__node").evaluate_all("ns => ns.map(n => n.dataset.id)"))
    pane = page.locator(".react-flow__pane")
    box = await pane.bounding_box()
    for _ in range(6):  # zoom out until there is room right of the nodes
        right = await page.locator(".react-flow__node").evaluate_all(
            "ns => ns.reduce((m, n) => Math.max(m, n.getBoundingClientRect().right), 0)"
        )
        x = (right - box["x"]) + 30 if right else 20.0
        if x < box["width"] - 200:
            break
        await page.locator(".react-flow__controls-zoomout").click()
        await page.wait_for_timeout(400)
    await page.locator(".wb-palette-search input").fill(name)
    for _ in range(100):  # the palette shows the matching blocks first
        if name in await page.locator(".wb-block[data-block]").first.inner_text():
            break
        await page.wait_for_timeout(100)
    item = page.locator(".wb-block[data-block]").filter(has_text=name).first
    await item.drag_to(pane, target_position={"x": x, "y": 40})
    await wait_count(page, ".react-flow__node", len(before) + 1)
    after = set(await page.locator(".react-flow__node").evaluate_all("ns => ns.map(n => n.dataset.id)"))
    (added,) = after - before
    return str(added)


async def link(page: Any, source: str, out_pin: str, sink: str, in_pin: str) -> None:
    """Drag from an output handle to an input handle."""
    start = page.locator(
        f'.react-flow__node[data-id="{source}"] .react-flow__handle[data-handleid="{out_pin}"]'
    )
    end = page.locator(f'.react-flow__node[data-id="{sink}"] .react-flow__handle[data-handleid="{in_pin}"]')
    a, b = await start.bounding_box(), await end.bounding_box()
    await page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=10)
    # The canvas asks the server which pins may take the link: wait for its answer on this pin.
    for _ in range(SETTLE_MS // 100):
        classes = await end.get_attribute("class") or ""
        if "rf-handle-valid" in classes or "rf-handle-invalid" in classes:
            break
        await page.wait_for_timeout(100)
    await page.mouse.up()
    await page.wait_for_timeout(1000)


async def select_node(page: Any, node_id: str) -> None:
    await page.locator(f'.react-flow__node[data-id="{node_id}"] .rf-node-label').click()
    await page.wait_for_selector(".wb-schema-form [data-field]", timeout=SETTLE_MS)


async def fill_field(page: Any, field: str, value: str) -> None:
    box = page.locator(f'.wb-schema-form [data-field="{field}"]').locator("input, textarea").first
    await box.fill(value)
    await box.press("Tab")


def invalid(node_id: str) -> str:
    return f'.react-flow__node[data-id="{node_id}"].wb-invalid'


async def test_build_a_three_block_agent_save_it_and_run_it(
    builder_server: ServerProcess, browser: Browser
) -> None:
    page = await open_builder(browser, builder_server)
    text_in = await drop_block(page, "AgentShortTextInputBlock")
    replace = await drop_block(page, "TextReplaceBlock")
    out = await drop_block(page, "AgentOutputBlock")
    # Every new node lacks something: each shows as invalid, with its pins named.
    for node in (text_in, replace, out):
        await page.wait_for_selector(invalid(node), timeout=SETTLE_MS)
    await link(page, text_in, "result", replace, "text")
    await wait_count(page, ".react-flow__edge", 1)
    await wait_said(page, "Linked AgentShortTextInputBlock.result to TextReplaceBlock.text")
    await link(page, replace, "output", out, "value")
    await wait_count(page, ".react-flow__edge", 2)
    # The edge drawn in the browser goes with Undo and comes back with Redo.
    await page.locator(".wb-undo button").click()
    await wait_count(page, ".react-flow__edge", 1)
    await page.locator(".wb-redo button").click()
    await wait_count(page, ".react-flow__edge", 2)
    await page.locator(".wb-fit-view button").click()
    await page.wait_for_timeout(500)
    await browser.shot(page, "builder-linked")
    # The input node's only problem is its name: set it in the form, the problem goes.
    await select_node(page, text_in)
    await page.wait_for_selector('.wb-schema-form [data-field="name"].wb-field-error', timeout=SETTLE_MS)
    await fill_field(page, "name", "text")
    await page.wait_for_selector(invalid(text_in), state="detached", timeout=SETTLE_MS)
    await select_node(page, replace)
    await fill_field(page, "old", "a")
    await fill_field(page, "new", "o")
    await page.wait_for_selector(invalid(replace), state="detached", timeout=SETTLE_MS)
    await select_node(page, out)
    await fill_field(page, "name", "result")
    await page.wait_for_selector(".wb-invalid", state="detached", timeout=SETTLE_MS)
    await browser.shot(page, "builder-valid")
    # Save a version with a note.
    await page.locator(".wb-note input").fill("first version")
    await page.locator(".wb-save button").click()
    await wait_said(page, "as version 1")
    # Run: the Run tab asks for the input, then every node turns completed.
    await page.locator(".wb-run button").click()
    await page.wait_for_selector('.wb-schema-form [data-field="text"]', timeout=SETTLE_MS)
    await fill_field(page, "text", "banana")
    await page.locator(".wb-start button").click()
    await wait_count(page, ".react-flow__node.wb-status-COMPLETED", 3)
    await browser.shot(page, "builder-run")
    await page.locator(f'.react-flow__node[data-id="{replace}"] .rf-node-label').click()
    await page.wait_for_selector(".wb-node-outputs", timeout=SETTLE_MS)
    assert "bonono" in " ".join(await page.locator(".wb-node-outputs td").all_inner_texts())
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(f"{builder_server.base_url}/api/v1/graphs")
    stored = [g for g in response.json()["items"] if g["version"] == 1 and g["note"] == "first version"]
    assert stored, response.text


async def test_a_link_between_kinds_that_do_not_convert_is_refused(
    builder_server: ServerProcess, browser: Browser
) -> None:
    page = await open_builder(browser, builder_server)
    split = await drop_block(page, "TextSplitBlock")
    calc = await drop_block(page, "CalculatorBlock")
    await link(page, split, "texts", calc, "a")
    await page.wait_for_timeout(800)
    assert await page.locator(".react-flow__edge").count() == 0
    await browser.shot(page, "builder-refused")


async def test_import_an_autogpt_export_lays_it_out(builder_server: ServerProcess, browser: Browser) -> None:
    doc = json.loads((EXAMPLES / "hello_agent.json").read_text())
    for node in doc["nodes"]:
        node.pop("metadata", None)
    page = await open_builder(browser, builder_server)
    await page.locator(".bk-tab", has_text="Import").click()
    area = page.locator(".wb-import-text textarea")
    await area.fill('{"name": "broken", "nodes": [')
    await page.locator(".wb-import button").click()
    await wait_said(page, "Import failed", "line 1")
    assert await page.locator(".react-flow__node").count() == 0
    await area.fill(json.dumps(doc))
    await page.locator(".wb-import button").click()
    await wait_count(page, ".react-flow__node", len(doc["nodes"]))
    boxes = await page.locator(".react-flow__node").evaluate_all(
        "ns => ns.map(n => { const r = n.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
    )
    for i, a in enumerate(boxes):  # laid out: no two nodes overlap
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    await wait_count(page, ".react-flow__edge", len(doc["links"]))  # the edges follow the nodes
    await browser.shot(page, "builder-imported")


def _call(tool: str, /, **arguments: Any) -> dict[str, Any]:
    return {"name": tool, "arguments": arguments}


def _calls(*items: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": list(items)}


REPLACER = [
    _calls(
        _call("add_node", node_id="text", block="AgentShortTextInputBlock", defaults={"name": "text"}),
        _call("add_node", node_id="swap", block="TextReplaceBlock", defaults={"old": "a", "new": "u"}),
        _call("add_node", node_id="out", block="AgentOutputBlock", defaults={"name": "swapped"}),
        _call("link", source_node="text", source_pin="result", sink_node="swap", sink_pin="text"),
        _call("link", source_node="swap", source_pin="output", sink_node="out", sink_pin="value"),
        _call("set_name", name="Vowel swapper", description="Replaces a with u."),
    ),
    _calls(_call("finish", summary="An input, a replace and an output.")),
]


async def test_build_an_agent_by_chat_accept_it_and_run_it(
    builder_server: ServerProcess, browser: Browser, llm: LLMServer
) -> None:
    llm.reset()
    page = await open_builder(browser, builder_server)
    await page.locator(".bk-tab", has_text="Assistant").click()
    # A model that insists on a block that does not exist: the canvas does not change.
    stubborn = _calls(_call("add_node", node_id="x", block="TeleportBlock", defaults={}))
    llm.script(stubborn, stubborn, stubborn, stubborn, stubborn, stubborn, stubborn, stubborn, stubborn)
    await page.locator(".wb-ask-input textarea").fill("teleport my text")
    await page.locator(".wb-ask button").click()
    await wait_said(page, "not applied", "TeleportBlock")
    assert await page.locator(".react-flow__node").count() == 0
    tool_messages = [m for r in llm.requests for m in r.body.get("messages", []) if m.get("role") == "tool"]
    assert any("TeleportBlock" in str(m.get("content")) for m in tool_messages)
    llm.reset()
    llm.script(*REPLACER)
    await page.locator(".wb-ask-input textarea").fill("replace every a with u in my text")
    await page.locator(".wb-ask button").click()
    await wait_count(page, ".react-flow__node", 3)
    await browser.shot(page, "builder-drafted")
    await page.locator(".wb-run button").click()  # saves the accepted proposal, then asks for the input
    await page.wait_for_selector('.wb-schema-form [data-field="text"]', timeout=SETTLE_MS)
    await fill_field(page, "text", "banana")
    await page.locator(".wb-start button").click()
    await wait_count(page, ".react-flow__node.wb-status-COMPLETED", 3)
    await browser.shot(page, "builder-drafted-run")
