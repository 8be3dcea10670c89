"""The public Python surface: ``workbench.__all__`` is pinned, and every name in it is importable."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import workbench

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("workbench.app", "asyncpg", "litestar", "pydantic", "httpx", "jinja2", "uvicorn")
"""Modules that ``import workbench`` must not load: the CLI and the sandbox workers start with it."""

EXPECTED = [
    "Block",
    "BlockCategory",
    "BlockOutput",
    "BlockSchema",
    "BlockType",
    "ExecutionFailed",
    "ExecutionResult",
    "ExecutionStatus",
    "Graph",
    "GraphValidationError",
    "InputError",
    "Link",
    "Node",
    "NotFoundError",
    "Settings",
    "Workbench",
    "WorkbenchError",
    "block",
    "load_graph_file",
    "parse_graph",
]


def test_all_is_pinned() -> None:
    assert workbench.__all__ == EXPECTED
    assert sorted(workbench.__all__) == workbench.__all__
    assert len(set(workbench.__all__)) == len(workbench.__all__)


def test_every_public_name_is_importable() -> None:
    module = importlib.import_module("workbench")
    for name in EXPECTED:
        assert getattr(module, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from workbench import *", namespace)
    assert set(EXPECTED) <= set(namespace)


def test_public_names_are_the_real_objects() -> None:
    from workbench.app import Workbench
    from workbench.block.base import Block
    from workbench.block.decorator import block
    from workbench.errors import (
        ExecutionFailed,
        GraphValidationError,
        InputError,
        NotFoundError,
        WorkbenchError,
    )
    from workbench.graph.autogpt import load_graph_file, parse_graph
    from workbench.graph.model import Graph, Link, Node

    assert workbench.Workbench is Workbench
    assert workbench.Block is Block
    assert workbench.block is block
    assert workbench.Graph is Graph
    assert workbench.Link is Link
    assert workbench.Node is Node
    assert workbench.parse_graph is parse_graph
    assert workbench.load_graph_file is load_graph_file
    for error in (ExecutionFailed, GraphValidationError, InputError, NotFoundError):
        assert issubclass(error, WorkbenchError)
    assert workbench.GraphValidationError is GraphValidationError


def test_version() -> None:
    assert isinstance(workbench.__version__, str)
    assert workbench.__version__.count(".") == 2


def fresh(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it leaves its findings in ``out`` (printed as JSON)."""
    program = f"import json, sys\nout = {{}}\n{code}\nprint(json.dumps(out))"
    proc = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


LOADED = f"[m for m in {HEAVY!r} if m in sys.modules]"


@pytest.mark.parametrize("module", ["workbench", "workbench.sandbox.worker", "workbench.errors"])
def test_importing_the_package_loads_nothing_heavy(module: str) -> None:
    found = fresh(f"import {module}\nout['loaded'] = {LOADED}")
    assert found["loaded"] == [], f"import {module} loaded {found['loaded']}"


def test_public_names_are_imported_on_first_use() -> None:
    found = fresh(
        "import workbench\n"
        "out['graph'] = workbench.Graph.__module__\n"
        "out['after_graph'] = 'workbench.app' in sys.modules\n"
        "out['workbench'] = workbench.Workbench.__module__\n"
        "out['after_workbench'] = 'workbench.app' in sys.modules\n"
        "out['cached'] = 'Workbench' in vars(workbench)\n"
    )
    assert found == {
        "graph": "workbench.graph.model",
        "after_graph": False,
        "workbench": "workbench.app",
        "after_workbench": True,
        "cached": True,
    }


def test_block_stays_the_decorator_once_the_block_subpackage_is_loaded() -> None:
    # The import system binds a loaded subpackage on its parent: workbench.block must not become it.
    found = fresh(
        "import workbench\n"
        "import workbench.block.base\n"
        "from workbench import block\n"
        "decorator = sys.modules['workbench.block.decorator'].block\n"
        "out['from_import'] = block is decorator\n"
        "out['attribute'] = workbench.block is decorator\n"
        "out['star'] = {}\n"
        "exec('from workbench import *', out['star'])\n"
        "out['star'] = out['star']['block'] is decorator\n"
    )
    assert found == {"from_import": True, "attribute": True, "star": True}


def test_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nonexistent'"):
        _ = workbench.Nonexistent  # type: ignore[attr-defined]
    assert set(workbench.__all__) <= set(dir(workbench))
