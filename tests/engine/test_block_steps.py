"""How the engine drives a block's outputs: steps that need no waiting run inline, and the node's
time limit still holds from the node's start once the block waits (``GraphRun._run_block``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import pytest
from pydantic import Field

from blocks.io import AgentInputBlock, AgentOutputBlock
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.engine.plan import Plan
from workbench.engine.recorder import NullRecorder
from workbench.engine.run import GraphRun, RunSpec
from workbench.engine.state import ExecutionStatus, fast_uuid
from workbench.graph.model import Graph, Link, Node
from workbench.runtime.bus import LocalBus


class StepsBlock(Block):
    """Test block: for each item, busy-waits ``busy`` seconds, optionally sleeps, then yields it."""

    id = "5d0c9e2a-3f1b-4c6d-9e8f-7a6b5c4d3e21"
    description = "Test block: yields each item after `busy` seconds of computing and `sleep` of waiting."
    categories = (BlockCategory.DEVELOPER_TOOLS,)
    seen: ClassVar[list[str]] = []

    class Input(BlockSchema):
        items: list[Any] = Field(description="Yielded one by one on `item`.")
        busy: float = Field(default=0.0, description="Seconds of computing before each item.")
        sleep: float = Field(default=0.0, description="Seconds of waiting before each item (0: none).")
        fail_after: int = Field(default=-1, description="Raise after this many items (-1: never).")

    class Output(BlockSchema):
        item: Any = Field(description="One item.")

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            for count, item in enumerate(input_data.items):
                if count == input_data.fail_after:
                    raise ValueError(f"failed after {count} items")
                end = time.monotonic() + input_data.busy
                while time.monotonic() < end:
                    pass
                if input_data.sleep:
                    await asyncio.sleep(input_data.sleep)
                yield "item", item
        except asyncio.CancelledError:
            StepsBlock.seen.append("cancelled")
            raise


def registry() -> BlockRegistry:
    reg = BlockRegistry()
    for block in (AgentInputBlock, AgentOutputBlock, StepsBlock):
        reg.register(block, "test")
    return reg


def steps_graph(timeout: float | None = None, **defaults: Any) -> Graph:
    """input ``items`` -> StepsBlock -> output ``out``."""
    metadata = {"timeout": timeout} if timeout else {}
    return Graph(
        nodes=[
            Node(id="in", block_id=AgentInputBlock.id, input_default={"name": "items"}),
            Node(id="steps", block_id=StepsBlock.id, input_default=defaults, metadata=metadata),
            Node(id="out", block_id=AgentOutputBlock.id, input_default={"name": "out"}),
        ],
        links=[
            Link(source_id="in", source_name="result", sink_id="steps", sink_name="items"),
            Link(source_id="steps", source_name="item", sink_id="out", sink_name="value"),
        ],
    )


def new_run(g: Graph, items: list[Any]) -> GraphRun:
    settings = Settings.from_env({})
    plan = Plan(g, registry(), settings.node_timeout)
    spec = RunSpec(fast_uuid(), g.id, g.version, "user", {"items": items})
    return GraphRun(
        plan, spec, settings=settings, recorder=NullRecorder(), bus=LocalBus(), limiter=asyncio.Semaphore(8)
    )


def steps_exec(run: GraphRun) -> Any:
    return next(ne for ne in run.node_execs if ne.node.id == "steps")


async def test_outputs_computed_without_waiting_all_arrive_in_order() -> None:
    run = await new_run(steps_graph(), [1, 2, 3]).run()
    assert run.status == ExecutionStatus.COMPLETED
    assert run.outputs == {"out": [1, 2, 3]}


async def test_outputs_after_waits_all_arrive_in_order() -> None:
    run = await new_run(steps_graph(sleep=0.01), [1, 2, 3]).run()
    assert run.status == ExecutionStatus.COMPLETED
    assert run.outputs == {"out": [1, 2, 3]}


async def test_time_limit_counts_computing_before_the_first_wait() -> None:
    """0.3 s of computing, then a short wait: the 0.2 s limit, counted from the node's start, has
    passed by the time the block waits, so the wait is interrupted."""
    run = await new_run(steps_graph(timeout=0.2, busy=0.3, sleep=0.05), [1]).run()
    assert run.status == ExecutionStatus.FAILED
    assert steps_exec(run).error == "timed out after 0.2s"
    assert run.outputs == {}


async def test_time_limit_interrupts_a_waiting_block_after_earlier_outputs() -> None:
    run = await new_run(steps_graph(timeout=0.3, sleep=0.2), [1, 2, 3]).run()
    assert run.status == ExecutionStatus.FAILED
    assert steps_exec(run).error == "timed out after 0.3s"
    assert run.outputs == {"out": [1]}


async def test_a_block_that_never_waits_is_not_timed_out() -> None:
    """Nothing can interrupt computing: a block that never waits completes, as it always did."""
    run = await new_run(steps_graph(timeout=0.05, busy=0.03), [1, 2, 3]).run()
    assert run.status == ExecutionStatus.COMPLETED
    assert run.outputs == {"out": [1, 2, 3]}


@pytest.mark.parametrize("sleep", [0.0, 0.01], ids=["inline", "waiting"])
async def test_an_error_after_outputs_fails_the_node_keeping_them(sleep: float) -> None:
    run = await new_run(steps_graph(sleep=sleep, fail_after=2), [1, 2, 3]).run()
    assert run.status == ExecutionStatus.FAILED
    ne = steps_exec(run)
    assert ne.error == "failed after 2 items"
    assert ne.outputs == [("item", 1), ("item", 2), ("error", "failed after 2 items")]


async def test_cancelling_a_run_reaches_the_waiting_block() -> None:
    StepsBlock.seen.clear()
    run = new_run(steps_graph(sleep=5), [1])
    task = asyncio.create_task(run.run())
    deadline = time.monotonic() + 5
    while not run._running and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    run.cancel()
    await asyncio.wait_for(task, 5)
    assert run.status == ExecutionStatus.CANCELLED
    assert steps_exec(run).status == ExecutionStatus.CANCELLED
    assert StepsBlock.seen == ["cancelled"]
