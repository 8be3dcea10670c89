"""Every notebook in notebooks/ runs top to bottom in a real kernel (nbclient), offline, on a data folder
of its own; key outputs are checked."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

EXPECTED: dict[str, list[str]] = {
    "01_quickstart.ipynb": ["COMPLETED Hello, Ada!", "COMPLETED {'greeting': ['Hello, Grace!']}"],
    "02_custom_blocks.ipynb": [
        "count: 6",
        "words: ['Notebooks', 'friendly', 'front', 'door']",
        "longest: Notebooks",
    ],
    "03_data_flow.ipynb": [
        "big: [12.0, 24.0]",
        "small: [3.0, 6.0]",
        "'calculator_1': 4",
        "8 links",
        "static: ['items', 'b']",
        "same result: {'big': [15.0]}",
    ],
    "04_scheduling.ipynb": [
        "active INTERVAL 60",
        "ScheduleInputError : ",
        "cron_expression",
        "fired: True -> Tick for class",
        "paused",
        "schedules left: 0",
    ],
    "05_notebook_to_platform.ipynb": [
        "local: {'greeting': ['Welcome aboard, Ada!']}",
        "same outputs: True",
        "RemoteBlockError : ",
        "does not run notebook code",
        "server stopped",
    ],
    "06_inspecting_runs.ipynb": [
        "COMPLETED {'verdict': ['adult']}",
        "FAILED at node parse_age_1 : node 'parse_age_1' (parse_age) failed: not an age: 'forty'",
        "parse_age_1  FAILED",
        "EXECUTION_COMPLETED",
        "NODE_EXECUTED verdict_no COMPLETED",
    ],
    "07_visual_builder.ipynb": [
        "3 nodes, 2 links",
        "on the canvas: 5 nodes, 4 links",
        "in g: {'old': 'Hello', 'new': 'HEY'}",
        "problems: none",
        "saved version 1",
        "COMPLETED {'greeting': ['Hello, Ada!'], 'shouted': ['HEY, Ada!']}",
    ],
    "08_mcp_tools.ipynb": [
        "<AgentToolInfo Lesson_greeter (name) graph",
        "listed: True - Greets someone by name, politely.",
        "result: {'greeting': 'Good morning, Ada!'}",
        "run: COMPLETED",
        "seen by wb.mcp_tools: Lesson_greeter ['name']",
        "after switching off: False",
        "back to the default: Lesson_greeter",
        "server stopped",
    ],
    "rag_agent.ipynb": [
        "knowledge base 'handbook': local:all-MiniLM-L6-v2, 384 dimensions",
        "leave.md: 'Time off', 3 chunks",
        "3 documents, 7 chunks stored",
        "keyword: leave.md > Time off > Parental leave",
        "From leave.md (Time off > Vacation):\nEvery employee gets 25 days of paid vacation",
        "From expenses.md (Travel and expenses > Claiming expenses):",
        "reimbursed up to 60 euros per day",
        "From it.md (IT and security > Laptops):",
        "Sources: [1] it.md > Laptops",
        "#1 it.md        IT and security > Passwords and access vector #1  keyword #1",
        # the LLM step: the local server echoes the prompt it got, with the retrieved passages
        "echo: Answer the question from these passages only",
        "[1] Travel and expenses > Claiming expenses",
        "Question: Who approves an expense of 800 euros?",
        "closed",
    ],
}
LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_LLM_BASE_URL", "ANTHROPIC_API_KEY")
"""Unset for the lessons: they must not reach a real provider (the RAG lesson starts a local one)."""


def test_every_notebook_is_checked() -> None:
    found = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(EXPECTED)


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            elif "data" in out:
                parts.append(str(out["data"].get("text/html", "")) + str(out["data"].get("text/plain", "")))
    return "".join(parts)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_top_to_bottom(
    name: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.getbasetemp() / "notebook-home"  # shared by the notebooks, never the user's
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for variable in LLM_ENV:
        monkeypatch.delenv(variable, raising=False)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "wb.inner" not in code and "portal" not in code  # lessons use the public client API only
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    text = _text(nb)
    for expected in EXPECTED[name]:
        assert expected in text, f"{name}: {expected!r} not in the outputs:\n{text[-3000:]}"
    assert not any(out.get("output_type") == "error" for cell in nb.cells for out in cell.get("outputs", []))
