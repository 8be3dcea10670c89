"""Dynamic pins (contract Part C): reading nested outputs (C1), tool pins (C2), building inputs (C3)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from workbench.block import pins
from workbench.block.pins import NOTHING, PinError, base_name, is_dynamic, is_tool_pin, merge_dynamic, select

# ---- C1: select ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "selector", "expected"),
    [
        ("value", "result", "value"),
        ([10, 20, 30], "result_$_1", 20),
        ({"key1": "value1", "key2": "value2"}, "result_#_key1", "value1"),
        (SimpleNamespace(attr1="value1"), "result_@_attr1", "value1"),
        ([[1, 2], [3, 4]], "result_$_0_$_1", 2),
        ([[1, 2], [3, 4]], "result_$_1_$_0", 3),
        ([{"key1": "value1"}, {"key2": "value2"}], "result_$_1_#_key2", "value2"),
        ({"key1": [1, 2], "key2": [3, 4]}, "result_#_key2_$_0", 3),
        # a negative index is not rejected: it counts from the end
        ([10, 20, 30], "result_$_-1", 30),
        ([10, 20, 30], "result_$_-3", 10),
    ],
)
def test_select_reads_the_nested_part(data: Any, selector: str, expected: Any) -> None:
    assert select("result", data, selector) == expected


@pytest.mark.parametrize(
    ("data", "selector"),
    [
        ([{"key": [1, 2]}], "result_$_0_#_key_$_5"),
        ([1, 2, 3], "result_$_5"),
        ([1, 2, 3], "result_#_key"),
        ([1, 2, 3], "result_@_attr"),
        ([1, 2, 3], "wrong_name"),
        ({"key": [1, 2]}, "result_#_key_$_1_@_attr"),
        ([1, 2, 3], "result_$_-4"),
        ([1, 2, 3], "result_$_x"),
        ({"key": 1}, "result_@_key"),  # a dict's keys are not attributes
        ([1, 2, 3], "resultx"),  # a longer name, not a dynamic suffix
        ([1, 2, 3], "result_$_"),  # empty token: malformed
        ({"": 1}, "result_#_"),
        ("value", "res"),
    ],
)
def test_select_gives_nothing_when_the_path_does_not_resolve(data: Any, selector: str) -> None:
    assert select("result", data, selector) is NOTHING


def test_select_whole_value_is_the_same_object() -> None:
    data = {"a": [1]}
    assert select("result", data, "result") is data
    assert select("result", None, "result") is None  # a yielded None is a value, not "nothing"


def test_nothing_is_a_unique_sentinel() -> None:
    assert NOTHING is pins.NOTHING
    assert NOTHING is not None


# ---- C2: tool pins ------------------------------------------------------------------------------

TOOL_OUTPUT = "tools_^_node123_~_query"


@pytest.mark.parametrize(
    ("selector", "sink_id", "sink_name", "expected"),
    [
        ("tools", "node123", "query", "search term"),
        ("tools_^_node123_~_query", "node123", "query", "search term"),  # legacy selector
        ("tools", "node456", "query", NOTHING),
        ("tools", "node123", "different_pin", NOTHING),
        ("different_name", "node123", "query", NOTHING),
    ],
)
def test_tool_emission_reaches_only_the_matching_tool_link(
    selector: str, sink_id: str, sink_name: str, expected: Any
) -> None:
    assert select(TOOL_OUTPUT, "search term", selector, sink_id, sink_name) is expected


def test_tool_emission_passes_the_whole_value() -> None:
    args = {"q": "x", "n": [1, 2]}
    assert select("tools_^_n1_~_args", args, "tools", "n1", "args") is args


def test_tool_emission_without_field_separator_reaches_nothing() -> None:
    assert select("tools_^_node123", "v", "tools", "node123", "") is NOTHING


def test_is_tool_pin() -> None:
    assert is_tool_pin("tools")
    assert is_tool_pin("tools_^_abc_~_q")
    assert not is_tool_pin("toolset")
    assert not is_tool_pin("tools_#_a")
    assert not is_tool_pin("my_tools")


# ---- C3: merge_dynamic ---------------------------------------------------------------------------


def test_merge_list_items() -> None:
    merged = merge_dynamic({"list_$_0": "a", "list_$_1": "b"})
    assert merged["list"] == ["a", "b"]
    # the flat keys stay in the data
    assert merged["list_$_0"] == "a"
    assert merged["list_$_1"] == "b"


def test_merge_dict_keys() -> None:
    merged = merge_dynamic({"dict_#_key1": "value1", "dict_#_key2": "value2"})
    assert merged["dict"] == {"key1": "value1", "key2": "value2"}


def test_merge_object_attribute() -> None:
    merged = merge_dynamic({"object_@_attr1": "value1"})
    assert merged["object"].attr1 == "value1"
    assert not isinstance(merged["object"], dict | list)


def test_merge_nested_lists() -> None:
    merged = merge_dynamic(
        {"nested_list_$_0_$_0": "a", "nested_list_$_0_$_1": "b", "nested_list_$_1_$_0": "c"}
    )
    assert merged["nested_list"] == [["a", "b"], ["c"]]


def test_merge_list_of_dicts() -> None:
    merged = merge_dynamic(
        {
            "list_with_dict_$_0_#_key1": "value1",
            "list_with_dict_$_0_#_key2": "value2",
            "list_with_dict_$_1_#_key3": "value3",
        }
    )
    assert merged["list_with_dict"] == [{"key1": "value1", "key2": "value2"}, {"key3": "value3"}]


def test_merge_dict_of_lists() -> None:
    merged = merge_dynamic(
        {
            "dict_with_list_#_key1_$_0": "value1",
            "dict_with_list_#_key1_$_1": "value2",
            "dict_with_list_#_key2_$_0": "value3",
        }
    )
    assert merged["dict_with_list"] == {"key1": ["value1", "value2"], "key2": ["value3"]}


def test_merge_non_integer_index_is_an_error() -> None:
    with pytest.raises(PinError, match="index must be an integer"):
        merge_dynamic({"list_$_invalid": "value"})


def test_merge_negative_index_is_an_error() -> None:
    with pytest.raises(PinError, match="non-negative"):
        merge_dynamic({"list_$_-1": "value"})


def test_merge_empty_token_is_an_error() -> None:
    with pytest.raises(PinError, match="malformed"):
        merge_dynamic({"values_#_": "value"})


def test_merge_mixed_paths_last_wins() -> None:
    merged = merge_dynamic(
        {
            "mixed_$_0_#_key_@_attr": "value1",
            "mixed_#_key_$_0_@_attr": "value2",
            "mixed_@_attr_$_0_#_key": "value3",
        }
    )
    assert merged["mixed"].attr[0]["key"] == "value3"
    assert merged["mixed"].attr == [{"key": "value3"}]


def test_merge_sample_graph_default_then_links() -> None:
    # values_#_c is a node default, values_#_a / values_#_b arrive on links (E5.2 merge order)
    merged = merge_dynamic({"values_#_c": "!!!", "values_#_a": "Hello", "values_#_b": "World"})
    assert merged["values"] == {"c": "!!!", "a": "Hello", "b": "World"}
    assert list(merged["values"]) == ["c", "a", "b"]


def test_merge_list_is_padded_with_none() -> None:
    assert merge_dynamic({"values_$_2": "c"})["values"] == [None, None, "c"]
    assert merge_dynamic({"values_$_1": "b", "values_$_0": "a"})["values"] == ["a", "b"]


def test_merge_plain_base_key_earlier_is_extended_and_not_mutated() -> None:
    default = {"x": 1}
    merged = merge_dynamic({"values": default, "values_#_a": 2})
    assert merged["values"] == {"x": 1, "a": 2}
    assert default == {"x": 1}


def test_merge_plain_base_key_later_replaces() -> None:
    merged = merge_dynamic({"values_#_a": 2, "values": {"x": 1}})
    assert merged["values"] == {"x": 1}


def test_merge_into_a_nested_default_does_not_mutate_it() -> None:
    default = {"k": {"inner": 1}}
    merged = merge_dynamic({"values": default, "values_#_k_#_new": 2})
    assert merged["values"] == {"k": {"inner": 1, "new": 2}}
    assert default == {"k": {"inner": 1}}


def test_merge_without_dynamic_keys_returns_the_data() -> None:
    data = {"a": 1, "b": [1]}
    assert merge_dynamic(data) is data


def test_merge_keeps_other_keys_and_does_not_mutate_the_input() -> None:
    data = {"format": "{{a}}", "values_#_a": 1}
    merged = merge_dynamic(data)
    assert merged == {"format": "{{a}}", "values_#_a": 1, "values": {"a": 1}}
    assert data == {"format": "{{a}}", "values_#_a": 1}


# ---- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("values_#_name", "values"),
        ("items_$_0", "items"),
        ("obj_@_attr", "obj"),
        ("plain", "plain"),
        ("my_pin_name", "my_pin_name"),
        ("a_$_0_#_k", "a"),
        ("a_#_k_$_0", "a"),
        ("prompt_values_#_topic", "prompt_values"),
        ("tools_^_node_~_field", "tools"),
        ("tools", "tools"),
    ],
)
def test_base_name(name: str, base: str) -> None:
    assert base_name(name) == base


@pytest.mark.parametrize(
    ("name", "dynamic"),
    [
        ("values_#_name", True),
        ("items_$_0", True),
        ("obj_@_attr", True),
        ("values", False),
        ("my_pin", False),
        ("tools_^_n_~_f", False),
        ("a_#b", False),
    ],
)
def test_is_dynamic(name: str, dynamic: bool) -> None:
    assert is_dynamic(name) is dynamic
