"""Type coercion of pin values (contract Part D): every row of the table, generics, unions, Any."""

from __future__ import annotations

import datetime
from typing import Any, Literal, Optional, Union

import pytest

from workbench.block.coerce import convert, needs_conversion


class Opaque:
    """A value json.dumps cannot serialise."""

    def __str__(self) -> str:
        return "<opaque>"


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type, recursively (1 == 1.0 == True would hide a wrong conversion)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# ---- the Part D table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        # str <- str: unchanged
        ("text", str, "text"),
        ("", str, ""),
        # str <- anything else: json.dumps
        (5, str, "5"),
        (2.5, str, "2.5"),
        ({"a": 1}, str, '{"a": 1}'),
        ([1, "a"], str, '[1, "a"]'),
        (True, str, "true"),
        (False, str, "false"),
        # int / float <- list, dict, tuple, set: its length
        ([1, 2, 3], int, 3),
        ({"a": 1, "b": 2}, int, 2),
        ((1,), int, 1),
        ({7, 8, 9, 10}, int, 4),
        ([], int, 0),
        ([1, 2, 3], float, 3.0),
        ({"a": 1}, float, 1.0),
        ((1, 2), float, 2.0),
        ({1}, float, 1.0),
        # int / float <- other: number of float(value); unparsable -> 0
        ("5", int, 5),
        (" 7 ", int, 7),
        ("3.5", int, 3),
        ("-2.9", int, -2),
        ("1e3", int, 1000),
        (3.7, int, 3),
        (4.0, int, 4),
        (True, int, 1),
        (False, int, 0),
        ("abc", int, 0),
        ("", int, 0),
        ("inf", int, 0),
        (float("inf"), int, 0),
        (float("nan"), int, 0),
        ("5", float, 5.0),
        ("3.25", float, 3.25),
        ("  7.25 ", float, 7.25),
        (True, float, 1.0),
        ("abc", float, 0.0),
        (Opaque(), float, 0.0),
        # bool <- str: True iff lower-case value is "true" or "1"
        ("true", bool, True),
        ("TRUE", bool, True),
        ("True", bool, True),
        ("1", bool, True),
        ("false", bool, False),
        ("0", bool, False),
        ("yes", bool, False),
        ("", bool, False),
        (" true", bool, False),
        # bool <- other: truthiness
        (0, bool, False),
        (2, bool, True),
        (0.0, bool, False),
        ([], bool, False),
        ([0], bool, True),
        ({}, bool, False),
        ({"a": 1}, bool, True),
        # list <- tuple / set
        ((1, 2), list, [1, 2]),
        ({5}, list, [5]),
        # list <- dict: (key, value) pairs
        ({"a": 1, "b": 2}, list, [("a", 1), ("b", 2)]),
        # list <- "[...]" string: JSON-parsed, invalid JSON -> [value]
        ("[1, 2]", list, [1, 2]),
        ('["a", {"b": 2}]', list, ["a", {"b": 2}]),
        ("[]", list, []),
        ("[not json]", list, ["[not json]"]),
        # list <- other str / other value: [value]
        ("abc", list, ["abc"]),
        ("[1, 2", list, ["[1, 2"]),
        ('{"a": 1}', list, ['{"a": 1}']),
        (5, list, [5]),
        (None, list, None),
        # dict <- str: JSON object -> it; other JSON -> {"value": parsed}; invalid -> {"value": str}
        ('{"a": 1}', dict, {"a": 1}),
        ("[1, 2]", dict, {"value": [1, 2]}),
        ('"just a string"', dict, {"value": "just a string"}),
        ("42", dict, {"value": 42}),
        ("not json", dict, {"value": "not json"}),
        ("{broken", dict, {"value": "{broken"}),
        # dict <- list / tuple: {index: item}
        ([10, 20], dict, {0: 10, 1: 20}),
        (("x", "y"), dict, {0: "x", 1: "y"}),
        # dict <- other: {"value": value}
        (7, dict, {"value": 7}),
        (True, dict, {"value": True}),
        # tuple / set <- str, list: its items (a str is split into characters)
        ("ab", tuple, ("a", "b")),
        ([1, 2], tuple, (1, 2)),
        ("aba", set, {"a", "b"}),
        ([1, 1, 2], set, {1, 2}),
        ((1, 2), set, {1, 2}),
        ({1, 2}, tuple, (1, 2)),
        (5, tuple, (5,)),
        (5, set, {5}),
    ],
)
def test_part_d_table(value: Any, target: Any, expected: Any) -> None:
    result = convert(value, target)
    assert same(result, expected), f"convert({value!r}, {target}) = {result!r}, expected {expected!r}"


def test_str_of_a_value_json_cannot_dump_is_its_str() -> None:
    assert convert(Opaque(), str) == "<opaque>"


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("x", str),
        (5, int),
        (2.5, float),
        (True, bool),
        ([1, "a"], list),
        ({"a": "b"}, dict),
        ((1, "a"), tuple),
        ({1, 2}, set),
    ],
)
def test_value_of_the_target_type_is_returned_unchanged(value: Any, target: Any) -> None:
    assert convert(value, target) is value


def test_int_is_acceptable_for_float() -> None:
    assert convert(3, float) == 3.0
    assert not needs_conversion(3, float)


def test_none_is_never_converted() -> None:
    for target in (str, int, float, bool, list, dict, tuple, set, list[int], int | None):
        assert convert(None, target) is None


# ---- generics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        (["1", "2"], list[int], [1, 2]),
        (["1.5", 2], list[float], [1.5, 2]),
        ([1, {"a": 1}], list[str], ["1", '{"a": 1}']),
        ('["1", "2"]', list[int], [1, 2]),
        ("7", list[int], [7]),
        ((1, 2), list[str], ["1", "2"]),
        ([["1"], ["2", "3"]], list[list[int]], [[1], [2, 3]]),
        ({"a": "1", "b": "x"}, dict[str, int], {"a": 1, "b": 0}),
        ({1: 2}, dict[str, str], {"1": "2"}),
        ('{"a": [1, 2]}', dict[str, list[str]], {"a": ["1", "2"]}),
        (["1", "2"], tuple[int, ...], (1, 2)),
        (["1", 2], tuple[int, str], (1, "2")),
        ("12", tuple[int, ...], (1, 2)),
        (["1", "1", "2"], set[int], {1, 2}),
        (["true", "no"], list[bool], [True, False]),
        ([{"k": "1"}], list[dict[str, int]], [{"k": 1}]),
    ],
)
def test_generic_arguments_are_converted(value: Any, target: Any, expected: Any) -> None:
    result = convert(value, target)
    assert same(result, expected), f"convert({value!r}, {target}) = {result!r}"


def test_typing_aliases_are_generics_too() -> None:
    from typing import Dict, List  # noqa: UP035

    assert convert(["1"], List[int]) == [1]  # noqa: UP006
    assert convert({"a": "2"}, Dict[str, int]) == {"a": 2}  # noqa: UP006


# ---- unions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        ("5", int | None, 5),
        ("5", Optional[int], 5),  # noqa: UP045
        (5, str | None, "5"),
        ({"a": 1}, str | None, '{"a": 1}'),
        (5, int | str, 5),  # the value's own type is in the union: unchanged
        ("5", int | str, "5"),
        ("5", Union[int, str], "5"),  # noqa: UP007
        ([1], list | str, [1]),
        (2.5, int | float, 2.5),
        ("2.5", float | None, 2.5),
        ("7", list[int] | None, [7]),  # the first convertible option
        ("x", list[str] | None, ["x"]),
    ],
)
def test_unions(value: Any, target: Any, expected: Any) -> None:
    result = convert(value, target)
    assert same(result, expected), f"convert({value!r}, {target}) = {result!r}"


def test_union_of_unconvertible_options_passes_through() -> None:
    value = "2024-01-01"
    assert convert(value, datetime.date | None) is value


# ---- pass-through ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["x", 5, [1, "a"], {"a": 1}, None, Opaque()])
def test_any_passes_through(value: Any) -> None:
    assert convert(value, Any) is value


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("2024-01-01", datetime.date),
        (5, Literal["a", "b"]),
        ("c", Literal["a", "b"]),
        (5, Opaque),
        ({"a": 1}, object),
    ],
)
def test_other_targets_pass_through(value: Any, target: Any) -> None:
    assert convert(value, target) is value


# ---- needs_conversion --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        (None, int, False),
        (None, str, False),
        ("5", int, True),
        (5, int, False),
        (True, int, True),  # a bool is not an int pin value
        (5, float, False),
        (2.5, int, True),
        (5, str, True),
        ("x", str, False),
        (True, bool, False),
        (1, bool, True),
        ([1], list, False),
        ((1,), list, True),
        ("[1]", list, True),
        (["1"], list[int], True),  # parametrized container: elements may need converting
        ({"a": 1}, dict[str, int], True),
        ({"a": 1}, dict, False),
        ("x", Any, False),
        ([1], Any, False),
        ("x", str | None, False),
        (5, str | None, True),
        (5, int | str, False),
        ("a", Literal["a", "b"], False),
        ("c", Literal["a", "b"], True),
        ("2024-01-01", datetime.date, True),
    ],
)
def test_needs_conversion(value: Any, annotation: Any, expected: bool) -> None:
    assert needs_conversion(value, annotation) is expected
