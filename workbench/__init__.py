"""Agent Workbench: agent graphs of blocks, run durably on PostgreSQL, from Python, the CLI and the API.

The public Python surface is small and listed in ``__all__``; everything else is internal.
"""

from workbench.app import Workbench
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema, BlockType, block
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
