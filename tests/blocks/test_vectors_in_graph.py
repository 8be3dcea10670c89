"""AutoGPT's block test vectors run through a graph, not only as a bare block call.

For every block that keeps an AutoGPT id, each of its ``test_input`` items becomes the input defaults
of one node in a one-node graph whose every output pin (``error`` too) is linked to an output node
named after the pin; the graph runs on the durable executor with the block's ``test_mock`` applied.
The values that reach each output, in run order, must be those the block's ``test_output`` lists for
that pin: the engine's coercion, validation, routing and storage keep what the block produced.
Expected values are compared as stored: JSON has no tuples (they come back as lists) and no
infinities (stored as null).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from blocks.io import AgentOutputBlock
from tests.engine.graphs import graph, link, node
from workbench import jsonutil
from workbench.app import Workbench
from workbench.block.base import Block, BlockType
from workbench.block.registry import BlockRegistry, default_registry
from workbench.block.selftest import _async_wrap, _is_async_attr, _matches
from workbench.graph.autogpt_names import AUTOGPT_BLOCK_CLASSES

NOT_IN_ONE_NODE = {
    "AgentExecutorBlock": "runs another stored agent: covered by tests/engine/test_agent_executor_inputs.py",
}


def _blocks() -> list[Block]:
    reg = default_registry()
    found = [b for b in reg if b.id in AUTOGPT_BLOCK_CLASSES and b.test_input is not None]
    skipped_types = (BlockType.OUTPUT, BlockType.NOTE)  # they run no code a vector could check
    return [b for b in found if b.block_type not in skipped_types and b.name not in NOT_IN_ONE_NODE]


@contextmanager
def _mocked(block: Block) -> Iterator[None]:
    restore: dict[str, Any] = {}
    for attr, replacement in (block.test_mock or {}).items():
        restore[attr] = getattr(block, attr, None)
        setattr(block, attr, _async_wrap(replacement) if _is_async_attr(block, attr) else replacement)
    try:
        yield
    finally:
        for attr, original in restore.items():
            if original is None:
                delattr(block, attr)
            else:
                setattr(block, attr, original)


def _by_pin(pairs: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for pin, value in pairs:
        found.setdefault(pin, []).append(value)
    return found


def _stored_match(want: Any, have: Any) -> bool:
    """``want`` (a value, a type or a predicate) matches ``have`` as it comes back from storage."""
    if isinstance(want, type) or callable(want):
        if have is None:  # a non-finite float is stored as null
            return any(_matches(want, x) for x in (math.nan, math.inf, -math.inf))
        return _matches(want, have)
    return _matches(jsonutil.normalize(want), have)


@pytest.mark.parametrize("block_id", [b.id for b in _blocks()], ids=[b.name for b in _blocks()])
async def test_autogpt_vector_through_a_graph(wb: Workbench, registry: BlockRegistry, block_id: str) -> None:
    block = registry.get(block_id)
    items = block.test_input if isinstance(block.test_input, list) else [block.test_input]
    pins = sorted({pin for pin, _ in block.test_output or []} | {"error"})
    produced: list[tuple[str, Any]] = []
    with _mocked(block):
        for item in items:
            defaults = {k: v for k, v in dict(item).items() if v is not None}
            inputs = {}
            if block.block_type == BlockType.INPUT:
                if "value" not in defaults:
                    continue  # an input left empty: the run is refused before it starts, as it should
                inputs[defaults["name"]] = defaults.pop("value")  # what a user gives when running
            nodes = [node("block", block_id, **defaults)]
            nodes += [node(f"out_{pin}", AgentOutputBlock, name=pin) for pin in pins]
            links = [link(f"block.{pin}", f"out_{pin}.value") for pin in pins]
            result = await wb.executions.run(graph(nodes, links), inputs, timeout=30)
            assert result.status == "COMPLETED", (
                f"{block.name} input {item!r}: {result.status} {result.error}"
            )
            produced += [(pin, value) for pin in pins for value in result.outputs.get(pin, [])]
    expected, actual = _by_pin(list(block.test_output or [])), _by_pin(produced)
    assert set(actual) == set(expected), f"{block.name}: pins {sorted(actual)} != expected {sorted(expected)}"
    for pin, values in expected.items():
        got = actual[pin]
        assert len(got) == len(values), f"{block.name}.{pin}: {got!r} != {values!r}"
        for want, have in zip(values, got, strict=True):
            assert _stored_match(want, have), f"{block.name}.{pin}: expected {want!r}, got {have!r}"
