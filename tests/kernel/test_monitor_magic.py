"""``%wb monitor``: the web Monitor in a notebook cell, run headless by nbclient as JupyterLab would run
it: the runs table of the local user with their runs, live as new runs end, and every script and
style inline (no CDN address anywhere in the notebook's outputs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
%load_ext kernel_ext
from workbench.graph.builder import GraphBuilder
g = GraphBuilder("Monitored greeter")
name = g.input("name")
greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")
name.result >> greet.values["name"]
greet.output >> g.output("greeting").value
first = %wb run g name=Ada --wait
print("first:", first.execution_id)
"""

LIVE = """
import time
second = %wb run g name=Grace --wait
deadline = time.monotonic() + 30
def shown_status():
    frame = m.executions.frame
    rows = frame[frame["id"] == second.execution_id]
    return None if rows.empty else rows.iloc[0]["status"]
while shown_status() != "COMPLETED" and time.monotonic() < deadline:
    time.sleep(0.1)
shown = m.executions.frame.set_index("id").loc[second.execution_id]
print("live:", shown["status"], shown["agent"])
"""

CDN = re.compile(r"https?://(?:cdn\.[\w.-]+|unpkg\.com|[\w.-]*jsdelivr\.net|cdnjs\.[\w.-]+)", re.I)
"""Addresses of the CDNs Bokeh, Panel and HoloViews load from when not told to inline."""

NOT_LOADED = [
    # Module paths for RequireJS, used only where the page has RequireJS (the classic Notebook; not
    # JupyterLab), and the list of addresses to skip when the library is on the page already.
    re.compile(r"window\.requirejs\.config\(\{.*?\}\}\);", re.S),
    re.compile(r"var urls = \[[^\]]*\];\s*for \(var i = 0; i < urls\.length; i\+\+\) \{\s*skip\.push"),
    # Inside Bokeh's own bundle: fetched only to typeset LaTeX or to draw a Tabler icon, which the
    # Monitor has neither of (checked below).
    re.compile(r'\.src="https://cdn\.jsdelivr\.net/npm/mathjax@3/es5/tex-svg\.js"'),
    re.compile(r'_url="https://cdn\.jsdelivr\.net/npm/@tabler/icons-webfont@latest"'),
]
"""Mentions of CDN addresses that load nothing in JupyterLab."""
LOADER_LISTS = re.compile(r"const (js_urls|css_urls|js_modules) = (\[[^\]]*\])")
"""The lists of scripts, modules and styles the Bokeh/Panel loader fetches."""


def assert_self_contained(texts: list[str]) -> None:
    """The outputs' loaders fetch nothing, Bokeh's and Panel's JavaScript came along instead (what a
    CDN would have served), and no CDN address is left where it would be loaded."""
    lists = [m.groups() for text in texts for m in LOADER_LISTS.finditer(text)]
    assert lists, "no Bokeh/Panel loader in the outputs"
    assert all(urls == "[]" for _, urls in lists), [found for found in lists if found[1] != "[]"]
    assert any("Bokeh" in text and len(text) > 1_000_000 for text in texts)
    left = []
    for text in texts:
        for pattern in NOT_LOADED:
            text = pattern.sub("", text)
        left += CDN.findall(text)
    assert not left, sorted(set(left))


def _outputs(cell: nbformat.NotebookNode) -> str:
    """Everything a cell put out (texts, display data, errors), as one string."""
    return json.dumps(cell.get("outputs", []))


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """The notebook after nbclient ran it: set up and run an agent, ``%wb monitor``, one more run,
    and mistakes."""
    home = tmp_path_factory.mktemp("monitor-magic-home")
    cells = [SETUP, "%wb monitor", "m = _\n" + LIVE, "%wb monitor --all"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(ROOT)}},
    )
    env = {"WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in env.items():
            patch.setenv(variable, value)
        patch.delenv("DATABASE_URL", raising=False)
        client.execute()
    return nb


def test_the_cell_shows_the_users_runs_in_the_monitor(notebook: nbformat.NotebookNode) -> None:
    setup, shown = notebook.cells[0], notebook.cells[1]
    assert not [o for o in setup.outputs if o["output_type"] == "error"], _outputs(setup)
    first = re.search(r"first: ([0-9a-f-]{36})", _outputs(setup))
    assert first is not None, _outputs(setup)
    assert not [o for o in shown.outputs if o["output_type"] == "error"], _outputs(shown)
    result = [o for o in shown.outputs if o["output_type"] == "execute_result"]
    assert len(result) == 1, _outputs(shown)
    bundle = json.dumps(result[0]["data"])
    assert "application/vnd.holoviews_exec.v0+json" in result[0]["data"]
    # The Monitor's own document: its tabs, its table and the run with its agent.
    for part in ("Runs", "Dashboards", "Tabulator", first.group(1), "Monitored greeter"):
        assert part in bundle, f"{part!r} is not in the Monitor's output"


def test_the_monitor_follows_new_runs(notebook: nbformat.NotebookNode) -> None:
    live = _outputs(notebook.cells[2])
    assert "live: COMPLETED Monitored greeter" in live, live


def _texts(notebook: nbformat.NotebookNode) -> list[str]:
    """Every text of every output of the notebook, as the frontend receives it."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts += [v if isinstance(v, str) else json.dumps(v) for v in output.get("data", {}).values()]
            texts += [output.get("text", ""), *output.get("traceback", [])]
    return texts


def test_everything_is_inline(notebook: nbformat.NotebookNode) -> None:
    assert_self_contained(_texts(notebook))
    monitor = json.dumps(notebook.cells[1].outputs[-1]["data"])
    assert "TablerIcon" not in monitor and "MathJax" not in monitor


def test_a_wrong_argument_says_so_and_the_help_lists_the_command(notebook: nbformat.NotebookNode) -> None:
    wrong = _outputs(notebook.cells[3])
    assert "%wb monitor: unrecognized arguments: --all" in wrong, wrong
