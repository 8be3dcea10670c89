"""Blocks for tests that run graphs in separate processes: they leave marks in a file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema


def _mark(key: str) -> None:
    path = os.environ.get("WORKBENCH_TEST_MARKS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(key + "\n")


class MarkBlock(Block):
    """Appends ``key`` to the file named by WORKBENCH_TEST_MARKS each time it runs; passes value on."""

    id = "6f9a4a8e-6f43-4f0b-9a53-3a1c55c0e001"
    description = "Test block: records that it ran."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        key: str
        value: Any = None

    class Output(BlockSchema):
        value: Any

    test_input = {"key": "k", "value": 1}
    test_output = [("value", 1)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        _mark(input_data.key)
        yield "value", input_data.value


class GateBlock(Block):
    """Records that it started, then waits until the file ``gate`` exists, then passes value on."""

    id = "6f9a4a8e-6f43-4f0b-9a53-3a1c55c0e002"
    description = "Test block: waits for a file."
    categories = (BlockCategory.BASIC,)
    timeout = 120

    class Input(BlockSchema):
        gate: str = Field(description="Path of the file to wait for.")
        value: Any = None

    class Output(BlockSchema):
        value: Any

    test_input = {"gate": "/", "value": 2}
    test_output = [("value", 2)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        _mark("gate-start")
        while not Path(input_data.gate).exists():
            await asyncio.sleep(0.02)
        yield "value", input_data.value
