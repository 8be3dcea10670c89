"""The public Python surface: ``workbench.__all__`` is pinned, and every name in it is importable."""

from __future__ import annotations

import importlib

import workbench

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
