"""What a running block can see: its place in the run, the user, and services it may call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.config import Settings

SubgraphRunner = Callable[..., AsyncIterator[tuple[str, Any]]]


@dataclass(slots=True)
class RunContext:
    """Passed to ``Block.run`` as the ``context`` keyword argument."""

    user_id: str
    graph_id: str
    graph_version: int
    graph_execution_id: str
    node_id: str
    node_execution_id: str
    settings: Settings
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("workbench.block"))
    run_subgraph: SubgraphRunner | None = None
    """``run_subgraph(graph_id, version, inputs)`` yields ``(output name, value)`` of a child run."""
    user_timezone: str = "UTC"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_test(cls, settings: Settings | None = None) -> RunContext:
        """A context for running a block outside a graph (self-tests, single-block execution)."""
        return cls(
            user_id="00000000-0000-0000-0000-000000000001",
            graph_id="",
            graph_version=0,
            graph_execution_id="",
            node_id="",
            node_execution_id="",
            settings=settings or Settings.from_env(),
        )
