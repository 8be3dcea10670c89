"""Tricky semantics of the dictionary and list blocks."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from blocks.data import (
    AddToDictionaryBlock,
    AddToListBlock,
    ConcatenateListsBlock,
    CreateDictionaryBlock,
    CreateListBlock,
    DictionaryIsEmptyBlock,
    FindInDictionaryBlock,
    FindInListBlock,
    GetListItemBlock,
    RemoveFromDictionaryBlock,
    RemoveFromListBlock,
    ReplaceDictionaryValueBlock,
    ZipListsBlock,
    estimate_tokens,
)
from workbench.block import Block
from workbench.block.selftest import run_block_once


async def run_unvalidated(block: Block, **fields: Any) -> list[tuple[str, Any]]:
    """Run ``block`` on an input model built without validation (as a direct caller might)."""
    data = block.Input.model_construct(**fields)
    return [pair async for pair in block.run(data)]


# ---- dictionaries -------------------------------------------------------------------------------


async def test_create_dictionary_extends_default_with_dynamic_pins() -> None:
    out = await run_block_once(
        CreateDictionaryBlock(), {"values": {"c": "!!!"}, "values_#_a": "Hello", "values_#_b": "World"}
    )
    assert out == [("dictionary", {"c": "!!!", "a": "Hello", "b": "World"})]


async def test_add_to_dictionary_does_not_mutate_and_entries_win() -> None:
    original = {"a": 1}
    block = AddToDictionaryBlock()
    data = block.Input.model_validate({"dictionary": original, "key": "a", "value": 2, "entries": {"a": 3}})
    out = [pair async for pair in block.run(data)]
    assert out == [("updated_dictionary", {"a": 3})]
    assert data.dictionary == {"a": 1}


async def test_add_to_dictionary_needs_key_and_non_none_value() -> None:
    block = AddToDictionaryBlock()
    assert await run_block_once(block, {"key": "k", "value": None}) == [("updated_dictionary", {})]
    assert await run_block_once(block, {"key": "", "value": 1}) == [("updated_dictionary", {})]
    assert await run_block_once(block, {"key": "k", "value": 0}) == [("updated_dictionary", {"k": 0})]


async def test_find_in_dictionary_parses_json_string() -> None:
    block = FindInDictionaryBlock()
    assert await run_block_once(block, {"input": '{"a": {"b": [1, 2]}}', "key": "a"}) == [
        ("output", {"b": [1, 2]})
    ]
    assert await run_block_once(block, {"input": '["x", "y"]', "key": 1}) == [("output", "y")]
    # Not found: `missing` carries the ORIGINAL input, i.e. the unparsed string.
    assert await run_block_once(block, {"input": '{"a": 1}', "key": "b"}) == [("missing", '{"a": 1}')]


async def test_find_in_dictionary_list_of_dicts_collects_field() -> None:
    block = FindInDictionaryBlock()
    data = [{"id": 1, "n": "a"}, {"n": "b"}, {"id": 3}, "not a dict", 7]
    assert await run_block_once(block, {"input": data, "key": "id"}) == [("output", [1, 3])]
    # The first item decides: when it lacks the key, attributes are collected instead (none here).
    assert await run_block_once(block, {"input": [{"n": "a"}, {"id": 2}], "key": "id"}) == [("output", [])]


@pytest.mark.parametrize("index", [-1, -3, 3, 100])
async def test_find_in_dictionary_index_out_of_range_or_negative_is_missing(index: int) -> None:
    out = await run_block_once(FindInDictionaryBlock(), {"input": [1, 2, 3], "key": index})
    assert out == [("missing", [1, 2, 3])]


async def test_find_in_dictionary_int_key_does_not_match_str_key() -> None:
    out = await run_block_once(FindInDictionaryBlock(), {"input": {"1": "one"}, "key": 1})
    assert out == [("missing", {"1": "one"})]
    out = await run_block_once(FindInDictionaryBlock(), {"input": {"1": "one"}, "key": "1"})
    assert out == [("output", "one")]


async def test_find_in_dictionary_objects_and_attributes() -> None:
    block = FindInDictionaryBlock()
    obj = SimpleNamespace(name="Ann", _secret="s")
    assert await run_block_once(block, {"input": obj, "key": "name"}) == [("output", "Ann")]
    assert await run_block_once(block, {"input": obj, "key": "_secret"}) == [("missing", obj)]
    assert await run_block_once(block, {"input": obj, "key": "__class__"}) == [("missing", obj)]
    items = [SimpleNamespace(v=1), SimpleNamespace(w=2), SimpleNamespace(v=3)]
    assert await run_block_once(block, {"input": items, "key": "v"}) == [("output", [1, 3])]
    # Methods are not data: a plain string has no "upper" value to find.
    assert await run_block_once(block, {"input": "hello", "key": "upper"}) == [("missing", "hello")]


async def test_find_in_dictionary_empty_list_with_str_key_is_empty_output() -> None:
    assert await run_block_once(FindInDictionaryBlock(), {"input": [], "key": "a"}) == [("output", [])]
    assert await run_block_once(FindInDictionaryBlock(), {"input": "[]", "key": "a"}) == [("output", [])]


async def test_find_in_dictionary_falsy_values_are_found() -> None:
    out = await run_block_once(FindInDictionaryBlock(), {"input": {"a": None, "b": 0}, "key": "b"})
    assert out == [("output", 0)]
    out = await run_block_once(FindInDictionaryBlock(), {"input": {"a": None}, "key": "a"})
    assert out == [("output", None)]


async def test_remove_from_dictionary_missing_key_error_and_no_mutation() -> None:
    block = RemoveFromDictionaryBlock()
    data = block.Input.model_validate({"dictionary": {"a": 1}, "key": "a", "return_value": True})
    assert [pair async for pair in block.run(data)] == [("updated_dictionary", {}), ("removed_value", 1)]
    assert data.dictionary == {"a": 1}
    out = await run_block_once(block, {"dictionary": {"a": 1}, "key": 5})
    assert out == [("error", "Key '5' not found in dictionary")]


async def test_replace_dictionary_value_copies_and_returns_the_old_value() -> None:
    original = {"a": {"deep": 1}, "b": 2}
    block = ReplaceDictionaryValueBlock()
    out = await run_unvalidated(block, dictionary=original, key="a", value=[1])
    assert out == [("updated_dictionary", {"a": [1], "b": 2}), ("old_value", {"deep": 1})]
    assert original == {"a": {"deep": 1}, "b": 2}
    assert list(out[0][1]) == ["a", "b"]  # the key keeps its place


async def test_replace_dictionary_value_never_adds_a_key() -> None:
    out = await run_block_once(
        ReplaceDictionaryValueBlock(), {"dictionary": {"a": 1}, "key": "b", "value": 2}
    )
    assert out == [("error", "Key 'b' not found in dictionary")]


async def test_dictionary_is_empty_parses_json_text() -> None:
    block = DictionaryIsEmptyBlock()
    assert await run_block_once(block, {"dictionary": "{}"}) == [("is_empty", True)]
    assert await run_block_once(block, {"dictionary": '{"a": null}'}) == [("is_empty", False)]


# ---- lists --------------------------------------------------------------------------------------


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("abc") == 1
    assert estimate_tokens({"a": 1}) == len('{"a": 1}') // 4 + 1
    assert estimate_tokens(object()) >= 1


async def test_create_list_without_limits_yields_once() -> None:
    values = list(range(50))
    assert await run_block_once(CreateListBlock(), {"values": values}) == [("list", values)]


async def test_create_list_from_dynamic_pins_pads_gaps_with_none() -> None:
    out = await run_block_once(CreateListBlock(), {"values_$_0": "a", "values_$_2": "c"})
    assert out == [("list", ["a", None, "c"])]


@pytest.mark.parametrize("seed", range(20))
async def test_create_list_chunks_respect_both_limits(seed: int) -> None:
    rng = random.Random(seed)
    values: list[Any] = ["x" * rng.randint(0, 40) for _ in range(rng.randint(1, 30))]
    max_size = rng.choice([None, 1, 2, 3, 7])
    max_tokens = rng.choice([None, 3, 5, 12])
    out = await run_block_once(
        CreateListBlock(), {"values": values, "max_size": max_size, "max_tokens": max_tokens}
    )
    chunks = [value for pin, value in out]
    assert {pin for pin, _ in out} == {"list"}
    assert [v for chunk in chunks for v in chunk] == values
    assert all(chunks)
    for chunk in chunks:
        if max_size:
            assert len(chunk) <= max_size
        if max_tokens and len(chunk) > 1:
            assert sum(estimate_tokens(v) for v in chunk) <= max_tokens


async def test_create_list_chunks_are_greedy() -> None:
    out = await run_block_once(CreateListBlock(), {"values": list(range(7)), "max_size": 3})
    assert out == [("list", [0, 1, 2]), ("list", [3, 4, 5]), ("list", [6])]


async def test_create_list_negative_limit_is_an_error() -> None:
    out = await run_block_once(CreateListBlock(), {"values": [1], "max_tokens": -5})
    assert out == [("error", "max_tokens must not be negative")]


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (0, ["x", "a", "b", "c"]),
        (1, ["a", "x", "b", "c"]),
        (-1, ["a", "b", "x", "c"]),
        (-2, ["a", "x", "b", "c"]),
        (-3, ["x", "a", "b", "c"]),
        (-99, ["x", "a", "b", "c"]),
        (3, ["a", "b", "c", "x"]),
        (99, ["a", "b", "c", "x"]),
        (None, ["a", "b", "c", "x"]),
    ],
)
async def test_add_to_list_position_follows_slice_rules(position: int | None, expected: list[str]) -> None:
    out = await run_block_once(
        AddToListBlock(), {"list": ["a", "b", "c"], "entry": "x", "position": position}
    )
    assert out == [("updated_list", expected)]


async def test_add_to_list_entries_come_before_entry_and_input_is_not_mutated() -> None:
    block = AddToListBlock()
    data = block.Input.model_validate({"list": [1, 2], "entries": [3, 4], "entry": 5, "position": -1})
    assert [pair async for pair in block.run(data)] == [("updated_list", [1, 3, 4, 5, 2])]
    assert data.list == [1, 2]
    assert data.entries == [3, 4]


async def test_add_to_list_string_position_is_coerced() -> None:
    out = await run_block_once(AddToListBlock(), {"list": [1, 2], "entry": 0, "position": "1"})
    assert out == [("updated_list", [1, 0, 2])]


async def test_find_in_list_uses_python_equality_and_first_occurrence() -> None:
    block = FindInListBlock()
    assert await run_block_once(block, {"list": [0, True, 1], "value": 1}) == [("index", 1), ("found", True)]
    assert await run_block_once(block, {"list": [{"a": 1}, {"a": 1}], "value": {"a": 1}}) == [
        ("index", 0),
        ("found", True),
    ]
    assert await run_block_once(block, {"list": ["1"], "value": 1}) == [
        ("found", False),
        ("not_found_value", 1),
    ]


@pytest.mark.parametrize(("index", "expected"), [(0, "a"), (2, "c"), (-1, "c"), (-3, "a")])
async def test_get_list_item_negative_indexes(index: int, expected: str) -> None:
    assert await run_block_once(GetListItemBlock(), {"list": ["a", "b", "c"], "index": index}) == [
        ("item", expected)
    ]


@pytest.mark.parametrize("index", [3, -4])
async def test_get_list_item_out_of_range(index: int) -> None:
    out = await run_block_once(GetListItemBlock(), {"list": ["a", "b", "c"], "index": index})
    assert out == [("error", "Index out of range")]


async def test_remove_from_list_index_has_priority_and_copy_is_returned() -> None:
    block = RemoveFromListBlock()
    data = block.Input.model_validate(
        {"list": ["a", "b", "c"], "index": 2, "value": "a", "return_item": True}
    )
    assert [pair async for pair in block.run(data)] == [("updated_list", ["a", "b"]), ("removed_item", "c")]
    assert data.list == ["a", "b", "c"]


async def test_remove_from_list_index_zero_is_used() -> None:
    out = await run_block_once(RemoveFromListBlock(), {"list": [1, 2], "index": 0, "value": 2})
    assert out == [("updated_list", [2])]


async def test_remove_from_list_errors() -> None:
    block = RemoveFromListBlock()
    for data in (
        {"list": [1]},
        {"list": [1], "index": 1},
        {"list": [1], "index": -2},
        {"list": [1], "value": 2},
    ):
        assert await run_block_once(block, data) == [("error", "Index or value not found")]


async def test_remove_from_list_by_falsy_value() -> None:
    out = await run_block_once(RemoveFromListBlock(), {"list": [1, 0, 0], "value": 0, "return_item": True})
    assert out == [("updated_list", [1, 0]), ("removed_item", 0)]


async def test_concatenate_dedupe_keeps_true_and_1_distinct() -> None:
    out = await run_block_once(
        ConcatenateListsBlock(), {"lists": [[1, True, 1, True], [False, 0, 0.0, 1.0]], "deduplicate": True}
    )
    assert out == [("concatenated_list", [1, True, False, 0, 0.0, 1.0]), ("length", 6)]
    result = out[0][1]
    assert [type(v) for v in result] == [int, bool, bool, int, float, float]


async def test_concatenate_dedupe_is_structural() -> None:
    lists = [
        [{"a": 1, "b": [1, 2]}, {}, [], [[]], {"x": True}],
        [{"b": [1, 2], "a": 1}, [], {}, [[]], {"x": 1}, [{"k": {1, 2}}], [{"k": {2, 1}}]],
    ]
    out = await run_block_once(ConcatenateListsBlock(), {"lists": lists, "deduplicate": True})
    assert out == [
        ("concatenated_list", [{"a": 1, "b": [1, 2]}, {}, [], [[]], {"x": True}, {"x": 1}, [{"k": {1, 2}}]]),
        ("length", 7),
    ]


async def test_concatenate_dedupe_of_unhashable_objects() -> None:
    class Box:
        __hash__ = None  # type: ignore[assignment]

        def __init__(self, v: int) -> None:
            self.v = v

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Box) and other.v == self.v

    a, b, c = Box(1), Box(1), Box(2)
    out = await run_unvalidated(
        ConcatenateListsBlock(), lists=[[a, b], [c]], deduplicate=True, remove_none=False
    )
    assert out == [("concatenated_list", [a, c]), ("length", 2)]
    assert out[0][1][0] is a


async def test_concatenate_remove_none_happens_before_dedupe() -> None:
    out = await run_block_once(
        ConcatenateListsBlock(),
        {"lists": [[None, None], [2, None, 2]], "remove_none": True, "deduplicate": True},
    )
    assert out == [("concatenated_list", [2]), ("length", 1)]


async def test_concatenate_skips_none_sublists_and_rejects_non_lists() -> None:
    block = ConcatenateListsBlock()
    assert await run_block_once(block, {"lists": [None, [1], None, [2]]}) == [
        ("concatenated_list", [1, 2]),
        ("length", 2),
    ]
    out = await run_unvalidated(block, lists=[[1], None, "abc"], deduplicate=False, remove_none=False)
    assert out == [
        (
            "error",
            "Invalid input at index 2: expected a list, got str. "
            "All items in 'lists' must be lists (e.g. [[1, 2], [3, 4]]).",
        )
    ]


async def test_concatenate_engine_coerces_scalar_sublists() -> None:
    # The engine's coercion (Part D) wraps a scalar in a list and parses a JSON list string.
    out = await run_block_once(ConcatenateListsBlock(), {"lists": [[1], 2, "[3, 4]"]})
    assert out == [("concatenated_list", [1, 2, 3, 4]), ("length", 4)]


async def test_zip_truncates_or_pads() -> None:
    block = ZipListsBlock()
    lists = [[1, 2, 3], ["a", "b"], [True]]
    assert await run_block_once(block, {"lists": lists}) == [("zipped_list", [[1, "a", True]]), ("length", 1)]
    assert await run_block_once(block, {"lists": lists, "pad_to_longest": True, "fill_value": "-"}) == [
        ("zipped_list", [[1, "a", True], [2, "b", "-"], [3, "-", "-"]]),
        ("length", 3),
    ]


async def test_zip_fill_value_is_ignored_without_padding_and_none_lists_are_skipped() -> None:
    out = await run_block_once(ZipListsBlock(), {"lists": [None, [1, 2], None, [3]], "fill_value": 0})
    assert out == [("zipped_list", [[1, 3]]), ("length", 1)]


async def test_zip_rejects_non_list_items() -> None:
    out = await run_unvalidated(ZipListsBlock(), lists=[[1], {"a": 1}], pad_to_longest=False, fill_value=None)
    assert out == [
        (
            "error",
            "Invalid input at index 1: expected a list, got dict. "
            "All items in 'lists' must be lists (e.g. [[1, 2], [3, 4]]).",
        )
    ]


async def test_zip_of_nothing() -> None:
    assert await run_block_once(ZipListsBlock(), {"lists": [None]}) == [("zipped_list", []), ("length", 0)]
    out = await run_block_once(ZipListsBlock(), {"lists": [], "pad_to_longest": True})
    assert out == [("zipped_list", []), ("length", 0)]
