"""A notebook with widgets, executed in a real kernel and exported with nbconvert to HTML (saved without
widget state, as JupyterLab saves by default): every widget leaves its final state as static HTML."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[2]

CELLS = [
    "%load_ext kernel_ext\nwb = %wb connect",
    # A run waited for: displayed once it has ended.
    'from workbench.graph.builder import GraphBuilder\n\ng = GraphBuilder("Greeter")\nname = g.input("name")\n'
    'greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")\nname.result >> greet.values["name"]\n'
    'greet.output >> g.output("greeting").value\nlive = %wb run g name=Grace --wait\nlive',
    # A run displayed while it goes on, ending during the next cell.
    "import asyncio\nfrom workbench import block\n\n@block\nasync def slow_upper(text: str) -> str:\n"
    '    "Shout, after a pause."\n    await asyncio.sleep(1.0)\n    return text.upper()\n\n'
    's = GraphBuilder("Slow shout")\nt = s.input("text")\nup = s.add(slow_upper)\nt.result >> up.text\n'
    'up.result >> s.output("loud").value\nlate = %wb run s text=later\nlate',
    'print("ended", late.wait(30).status)',
    'p = %wb palette\np.search("template")\np',
    'from kernel_ext.widgets import ChatWidget\n\nc = GraphBuilder("Echo chat")\nmessage = c.input("message")\n'
    'reply = c.add("FillTextTemplateBlock", format="You said {{ message }}")\n'
    'message.result >> reply.values["message"]\nreply.output >> c.output("reply").value\n'
    "chat = ChatWidget(wb, c)\nchat",
    'print(chat.send("hi"))',
    "g",
]

NEXT_CELL = "<td style='text-align:left;vertical-align:top'>"
"""How a table cell of the displays opens."""


def executed_notebook(home: Path) -> nbformat.NotebookNode:
    """The notebook above, run top to bottom in a fresh kernel on data folder ``home``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        store_widget_state=False,  # as a notebook saved by JupyterLab with its default settings
        resources={"metadata": {"path": str(ROOT)}},
    ).execute()
    return nb


def export_html(nb: nbformat.NotebookNode) -> str:
    """``jupyter nbconvert --to html`` of ``nb``."""
    html, _ = HTMLExporter().from_notebook_node(nb)
    return html


def _html_of(cell: nbformat.NotebookNode) -> str:
    return "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.outputs)


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    home = tmp_path_factory.mktemp("export-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_HOME", str(home))
    mp.setenv("PYTHONPATH", str(ROOT))
    mp.delenv("DATABASE_URL", raising=False)
    try:
        yield executed_notebook(home)
    finally:
        mp.undo()


def test_widgets_leave_their_final_state_in_an_html_export(notebook: nbformat.NotebookNode) -> None:
    cells = notebook.cells
    assert not any(o.output_type == "error" for c in cells for o in c.outputs)
    live = _html_of(cells[1])
    assert "COMPLETED" in live and "<bdi>Greeter</bdi>" in live
    assert f"<b><bdi>greeting</bdi></b></td>{NEXT_CELL}<bdi>Hello, Grace!</bdi></td>" in live
    # The run displayed while RUNNING: its snapshot was replaced when it ended (during the next cell).
    late = _html_of(cells[2])
    assert "COMPLETED" in late and "<bdi>LATER</bdi>" in late and "RUNNING" not in late
    assert "ended COMPLETED" in "".join(o.get("text", "") for o in cells[3].outputs)
    assert "Block palette" in _html_of(cells[4]) and "FillTextTemplateBlock" in _html_of(cells[4])
    assert "You said hi" in _html_of(cells[5])  # the reply of the next cell, brought up to date

    html = export_html(notebook)
    for expected in ("Hello, Grace!", "<bdi>LATER</bdi>", "Block palette", "You said hi", "image/svg+xml"):
        assert expected in html, expected
    assert "RunWidget(children" not in html
    # The widget views themselves are skipped (no state saved): only the snapshots show.
    assert not re.search(r'<script type="application/vnd.jupyter.widget-view\+json">', html)
