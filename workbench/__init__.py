"""Agent Workbench: agent graphs of blocks, run durably on PostgreSQL, from Python, the CLI and the API.

The public Python surface is small and listed in ``__all__``; everything else is internal.

The names are loaded on first use (PEP 562): ``import workbench`` alone imports nothing heavy, so the
command line and the sandbox's worker processes (which import submodules of this package) start fast.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.app import Workbench
    from workbench.block.base import Block, BlockCategory, BlockOutput, BlockSchema, BlockType
    from workbench.block.decorator import block
    from workbench.config import Settings
    from workbench.engine.state import ExecutionStatus
    from workbench.errors import (
        ExecutionFailed,
        GraphValidationError,
        InputError,
        NotFoundError,
        WorkbenchError,
    )
    from workbench.graph.autogpt import load_graph_file, parse_graph
    from workbench.graph.model import Graph, Link, Node
    from workbench.services.executions import ExecutionResult

__version__ = "0.1.0"

__all__ = [
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

_WHERE = {
    "Block": "workbench.block.base",
    "BlockCategory": "workbench.block.base",
    "BlockOutput": "workbench.block.base",
    "BlockSchema": "workbench.block.base",
    "BlockType": "workbench.block.base",
    "ExecutionFailed": "workbench.errors",
    "ExecutionResult": "workbench.services.executions",
    "ExecutionStatus": "workbench.engine.state",
    "Graph": "workbench.graph.model",
    "GraphValidationError": "workbench.errors",
    "InputError": "workbench.errors",
    "Link": "workbench.graph.model",
    "Node": "workbench.graph.model",
    "NotFoundError": "workbench.errors",
    "Settings": "workbench.config",
    "Workbench": "workbench.app",
    "WorkbenchError": "workbench.errors",
    "block": "workbench.block.decorator",
    "load_graph_file": "workbench.graph.autogpt",
    "parse_graph": "workbench.graph.autogpt",
}
"""The module each public name lives in."""


def __getattr__(name: str) -> Any:
    """Import a public name on first access and keep it in the package namespace."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """This package's module type: ``workbench.block`` stays the ``@block`` decorator.

    The import system binds every loaded subpackage as an attribute of its parent, so importing
    ``workbench.block.base`` would otherwise make ``workbench.block`` the subpackage. The property
    keeps the public name and ignores that binding (the subpackage stays in ``sys.modules``).
    """

    @property
    def block(self) -> Any:
        """The ``@block`` decorator (``workbench.block.decorator.block``)."""
        return importlib.import_module("workbench.block.decorator").block

    @block.setter
    def block(self, value: Any) -> None:
        if not isinstance(value, types.ModuleType):
            raise AttributeError("workbench.block is the @block decorator and cannot be replaced")


sys.modules[__name__].__class__ = _Package
