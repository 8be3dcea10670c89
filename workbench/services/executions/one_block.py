"""Running one block outside a graph (the API's ``POST /blocks/{id}/execute``, the clients' ``run_block``).

The block runs as the caller, with the platform's services and the caller's own credentials, bounded
by its timeout. What it yields comes back in order; an exception it raises is reported as the
``error`` of the result (it is the block's failure, not the caller's), while invalid inputs are the
caller's mistake (InputError naming the field).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from workbench import jsonutil
from workbench.block.base import Block, BlockType
from workbench.block.context import BlockServices, RunContext
from workbench.block.selftest import run_block_once
from workbench.config import Settings
from workbench.engine.run import format_validation_error
from workbench.errors import InputError, NotFoundError

BLOCK_RUN_TIMEOUT = 60.0
"""Seconds a block without its own ``timeout`` may run when run alone."""


@dataclass(slots=True)
class BlockRun:
    """What one block run yielded: ``(pin, value)`` pairs in order, and the error if it failed."""

    outputs: list[tuple[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the block ran without an error."""
        return self.error is None

    def output(self, pin: str) -> Any:
        """The last value yielded on ``pin`` (KeyError if none)."""
        for name, value in reversed(self.outputs):
            if name == pin:
                return value
        raise KeyError(pin)


async def run_block(
    block: Block,
    inputs: dict[str, Any],
    settings: Settings,
    services: BlockServices,
    user_id: str,
    credentials: dict[str, str],
) -> BlockRun:
    """Run ``block`` once on ``inputs`` as ``user_id``."""
    if block.block_type == BlockType.AGENT:
        raise InputError(
            f"block {block.name}: the agent executor block runs only inside a graph; run the graph"
        )
    context = RunContext(
        user_id=user_id,
        graph_id="",
        graph_version=0,
        graph_execution_id="",
        node_id="",
        node_execution_id="",
        settings=settings,
        services=services,
        credentials=credentials,
    )
    limit = block.timeout or BLOCK_RUN_TIMEOUT
    try:
        async with asyncio.timeout(limit):
            produced = await run_block_once(block, dict(inputs), context)
    except ValidationError as exc:
        raise InputError(f"block {block.name}: invalid input: {format_validation_error(exc)}") from None
    except TimeoutError:
        return BlockRun(error=f"timed out after {limit:g}s")
    except NotFoundError:
        raise  # a credential or record the caller named does not exist
    except Exception as exc:
        return BlockRun(error=f"{type(exc).__name__}: {exc}")
    outputs = [(name, jsonutil.normalize(value)) for name, value in produced]
    error = next((v for n, v in outputs if n == "error"), None)
    return BlockRun(outputs=outputs, error=error)
