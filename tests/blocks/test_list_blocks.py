"""The list blocks of blocks/lists.py: indexes, depth limits, equality of unhashable items, and a graph."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from blocks.lists import (
    FlattenListBlock,
    InterleaveListsBlock,
    ListDifferenceBlock,
    ListIntersectionBlock,
    ListIsEmptyBlock,
    ReplaceListItemBlock,
    flatten,
    nesting_depth,
)
from tests.engine.graphs import graph, inp, link, node, out
from workbench.app import Workbench
from workbench.block import Block
from workbench.block.selftest import run_block_once


async def run_raw(block: Block, **fields: Any) -> list[tuple[str, Any]]:
    """Run ``block`` on an input model built without validation (values kept as they are, by identity)."""
    data = block.Input.model_construct(**fields)
    return [pair async for pair in block.run(data)]


def nested(levels: int) -> list[Any]:
    """``[[[...[0]...]]]`` with ``levels`` lists."""
    value: list[Any] = [0]
    for _ in range(levels - 1):
        value = [value]
    return value


# ---- ReplaceListItemBlock --------------------------------------------------------------------------


async def test_replace_list_item_copies_and_counts_negative_indexes_from_the_end() -> None:
    original = ["a", "b", "c"]
    out = await run_raw(ReplaceListItemBlock(), list=original, index=-2, value="B")
    assert out == [("updated_list", ["a", "B", "c"]), ("old_item", "b")]
    assert original == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("items", "index", "message"),
    [
        ([1, 2], 2, "Index out of range: 2 (the list has 2 items; valid indexes are -2 to 1)"),
        ([1, 2], -3, "Index out of range: -3 (the list has 2 items; valid indexes are -2 to 1)"),
        ([1], 1, "Index out of range: 1 (the list has 1 item; valid indexes are -1 to 0)"),
        ([], -1, "Index out of range: -1 (the list is empty)"),
    ],
)
async def test_replace_list_item_out_of_range_names_index_and_length(
    items: list[Any], index: int, message: str
) -> None:
    out = await run_block_once(ReplaceListItemBlock(), {"list": items, "index": index, "value": 0})
    assert out == [("error", message)]


async def test_list_is_empty_after_coercion_of_a_json_text() -> None:
    block = ListIsEmptyBlock()
    assert await run_block_once(block, {"list": "[]"}) == [("is_empty", True)]
    assert await run_block_once(block, {"list": "[0]"}) == [("is_empty", False)]


# ---- FlattenListBlock -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_depth", "expected"),
    [
        (-1, [1, 2, 3, 4, 5]),
        (0, [1, [2, [3, [4]]], 5]),
        (1, [1, 2, [3, [4]], 5]),
        (2, [1, 2, 3, [4], 5]),
        (3, [1, 2, 3, 4, 5]),
        (50, [1, 2, 3, 4, 5]),
    ],
)
def test_flatten_stops_at_max_depth(max_depth: int, expected: list[Any]) -> None:
    assert flatten([1, [2, [3, [4]]], 5], max_depth) == expected


def test_flatten_and_depth_handle_nesting_beyond_the_recursion_limit() -> None:
    deep = nested(5000)
    assert nesting_depth(deep) == 5000
    assert flatten(deep) == [0]
    assert flatten(deep, 4998) == [[0]]


async def test_flatten_keeps_dictionaries_strings_and_tuples_as_items() -> None:
    out = await run_raw(FlattenListBlock(), nested_list=[{"a": [1]}, ["xy", (1, 2)], []], max_depth=-1)
    assert out == [
        ("flattened_list", [{"a": [1]}, "xy", (1, 2)]),
        ("length", 3),
        ("original_depth", 2),
    ]


async def test_flatten_a_list_that_contains_itself_fails_instead_of_looping() -> None:
    loop: list[Any] = [1]
    loop.append([2, loop])
    out = await run_raw(FlattenListBlock(), nested_list=loop, max_depth=-1)
    assert out == [("error", "Cannot flatten: the list contains itself")]


async def test_flatten_repeated_sublist_is_not_a_cycle() -> None:
    shared = [1, 2]
    out = await run_raw(FlattenListBlock(), nested_list=[shared, [shared]], max_depth=-1)
    assert out[0] == ("flattened_list", [1, 2, 1, 2])


# ---- InterleaveListsBlock ---------------------------------------------------------------------------


async def test_interleave_rejects_a_non_list_item_when_called_directly() -> None:
    out = await run_raw(InterleaveListsBlock(), lists=[[1], "ab"])
    assert out == [
        (
            "error",
            "Invalid input at index 1: expected a list, got str. All items in 'lists' must be lists "
            "(e.g. [[1, 2], [3, 4]]).",
        )
    ]


async def test_interleave_dynamic_list_pins() -> None:
    out = await run_block_once(InterleaveListsBlock(), {"lists_$_0": [1, 2, 3], "lists_$_1": ["a"]})
    assert out == [("interleaved_list", [1, "a", 2, 3]), ("length", 4)]


# ---- ListDifferenceBlock / ListIntersectionBlock ----------------------------------------------------


async def test_difference_compares_unhashable_items_by_equality() -> None:
    a1, a2 = SimpleNamespace(id=1), SimpleNamespace(id=2)
    out = await run_raw(
        ListDifferenceBlock(),
        list_a=[a1, a2, {"k": {1, 2}}, "x"],
        list_b=[SimpleNamespace(id=1), {"k": {2, 1}}],
        symmetric=False,
    )
    assert out == [("difference", [a2, "x"]), ("length", 2)]
    assert out[0][1][0] is a2  # the items themselves, not copies


async def test_difference_symmetric_keeps_repeats_and_orders_a_then_b() -> None:
    out = await run_block_once(
        ListDifferenceBlock(), {"list_a": [1, 1, 2, 3], "list_b": [3, 4, 4, True], "symmetric": True}
    )
    assert out == [("difference", [1, 1, 2, 4, 4, True]), ("length", 6)]


async def test_difference_of_an_unhashable_item_against_a_hashable_equal_one() -> None:
    class EqualsFive:
        __hash__ = None  # type: ignore[assignment]

        def __eq__(self, other: object) -> bool:
            return other == 5

    odd = EqualsFive()
    out = await run_raw(ListDifferenceBlock(), list_a=[odd, 6], list_b=[5], symmetric=False)
    assert out == [("difference", [6]), ("length", 1)]
    out = await run_raw(ListDifferenceBlock(), list_a=[5, 6], list_b=[odd], symmetric=False)
    assert out == [("difference", [6]), ("length", 1)]


async def test_intersection_deduplicates_unhashable_items_by_equality() -> None:
    first = SimpleNamespace(n=1)
    out = await run_raw(
        ListIntersectionBlock(),
        list_a=[first, SimpleNamespace(n=1), SimpleNamespace(n=2), [1, 2], (1, 2)],
        list_b=[SimpleNamespace(n=1), [1, 2]],
    )
    assert out == [("intersection", [first, [1, 2]]), ("length", 2)]
    assert out[0][1][0] is first


async def test_intersection_keeps_booleans_apart_from_numbers() -> None:
    out = await run_block_once(ListIntersectionBlock(), {"list_a": [True, 1, 0.0, False], "list_b": [1.0, 0]})
    assert out == [("intersection", [1, 0.0]), ("length", 2)]


async def test_list_blocks_through_a_graph(ewb: Workbench) -> None:
    g = graph(
        [
            inp("a", "seen"),
            inp("b", "new"),
            node("diff", ListDifferenceBlock),
            node("flat", FlattenListBlock, max_depth=1),
            out("fresh", "fresh"),
            out("flat_out", "flat"),
        ],
        [
            link("a.result", "flat.nested_list"),
            link("flat.flattened_list", "diff.list_b"),
            link("b.result", "diff.list_a"),
            link("diff.difference", "fresh.value"),
            link("flat.original_depth", "flat_out.value"),
        ],
    )
    seen = [[{"id": 1}], [{"id": 2}, [{"id": 3}]]]
    new = [{"id": 2}, {"id": 3}, {"id": 4}, [{"id": 3}]]
    result = await ewb.executions.run(g, {"seen": seen, "new": new}, timeout=10)
    assert result.status == "COMPLETED", result.error
    # One level flattened: [{"id": 1}, {"id": 2}, [{"id": 3}]] is removed from `new`.
    assert result.outputs == {"fresh": [[{"id": 3}, {"id": 4}]], "flat": [3]}
