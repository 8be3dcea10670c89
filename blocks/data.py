"""Dictionary and list blocks: build, add to, look up, remove from, concatenate and zip collections.

Several pins are called ``list``, which shadows the builtin inside the schema class bodies; those
annotations therefore spell it ``builtins.list``.
"""

from __future__ import annotations

import builtins
import itertools
import json
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from pydantic import Field, field_validator

from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema

_MISSING: Any = object()


# ---- dictionaries -------------------------------------------------------------------------------


class CreateDictionaryBlock(Block):
    """Builds a dictionary from its ``values`` pin (usually fed by dynamic ``values_#_<key>`` pins)."""

    id = "b924ddf4-de4f-4b56-9a85-358930dcbc91"
    name = "CreateDictionaryBlock"
    description = (
        "Creates a dictionary from the given key-value pairs; link into `values_#_<key>` pins "
        "to set single keys."
    )
    categories = (BlockCategory.DATA,)

    class Input(BlockSchema):
        values: dict[str, Any] = Field(description="Key-value pairs to put in the dictionary.")

    class Output(BlockSchema):
        dictionary: dict[str, Any] = Field(description="The created dictionary.")

    test_input = [
        {"values": {"name": "Alice", "age": 25}},
        {"values": {}},
        {"values_#_city": "Paris", "values_#_zip": "75001"},
        {"values": {"a": 1}, "values_#_b": 2},
        {"values": '{"x": [1, 2]}'},
    ]
    test_output = [
        ("dictionary", {"name": "Alice", "age": 25}),
        ("dictionary", {}),
        ("dictionary", {"city": "Paris", "zip": "75001"}),
        ("dictionary", {"a": 1, "b": 2}),
        ("dictionary", {"x": [1, 2]}),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "dictionary", input_data.values


class AddToDictionaryBlock(Block):
    """Adds ``key``/``value`` and every item of ``entries`` to a copy of a dictionary."""

    id = "31d1064e-7446-4693-a7d4-65e5ca1180d1"
    name = "AddToDictionaryBlock"
    description = (
        "Adds a key-value pair (skipped when the key is empty or the value is None) and then all "
        "`entries` to a copy of the dictionary; `entries` win over `key`/`value`."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        dictionary: dict[Any, Any] = Field(
            default_factory=dict, description="The dictionary to add to; a new one when omitted."
        )
        key: str = Field(default="", description="The key of the new entry (ignored when empty).")
        value: Any = Field(default=None, description="The value of the new entry (ignored when None).")
        entries: dict[Any, Any] = Field(
            default_factory=dict, description="More entries to add; they override `key`/`value`."
        )

    class Output(BlockSchema):
        updated_dictionary: dict = Field(description="The dictionary with the new entries.")

    test_input = [
        {"dictionary": {"existing_key": "existing_value"}, "key": "new_key", "value": "new_value"},
        {"key": "first_key", "value": "first_value"},
        {"dictionary": {"a": 1}, "entries": {"b": 2, "c": 3}},
        {"dictionary": {"a": 1}, "key": "a", "value": 5, "entries": {"a": 9}},
        {"dictionary": {"a": 1}, "key": "b"},
        {"dictionary": {"a": 1}, "key": "", "value": 2},
        {"dictionary": {"a": 1}, "key": "flag", "value": False},
        {},
    ]
    test_output = [
        ("updated_dictionary", {"existing_key": "existing_value", "new_key": "new_value"}),
        ("updated_dictionary", {"first_key": "first_value"}),
        ("updated_dictionary", {"a": 1, "b": 2, "c": 3}),
        ("updated_dictionary", {"a": 9}),
        ("updated_dictionary", {"a": 1}),
        ("updated_dictionary", {"a": 1}),
        ("updated_dictionary", {"a": 1, "flag": False}),
        ("updated_dictionary", {}),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        updated = dict(input_data.dictionary)
        if input_data.value is not None and input_data.key:
            updated[input_data.key] = input_data.value
        updated.update(input_data.entries)
        yield "updated_dictionary", updated


def _attribute(obj: Any, key: str) -> Any:
    """A public, non-callable attribute of ``obj`` named ``key``, or ``_MISSING``.

    Private names and methods are not data and are never exposed (``"upper"`` on a string is missing).
    """
    if key.startswith("_") or isinstance(obj, dict | list):
        return _MISSING
    value = getattr(obj, key, _MISSING)
    if value is _MISSING or callable(value):
        return _MISSING
    return value


def _lookup(obj: Any, key: str | int) -> Any:
    """FindInDictionary's lookup rules (first match wins); ``_MISSING`` when nothing matches."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
    elif isinstance(obj, list):
        if isinstance(key, int):
            # Negative indexes are deliberately not supported.
            return obj[key] if 0 <= key < len(obj) else _MISSING
        if not obj:
            return []
        if isinstance(obj[0], dict) and key in obj[0]:
            return [item[key] for item in obj if isinstance(item, dict) and key in item]
        found = (_attribute(item, key) for item in obj)
        return [value for value in found if value is not _MISSING]
    if isinstance(key, str):
        return _attribute(obj, key)
    return _MISSING


class FindInDictionaryBlock(Block):
    """Looks a key up in a dictionary, a list (index or field of its items) or an object."""

    id = "0e50422c-6dee-4145-83d6-3a5a392f65de"
    name = "FindInDictionaryBlock"
    description = (
        "Looks up a key in a dictionary (a JSON string is parsed first), an index in a list, a field "
        "of every dictionary in a list, or an attribute of an object; yields `missing` otherwise."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        input: Any = Field(description="Dictionary, list, object or JSON text to look into.")
        key: str | int = Field(description="Key, list index (not negative) or attribute to find.")

    class Output(BlockSchema):
        output: Any = Field(description="The value found.")
        missing: Any = Field(description="The original input, when the key was not found.")

    test_input = [
        {"input": {"apple": 1, "banana": 2, "cherry": 3}, "key": "banana"},
        {"input": {"x": 10, "y": 20}, "key": "z"},
        {"input": '{"user": {"name": "Ann"}}', "key": "user"},
        {"input": [10, 20, 30], "key": 1},
        {"input": [10, 20, 30], "key": -1},
        {"input": [10, 20, 30], "key": 3},
        {"input": "[1, 2]", "key": 0},
        {"input": [{"k1": "v1", "k2": "v2"}, {"k3": "v3"}, {"k1": "v4"}], "key": "k1"},
        {"input": [], "key": "k1"},
        {"input": [1, "two"], "key": "k1"},
        {"input_@_name": "Bob", "key": "name"},
        {"input": "plain text", "key": "upper"},
        {"input": {"0": "zero"}, "key": 0},
    ]
    test_output = [
        ("output", 2),
        ("missing", {"x": 10, "y": 20}),
        ("output", {"name": "Ann"}),
        ("output", 20),
        ("missing", [10, 20, 30]),
        ("missing", [10, 20, 30]),
        ("output", 1),
        ("output", ["v1", "v4"]),
        ("output", []),
        ("output", []),
        ("output", "Bob"),
        ("missing", "plain text"),
        ("missing", {"0": "zero"}),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        obj = input_data.input
        if isinstance(obj, str):
            try:
                obj = json.loads(obj)
            except ValueError:
                pass  # not JSON: look into the string itself (only public attributes match)
        found = _lookup(obj, input_data.key)
        if found is _MISSING:
            yield "missing", input_data.input
        else:
            yield "output", found


class RemoveFromDictionaryBlock(Block):
    """Removes a key from a copy of a dictionary, optionally yielding the removed value."""

    id = "46afe2ea-c613-43f8-95ff-6692c3ef6876"
    name = "RemoveFromDictionaryBlock"
    description = (
        "Removes a key from a copy of the dictionary; yields the removed value too when "
        "`return_value` is set. A missing key fails the node."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        dictionary: dict[Any, Any] = Field(description="The dictionary to remove the key from.")
        key: str | int = Field(description="The key to remove.")
        return_value: bool = Field(default=False, description="Also yield the removed value.")

    class Output(BlockSchema):
        updated_dictionary: dict[Any, Any] = Field(description="The dictionary without the key.")
        removed_value: Any = Field(description="The removed value (only when `return_value`).")

    test_input = [
        {"dictionary": {"a": 1, "b": 2, "c": 3}, "key": "b"},
        {"dictionary": {"a": 1, "b": 2}, "key": "a", "return_value": True},
        {"dictionary": {"a": None}, "key": "a", "return_value": True},
        {"dictionary": {1: "one", "1": "text"}, "key": 1},
        {"dictionary": {"a": 1}, "key": "missing"},
    ]
    test_output = [
        ("updated_dictionary", {"a": 1, "c": 3}),
        ("updated_dictionary", {"b": 2}),
        ("removed_value", 1),
        ("updated_dictionary", {}),
        ("removed_value", None),
        ("updated_dictionary", {"1": "text"}),
        ("error", "Key 'missing' not found in dictionary"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        updated = dict(input_data.dictionary)
        try:
            removed = updated.pop(input_data.key)
        except KeyError:
            yield "error", f"Key '{input_data.key}' not found in dictionary"
            return
        yield "updated_dictionary", updated
        if input_data.return_value:
            yield "removed_value", removed


class ReplaceDictionaryValueBlock(Block):
    """Replaces the value of an existing key in a copy of a dictionary."""

    id = "27e31876-18b6-44f3-ab97-f6226d8b3889"
    name = "ReplaceDictionaryValueBlock"
    description = (
        "Replaces the value of an existing key in a copy of the dictionary; yields the updated "
        "dictionary and the value it replaced. A missing key fails the node (use AddToDictionary to add)."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        dictionary: dict[Any, Any] = Field(description="The dictionary to modify.")
        key: str | int = Field(description="The key whose value is replaced (it must exist).")
        value: Any = Field(description="The new value for the key.")

    class Output(BlockSchema):
        updated_dictionary: dict[Any, Any] = Field(description="The dictionary after the replacement.")
        old_value: Any = Field(description="The value that was replaced.")

    test_input = [
        {"dictionary": {"a": 1, "b": 2, "c": 3}, "key": "b", "value": 99},
        {"dictionary": {"x": "hello", "y": "world"}, "key": "y", "value": "universe"},
        {"dictionary": {"a": 1}, "key": "a", "value": {"nested": False}},
        {"dictionary": {"a": 1}, "key": "missing", "value": 2},
    ]
    test_output = [
        ("updated_dictionary", {"a": 1, "b": 99, "c": 3}),
        ("old_value", 2),
        ("updated_dictionary", {"x": "hello", "y": "universe"}),
        ("old_value", "world"),
        ("updated_dictionary", {"a": {"nested": False}}),
        ("old_value", 1),
        ("error", "Key 'missing' not found in dictionary"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        key = input_data.key
        if key not in input_data.dictionary:
            yield "error", f"Key '{key}' not found in dictionary"
            return
        old = input_data.dictionary[key]
        yield "updated_dictionary", {**input_data.dictionary, key: input_data.value}
        yield "old_value", old


class DictionaryIsEmptyBlock(Block):
    """Tells whether a dictionary has no entries."""

    id = "a3cf3f64-6bb9-4cc6-9900-608a0b3359b0"
    name = "DictionaryIsEmptyBlock"
    description = "Checks whether a dictionary is empty: yields is_empty True or False."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        dictionary: dict[Any, Any] = Field(description="The dictionary to check.")

    class Output(BlockSchema):
        is_empty: bool = Field(description="True when the dictionary has no entries.")

    test_input = [{"dictionary": {}}, {"dictionary": {"a": 1}}, {"dictionary": {"a": None}}]
    test_output = [("is_empty", True), ("is_empty", False), ("is_empty", False)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        yield "is_empty", not input_data.dictionary


# ---- lists --------------------------------------------------------------------------------------


def estimate_tokens(value: Any) -> int:
    """A rough LLM token count of ``value``: characters // 4 + 1.

    A string is measured as is; any other value by its JSON text (``json.dumps``, non-JSON values
    through ``str``). Every value counts at least one token.
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return len(text) // 4 + 1


def _chunks(values: builtins.list[Any], max_size: int, max_tokens: int) -> Iterator[builtins.list[Any]]:
    """Consecutive runs of ``values`` within both limits (0 = no limit); a lone oversized value is a run."""
    chunk: builtins.list[Any] = []
    tokens = 0
    for value in values:
        cost = estimate_tokens(value) if max_tokens else 0
        too_many = max_size > 0 and len(chunk) + 1 > max_size
        too_long = max_tokens > 0 and tokens + cost > max_tokens
        if chunk and (too_many or too_long):
            yield chunk
            chunk, tokens = [], 0
        chunk.append(value)
        tokens += cost
    if chunk or not values:
        yield chunk


class CreateListBlock(Block):
    """Builds a list from its ``values`` pin, optionally in chunks limited by size and tokens."""

    id = "a912d5c7-6e00-4542-b2a9-8034136930e4"
    name = "CreateListBlock"
    description = (
        "Creates a list from the given values (link into `values_$_<i>` pins to set single items). "
        "With `max_size` and/or `max_tokens` the values are yielded in consecutive chunks, each within "
        "both limits; tokens are estimated as characters // 4 + 1 per value (JSON text for non-strings)."
    )
    categories = (BlockCategory.DATA,)

    class Input(BlockSchema):
        values: builtins.list[Any] = Field(description="The values to put in the list.")
        max_size: int | None = Field(
            default=None, description="Maximum number of items per chunk (None or 0: no limit)."
        )
        max_tokens: int | None = Field(
            default=None,
            description="Maximum estimated tokens per chunk (None or 0: no limit); a single value "
            "above the limit forms a chunk of its own.",
        )

    class Output(BlockSchema):
        list: builtins.list[Any] = Field(description="The list, or one chunk of it per output.")

    test_input = [
        {"values": ["Alice", 25, True]},
        {"values": []},
        {"values_$_0": "a", "values_$_1": "b"},
        {"values": [1, 2, 3, 4, 5], "max_size": 2},
        {"values": [1, 2], "max_size": 5},
        {"values": ["abcdefgh", "abcdefgh", "abcdefgh"], "max_tokens": 6},
        {"values": ["abcdefghijklmnop", "b", "c"], "max_tokens": 2},
        {"values": ["ab", "cd", "ef", "gh"], "max_size": 3, "max_tokens": 2},
        {"values": [1, 2, 3], "max_size": 0},
        {"values": [], "max_size": 2},
        {"values": [1], "max_size": -1},
    ]
    test_output = [
        ("list", ["Alice", 25, True]),
        ("list", []),
        ("list", ["a", "b"]),
        ("list", [1, 2]),
        ("list", [3, 4]),
        ("list", [5]),
        ("list", [1, 2]),
        ("list", ["abcdefgh", "abcdefgh"]),
        ("list", ["abcdefgh"]),
        ("list", ["abcdefghijklmnop"]),
        ("list", ["b", "c"]),
        ("list", ["ab", "cd"]),
        ("list", ["ef", "gh"]),
        ("list", [1, 2, 3]),
        ("list", []),
        ("error", "max_size must not be negative"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        for pin in ("max_size", "max_tokens"):
            limit = getattr(input_data, pin)
            if limit is not None and limit < 0:
                yield "error", f"{pin} must not be negative"
                return
        max_size, max_tokens = input_data.max_size or 0, input_data.max_tokens or 0
        if not max_size and not max_tokens:
            yield "list", input_data.values
            return
        for chunk in _chunks(input_data.values, max_size, max_tokens):
            yield "list", chunk


class AddToListBlock(Block):
    """Inserts ``entries`` and ``entry`` into a copy of a list, at ``position`` or at the end."""

    id = "aeb08fc1-2fc1-4141-bc8e-f758f183a822"
    name = "AddToListBlock"
    description = (
        "Adds `entries` followed by `entry` (when not None) to a copy of the list, at `position` "
        "(Python slice rules: negative counts from the end) or at the end."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list: builtins.list[Any] = Field(
            default_factory=builtins.list, description="The list to add to; a new one when omitted."
        )
        entry: Any = Field(default=None, description="One item to add (ignored when None).")
        entries: builtins.list[Any] = Field(
            default_factory=builtins.list, description="Items to add, before `entry`."
        )
        position: int | None = Field(
            default=None, description="Where to insert (slice position; negative from the end); None = end."
        )

    class Output(BlockSchema):
        updated_list: builtins.list[Any] = Field(description="The list with the new items.")

    test_input = [
        {"list": [1, "string", {"existing_key": "existing_value"}], "entry": {"new_key": "new_value"}},
        {"entry": "first"},
        {"list": [1, 2, 3], "entry": 0, "position": 0},
        {"list": [1, 2, 3], "entries": [4, 5], "entry": 6, "position": 1},
        {"list": [1, 2, 3], "entry": 9, "position": -1},
        {"list": [1, 2, 3], "entry": 9, "position": 10},
        {"list": [1, 2, 3], "entry": 9, "position": -10},
        {"list": [1], "entries": ["a", "b"]},
        {"list": [1]},
        {"list": [1], "entry": False},
    ]
    test_output = [
        ("updated_list", [1, "string", {"existing_key": "existing_value"}, {"new_key": "new_value"}]),
        ("updated_list", ["first"]),
        ("updated_list", [0, 1, 2, 3]),
        ("updated_list", [1, 4, 5, 6, 2, 3]),
        ("updated_list", [1, 2, 9, 3]),
        ("updated_list", [1, 2, 3, 9]),
        ("updated_list", [9, 1, 2, 3]),
        ("updated_list", [1, "a", "b"]),
        ("updated_list", [1]),
        ("updated_list", [1, False]),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        to_add = builtins.list(input_data.entries)
        if input_data.entry is not None:
            to_add.append(input_data.entry)
        items, pos = input_data.list, input_data.position
        if pos is None:
            yield "updated_list", [*items, *to_add]
        else:
            yield "updated_list", [*items[:pos], *to_add, *items[pos:]]


class FindInListBlock(Block):
    """Finds the index of the first item equal to ``value``."""

    id = "5e2c6d0a-1e37-489f-b1d0-8e1812b23333"
    name = "FindInListBlock"
    description = (
        "Finds the first item of the list equal to the value: yields its index and found=True, "
        "or found=False and the value."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list: builtins.list[Any] = Field(description="The list to search.")
        value: Any = Field(description="The value to look for (compared with ==).")

    class Output(BlockSchema):
        index: int = Field(description="Index of the first matching item.")
        found: bool = Field(description="Whether the value was found.")
        not_found_value: Any = Field(description="The value, when it was not found.")

    test_input = [
        {"list": [1, 2, 3, 4, 5], "value": 3},
        {"list": [1, 2, 3, 4, 5], "value": 6},
        {"list": ["a", "b", "a"], "value": "a"},
        {"list": [1, 2], "value": "1"},
        {"list": [{"k": 1}, [1, 2]], "value": [1, 2]},
        {"list": [], "value": 0},
    ]
    test_output = [
        ("index", 2),
        ("found", True),
        ("found", False),
        ("not_found_value", 6),
        ("index", 0),
        ("found", True),
        ("found", False),
        ("not_found_value", "1"),
        ("index", 1),
        ("found", True),
        ("found", False),
        ("not_found_value", 0),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            index = input_data.list.index(input_data.value)
        except ValueError:
            yield "found", False
            yield "not_found_value", input_data.value
            return
        yield "index", index
        yield "found", True


class GetListItemBlock(Block):
    """Yields the item at an index of a list (negative indexes count from the end)."""

    id = "262ca24c-1025-43cf-a578-534e23234e97"
    name = "GetListItemBlock"
    description = "Yields the item at the given index of the list; negative indexes count from the end."
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list: builtins.list[Any] = Field(description="The list to read from.")
        index: int = Field(description="Index of the item; negative counts from the end.")

    class Output(BlockSchema):
        item: Any = Field(description="The item at the index.")

    test_input = [
        {"list": [1, 2, 3], "index": 1},
        {"list": [1, 2, 3], "index": -1},
        {"list": [1, 2, 3], "index": -3},
        {"list": [1, 2, 3], "index": 3},
        {"list": [1, 2, 3], "index": -4},
        {"list": [], "index": 0},
        {"list": [None, "x"], "index": 0},
    ]
    test_output = [
        ("item", 2),
        ("item", 3),
        ("item", 1),
        ("error", "Index out of range"),
        ("error", "Index out of range"),
        ("error", "Index out of range"),
        ("item", None),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        try:
            item = input_data.list[input_data.index]
        except IndexError:
            yield "error", "Index out of range"
            return
        yield "item", item


class RemoveFromListBlock(Block):
    """Removes an item, by index or by value, from a copy of a list."""

    id = "d93c5a93-ac7e-41c1-ae5c-ef67e6e9b826"
    name = "RemoveFromListBlock"
    description = (
        "Removes the item at `index` (which takes priority) or the first item equal to `value` from "
        "a copy of the list; yields the removed item too when `return_item` is set."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        list: builtins.list[Any] = Field(description="The list to remove from.")
        value: Any = Field(default=None, description="Remove the first item equal to this value.")
        index: int | None = Field(
            default=None, description="Remove the item at this index (negative counts from the end)."
        )
        return_item: bool = Field(default=False, description="Also yield the removed item.")

    class Output(BlockSchema):
        updated_list: builtins.list[Any] = Field(description="The list without the item.")
        removed_item: Any = Field(description="The removed item (only when `return_item`).")

    test_input = [
        {"list": [1, 2, 3, 2], "value": 2},
        {"list": [1, 2, 3], "index": 0, "return_item": True},
        {"list": [1, 2, 3], "index": -1, "return_item": True},
        {"list": [1, 2, 3], "index": 0, "value": 3},
        {"list": ["a", "b"], "value": "b", "return_item": True},
        {"list": [1, 2, 3], "index": 5},
        {"list": [1, 2, 3], "value": 9},
        {"list": [1, 2, 3]},
    ]
    test_output = [
        ("updated_list", [1, 3, 2]),
        ("updated_list", [2, 3]),
        ("removed_item", 1),
        ("updated_list", [1, 2]),
        ("removed_item", 3),
        ("updated_list", [2, 3]),
        ("updated_list", ["a"]),
        ("removed_item", "b"),
        ("error", "Index or value not found"),
        ("error", "Index or value not found"),
        ("error", "Index or value not found"),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        items = builtins.list(input_data.list)
        try:
            if input_data.index is not None:
                removed = items.pop(input_data.index)
            elif input_data.value is not None:
                removed = items.pop(items.index(input_data.value))
            else:
                raise ValueError("neither index nor value given")
        except (IndexError, ValueError):
            yield "error", "Index or value not found"
            return
        yield "updated_list", items
        if input_data.return_item:
            yield "removed_item", removed


def _skip_none_lists(value: Any) -> Any:
    """Validator of a ``lists`` pin: None sub-lists are ignored (the declared type cannot hold them)."""
    if isinstance(value, builtins.list | tuple):
        return [item for item in value if item is not None]
    return value


def _check_lists(lists: Iterable[Any]) -> str | None:
    """The error message for the first item of ``lists`` that is neither a list nor None."""
    for i, item in enumerate(lists):
        if item is not None and not isinstance(item, builtins.list):
            return (
                f"Invalid input at index {i}: expected a list, got {type(item).__name__}. "
                "All items in 'lists' must be lists (e.g. [[1, 2], [3, 4]])."
            )
    return None


def structural_key(value: Any, *, by_type: bool) -> Hashable:
    """A hashable key of ``value``'s structure, the same for equal values.

    With ``by_type``, values of different types differ (``True`` vs ``1``, ``1`` vs ``1.0``, ``{}`` vs
    ``[]``, a list vs a tuple); without, values match by equality (``1`` and ``1.0``, a list and a
    tuple), except that booleans only match booleans.

    Raises:
        TypeError: ``value`` holds an unhashable leaf.
    """

    def key(part: Any) -> Hashable:
        return structural_key(part, by_type=by_type)

    if isinstance(value, dict):
        return (dict if by_type else "dict", frozenset((key(k), key(v)) for k, v in value.items()))
    if isinstance(value, builtins.list | tuple):
        return (type(value) if by_type else "list", tuple(key(v) for v in value))
    if isinstance(value, set | frozenset):
        return (type(value) if by_type else "set", frozenset(key(v) for v in value))
    hash(value)
    if by_type:
        return (type(value), value)
    return ("bool" if isinstance(value, bool) else "value", value)


def _deduplicate(items: Iterable[Any]) -> builtins.list[Any]:
    """``items`` without repeats (first occurrence kept), by structural equality of equal types."""
    seen: set[Hashable] = set()
    unhashable: builtins.list[Any] = []
    out = []
    for item in items:
        try:
            key = structural_key(item, by_type=True)
        except TypeError:
            if any(type(other) is type(item) and other == item for other in unhashable):
                continue
            unhashable.append(item)
        else:
            if key in seen:
                continue
            seen.add(key)
        out.append(item)
    return out


class ConcatenateListsBlock(Block):
    """Joins several lists into one, optionally dropping None items and duplicates."""

    id = "3cf9298b-5817-4141-9d80-7c2cc5199c8e"
    name = "ConcatenateListsBlock"
    description = (
        "Concatenates lists in order (None lists are skipped), then optionally removes None items and "
        "duplicates (first occurrence kept; True and 1, {} and [] count as different)."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        lists: builtins.list[builtins.list[Any]] = Field(description="The lists to concatenate, in order.")
        deduplicate: bool = Field(default=False, description="Keep only the first of equal items.")
        remove_none: bool = Field(default=False, description="Drop None items.")

        _skip_none = field_validator("lists", mode="before")(_skip_none_lists)

    class Output(BlockSchema):
        concatenated_list: builtins.list[Any] = Field(description="All items of the lists, in order.")
        length: int = Field(description="Number of items in the concatenated list.")

    test_input = [
        {"lists": [[1, 2, 3], [4, 5, 6]]},
        {"lists": [["a", "b"], ["c"], ["d", "e", "f"]]},
        {"lists": [[1, 2], []]},
        {"lists": []},
        {"lists": [[1, None], None, [None, 2]]},
        {"lists": [[1, None], None, [None, 2]], "remove_none": True},
        {
            "lists": [[1, True, 1.0, "1"], [True, 1, {}, [], {}, [1], [True], {"a": 1}, {"a": 1}]],
            "deduplicate": True,
        },
        {"lists": [[None, 1, None], [1, None]], "deduplicate": True},
        {"lists": [[None, 1, None], [1, None]], "deduplicate": True, "remove_none": True},
    ]
    test_output = [
        ("concatenated_list", [1, 2, 3, 4, 5, 6]),
        ("length", 6),
        ("concatenated_list", ["a", "b", "c", "d", "e", "f"]),
        ("length", 6),
        ("concatenated_list", [1, 2]),
        ("length", 2),
        ("concatenated_list", []),
        ("length", 0),
        ("concatenated_list", [1, None, None, 2]),
        ("length", 4),
        ("concatenated_list", [1, 2]),
        ("length", 2),
        ("concatenated_list", [1, True, 1.0, "1", {}, [], [1], [True], {"a": 1}]),
        ("length", 9),
        ("concatenated_list", [None, 1]),
        ("length", 2),
        ("concatenated_list", [1]),
        ("length", 1),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        problem = _check_lists(input_data.lists)
        if problem:
            yield "error", problem
            return
        items = [item for sub in input_data.lists if sub is not None for item in sub]
        if input_data.remove_none:
            items = [item for item in items if item is not None]
        if input_data.deduplicate:
            items = _deduplicate(items)
        yield "concatenated_list", items
        yield "length", len(items)


class ZipListsBlock(Block):
    """Groups the i-th items of several lists together."""

    id = "0d0e684f-5cb9-4c4b-b8d1-47a0860e0c07"
    name = "ZipListsBlock"
    description = (
        "Zips lists: the i-th items of every list form the i-th inner list. Stops at the shortest "
        "list unless `pad_to_longest`, which fills the gaps with `fill_value`. None lists are skipped."
    )
    categories = (BlockCategory.BASIC,)

    class Input(BlockSchema):
        lists: builtins.list[builtins.list[Any]] = Field(description="The lists to zip.")
        pad_to_longest: bool = Field(
            default=False, description="Pad shorter lists with `fill_value` instead of truncating."
        )
        fill_value: Any = Field(default=None, description="Padding value when `pad_to_longest` is set.")

        _skip_none = field_validator("lists", mode="before")(_skip_none_lists)

    class Output(BlockSchema):
        zipped_list: builtins.list[builtins.list[Any]] = Field(description="The grouped items.")
        length: int = Field(description="Number of groups.")

    test_input = [
        {"lists": [[1, 2, 3], ["a", "b", "c"]]},
        {"lists": [[1, 2, 3], ["a"]]},
        {"lists": [[1, 2, 3], ["a"]], "pad_to_longest": True},
        {"lists": [[1, 2, 3], ["a"]], "pad_to_longest": True, "fill_value": 0},
        {"lists": [[1, 2], None, [3, 4]]},
        {"lists": [[1, 2]]},
        {"lists": [[], [1]]},
        {"lists": []},
    ]
    test_output = [
        ("zipped_list", [[1, "a"], [2, "b"], [3, "c"]]),
        ("length", 3),
        ("zipped_list", [[1, "a"]]),
        ("length", 1),
        ("zipped_list", [[1, "a"], [2, None], [3, None]]),
        ("length", 3),
        ("zipped_list", [[1, "a"], [2, 0], [3, 0]]),
        ("length", 3),
        ("zipped_list", [[1, 3], [2, 4]]),
        ("length", 2),
        ("zipped_list", [[1], [2]]),
        ("length", 2),
        ("zipped_list", []),
        ("length", 0),
        ("zipped_list", []),
        ("length", 0),
    ]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        problem = _check_lists(input_data.lists)
        if problem:
            yield "error", problem
            return
        lists = [sub for sub in input_data.lists if sub is not None]
        if input_data.pad_to_longest:
            groups = itertools.zip_longest(*lists, fillvalue=input_data.fill_value)
        else:
            groups = zip(*lists, strict=False)
        zipped = [builtins.list(group) for group in groups]
        yield "zipped_list", zipped
        yield "length", len(zipped)
