"""Running a block's own test data (rule E8): every block carries inputs and the outputs they give."""

from __future__ import annotations

import inspect
from typing import Any

from workbench.block.base import Block
from workbench.block.context import RunContext
from workbench.block.pins import merge_dynamic


def _matches(expected: Any, actual: Any) -> bool:
    if expected == actual:
        return True
    if isinstance(expected, type):
        return isinstance(actual, expected)
    if callable(expected):
        return bool(expected(actual))
    return False


async def run_block_once(
    block: Block, data: dict[str, Any], context: RunContext | None = None, **kwargs: Any
) -> list[tuple[str, Any]]:
    """Run ``block`` on ``data`` as the engine would (coercion, validation), collecting its outputs."""
    data = {k: v for k, v in data.items() if v is not None}
    data = block.coerce_inputs(merge_dynamic(data))
    input_obj = block.Input.model_validate(data)
    ctx = context or RunContext.for_test()
    out = []
    async for name, value in block.run(input_obj, context=ctx, **kwargs):
        out.append((name, value))
    return out


async def run_selftest(block: Block, context: RunContext | None = None) -> list[str]:
    """Run the block's ``test_input`` and compare with ``test_output``; return the mismatches."""
    if block.test_input is None or block.test_output is None:
        return [f"block {block.name} ({block.id}) has no self-test data"]
    inputs = block.test_input if isinstance(block.test_input, list) else [block.test_input]
    restore = {}
    for attr, replacement in (block.test_mock or {}).items():
        restore[attr] = getattr(block, attr, None)
        setattr(block, attr, _async_wrap(replacement) if _is_async_attr(block, attr) else replacement)
    kwargs: dict[str, Any] = {}
    if block.test_credentials is not None:
        kwargs["credentials"] = block.test_credentials
    produced: list[tuple[str, Any]] = []
    try:
        for item in inputs:
            produced.extend(await run_block_once(block, dict(item), context, **kwargs))
    finally:
        for attr, original in restore.items():
            if original is None:
                delattr(block, attr)
            else:
                setattr(block, attr, original)
    problems = []
    expected = list(block.test_output)
    if len(produced) != len(expected):
        problems.append(f"expected {len(expected)} outputs, got {len(produced)}: {produced!r}")
    for i, (exp, act) in enumerate(zip(expected, produced, strict=False)):
        if exp[0] != act[0]:
            problems.append(f"output #{i}: expected pin {exp[0]!r}, got {act[0]!r} (value {act[1]!r})")
        elif not _matches(exp[1], act[1]):
            problems.append(f"output #{i} ({exp[0]}): expected {exp[1]!r}, got {act[1]!r}")
    return problems


def _is_async_attr(block: Block, attr: str) -> bool:
    original = getattr(block, attr, None)
    return original is not None and inspect.iscoroutinefunction(original)


def _async_wrap(fn: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return fn

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper
