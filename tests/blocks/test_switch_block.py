"""SwitchBlock (blocks/logic.py): matching rules, case order, bad patterns, and routing in a graph."""

from __future__ import annotations

from typing import Any

import pytest

import blocks.text as text_blocks
from blocks.logic import SwitchBlock
from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import execs, graph, inp, link, node, out
from workbench.app import Workbench
from workbench.block.selftest import run_block_once
from workbench.graph.model import Graph


async def switch(value: Any, cases: Any, **extra: Any) -> list[tuple[str, Any]]:
    return await run_block_once(SwitchBlock(), {"value": value, "cases": cases, **extra})


@pytest.mark.parametrize(
    ("value", "case", "hit"),
    [
        ("7", 7, True),
        (" 7.0 ", 7, True),
        (7.0, 7, True),
        ("seven", 7, False),
        (True, 1, False),
        (1, True, False),
        ("True", True, True),
        (False, "false", True),
        ([1, {"a": 2}], [1, {"a": 2}], True),
        ("Red", "red", False),
        ({"a": 1}, '{"a": 1}', False),
    ],
)
async def test_equals_rules(value: Any, case: Any, hit: bool) -> None:
    outs = await run_block_once(SwitchBlock(), {"value": value, "cases": {"c": case}})
    assert (outs[0][0] == "cases") is hit, outs


async def test_equals_ignores_letter_case_when_asked() -> None:
    assert await switch("RED", {"r": "red"}, case_sensitive=False) == [
        ("cases", {"r": "RED"}),
        ("matched_case", "r"),
    ]
    assert await switch("RED", {"r": "red"}) == [("default", "RED")]


async def test_contains_in_text_list_and_dictionary_keys() -> None:
    assert (await switch("Disk FULL on /var", {"disk": "full"}, match="contains", case_sensitive=False))[
        0
    ] == (
        "cases",
        {"disk": "Disk FULL on /var"},
    )
    assert (await switch(["a", 3], {"three": "3"}, match="contains"))[0] == ("cases", {"three": ["a", 3]})
    assert (await switch({"error": 1}, {"err": "error"}, match="contains"))[0][0] == "cases"
    assert (await switch({"x": "error"}, {"err": "error"}, match="contains"))[0][0] == "default"


async def test_first_matching_case_in_list_order_wins() -> None:
    cases = ["(?i)urgent", "disk", "."]
    outs = await switch("URGENT: disk full", cases, match="regex")
    assert outs == [("cases", {"(?i)urgent": "URGENT: disk full"}), ("matched_case", "(?i)urgent")]
    outs = await switch("disk full", cases, match="regex", all_matches=True, data="page")
    assert outs == [
        ("cases", {"disk": "page", ".": "page"}),
        ("matched_case", "disk"),
        ("matched_case", "."),
    ]


async def test_list_cases_are_named_by_their_text() -> None:
    assert await switch(2, [1, 2, {"x": 1}]) == [("cases", {"2": 2}), ("matched_case", "2")]
    assert await switch({"x": 1}, [1, {"x": 1}]) == [
        ("cases", {'{"x": 1}': {"x": 1}}),
        ("matched_case", '{"x": 1}'),
    ]


async def test_cases_from_dynamic_input_pins() -> None:
    outs = await run_block_once(SwitchBlock(), {"value": "b", "cases_#_first": "a", "cases_#_second": "b"})
    assert outs == [("cases", {"second": "b"}), ("matched_case", "second")]


async def test_invalid_regex_fails_naming_the_case_even_after_a_miss() -> None:
    outs = await switch("text", {"ok": "^nope$", "broken": "([a-z"}, match="regex")
    assert len(outs) == 1 and outs[0][0] == "error"
    assert outs[0][1].startswith("Invalid regular expression for case 'broken': '([a-z':")


async def test_runaway_regex_is_stopped_by_the_sandbox_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_blocks, "REGEX_TIMEOUT", 0.5)
    outs = await switch("a" * 40 + "!", {"slow": "(a+)+$"}, match="regex")
    assert len(outs) == 1 and outs[0][0] == "error"
    assert outs[0][1].startswith("Regular expression for case 'slow' timed out:")


async def test_unknown_match_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="match"):
        await switch("a", {"a": "a"}, match="fuzzy")


# ---- in a graph ---------------------------------------------------------------------------------


def routing_graph() -> Graph:
    """An input routed by colour to two template nodes, and to a third on no match."""
    return graph(
        [
            inp("in", "colour"),
            node("sw", SwitchBlock, cases={"warm": "red", "cold": "blue"}, case_sensitive=False),
            node("warm", FillTextTemplateBlock, format="warm: {{ v }}"),
            node("cold", FillTextTemplateBlock, format="cold: {{ v }}"),
            node("other", FillTextTemplateBlock, format="unknown: {{ v }}"),
            out("out", "said"),
            out("which", "case"),
        ],
        [
            link("in.result", "sw.value"),
            link("sw.cases_#_warm", "warm.values_#_v"),
            link("sw.cases_#_cold", "cold.values_#_v"),
            link("sw.default", "other.values_#_v"),
            link("warm.output", "out.value"),
            link("cold.output", "out.value"),
            link("other.output", "out.value"),
            link("sw.matched_case", "which.value"),
        ],
    )


@pytest.mark.parametrize(
    ("colour", "said", "case", "ran"),
    [
        ("Red", "warm: Red", ["warm"], "warm"),
        ("blue", "cold: blue", ["cold"], "cold"),
        ("green", "unknown: green", [], "other"),
    ],
)
async def test_switch_routes_to_one_downstream_node(
    ewb: Workbench, colour: str, said: str, case: list[str], ran: str
) -> None:
    result = await ewb.executions.run(routing_graph(), {"colour": colour}, timeout=10)
    assert result.status == "COMPLETED", result.error
    assert result.outputs.get("said") == [said]
    assert result.outputs.get("case", []) == case
    for branch in ("warm", "cold", "other"):
        assert bool(execs(result, branch)) is (branch == ran), branch


async def test_switch_all_matches_reaches_two_downstream_nodes_in_one_run(ewb: Workbench) -> None:
    g = graph(
        [
            inp("in", "subject"),
            node("sw", SwitchBlock, cases=["invoice", "urgent"], match="contains", all_matches=True),
            node("billing", FillTextTemplateBlock, format="billing <- {{ v }}"),
            node("pager", FillTextTemplateBlock, format="pager <- {{ v }}"),
            out("b", "billing"),
            out("p", "pager"),
            out("d", "default"),
        ],
        [
            link("in.result", "sw.value"),
            link("sw.cases_#_invoice", "billing.values_#_v"),
            link("sw.cases_#_urgent", "pager.values_#_v"),
            link("billing.output", "b.value"),
            link("pager.output", "p.value"),
            link("sw.default", "d.value"),
        ],
    )
    result = await ewb.executions.run(g, {"subject": "urgent invoice overdue"}, timeout=10)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {
        "billing": ["billing <- urgent invoice overdue"],
        "pager": ["pager <- urgent invoice overdue"],
    }
