"""Tricky semantics of the logic blocks (blocks/logic.py) beyond their self-test data."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pydantic import ValidationError

from blocks.logic import (
    MAX_ITEMS,
    MAX_ITEMS_STR_BYTES,
    CalculatorBlock,
    ConditionBlock,
    CountItemsBlock,
    IfInputMatchesBlock,
    StepThroughItemsBlock,
)
from workbench.block import Block
from workbench.block.selftest import run_block_once


async def _run_raw(block: Block, **inputs: Any) -> list[tuple[str, Any]]:
    """Run without the engine's None-dropping and coercion (to pass values the engine would not)."""
    return [pair async for pair in block.run(block.Input.model_validate(inputs))]


# ---- CalculatorBlock ---------------------------------------------------------------------------


async def calc(operation: str, a: Any, b: Any, round_result: bool = False) -> Any:
    out = await run_block_once(
        CalculatorBlock(), {"operation": operation, "a": a, "b": b, "round_result": round_result}
    )
    assert len(out) == 1, out
    assert out[0][0] == "result"
    return out[0][1]


@pytest.mark.parametrize(
    ("a", "expected"),
    [(2.5, 2), (3.5, 4), (0.5, 0), (-2.5, -2), (1.49, 1), (2.51, 3)],
)
async def test_calculator_rounds_half_to_even(a: float, expected: int) -> None:
    result = await calc("Add", a, 0, round_result=True)
    assert result == expected
    assert isinstance(result, int)


async def test_calculator_operations() -> None:
    assert await calc("Add", 0.1, 0.2) == 0.1 + 0.2
    assert await calc("Subtract", 1, 3) == -2.0
    assert await calc("Multiply", -2, 4.5) == -9.0
    assert await calc("Divide", 1, 4) == 0.25
    assert await calc("Power", 9, 0.5) == 3.0
    assert await calc("Power", 2, -1) == 0.5


@pytest.mark.parametrize(("a", "b"), [(1, 0), (-1, 0), (0, 0), (5, -0.0)])
async def test_calculator_division_by_zero_is_positive_infinity(a: float, b: float) -> None:
    assert await calc("Divide", a, b) == math.inf
    assert await calc("Divide", a, b, round_result=True) == math.inf


async def test_calculator_zero_to_negative_power_is_infinity() -> None:
    assert await calc("Power", 0, -1) == math.inf


async def test_calculator_failures_give_nan() -> None:
    assert math.isnan(await calc("Power", 10, 400))  # OverflowError
    assert math.isnan(await calc("Power", -8, 1 / 3))  # complex result
    assert math.isnan(await calc("Multiply", 1e308, 10, round_result=True))  # round(inf)
    assert math.isnan(await calc("Subtract", math.inf, math.inf, round_result=True))  # round(nan)


async def test_calculator_overflow_without_exception_stays_infinite() -> None:
    assert await calc("Multiply", 1e308, 10) == math.inf


async def test_calculator_numeric_strings_are_coerced() -> None:
    assert await calc("Add", "2", " 3.5") == 5.5
    assert await calc("Add", "abc", 1) == 1.0  # the engine's coercion: unparsable -> 0


async def test_calculator_rejects_unknown_operation() -> None:
    with pytest.raises(ValidationError):
        await calc("Modulo", 1, 2)


# ---- CountItemsBlock ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collection", "expected"),
    [
        ("héllo", 5),
        ("", 0),
        ((1, 2), 2),
        ({1, 2, 3}, 3),
        ({"a": 1}, 1),
        ([[1, 2], [3]], 2),
        (b"abc", 3),
        (range(10), 10),
        (3.5, -1),
        (True, -1),
    ],
)
async def test_count_items(collection: Any, expected: int) -> None:
    assert await run_block_once(CountItemsBlock(), {"collection": collection}) == [("count", expected)]


async def test_count_items_of_a_generator_iterates_it() -> None:
    out = await run_block_once(CountItemsBlock(), {"collection": (x for x in range(4))})
    assert out == [("count", 4)]


async def test_count_items_of_none_is_minus_one() -> None:
    assert await _run_raw(CountItemsBlock(), collection=None) == [("count", -1)]


async def test_count_items_of_a_failing_iterable_yields_error() -> None:
    def broken() -> Any:
        yield 1
        raise RuntimeError("boom")

    out = await run_block_once(CountItemsBlock(), {"collection": broken()})
    assert len(out) == 1
    assert out[0][0] == "error"
    assert "boom" in out[0][1]


# ---- ConditionBlock ----------------------------------------------------------------------------


async def cond(value1: Any, op: str, value2: Any, **extra: Any) -> list[tuple[str, Any]]:
    return await run_block_once(
        ConditionBlock(), {"value1": value1, "operator": op, "value2": value2, **extra}
    )


async def test_condition_strips_and_converts_numeric_strings() -> None:
    out = await cond(" 5 ", "<", 10)
    assert out == [("result", True), ("yes_output", 5.0)]
    assert isinstance(out[1][1], float)


async def test_condition_no_value_falls_back_to_converted_value2() -> None:
    assert await cond("20", "<", " 10 ") == [("result", False), ("no_output", 10.0)]


async def test_condition_yes_value_falls_back_to_converted_value1() -> None:
    assert await cond(" 7", "==", 7) == [("result", True), ("yes_output", 7.0)]


async def test_condition_non_numeric_strings_are_stripped_and_compared_as_text() -> None:
    assert await cond("  apple ", "<", "banana") == [("result", True), ("yes_output", "apple")]
    assert await cond("Apple", "==", "apple") == [("result", False), ("no_output", "apple")]


async def test_condition_number_and_numeric_string_are_equal() -> None:
    assert await cond("1", "==", 1) == [("result", True), ("yes_output", 1.0)]
    assert await cond("1e3", ">=", 1000) == [("result", True), ("yes_output", 1000.0)]


@pytest.mark.parametrize("op", [">", "<", ">=", "<="])
async def test_condition_incompatible_types_are_false_not_type_error(op: str) -> None:
    assert await cond("abc", op, 5) == [("result", False), ("no_output", 5)]
    assert await cond({"a": 1}, op, [1]) == [("result", False), ("no_output", [1])]


async def test_condition_incompatible_types_equality_follows_python() -> None:
    assert await cond("abc", "==", 5) == [("result", False), ("no_output", 5)]
    assert await cond("abc", "!=", 5) == [("result", True), ("yes_output", "abc")]


async def test_condition_given_falsy_yes_and_no_values_are_used() -> None:
    assert await cond(1, "==", 1, yes_value=0) == [("result", True), ("yes_output", 0)]
    assert await cond(1, "==", 2, no_value=False) == [("result", False), ("no_output", False)]
    assert await cond(1, "==", 2, no_value="") == [("result", False), ("no_output", "")]


async def test_condition_compares_lists() -> None:
    assert await cond([1, 2], "<", [1, 3]) == [("result", True), ("yes_output", [1, 2])]


async def test_condition_rejects_unknown_operator() -> None:
    with pytest.raises(ValidationError):
        await cond(1, "=<", 2)


# ---- IfInputMatchesBlock -----------------------------------------------------------------------


async def matches(input_: Any, value: Any, **extra: Any) -> list[tuple[str, Any]]:
    return await run_block_once(IfInputMatchesBlock(), {"input": input_, "value": value, **extra})


async def test_if_input_matches_emits_values_as_given_without_fallback() -> None:
    assert await matches("a", "a") == [("result", True), ("yes_output", None)]
    assert await matches("a", "b") == [("result", False), ("no_output", None)]


async def test_if_input_matches_does_not_convert_strings() -> None:
    assert await matches(" 5", 5, yes_value="y", no_value="n") == [("result", False), ("no_output", "n")]


async def test_if_input_matches_uses_python_equality() -> None:
    assert await matches(1, 1.0, yes_value="y") == [("result", True), ("yes_output", "y")]
    assert await matches({"a": [1]}, {"a": [1]}, yes_value="y") == [("result", True), ("yes_output", "y")]


class _Weird:
    def __eq__(self, other: object) -> bool:
        raise ValueError("ambiguous truth value")

    __hash__ = object.__hash__


async def test_if_input_matches_identity_and_failing_equality() -> None:
    weird = _Weird()
    assert await matches(weird, weird, yes_value=1) == [("result", True), ("yes_output", 1)]
    assert await matches(weird, _Weird(), no_value=2) == [("result", False), ("no_output", 2)]


# ---- StepThroughItemsBlock ---------------------------------------------------------------------


async def step(**inputs: Any) -> list[tuple[str, Any]]:
    return await run_block_once(StepThroughItemsBlock(), inputs)


async def test_step_through_processes_every_non_empty_source_in_order() -> None:
    out = await step(items_str='{"s": 3}', items_object={"o": 2}, items=[1])
    assert out == [("item", 1), ("key", 0), ("item", 2), ("key", "o"), ("item", 3), ("key", "s")]


async def test_step_through_item_comes_before_key() -> None:
    out = await step(items=["a", "b"])
    assert out == [("item", "a"), ("key", 0), ("item", "b"), ("key", 1)]


async def test_step_through_empty_sources_yield_nothing() -> None:
    assert await step() == []
    assert await step(items=[], items_object={}, items_str="") == []
    assert await step(items_str="[]") == []


async def test_step_through_items_str_json_string_in_items_is_coerced() -> None:
    assert await step(items="[10, 20]") == [("item", 10), ("key", 0), ("item", 20), ("key", 1)]


async def test_step_through_nested_values_are_yielded_whole() -> None:
    out = await step(items_str=json.dumps([{"a": [1, 2]}, None]))
    assert out == [("item", {"a": [1, 2]}), ("key", 0), ("item", None), ("key", 1)]


async def test_step_through_invalid_items_str_yields_error() -> None:
    [(pin, message)] = await step(items_str="{nope")
    assert pin == "error"
    assert "not valid JSON" in message


@pytest.mark.parametrize("text", ["42", '"text"', "null", "true"])
async def test_step_through_scalar_items_str_yields_error(text: str) -> None:
    [(pin, message)] = await step(items_str=text)
    assert pin == "error"
    assert "JSON array or object" in message


async def test_step_through_at_the_item_limit_is_fine() -> None:
    out = await step(items=list(range(MAX_ITEMS)))
    assert len(out) == 2 * MAX_ITEMS
    assert out[-2:] == [("item", MAX_ITEMS - 1), ("key", MAX_ITEMS - 1)]


@pytest.mark.parametrize(
    "inputs",
    [
        {"items": list(range(MAX_ITEMS + 1))},
        {"items_object": {str(i): i for i in range(MAX_ITEMS + 1)}},
        {"items_str": json.dumps(list(range(MAX_ITEMS + 1)))},
    ],
    ids=["items", "items_object", "items_str"],
)
async def test_step_through_too_many_items_raises(inputs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="too many items"):
        await step(**inputs)


async def test_step_through_items_str_over_one_mebibyte_raises() -> None:
    text = json.dumps(["x" * (MAX_ITEMS_STR_BYTES - 3)])  # two characters of JSON too many
    assert len(text) == MAX_ITEMS_STR_BYTES + 1
    with pytest.raises(ValueError, match="too large"):
        await step(items_str=text)


async def test_step_through_items_str_limit_counts_utf8_bytes() -> None:
    text = json.dumps(["é" * (MAX_ITEMS_STR_BYTES // 2)], ensure_ascii=False)
    assert len(text) < MAX_ITEMS_STR_BYTES < len(text.encode())
    with pytest.raises(ValueError, match="too large"):
        await step(items_str=text)


async def test_step_through_checks_limits_before_yielding_anything() -> None:
    block = StepThroughItemsBlock()
    data = block.Input(items=[1, 2], items_str=json.dumps(list(range(MAX_ITEMS + 1))))
    gen = block.run(data)
    with pytest.raises(ValueError, match="too many items"):
        await gen.__anext__()
