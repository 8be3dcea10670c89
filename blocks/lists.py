"""More list blocks: replace an item, test for emptiness, flatten, interleave, difference, intersection.

Difference and intersection compare items by equality, as Python's ``==`` does (``1 == 1.0``, equal
dictionaries and lists match whatever their identity) except that booleans only equal booleans
(``True`` is not ``1``), as in AutoGPT. Items that cannot be hashed (objects assembled from ``_@_``
pins, for instance) are compared one by one.

Several pins are called ``list``, which shadows the builtin inside the schema class bodies; those
annotations therefore spell it ``builtins.list``.
"""

from __future__ import annotations

import builtins
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from pydantic import Field, field_validator

from blocks.data import _check_lists, _skip_none_lists, structural_key
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema

# ---- replace, is empty ----------------------------------------------------------------------------


def _index_problem(index: int, length: int) -> str:
    """The error of an index outside a list of ``length`` items (AutoGPT's words, then the details)."""
    if length == 0:
        return f"Index out of range: {index} (the list is empty)"
    return (
        f"Index out of range: {index} (the list has {length} item{'s' if length != 1 else ''}; "
        f"valid indexes are {-length} to {length - 1})"
    )


class ReplaceListItemBlock(Block):
    """Replaces the item at an index of a copy of a list (negative indexes count from the end)."""

    id = "fbf62922-bea1-4a3d-8bac-23587f810b38"
    name = "ReplaceListItemBlock"
    description = (
        "Replaces the item at `index` (negative counts from the end) in a copy of the list; yields the "
        "updated list and the replaced item. An index outside the list fails the node."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list: builtins.list[Any] = Field(description="The list to modify.")
        index: int = Field(description="Index of the item to replace; negative counts from the end.")
        value: Any = Field(description="The new item.")

    class Output(BlockSchema):
        updated_list: builtins.list[Any] = Field(description="The list after the replacement.")
        old_item: Any = Field(description="The item that was replaced.")

    test_input = [
        {"list": [1, 2, 3], "index": 1, "value": 99},
        {"list": ["a", "b"], "index": -1, "value": "c"},
        {"list": [1, 2, 3], "index": -3, "value": [0]},
        {"list": [1, 2, 3], "index": 3, "value": 0},
        {"list": [1, 2, 3], "index": -4, "value": 0},
        {"list": [], "index": 0, "value": 0},
    ]
    test_output = [
        ("updated_list", [1, 99, 3]),
        ("old_item", 2),
        ("updated_list", ["a", "c"]),
        ("old_item", "b"),
        ("updated_list", [[0], 2, 3]),
        ("old_item", 1),
        ("error", "Index out of range: 3 (the list has 3 items; valid indexes are -3 to 2)"),
        ("error", "Index out of range: -4 (the list has 3 items; valid indexes are -3 to 2)"),
        ("error", "Index out of range: 0 (the list is empty)"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        items, index = builtins.list(input_data.list), input_data.index
        if not -len(items) <= index < len(items):
            yield "error", _index_problem(index, len(items))
            return
        old = items[index]
        items[index] = input_data.value
        yield "updated_list", items
        yield "old_item", old


class ListIsEmptyBlock(Block):
    """Tells whether a list has no items."""

    id = "896ed73b-27d0-41be-813c-c1c1dc856c03"
    name = "ListIsEmptyBlock"
    description = "Checks whether a list is empty: yields is_empty True or False."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list: builtins.list[Any] = Field(description="The list to check.")

    class Output(BlockSchema):
        is_empty: bool = Field(description="True when the list has no items.")

    test_input = [{"list": []}, {"list": [1]}, {"list": [None]}]
    test_output = [("is_empty", True), ("is_empty", False), ("is_empty", False)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "is_empty", not input_data.list


# ---- flatten, interleave ----------------------------------------------------------------------------


class NestingError(ValueError):
    """A list that contains itself (only possible for values built in-process, never from JSON)."""


def nesting_depth(items: builtins.list[Any]) -> int:
    """How deeply lists nest in ``items``: 1 for a flat (or empty) list, 2 for a list of lists...

    Iterative, so any depth is measured without Python's recursion limit.

    Raises:
        NestingError: the list contains itself.
    """
    deepest = 1
    on_path = {id(items)}
    stack: builtins.list[tuple[builtins.list[Any], Iterator[Any]]] = [(items, iter(items))]
    while stack:
        current, children = stack[-1]
        for child in children:
            if isinstance(child, builtins.list):
                if id(child) in on_path:
                    raise NestingError("the list contains itself")
                on_path.add(id(child))
                stack.append((child, iter(child)))
                deepest = max(deepest, len(stack))
                break
        else:
            stack.pop()
            on_path.discard(id(current))
    return deepest


def flatten(items: builtins.list[Any], max_depth: int = -1) -> builtins.list[Any]:
    """The items of ``items`` with nested lists spliced in, ``max_depth`` levels deep (-1: all).

    Iterative, so any depth is flattened without Python's recursion limit.

    Raises:
        NestingError: the list contains itself.
    """
    out: builtins.list[Any] = []
    on_path = {id(items)}
    stack: builtins.list[tuple[builtins.list[Any], Iterator[Any]]] = [(items, iter(items))]
    while stack:
        current, children = stack[-1]
        for child in children:
            can_descend = max_depth < 0 or len(stack) <= max_depth
            if isinstance(child, builtins.list) and can_descend:
                if id(child) in on_path:
                    raise NestingError("the list contains itself")
                on_path.add(id(child))
                stack.append((child, iter(child)))
                break
            out.append(child)
        else:
            stack.pop()
            on_path.discard(id(current))
    return out


class FlattenListBlock(Block):
    """Splices nested lists into one flat list, completely or a given number of levels deep."""

    id = "cc45bb0f-d035-4756-96a7-fe3e36254b4d"
    name = "FlattenListBlock"
    description = (
        "Flattens a nested list into a single list. `max_depth` limits how many levels are flattened "
        "(-1: all, 0: none, 1: one level). Also yields the length and the original nesting depth "
        "(1 for a flat or empty list). Only lists are flattened: dictionaries, strings and other values "
        "are kept as items."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        nested_list: builtins.list[Any] = Field(description="The (possibly nested) list to flatten.")
        max_depth: int = Field(
            default=-1, description="Levels to flatten: -1 flattens completely, 1 only one level."
        )

    class Output(BlockSchema):
        flattened_list: builtins.list[Any] = Field(description="The flattened list.")
        length: int = Field(description="Number of items in the flattened list.")
        original_depth: int = Field(description="Nesting depth of the input (1 for a flat list).")

    test_input = [
        {"nested_list": [[1, 2], [3, [4, 5]]]},
        {"nested_list": [1, [2, [3, [4]]]]},
        {"nested_list": [1, [2, [3, [4]]], 5], "max_depth": 1},
        {"nested_list": []},
        {"nested_list": [1, 2, 3]},
        {"nested_list": [1, [2, [3, [4]]], 5], "max_depth": 0},
        {"nested_list": [1, [2, [3, [4]]], 5], "max_depth": 2},
        {"nested_list": [[], [[]], {"a": [1]}, "ab"]},
        {"nested_list": [1, [2]], "max_depth": -2},
    ]
    test_output = [
        ("flattened_list", [1, 2, 3, 4, 5]),
        ("length", 5),
        ("original_depth", 3),
        ("flattened_list", [1, 2, 3, 4]),
        ("length", 4),
        ("original_depth", 4),
        ("flattened_list", [1, 2, [3, [4]], 5]),
        ("length", 4),
        ("original_depth", 4),
        ("flattened_list", []),
        ("length", 0),
        ("original_depth", 1),
        ("flattened_list", [1, 2, 3]),
        ("length", 3),
        ("original_depth", 1),
        ("flattened_list", [1, [2, [3, [4]]], 5]),
        ("length", 3),
        ("original_depth", 4),
        ("flattened_list", [1, 2, 3, [4], 5]),
        ("length", 5),
        ("original_depth", 4),
        ("flattened_list", [{"a": [1]}, "ab"]),
        ("length", 2),
        ("original_depth", 3),
        ("error", "max_depth must be -1 (unlimited) or a non-negative integer, got -2"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        max_depth = input_data.max_depth
        if max_depth < -1:
            yield "error", f"max_depth must be -1 (unlimited) or a non-negative integer, got {max_depth}"
            return
        try:
            depth = nesting_depth(input_data.nested_list)
            flat = flatten(input_data.nested_list, max_depth)
        except NestingError as exc:
            yield "error", f"Cannot flatten: {exc}"
            return
        yield "flattened_list", flat
        yield "length", len(flat)
        yield "original_depth", depth


class InterleaveListsBlock(Block):
    """Takes one item of each list in turn (round robin) until every list is used up."""

    id = "9f616084-1d9f-4f8e-bc00-5b9d2a75cd75"
    name = "InterleaveListsBlock"
    description = (
        "Interleaves lists round robin: the first item of each list, then the second of each, and so on; "
        "a shorter list simply stops contributing. None lists are skipped."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        lists: builtins.list[builtins.list[Any]] = Field(description="The lists to interleave, in order.")

        _skip_none = field_validator("lists", mode="before")(_skip_none_lists)

    class Output(BlockSchema):
        interleaved_list: builtins.list[Any] = Field(description="The items, alternating between lists.")
        length: int = Field(description="Number of items in the interleaved list.")

    test_input = [
        {"lists": [[1, 2, 3], ["a", "b", "c"]]},
        {"lists": [[1, 2, 3], ["a", "b"], ["x", "y", "z"]]},
        {"lists": [[1], [2], [3]]},
        {"lists": []},
        {"lists": [[1, 2], None, [], ["a"]]},
        {"lists": [[None, [1]], [None]]},
    ]
    test_output = [
        ("interleaved_list", [1, "a", 2, "b", 3, "c"]),
        ("length", 6),
        ("interleaved_list", [1, "a", "x", 2, "b", "y", 3, "z"]),
        ("length", 8),
        ("interleaved_list", [1, 2, 3]),
        ("length", 3),
        ("interleaved_list", []),
        ("length", 0),
        ("interleaved_list", [1, "a", 2]),
        ("length", 3),
        ("interleaved_list", [None, None, [1]]),
        ("length", 3),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        problem = _check_lists(input_data.lists)
        if problem:
            yield "error", problem
            return
        lists = [sub for sub in input_data.lists if sub is not None]
        longest = max((len(sub) for sub in lists), default=0)
        items = [sub[i] for i in range(longest) for sub in lists if i < len(sub)]
        yield "interleaved_list", items
        yield "length", len(items)


# ---- difference, intersection -----------------------------------------------------------------------


def _equal(left: Any, right: Any) -> bool:
    """``left == right`` with booleans only equal to booleans; an equality that raises is False."""
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    try:
        return bool(left == right)
    except Exception:
        return False


class _Members:
    """The items of a list, for ``in`` by equality: hashed keys, and a scan for unhashable items."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._keys: set[Hashable] = set()
        self._all: builtins.list[Any] = []
        self._unhashable: builtins.list[Any] = []
        for item in items:
            self.add(item)

    def add(self, item: Any) -> None:
        """Remember ``item``."""
        self._all.append(item)
        try:
            self._keys.add(structural_key(item, by_type=False))
        except TypeError:
            self._unhashable.append(item)

    def __contains__(self, item: Any) -> bool:
        try:
            key = structural_key(item, by_type=False)
        except TypeError:
            return any(_equal(item, other) for other in self._all)
        return key in self._keys or any(_equal(item, other) for other in self._unhashable)


class ListDifferenceBlock(Block):
    """The items of one list that are not in another (or in either but not both)."""

    id = "05309873-9d61-447e-96b5-b804e2511829"
    name = "ListDifferenceBlock"
    description = (
        "Yields the items of list_a not found in list_b, in list_a's order (repeats kept). With "
        "`symmetric`, the items of list_b not found in list_a follow. Items match by equality "
        "(1 equals 1.0, equal dictionaries match; True does not equal 1)."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list_a: builtins.list[Any] = Field(description="The list to take items from.")
        list_b: builtins.list[Any] = Field(description="The items to remove from list_a.")
        symmetric: bool = Field(
            default=False, description="Symmetric difference: items in either list but not in both."
        )

    class Output(BlockSchema):
        difference: builtins.list[Any] = Field(
            description="The items of list_a not in list_b (see symmetric)."
        )
        length: int = Field(description="Number of items in the difference.")

    test_input = [
        {"list_a": [1, 2, 3, 4, 5], "list_b": [3, 4, 5, 6, 7]},
        {"list_a": [1, 2, 3, 4, 5], "list_b": [3, 4, 5, 6, 7], "symmetric": True},
        {"list_a": ["a", "b", "c"], "list_b": ["b"]},
        {"list_a": [], "list_b": [1, 2, 3]},
        {"list_a": [1, 1, 2, True, 1.0, "1"], "list_b": [1.0]},
        {
            "list_a": [{"k": [1, 2]}, {"k": [2]}, [1, {"x": None}]],
            "list_b": [[1, {"x": None}], {"k": [1, 2]}],
        },
        {"list_a": [True, 0], "list_b": [1, False], "symmetric": True},
    ]
    test_output = [
        ("difference", [1, 2]),
        ("length", 2),
        ("difference", [1, 2, 6, 7]),
        ("length", 4),
        ("difference", ["a", "c"]),
        ("length", 2),
        ("difference", []),
        ("length", 0),
        ("difference", [2, True, "1"]),
        ("length", 3),
        ("difference", [{"k": [2]}]),
        ("length", 1),
        ("difference", [True, 0, 1, False]),
        ("length", 4),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        list_a, list_b = input_data.list_a, input_data.list_b
        in_b = _Members(list_b)
        result = [item for item in list_a if item not in in_b]
        if input_data.symmetric:
            in_a = _Members(list_a)
            result += [item for item in list_b if item not in in_a]
        yield "difference", result
        yield "length", len(result)


class ListIntersectionBlock(Block):
    """The items present in both lists, once each, in the first list's order."""

    id = "b6eb08b6-dbe3-411b-b9b4-2508cb311a1f"
    name = "ListIntersectionBlock"
    description = (
        "Yields the items of list_a that are also in list_b, each once (first occurrence kept), in "
        "list_a's order. Items match by equality (1 equals 1.0, equal dictionaries match; True does "
        "not equal 1)."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list_a: builtins.list[Any] = Field(description="The first list (its order is kept).")
        list_b: builtins.list[Any] = Field(description="The second list.")

    class Output(BlockSchema):
        intersection: builtins.list[Any] = Field(description="The items present in both lists.")
        length: int = Field(description="Number of items in the intersection.")

    test_input = [
        {"list_a": [1, 2, 3, 4, 5], "list_b": [3, 4, 5, 6, 7]},
        {"list_a": ["a", "b", "c"], "list_b": ["c", "d", "e"]},
        {"list_a": [1, 2], "list_b": [3, 4]},
        {"list_a": [], "list_b": [1, 2, 3]},
        {"list_a": [3, 1, 3, 1.0, True], "list_b": [1, 3]},
        {"list_a": [{"a": 1}, [1, 2], {"a": 1}], "list_b": [[1, 2], {"a": 1}]},
    ]
    test_output = [
        ("intersection", [3, 4, 5]),
        ("length", 3),
        ("intersection", ["c"]),
        ("length", 1),
        ("intersection", []),
        ("length", 0),
        ("intersection", []),
        ("length", 0),
        ("intersection", [3, 1]),
        ("length", 2),
        ("intersection", [{"a": 1}, [1, 2]]),
        ("length", 2),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        in_b = _Members(input_data.list_b)
        seen = _Members()
        result = []
        for item in input_data.list_a:
            if item in in_b and item not in seen:
                seen.add(item)
                result.append(item)
        yield "intersection", result
        yield "length", len(result)
