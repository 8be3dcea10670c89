"""Tricky semantics of the basic blocks (StoreValue, PrintToConsole, Note, type converter, reverse)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from blocks.basic import (
    NoteBlock,
    PrintToConsoleBlock,
    ReverseListOrderBlock,
    StoreValueBlock,
    TypeOptions,
    UniversalTypeConverterBlock,
)
from workbench.block import BlockType
from workbench.block.selftest import run_block_once


@pytest.mark.parametrize("falsy", [0, "", [], {}, False, 0.0])
async def test_store_value_falsy_data_falls_back_to_input(falsy: Any) -> None:
    assert await run_block_once(StoreValueBlock(), {"input": "in", "data": falsy}) == [("output", "in")]


async def test_store_value_truthy_data_wins_and_none_data_is_ignored() -> None:
    block = StoreValueBlock()
    assert await run_block_once(block, {"input": "in", "data": [0]}) == [("output", [0])]
    assert await run_block_once(block, {"input": "in", "data": None}) == [("output", "in")]
    assert await run_block_once(block, {"input": 0}) == [("output", 0)]


def test_store_value_is_static() -> None:
    assert StoreValueBlock.static_output is True
    assert StoreValueBlock().required_inputs == frozenset({"input"})


async def test_print_logs_at_info_and_yields_output_then_status(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="workbench.block.print"):
        out = await run_block_once(PrintToConsoleBlock(), {"text": {"k": 1}})
    assert out == [("output", {"k": 1}), ("status", "printed")]
    records = [r for r in caplog.records if r.name == "workbench.block.print"]
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.INFO, "{'k': 1}")]


async def test_print_passes_falsy_text_through() -> None:
    assert await run_block_once(PrintToConsoleBlock(), {"text": ""}) == [
        ("output", ""),
        ("status", "printed"),
    ]


async def test_note_is_a_note_and_yields_its_text() -> None:
    block = NoteBlock()
    assert block.block_type is BlockType.NOTE
    assert block.describe()["block_type"] == "NOTE"
    assert await run_block_once(block, {"text": "remember"}) == [("output", "remember")]


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        ([1, "a"], "string", '[1, "a"]'),
        (True, "string", "true"),
        ("  7.25 ", "number", 7.25),
        ({"a": 1, "b": 2}, "number", 2),
        ("x", "number", 0),
        ("True", "boolean", True),
        ("false", "boolean", False),
        ("0", "boolean", False),
        ([], "boolean", False),
        ([0], "boolean", True),
        ('["a", {"b": 2}]', "list", ["a", {"b": 2}]),
        ("[not json]", "list", ["[not json]"]),
        (5, "list", [5]),
        ('"just a string"', "dictionary", {"value": "just a string"}),
        ("{broken", "dictionary", {"value": "{broken"}),
        ([10, 20], "dictionary", {0: 10, 1: 20}),
        ({"keep": True}, "dictionary", {"keep": True}),
    ],
)
async def test_type_converter_rules(value: Any, target: str, expected: Any) -> None:
    out = await run_block_once(UniversalTypeConverterBlock(), {"value": value, "type": target})
    assert out == [("value", expected)]
    assert type(out[0][1]) is type(expected) or target == "number"


async def test_type_converter_number_is_numeric() -> None:
    [(pin, value)] = await run_block_once(UniversalTypeConverterBlock(), {"value": "3.5", "type": "number"})
    assert pin == "value"
    assert isinstance(value, float)
    assert value == 3.5


async def test_type_converter_accepts_the_enum_itself() -> None:
    out = await run_block_once(UniversalTypeConverterBlock(), {"value": 1, "type": TypeOptions.STRING})
    assert out == [("value", "1")]


class _Explodes:
    def __float__(self) -> float:
        raise RuntimeError("boom")


async def test_type_converter_failure_yields_error() -> None:
    out = await run_block_once(UniversalTypeConverterBlock(), {"value": _Explodes(), "type": "number"})
    assert out == [("error", "Failed to convert value: boom")]


async def test_type_converter_rejects_unknown_type() -> None:
    with pytest.raises(ValidationError):
        await run_block_once(UniversalTypeConverterBlock(), {"value": 1, "type": "integer"})


def test_type_options_values() -> None:
    assert [t.value for t in TypeOptions] == ["string", "number", "boolean", "list", "dictionary"]
    assert isinstance(TypeOptions.LIST, str)


async def test_reverse_returns_a_copy() -> None:
    block = ReverseListOrderBlock()
    original = [1, [2, 3], 4]
    data = block.Input.model_validate({"input_list": original})
    out = [pair async for pair in block.run(data)]
    assert out == [("reversed_list", [4, [2, 3], 1])]
    assert data.input_list == [1, [2, 3], 4]
    assert out[0][1] is not data.input_list
