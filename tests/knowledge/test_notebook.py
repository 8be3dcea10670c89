"""notebooks/rag_agent.ipynb runs top to bottom in a real kernel (nbclient), offline, on a data
folder of its own, and its agent answers from the right documents."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "rag_agent.ipynb"


def outputs(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            elif "data" in out:
                parts.append(str(out["data"].get("text/plain", "")))
    return "".join(parts)


def test_rag_notebook_answers_from_the_handbook(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("rag-notebook-home")))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WORKBENCH_LLM_BASE_URL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "wb.inner" not in code and "portal" not in code  # the public client API only
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    text = outputs(nb)
    expected = [
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
    ]
    for item in expected:
        assert item in text, f"{item!r} not in the notebook's outputs:\n{text[-4000:]}"
    assert not any(out.get("output_type") == "error" for cell in nb.cells for out in cell.get("outputs", []))
