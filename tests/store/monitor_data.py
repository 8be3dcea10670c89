"""Known runs for the Monitor's tests: agents that report usage, fail, or wait, run by fresh users."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from tests.engine.graphs import graph, inp, link, node, out
from tests.support.blocks import FailBlock, SleepBlock
from workbench.app import Workbench
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.graph.model import Graph


class UsageBlock(Block):
    """Reports the tokens and cost it is given, as an LLM block does, and passes its value on."""

    id = "0d9b3c52-6a1e-4f7b-8c2d-1e5a9f3b7c66"
    description = "Test block: reports `input_tokens`, `output_tokens` and `cost_usd`, yields `value`."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(BlockSchema):
        value: Any = Field(default=None, description="Passed on.")
        input_tokens: int = Field(default=0, description="Tokens to report as read.")
        output_tokens: int = Field(default=0, description="Tokens to report as written.")
        cost_usd: float = Field(default=0.0, description="Cost to report.")

    class Output(BlockSchema):
        output: Any = Field(description="`value`, unchanged.")

    test_input = [{"value": 1, "input_tokens": 2}]
    test_output = [("output", 1)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        get_context(kwargs).add_stats(
            input_tokens=input_data.input_tokens,
            output_tokens=input_data.output_tokens,
            cost_usd=input_data.cost_usd,
        )
        yield "output", input_data.value


def register_usage_block(wb: Workbench) -> None:
    """Make :class:`UsageBlock` runnable by ``wb`` (idempotent)."""
    wb.registry.register(UsageBlock, "tests.store.monitor_data")


def usage_agent(name: str = "usage agent", *, tokens: tuple[int, int] = (10, 5), cost: float = 0.25) -> Graph:
    """input ``text`` -> UsageBlock (reports ``tokens`` and ``cost``) -> output ``reply``."""
    return graph(
        [
            inp("in", "text"),
            node("use", UsageBlock, input_tokens=tokens[0], output_tokens=tokens[1], cost_usd=cost),
            out("out", "reply"),
        ],
        [link("in.result", "use.value"), link("use.output", "out.value")],
        name=name,
    )


def failing_agent(name: str = "failing agent") -> Graph:
    """input ``text`` -> FailBlock (fails with "boom")."""
    return graph(
        [inp("in", "text"), node("fail", FailBlock, message="boom")],
        [link("in.result", "fail.value")],
        name=name,
    )


def sleeping_agent(seconds: float, name: str = "sleeping agent") -> Graph:
    """input ``text`` -> SleepBlock (``seconds``) -> output ``reply``."""
    return graph(
        [inp("in", "text"), node("nap", SleepBlock, seconds=seconds), out("out", "reply")],
        [link("in.result", "nap.value"), link("nap.output", "out.value")],
        name=name,
    )


async def new_user(wb: Workbench, prefix: str = "monitor") -> str:
    """A fresh account's user id (so a test sees only its own runs)."""
    assert wb.accounts is not None
    user = await wb.accounts.signup(f"{prefix}-{uuid.uuid4().hex[:10]}@example.com", "correct horse battery")
    return str(user.id)
