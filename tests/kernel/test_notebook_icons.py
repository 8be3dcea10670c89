"""The icons of ``%wb chat`` and ``%wb monitor`` outputs work offline: the Tabler icon font Bokeh would
ask a CDN for travels in the notebook (:mod:`workbench.ui.inline_icons`), once per notebook.

A notebook run headless by nbclient (two Chats, then the Monitor) is exported to HTML by nbconvert, as
a user exports it, and opened from disk in Debian's Chromium with every request off the machine
refused and recorded: the buttons of both Chats draw their icons from the carried font and nothing is
asked of any address. The same page without the output carrying the font asks the CDN (so the check
can fail). In a real kernel, the font is published again only when the cell that carried it runs
again (JupyterLab names each request's cell).
"""

from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from PIL import Image

from tests.kernel.harness import ROOT, CellResult, Kernel
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, async_playwright
from workbench.ui.inline_icons import icons_script

SHOTS = Path("/tmp/shots/ui")
LOAD = "application/vnd.holoviews_load.v0+json"
"""The mime type of Bokeh's and Panel's loader outputs."""
MARK = "workbench/ui/inline_icons.py"
"""Written in the font script's heading comment: how its output is told from the others."""
CONNECT = """
%load_ext kernel_ext
wb = %wb connect
"""
AGENT = """
from workbench.graph.builder import GraphBuilder
g = GraphBuilder("Icon agent")
said = g.input("message")
echo = g.add("FillTextTemplateBlock", format="You said: {{ said }}")
said.result >> echo.values["said"]
echo.output >> g.output("reply").value
agent = wb.save_graph(g)
"""
CELLS = [CONNECT + AGENT, "%wb chat 'Icon agent'", "%wb chat 'Icon agent' --new", "%wb monitor"]
ICONS = ["plus", "pencil", "trash", "player-stop", "repeat"]
"""The icons of the Chat page's own buttons (workbench/ui/chat.py)."""
NO_SCRIPT = "data:text/javascript,"
"""What nbconvert's page loads instead of its own CDN scripts (RequireJS, MathJax, Mermaid, widgets),
which are nbconvert's, not the outputs'."""

SPANS = """() => {
  const spans = [];
  const walk = (root) => root.querySelectorAll("*").forEach((el) => {
    if (el.matches("span.ti")) spans.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(document);
  const cells = [...document.querySelectorAll(".jp-Cell")];
  const cell = (el) => {
    while (el.getRootNode() !== document) el = el.getRootNode().host;
    return cells.indexOf(el.closest(".jp-Cell"));
  };
  return spans.map((span) => {
    const before = getComputedStyle(span, "::before");
    const box = span.getBoundingClientRect();
    return {
      name: [...span.classList].find((c) => c.startsWith("ti-")).slice(3),
      family: before.fontFamily,
      content: before.content,
      width: box.width,
      cell: cell(span),
    };
  });
}"""
"""Every icon drawn on the page (inside Bokeh's shadow roots): its name, its glyph's font and code
point, its width and the index of the notebook cell it is in."""
FONTS = """async () => {
  await document.fonts.ready;
  return {
    faces: [...document.fonts].filter((f) => f.family.replace(/"/g, "") === "tabler-icons").map((f) => f.status),
    check: document.fonts.check('16px "tabler-icons"'),
  };
}"""


pytestmark = pytest.mark.filterwarnings("ignore:Your element with mimetype:UserWarning")
"""nbconvert's word on the empty outputs Panel leaves beside its own (they show nothing, as in
JupyterLab)."""


def _carries_font(output: dict[str, Any]) -> bool:
    """Whether a notebook output is the icon font's script."""
    return MARK in json.dumps(output.get("data", {}))


def _shown(spans: list[dict[str, Any]], cell: int) -> set[str]:
    """The names of the icons of notebook cell ``cell`` that take room on the page."""
    return {span["name"] for span in spans if span["cell"] == cell and span["width"] > 0}


def _run(cells: list[str], home: Path) -> nbformat.NotebookNode:
    """A notebook of ``cells``, run by nbclient as JupyterLab would run it, on the data folder ``home``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(ROOT)}}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_HOME", str(home))
        patch.setenv("PYTHONPATH", str(ROOT))
        patch.delenv("DATABASE_URL", raising=False)
        client.execute()
    return nb


def _export(nb: nbformat.NotebookNode, path: Path) -> Path:
    """The notebook as nbconvert's HTML page (JupyterLab's look), written to ``path``."""
    exporter = HTMLExporter(
        template_name="lab",
        require_js_url=NO_SCRIPT,
        mathjax_url=NO_SCRIPT,
        mermaid_js_url=NO_SCRIPT,
        mermaid_layout_elk_js_url=NO_SCRIPT,
        widget_renderer_url=NO_SCRIPT,
    )
    body, _ = exporter.from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """The notebook after nbclient ran it: an agent, its Chat twice, the Monitor."""
    nb = _run(CELLS, tmp_path_factory.mktemp("icons-home"))
    for cell in nb.cells:
        errors = [o for o in cell.outputs if o["output_type"] == "error"]
        assert not errors, json.dumps(errors)
    return nb


def test_one_output_of_the_notebook_carries_the_font(notebook: nbformat.NotebookNode) -> None:
    carrying = [
        (index, output)
        for index, cell in enumerate(notebook.cells)
        for output in cell.outputs
        if _carries_font(output)
    ]
    assert [index for index, _ in carrying] == [1], "the font should be in the first Chat's output only"
    output = carrying[0][1]
    assert list(output["data"]) == ["application/javascript"]  # one copy, under one mime type
    script = output["data"]["application/javascript"]
    assert script == icons_script()
    # No address at all in it: the font is a data: URL, the stylesheet a table of code points.
    assert not re.findall(r"https?:", script), re.findall(r".{40}https?:.{40}", script)
    assert "data:font/woff2;base64," in script
    # Published before Bokeh's loader, so that Bokeh is patched whenever it appears.
    first_chat = notebook.cells[1].outputs
    loader = next(i for i, o in enumerate(first_chat) if LOAD in o.get("data", {}) and not _carries_font(o))
    assert first_chat.index(output) < loader
    # What it adds to the notebook file: about 0.8 MB once (Panel's own bundle is ~6 MB per output).
    size = len(json.dumps(output))
    assert 700_000 < size < 900_000, size


async def _open(html: Path, *, look: bool) -> dict[str, Any]:
    """Open ``html`` from disk in Chromium, refusing every request for an address: what was asked,
    what went wrong and, with ``look``, the icons drawn, the icon font's state and the pixels of one
    icon (and a screenshot of the page)."""
    seen: dict[str, Any] = {"asked": [], "errors": []}

    async def nothing_leaves(route: Any) -> None:
        seen["asked"].append(route.request.url)
        await route.abort()

    def asked(request: Any) -> None:
        if urlsplit(request.url).scheme != "file" and request.url not in seen["asked"]:
            seen["asked"].append(request.url)

    async with async_playwright()() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await chromium.new_context(viewport={"width": 1280, "height": 900})
            await context.route(re.compile(r"^(https?|wss?|ftp)://"), nothing_leaves)
            page = await context.new_page()
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", asked)
            await page.goto(html.as_uri())
            await page.get_by_role("button", name="New conversation").nth(1).wait_for(timeout=60_000)
            if not look:
                await page.wait_for_timeout(1_000)
                return seen
            seen["fonts"] = await page.evaluate(FONTS)
            spans = await page.evaluate(SPANS)
            for _ in range(100):  # Bokeh lays the pages out in steps: until both Chats' buttons are
                if _shown(spans, 1) >= set(ICONS) <= _shown(spans, 2):
                    break
                await page.wait_for_timeout(100)
                spans = await page.evaluate(SPANS)
            seen["spans"] = spans
            icon = await page.locator("span.ti-plus").nth(1).screenshot()
            seen["dark"] = sum(Image.open(io.BytesIO(icon)).convert("L").histogram()[:128])
            SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "notebook-icons.png"), full_page=True)
        finally:
            await chromium.close()
    return seen


async def test_the_exported_notebook_draws_the_icons_offline(
    notebook: nbformat.NotebookNode, tmp_path: Path
) -> None:
    seen = await _open(_export(notebook, tmp_path / "notebook.html"), look=True)
    assert seen["asked"] == [], seen["asked"]
    assert seen["errors"] == [], seen["errors"]
    assert seen["fonts"] == {"faces": ["loaded"], "check": True}, seen["fonts"]
    # Both Chats (the second without the font in its own output) draw every button's icon with it.
    assert sorted({span["cell"] for span in seen["spans"]}) == [1, 2], seen["spans"]
    for cell in (1, 2):
        assert set(ICONS) <= _shown(seen["spans"], cell), (cell, seen["spans"])
    codes = dict(re.findall(r'"([a-z0-9-]+)":"([0-9a-f]+)"', icons_script()))
    for span in seen["spans"]:  # hidden ones too (the chat box's own buttons, which the page hides)
        assert span["family"].strip('"') == "tabler-icons", span
        assert span["content"] == f'"{chr(int(codes[span["name"]], 16))}"', span
    assert seen["dark"] > 10, "the plus icon of the second Chat has no drawn pixels"


async def test_without_the_font_the_page_asks_the_cdn(
    notebook: nbformat.NotebookNode, tmp_path: Path
) -> None:
    stripped = nbformat.from_dict(json.loads(json.dumps(notebook)))
    for cell in stripped.cells:
        cell.outputs = [output for output in cell.outputs if not _carries_font(output)]
    seen = await _open(_export(stripped, tmp_path / "stripped.html"), look=False)
    assert any(urlsplit(url).hostname == "cdn.jsdelivr.net" for url in seen["asked"]), seen["asked"]


def _execute_in_cell(kernel: Kernel, code: str, cell_id: str | None) -> CellResult:
    """Run ``code`` as JupyterLab does for the notebook cell ``cell_id`` (named in the request's
    metadata; jupyter_client's ``execute`` cannot name one), and wait for the kernel to be idle."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}}
    content |= {"allow_stdin": False, "stop_on_error": True}
    msg = kernel.kc.session.msg("execute_request", content, metadata={"cellId": cell_id} if cell_id else {})
    with kernel._lock:
        idle = kernel._idle_event(msg["header"]["msg_id"])
    kernel.kc.shell_channel.send(msg)
    assert idle.wait(120), f"cell did not finish:\n{code}"
    with kernel._lock:
        cell = kernel._cells.pop(msg["header"]["msg_id"])
        kernel._idle.pop(msg["header"]["msg_id"])
    assert cell.error is None, "\n".join(cell.error["traceback"])
    assert "UsageError" not in cell.stderr, cell.stderr
    return cell


def test_the_font_comes_again_only_with_the_cell_that_carried_it(kernel: Kernel) -> None:
    kernel.execute(AGENT, timeout=120)  # the kernel fixture has connected already
    first, other = str(uuid.uuid4()), str(uuid.uuid4())

    def carries(code: str, cell_id: str | None) -> bool:
        outputs = _execute_in_cell(kernel, code, cell_id).outputs
        assert outputs, code
        return any(_carries_font(output) for output in outputs)

    assert carries("%wb chat 'Icon agent'", first)  # the kernel's first
    assert not carries("%wb chat 'Icon agent'", other)
    assert not carries("%wb monitor", other)
    assert carries("%wb monitor", first)  # the carrying cell again: its output is replaced
    assert not carries("%wb chat 'Icon agent'", None)  # a frontend naming no cell: once per kernel
