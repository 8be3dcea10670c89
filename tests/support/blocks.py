"""Blocks used only by the tests: failing, flaky, slow, counting.

They are registered into the ``registry`` fixture (tests/conftest.py) next to the built-in blocks.
Blocks that keep state across runs (Flaky, Counting) count per ``key`` in a module-level dict, so a
test picks a fresh key and asserts on it; their self-test data uses keys no test uses and checks the
counts by type only, so it stays valid however often it runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.errors import BlockError, RetryableError

FLAKY_ATTEMPTS: dict[str, int] = {}
"""FlakyBlock runs (attempts) per key."""

COUNTS: dict[str, int] = {}
"""CountingBlock runs per key."""


class EchoBlock(Block):
    """Passes its value on unchanged."""

    id = "5b0a3c1e-7d2f-4e8a-9c61-0f4b2d7e8a11"
    description = "Test block: yields `value` unchanged on `output`."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        value: Any = Field(description="The value to pass on.")

    class Output(BlockSchema):
        output: Any = Field(description="The value, unchanged.")

    test_input = [{"value": "hi"}, {"value": {"a": [1, 2]}}]
    test_output = [("output", "hi"), ("output", {"a": [1, 2]})]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "output", input_data.value


class FailBlock(Block):
    """Fails on purpose: yields ``error``, raises BlockError, ValueError or RuntimeError."""

    id = "9e6f2d40-1c3b-4a7e-8f25-6d0c9b1a3e22"
    description = (
        "Test block: fails with `message`. `how` = yield (yields error), raise (BlockError), "
        "value_error (ValueError), crash (RuntimeError), timeout (TimeoutError raised by the block "
        "itself), wrong_type (yields a text on the int pin `number`) or unknown_pin (yields `nope`)."
    )
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(BlockSchema):
        value: Any = Field(default=None, description="Trigger; ignored.")
        message: str = Field(default="boom", description="The error message.")
        how: str = Field(
            default="yield",
            description="yield, raise, value_error, crash, timeout, wrong_type or unknown_pin.",
        )

    class Output(BlockSchema):
        output: Any = Field(description="Never produced.")
        number: int = Field(description="Receives a text with how=wrong_type.")

    test_input = [{"message": "bad"}, {"message": "worse", "how": "yield"}]
    test_output = [("error", "bad"), ("error", "worse")]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        if input_data.how == "raise":
            raise BlockError(input_data.message)
        if input_data.how == "value_error":
            raise ValueError(input_data.message)
        if input_data.how == "crash":
            raise RuntimeError(input_data.message)
        if input_data.how == "timeout":
            raise TimeoutError(input_data.message)
        if input_data.how == "wrong_type":
            yield "number", input_data.message
            return
        if input_data.how == "unknown_pin":
            yield "nope", input_data.message
            return
        yield "error", input_data.message


class FlakyBlock(Block):
    """Raises RetryableError on its first ``failures`` attempts per ``key``, then succeeds."""

    id = "c3d8a7b2-5e14-4f09-b6a3-2e7d1c9f4b33"
    description = (
        "Test block: raises RetryableError on the first `failures` attempts for `key` (counted per "
        "process), then yields `value` and the attempt number. With `emit_before` it yields `before` "
        "first, so a failure comes after an output."
    )
    categories = (BlockCategory.DEVELOPER_TOOLS,)
    max_retries = 3
    retry_backoff = 0.01

    class Input(BlockSchema):
        key: str = Field(description="Attempts are counted per key.")
        failures: int = Field(default=2, description="How many attempts fail before one succeeds.")
        value: Any = Field(default=None, description="Yielded on success.")
        emit_before: bool = Field(default=False, description="Yield `before` ahead of any failure.")

    class Output(BlockSchema):
        before: Any = Field(description="Yielded first when `emit_before` is set.")
        output: Any = Field(description="`value`, once an attempt succeeds.")
        attempt: int = Field(description="The number of the attempt that succeeded (1-based).")

    test_input = [{"key": "selftest-flaky", "failures": 0, "value": "ok"}]
    test_output = [("output", "ok"), ("attempt", int)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        attempt = FLAKY_ATTEMPTS.get(input_data.key, 0) + 1
        FLAKY_ATTEMPTS[input_data.key] = attempt
        if input_data.emit_before:
            yield "before", attempt
        if attempt <= input_data.failures:
            raise RetryableError(f"transient failure {attempt} for {input_data.key}")
        yield "output", input_data.value
        yield "attempt", attempt


class SleepBlock(Block):
    """Sleeps ``seconds`` then passes its value on."""

    id = "7a41e6c9-0b2d-4d38-a5f7-3c8e9d2b1f44"
    description = "Test block: waits `seconds`, then yields `value` on `output`."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(BlockSchema):
        seconds: float = Field(default=0.0, description="How long to sleep.")
        value: Any = Field(default=None, description="Yielded after the sleep.")

    class Output(BlockSchema):
        output: Any = Field(description="`value`, after the sleep.")

    test_input = [{"seconds": 0, "value": "done"}]
    test_output = [("output", "done")]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        await asyncio.sleep(input_data.seconds)
        yield "output", input_data.value


class CountingBlock(Block):
    """Counts its runs per ``key`` and passes its value on."""

    id = "e2b95f17-4a6c-4c21-9d80-5f1a7e3c6d55"
    description = "Test block: counts runs per `key` (in COUNTS), yields `value` and the count."
    categories = (BlockCategory.DEVELOPER_TOOLS,)

    class Input(BlockSchema):
        key: str = Field(description="Runs are counted per key.")
        value: Any = Field(default=None, description="Yielded on `output`.")

    class Output(BlockSchema):
        output: Any = Field(description="`value`, unchanged.")
        count: int = Field(description="How many times this key has run so far, this one included.")

    test_input = [{"key": "selftest-counting", "value": "x"}]
    test_output = [("output", "x"), ("count", int)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        count = COUNTS.get(input_data.key, 0) + 1
        COUNTS[input_data.key] = count
        yield "output", input_data.value
        yield "count", count
