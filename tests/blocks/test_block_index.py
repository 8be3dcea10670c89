"""The registry's index of built-in block modules (blocks/_index.py) matches the blocks, and a
registry filled from it imports only what is asked for, behaving like a fully loaded one."""

from __future__ import annotations

import importlib
import subprocess
import sys

from blocks._index import MODULES
from workbench.block.registry import BlockRegistry, builtin_index, load_builtin


def test_the_index_matches_the_block_modules() -> None:
    expected = {m: [tuple(e) for e in entries] for m, entries in builtin_index().items()}
    found = {m: [tuple(e) for e in entries] for m, entries in MODULES.items()}
    assert found == expected, "blocks/_index.py is stale: run python -m workbench.block.index"


TEXT_ID = next(i for i, cls, _ in MODULES["blocks.text"] if cls == "FillTextTemplateBlock")


def test_a_lazy_registry_imports_only_the_modules_asked_for() -> None:
    code = (
        "import sys\n"
        "from workbench.block.registry import BlockRegistry, load_builtin\n"
        "r = BlockRegistry(); load_builtin(r)\n"
        "assert 'blocks.ai' not in sys.modules and 'blocks.text' not in sys.modules\n"
        f"b = r.get({TEXT_ID!r})\n"
        "assert b.name == 'FillTextTemplateBlock', b.name\n"
        "assert 'blocks.text' in sys.modules and 'blocks.ai' not in sys.modules\n"
        "assert r.find('AITextGeneratorBlock').name == 'AITextGeneratorBlock'\n"
        "assert 'blocks.ai' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_lazy_registry_answers_like_a_loaded_one() -> None:
    lazy = BlockRegistry()
    load_builtin(lazy)
    assert TEXT_ID in lazy and "not-a-block-id" not in lazy
    assert lazy.source(TEXT_ID) == "blocks.text"
    assert lazy.find("filltexttemplateblock").id == TEXT_ID
    eager = BlockRegistry()
    for module in MODULES:
        eager.register_module(importlib.import_module(module), module)
    assert {(b.id, lazy.source(b.id)) for b in lazy} == {(b.id, eager.source(b.id)) for b in eager}
    assert len(lazy) == len(eager)
    assert {b.id for b in lazy.copy()} == {b.id for b in eager}


def test_the_block_catalogue_in_docs_is_current() -> None:
    from pathlib import Path

    from workbench.block.index import render_catalogue

    doc = Path(__file__).resolve().parents[2] / "docs" / "blocks.md"
    assert doc.read_text(encoding="utf-8") == render_catalogue(), (
        "docs/blocks.md is stale: run python -m workbench.block.index"
    )
