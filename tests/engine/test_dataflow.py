"""Data-flow behaviour of the executor (contract rules E2-E7 and Part C), in both run modes.

Every test that takes ``bench`` runs once ephemeral and once durable; in durable mode each also checks
that the stored execution equals the live result (``assert_stored``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from blocks.basic import NoteBlock, StoreValueBlock
from blocks.data import CreateDictionaryBlock, CreateListBlock
from blocks.logic import CalculatorBlock, ConditionBlock, StepThroughItemsBlock
from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import (
    assert_stored,
    execs,
    graph,
    inp,
    link,
    node,
    out,
    outputs_of,
    statuses,
)
from tests.support.blocks import (
    COUNTS,
    FLAKY_ATTEMPTS,
    CountingBlock,
    EchoBlock,
    FailBlock,
    FlakyBlock,
    SleepBlock,
)
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.errors import InputError
from workbench.runtime.events import EventType
from workbench.services.executions import ExecutionResult, ExecutionService, NodeExecution

RUN_TIMEOUT = 10


def fresh_key() -> str:
    """A key no other test (or parametrization) counts under."""
    return uuid.uuid4().hex


async def run(bench: Workbench, g: Any, inputs: dict[str, Any] | None = None) -> ExecutionResult:
    return await bench.executions.run(g, inputs or {}, timeout=RUN_TIMEOUT)


async def wait_until_running(bench: Workbench, execution_id: str, node_id: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        result = await bench.executions.get(execution_id)
        if any(n.node_id == node_id and n.status == "RUNNING" for n in result.node_executions):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"node {node_id} never started running")


# ---- fan-out, fan-in ---------------------------------------------------------------------------


async def test_fan_out_delivers_one_output_to_every_sink(bench: Workbench) -> None:
    g = graph(
        [
            inp("x", "x"),
            node("double", CalculatorBlock, operation="Multiply", b=2),
            node("plus", CalculatorBlock, operation="Add", b=10),
            out("o_double", "double"),
            out("o_plus", "plus"),
            out("o_raw", "raw"),
            node("note", NoteBlock, text="never runs"),
        ],
        [
            link("x.result", "double.a"),
            link("x.result", "plus.a"),
            link("x.result", "o_raw.value"),
            link("double.result", "o_double.value"),
            link("plus.result", "o_plus.value"),
        ],
    )
    result = await run(bench, g, {"x": 5})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"double": [10.0], "plus": [15.0], "raw": [5]}
    assert len(execs(result, "x")) == 1
    assert outputs_of(execs(result, "x")[0], "result") == [5]
    assert execs(result, "note") == []
    assert all(s == ["COMPLETED"] for s in statuses(result).values())
    await assert_stored(bench, result)


async def test_fan_in_waits_for_every_linked_pin(bench: Workbench) -> None:
    g = graph(
        [
            node("slow", SleepBlock, seconds=0.1, value=3),
            node("fast", EchoBlock, value=4),
            node("sum", CalculatorBlock, operation="Add"),
            out("o", "sum"),
        ],
        [link("slow.output", "sum.a"), link("fast.output", "sum.b"), link("sum.result", "o.value")],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"sum": [7.0]}
    [calc] = execs(result, "sum")
    assert calc.inputs["a"] == 3
    assert calc.inputs["b"] == 4
    [slow] = execs(result, "slow")
    assert calc.started_at >= slow.ended_at
    await assert_stored(bench, result)


async def test_linked_pin_with_default_waits_for_its_linked_value(bench: Workbench) -> None:
    # `values` arrives at once, `format` (which also has a default) 0.1 s later: the node must wait.
    g = graph(
        [
            node("early", EchoBlock, value={"x": 1}),
            node("late", SleepBlock, seconds=0.1, value="linked {{ x }}"),
            node("tpl", FillTextTemplateBlock, format="default {{ x }}", values={"x": 0}),
            out("o", "text"),
        ],
        [
            link("early.output", "tpl.values"),
            link("late.output", "tpl.format"),
            link("tpl.output", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"text": ["linked 1"]}
    [tpl] = execs(result, "tpl")
    [late] = execs(result, "late")
    assert tpl.started_at >= late.ended_at
    await assert_stored(bench, result)


async def test_linked_pin_never_delivered_keeps_the_node_waiting(bench: Workbench) -> None:
    # The condition is true, so `no_output` never fires: calc.b has a default but is linked, and a
    # default never stands in for a linked pin (E5.1); calc stays INCOMPLETE and the run completes.
    g = graph(
        [
            node("cond", ConditionBlock, value1=1, operator="==", value2=1, yes_value=5),
            node("calc", CalculatorBlock, operation="Add", b=100),
            out("o", "sum"),
        ],
        [
            link("cond.yes_output", "calc.a"),
            link("cond.no_output", "calc.b"),
            link("calc.result", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {}
    [calc] = execs(result, "calc")
    assert calc.status == "INCOMPLETE"
    assert calc.inputs == {"a": 5}
    assert execs(result, "o") == []
    await assert_stored(bench, result)


# ---- loops -------------------------------------------------------------------------------------


async def test_step_through_items_runs_downstream_once_per_item_in_order(bench: Workbench) -> None:
    g = graph(
        [
            inp("names", "names"),
            node("step", StepThroughItemsBlock),
            node("tpl", FillTextTemplateBlock, format="<{{ name }}>"),
            out("o_wrapped", "wrapped"),
            out("o_keys", "keys"),
        ],
        [
            link("names.result", "step.items"),
            link("step.item", "tpl.values_#_name"),
            link("step.key", "o_keys.value"),
            link("tpl.output", "o_wrapped.value"),
        ],
    )
    result = await run(bench, g, {"names": ["a", "b", "c", "d"]})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"wrapped": ["<a>", "<b>", "<c>", "<d>"], "keys": [0, 1, 2, 3]}
    tpl = execs(result, "tpl")
    assert [e.inputs["values"] for e in tpl] == [{"name": n} for n in "abcd"]
    assert [e.status for e in tpl] == ["COMPLETED"] * 4
    assert len(execs(result, "step")) == 1
    await assert_stored(bench, result)


async def test_cycle_runs_until_its_condition_stops_it(bench: Workbench) -> None:
    g = graph(
        [
            inp("start", "start"),
            node("inc", CalculatorBlock, operation="Add", b=1),
            node("check", ConditionBlock, operator="<", value2=4),
            out("o_count", "counter"),
            out("o_done", "done"),
        ],
        [
            link("start.result", "inc.a"),
            link("inc.result", "check.value1"),
            link("inc.result", "o_count.value"),
            link("check.yes_output", "inc.a"),
            link("check.no_output", "o_done.value"),
        ],
    )
    result = await run(bench, g, {"start": 0})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"counter": [1.0, 2.0, 3.0, 4.0], "done": [4]}
    assert [e.inputs["a"] for e in execs(result, "inc")] == [0, 1.0, 2.0, 3.0]
    assert [outputs_of(e, "result") for e in execs(result, "check")] == [[True], [True], [True], [False]]
    assert len(execs(result, "start")) == 1
    await assert_stored(bench, result)


async def test_runaway_loop_is_stopped_by_max_node_executions(
    settings: Settings, registry: BlockRegistry, wb: Workbench
) -> None:
    g = graph(
        [node("seed", EchoBlock, value=1), node("loop", EchoBlock)],
        [link("seed.output", "loop.value"), link("loop.output", "loop.value")],
    )
    limited = settings.with_(max_node_executions=50)
    async with Workbench(limited, registry=registry, ephemeral=True) as small:
        started = time.monotonic()
        result = await small.executions.run(g, timeout=RUN_TIMEOUT)
    assert time.monotonic() - started < 5
    assert result.status == "FAILED"
    assert "more than 50 node executions" in (result.error or "")
    assert result.error_node_id == "loop"
    assert len(result.node_executions) == 50
    assert [n.status for n in result.node_executions[:-1]] == ["COMPLETED"] * 49

    # The same limit on a durable service (sharing the durable workbench's storage): stored FAILED.
    service = ExecutionService(
        limited, registry, wb.graphs, wb.bus, wb.executions.repo, wb.writer, wb.executor_key
    )
    durable = await service.run(g, timeout=RUN_TIMEOUT)
    assert durable.status == "FAILED"
    assert "more than 50 node executions" in (durable.error or "")
    assert len(durable.node_executions) == 50
    await assert_stored(wb, durable)


# ---- static links (E4) -------------------------------------------------------------------------


async def test_static_link_value_is_reused_by_every_execution_of_its_sink(bench: Workbench) -> None:
    # AgentInput links are static (E1) though not declared so: its one value reaches all 3 executions.
    count_key = fresh_key()
    g = graph(
        [
            inp("greet", "greeting"),
            inp("names", "names"),
            node("count", CountingBlock, key=count_key),
            node("step", StepThroughItemsBlock),
            node("tpl", FillTextTemplateBlock, format="{{ g }}, {{ n }}!"),
            out("o", "lines"),
        ],
        [
            link("greet.result", "count.value"),
            link("count.output", "tpl.values_#_g", static=True),
            link("names.result", "step.items"),
            link("step.item", "tpl.values_#_n"),
            link("tpl.output", "o.value"),
        ],
    )
    result = await run(bench, g, {"greeting": "Hi", "names": ["a", "b", "c"]})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"lines": ["Hi, a!", "Hi, b!", "Hi, c!"]}
    assert COUNTS[count_key] == 1
    assert len(execs(result, "greet")) == 1
    assert [e.inputs["values_#_g"] for e in execs(result, "tpl")] == ["Hi"] * 3
    await assert_stored(bench, result)


async def test_static_input_link_is_forced_static(bench: Workbench) -> None:
    g = graph(
        [
            inp("greet", "greeting"),
            node("step", StepThroughItemsBlock, items=["x", "y", "z"]),
            node("tpl", FillTextTemplateBlock, format="{{ g }} {{ n }}"),
            out("o", "lines"),
        ],
        [
            link("greet.result", "tpl.values_#_g"),  # not declared static: E1 makes it so
            link("step.item", "tpl.values_#_n"),
            link("tpl.output", "o.value"),
        ],
    )
    result = await run(bench, g, {"greeting": "Yo"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"lines": ["Yo x", "Yo y", "Yo z"]}
    await assert_stored(bench, result)


async def test_static_value_arriving_late_fills_every_waiting_execution_in_order(
    bench: Workbench,
) -> None:
    # The items arrive first and wait; then the constant arrives once and completes all of them.
    g = graph(
        [
            node("slow", SleepBlock, seconds=0.1, value="Hey"),
            node("store", StoreValueBlock),
            node("step", StepThroughItemsBlock, items=["x", "y", "z"]),
            node("tpl", FillTextTemplateBlock, format="{{ g }}, {{ n }}!"),
            out("o", "lines"),
        ],
        [
            link("slow.output", "store.input"),
            link("store.output", "tpl.values_#_g"),
            link("step.item", "tpl.values_#_n"),
            link("tpl.output", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"lines": ["Hey, x!", "Hey, y!", "Hey, z!"]}
    tpl = execs(result, "tpl")
    assert [e.inputs["values"] for e in tpl] == [{"n": n, "g": "Hey"} for n in "xyz"]
    await assert_stored(bench, result)


async def test_non_static_value_is_consumed_once(bench: Workbench) -> None:
    # An explicitly non-static link from a non-static block: only the first item gets the value,
    # the other executions keep waiting for theirs.
    g = graph(
        [
            node("const", EchoBlock, value="Hi"),
            node("step", StepThroughItemsBlock, items=["a", "b"]),
            node("tpl", FillTextTemplateBlock, format="{{ g }} {{ n }}"),
            out("o", "lines"),
        ],
        [
            link("const.output", "tpl.values_#_g"),
            link("step.item", "tpl.values_#_n"),
            link("tpl.output", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"lines": ["Hi a"]}
    assert sorted(e.status for e in execs(result, "tpl")) == ["COMPLETED", "INCOMPLETE"]
    await assert_stored(bench, result)


# ---- dynamic pins, sink side (C3) --------------------------------------------------------------


@pytest.mark.parametrize(
    "defaults",
    [{"values_#_c": "!!!"}, {"values": {"c": "!!!"}}],
    ids=["dynamic-default", "plain-default-extended"],
)
async def test_dict_pins_build_one_dictionary(bench: Workbench, defaults: dict[str, Any]) -> None:
    g = graph(
        [
            inp("a", "a"),
            inp("b", "b"),
            node("dict", CreateDictionaryBlock, **defaults),
            out("o", "dict"),
        ],
        [
            link("a.result", "dict.values_#_a"),
            link("b.result", "dict.values_#_b"),
            link("dict.dictionary", "o.value"),
        ],
    )
    result = await run(bench, g, {"a": "Hello", "b": "World"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"dict": [{"c": "!!!", "a": "Hello", "b": "World"}]}
    assert len(execs(result, "dict")) == 1
    await assert_stored(bench, result)


async def test_linked_plain_pin_replaces_a_dynamic_default(bench: Workbench) -> None:
    # C3 (AutoGPT's merge_execution_input): a plain key is copied as-is; coming after the dynamic
    # parts of its base (defaults come first), it replaces what they assembled. It is never dropped.
    g = graph(
        [inp("d", "d"), node("dict", CreateDictionaryBlock, **{"values_#_c": "!!!"}), out("o", "dict")],
        [link("d.result", "dict.values"), link("dict.dictionary", "o.value")],
    )
    result = await run(bench, g, {"d": {"a": 1}})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"dict": [{"a": 1}]}
    await assert_stored(bench, result)


async def test_nested_pin_into_a_default_does_not_leak_between_executions(bench: Workbench) -> None:
    # Each execution writes its own key into the default's nested dict: the default itself, and the
    # dictionaries earlier executions produced, must stay as they were.
    g = graph(
        [
            node("step", StepThroughItemsBlock, items=["x", "y"]),
            node("dict", CreateDictionaryBlock, values={"inner": {"a": 1}}),
            out("o", "dict"),
        ],
        [link("step.item", "dict.values_#_inner_#_k"), link("dict.dictionary", "o.value")],
    )
    for _ in range(2):  # the second run reuses the compiled graph
        result = await run(bench, g)
        assert result.status == "COMPLETED", result.error
        assert result.outputs == {"dict": [{"inner": {"a": 1, "k": "x"}}, {"inner": {"a": 1, "k": "y"}}]}
        await assert_stored(bench, result)
    assert g.node("dict").input_default == {"values": {"inner": {"a": 1}}}


async def test_list_pins_assemble_by_index_not_by_arrival(bench: Workbench) -> None:
    g = graph(
        [
            node("first", SleepBlock, seconds=0.1, value="first"),
            node("second", EchoBlock, value="second"),
            node("fourth", EchoBlock, value="fourth"),
            node("list", CreateListBlock),
            out("o", "list"),
        ],
        [
            link("first.output", "list.values_$_0"),
            link("second.output", "list.values_$_1"),
            link("fourth.output", "list.values_$_3"),
            link("list.list", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"list": [["first", "second", None, "fourth"]]}
    await assert_stored(bench, result)


async def test_nested_dynamic_pins(bench: Workbench) -> None:
    g = graph(
        [
            node("x", EchoBlock, value="x"),
            node("y", EchoBlock, value="y"),
            node("dict", CreateDictionaryBlock),
            out("o", "dict"),
        ],
        [
            link("y.output", "dict.values_#_items_$_1"),
            link("x.output", "dict.values_#_items_$_0"),
            link("x.output", "dict.values_#_meta_#_first"),
            link("dict.dictionary", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"dict": [{"items": ["x", "y"], "meta": {"first": "x"}}]}
    await assert_stored(bench, result)


async def test_attribute_pins_build_an_object_and_selectors_read_it(bench: Workbench) -> None:
    g = graph(
        [
            inp("name", "name"),
            inp("age", "age"),
            node("obj", EchoBlock),
            out("o_name", "name"),
            out("o_age", "age"),
        ],
        [
            link("name.result", "obj.value_@_name"),
            link("age.result", "obj.value_@_age"),
            link("obj.output_@_name", "o_name.value"),
            link("obj.output_@_age", "o_age.value"),
        ],
    )
    result = await run(bench, g, {"name": "Ada", "age": 36})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"name": ["Ada"], "age": [36]}
    [obj] = execs(result, "obj")
    [(pin, value)] = obj.outputs
    assert pin == "output"
    if bench.queue is None:  # an ephemeral result holds the object itself
        assert (value.name, value.age) == ("Ada", 36)
    else:  # a stored run reads as stored (JSON form), whether from memory or storage
        assert value == {"name": "Ada", "age": 36}
    await assert_stored(bench, result)


async def test_non_integer_list_index_pin_fails_the_node(bench: Workbench) -> None:
    g = graph(
        [node("v", EchoBlock, value="a"), node("list", CreateListBlock), out("o", "list")],
        [link("v.output", "list.values_$_first"), link("list.list", "o.value")],
    )
    result = await run(bench, g)
    assert result.status == "FAILED"
    assert result.error_node_id == "list"
    [lst] = execs(result, "list")
    assert lst.status == "FAILED"
    assert "index must be an integer" in lst.error
    assert "'list'" in (result.error or "")
    assert result.outputs == {}
    await assert_stored(bench, result)


# ---- dynamic pins, source side (C1) ------------------------------------------------------------


async def test_source_selectors_pick_nested_parts_and_skip_missing_ones(bench: Workbench) -> None:
    g = graph(
        [
            node("dict", CreateDictionaryBlock, values={"key": "v", "nested": {"list": [10, 20, 30]}}),
            node("list", CreateListBlock, values=[1, 2, 3]),
            out("o_key", "key"),
            out("o_nested", "nested"),
            out("o_missing", "missing"),
            out("o_second", "second"),
            out("o_last", "last"),
            out("o_out_of_range", "out_of_range"),
            out("o_wrong_kind", "wrong_kind"),
        ],
        [
            link("dict.dictionary_#_key", "o_key.value"),
            link("dict.dictionary_#_nested_#_list_$_1", "o_nested.value"),
            link("dict.dictionary_#_missing", "o_missing.value"),
            link("list.list_$_1", "o_second.value"),
            link("list.list_$_-1", "o_last.value"),
            link("list.list_$_5", "o_out_of_range.value"),
            link("list.list_#_key", "o_wrong_kind.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"key": ["v"], "nested": [20], "second": [2], "last": [3]}
    for never in ("o_missing", "o_out_of_range", "o_wrong_kind"):
        assert execs(result, never) == []
    await assert_stored(bench, result)


# ---- errors (E6) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("yield", "boom"),
        ("raise", "boom"),
        ("value_error", "boom"),
        ("crash", "RuntimeError: boom"),
        # A TimeoutError of the block's own (an HTTP client's, say) is not the node's time limit.
        ("timeout", "TimeoutError: boom"),
    ],
)
async def test_linked_error_pin_carries_the_error_and_the_run_completes(
    bench: Workbench, how: str, message: str
) -> None:
    g = graph(
        [
            node("fail", FailBlock, how=how, message="boom"),
            node("handler", EchoBlock),
            node("after", EchoBlock),
            out("o_err", "err"),
            out("o_after", "after"),
        ],
        [
            link("fail.error", "handler.value"),
            link("fail.output", "after.value"),
            link("handler.output", "o_err.value"),
            link("after.output", "o_after.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.error is None
    assert result.outputs == {"err": [message]}
    [fail] = execs(result, "fail")
    assert fail.status == "FAILED"
    assert fail.error == message
    assert fail.outputs == [("error", message)]
    assert execs(result, "after") == []
    await assert_stored(bench, result)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("wrong_type", "output 'number' has the wrong type: "),
        ("unknown_pin", "FailBlock yielded unknown output 'nope'"),
    ],
)
async def test_bad_outputs_fail_the_node(bench: Workbench, how: str, message: str) -> None:
    g = graph(
        [node("bad", FailBlock, how=how, message="not a number"), node("after", EchoBlock), out("o", "x")],
        [
            link("bad.number", "after.value"),
            link("bad.output", "after.value"),
            link("after.output", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "FAILED"
    assert result.error_node_id == "bad"
    [bad] = execs(result, "bad")
    assert bad.status == "FAILED"
    assert bad.error.startswith(message)
    assert bad.outputs == [("error", bad.error)]
    assert execs(result, "after") == []
    await assert_stored(bench, result)


async def test_unlinked_error_fails_the_run_naming_the_node(bench: Workbench) -> None:
    g = graph(
        [
            node("trigger", EchoBlock, value=1),
            node("broken", FailBlock, message="the disk is full"),
            node("after", EchoBlock),
            out("o", "after"),
        ],
        [
            link("trigger.output", "broken.value"),
            link("broken.output", "after.value"),
            link("after.output", "o.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "FAILED"
    assert result.error_node_id == "broken"
    assert "'broken'" in (result.error or "")
    assert "the disk is full" in (result.error or "")
    assert statuses(result) == {"trigger": ["COMPLETED"], "broken": ["FAILED"]}
    assert result.outputs == {}
    await assert_stored(bench, result)


async def test_invalid_input_at_run_time_fails_the_node_naming_the_pin(bench: Workbench) -> None:
    g = graph(
        [
            node("op", EchoBlock, value="Frobnicate"),
            node("calc", CalculatorBlock, a=1, b=2),
            out("o", "result"),
        ],
        [link("op.output", "calc.operation"), link("calc.result", "o.value")],
    )
    result = await run(bench, g)
    assert result.status == "FAILED"
    assert result.error_node_id == "calc"
    [calc] = execs(result, "calc")
    assert calc.status == "FAILED"
    assert calc.error.startswith("invalid input: pin 'operation'")
    assert calc.attempts == 0
    assert "pin 'operation'" in (result.error or "")
    assert execs(result, "o") == []
    await assert_stored(bench, result)


async def test_invalid_input_with_linked_error_pin_routes_the_message(bench: Workbench) -> None:
    g = graph(
        [
            node("op", EchoBlock, value="Frobnicate"),
            node("calc", CalculatorBlock, a=1, b=2),
            out("o_err", "err"),
        ],
        [link("op.output", "calc.operation"), link("calc.error", "o_err.value")],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    [err] = result.outputs["err"]
    assert err.startswith("invalid input: pin 'operation'")
    await assert_stored(bench, result)


async def test_graph_without_starting_nodes_fails(bench: Workbench) -> None:
    g = graph(
        [node("a", EchoBlock), node("b", EchoBlock)],
        [link("a.output", "b.value"), link("b.output", "a.value")],
    )
    result = await run(bench, g)
    assert result.status == "FAILED"
    assert "No starting nodes" in (result.error or "")
    assert result.node_executions == []
    await assert_stored(bench, result)


# ---- retries -----------------------------------------------------------------------------------


async def test_flaky_node_succeeds_after_retries(bench: Workbench) -> None:
    key = fresh_key()
    g = graph(
        [
            node("flaky", FlakyBlock, key=key, failures=2, value="ok"),
            out("o", "value"),
            out("o_n", "attempt"),
        ],
        [link("flaky.output", "o.value"), link("flaky.attempt", "o_n.value")],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"value": ["ok"], "attempt": [3]}
    [flaky] = execs(result, "flaky")
    assert flaky.attempts == 3
    assert flaky.status == "COMPLETED"
    assert flaky.outputs == [("output", "ok"), ("attempt", 3)]
    assert FLAKY_ATTEMPTS[key] == 3
    await assert_stored(bench, result)


async def test_retries_exhausted_fail_the_node(bench: Workbench) -> None:
    key = fresh_key()
    g = graph(
        [node("flaky", FlakyBlock, key=key, failures=10), out("o", "value")],
        [link("flaky.output", "o.value")],
    )
    result = await run(bench, g)
    assert result.status == "FAILED"
    assert result.error_node_id == "flaky"
    [flaky] = execs(result, "flaky")
    assert flaky.status == "FAILED"
    assert flaky.attempts == 1 + FlakyBlock.max_retries
    assert flaky.error == f"transient failure 4 for {key}"
    assert FLAKY_ATTEMPTS[key] == 4
    await assert_stored(bench, result)


async def test_retryable_error_after_an_output_is_not_retried(bench: Workbench) -> None:
    # The first output already travelled downstream; running again would deliver it twice.
    key = fresh_key()
    g = graph(
        [node("flaky", FlakyBlock, key=key, failures=1, emit_before=True), out("o", "before")],
        [link("flaky.before", "o.value")],
    )
    result = await run(bench, g)
    assert result.status == "FAILED"
    [flaky] = execs(result, "flaky")
    assert flaky.attempts == 1
    assert flaky.outputs == [("before", 1), ("error", f"transient failure 1 for {key}")]
    assert FLAKY_ATTEMPTS[key] == 1
    assert result.error_node_id == "flaky"
    await assert_stored(bench, result)


# ---- time: timeouts, cancellation, concurrency -------------------------------------------------


async def test_node_timeout_fails_the_node(bench: Workbench) -> None:
    g = graph(
        [node("slow", SleepBlock, seconds=5, value=1, metadata={"timeout": 0.2}), out("o", "value")],
        [link("slow.output", "o.value")],
    )
    started = time.monotonic()
    result = await run(bench, g)
    assert time.monotonic() - started < 2
    assert result.status == "FAILED"
    assert result.error_node_id == "slow"
    [slow] = execs(result, "slow")
    assert slow.status == "FAILED"
    assert slow.error == "timed out after 0.2s"
    assert "timed out" in (result.error or "")
    await assert_stored(bench, result)


async def test_cancel_stops_a_running_node(bench: Workbench) -> None:
    g = graph(
        [node("slow", SleepBlock, seconds=5, value=1), node("after", EchoBlock), out("o", "value")],
        [link("slow.output", "after.value"), link("after.output", "o.value")],
    )
    execution_id = await bench.executions.submit(g)
    # An ephemeral service forgets a run when it ends: wait for its result from the start.
    waiter = asyncio.create_task(bench.executions.wait(execution_id, timeout=RUN_TIMEOUT))
    await wait_until_running(bench, execution_id, "slow")
    started = time.monotonic()
    status = await bench.executions.cancel(execution_id)
    assert time.monotonic() - started < 1
    assert status == "CANCELLED"
    result = await waiter
    assert result.status == "CANCELLED"
    assert result.error == "cancelled"
    assert statuses(result) == {"slow": ["CANCELLED"]}
    assert result.outputs == {}
    await assert_stored(bench, result)


async def test_independent_slow_nodes_run_concurrently(bench: Workbench) -> None:
    g = graph(
        [
            node("src", EchoBlock, value="go"),
            node("s1", SleepBlock, seconds=0.5),
            node("s2", SleepBlock, seconds=0.5),
            out("o1", "one"),
            out("o2", "two"),
        ],
        [
            link("src.output", "s1.value"),
            link("src.output", "s2.value"),
            link("s1.output", "o1.value"),
            link("s2.output", "o2.value"),
        ],
    )
    started = time.monotonic()
    result = await run(bench, g)
    assert time.monotonic() - started < 0.9
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"one": ["go"], "two": ["go"]}
    [s1], [s2] = execs(result, "s1"), execs(result, "s2")
    assert max(s1.started_at, s2.started_at) < min(s1.ended_at, s2.ended_at)
    await assert_stored(bench, result)


async def test_independent_slow_starting_nodes_run_concurrently(bench: Workbench) -> None:
    g = graph(
        [
            node("s1", SleepBlock, seconds=0.5, value=1),
            node("s2", SleepBlock, seconds=0.5, value=2),
            out("o1", "one"),
            out("o2", "two"),
        ],
        [link("s1.output", "o1.value"), link("s2.output", "o2.value")],
    )
    started = time.monotonic()
    result = await run(bench, g)
    assert time.monotonic() - started < 0.9
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"one": [1], "two": [2]}


# ---- coercion and None (E5, E6) ---------------------------------------------------------------


async def test_linked_values_are_coerced_to_the_pin_type(bench: Workbench) -> None:
    g = graph(
        [
            node("num", EchoBlock, value="5"),
            node("json", EchoBlock, value="[1, 2]"),
            node("calc", CalculatorBlock, operation="Add", b=1),
            node("list", CreateListBlock),
            out("o_sum", "sum"),
            out("o_list", "list"),
        ],
        [
            link("num.output", "calc.a"),
            link("json.output", "list.values"),
            link("calc.result", "o_sum.value"),
            link("list.list", "o_list.value"),
        ],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"sum": [6.0], "list": [[1, 2]]}
    await assert_stored(bench, result)


async def test_delivered_none_beats_the_node_default_then_the_block_default_applies(
    bench: Workbench,
) -> None:
    # E5: delivered values win over the node's defaults, None included (and it satisfies the wait);
    # E6: None is dropped before the input model is built, so the block's own default (False) applies.
    g = graph(
        [
            node("nothing", SleepBlock, seconds=0),  # yields output None
            node("tpl", FillTextTemplateBlock, format="{{ x }}", values={"x": "<b>"}, escape_html=True),
            out("o", "text"),
        ],
        [link("nothing.output", "tpl.escape_html"), link("tpl.output", "o.value")],
    )
    result = await run(bench, g)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"text": ["<b>"]}
    await assert_stored(bench, result)


# ---- runs of one graph are independent -----------------------------------------------------------


async def test_concurrent_runs_of_one_graph_keep_their_own_state(bench: Workbench) -> None:
    g = graph(
        [
            inp("greet", "greeting"),
            inp("names", "names"),
            node("step", StepThroughItemsBlock),
            node("slow", SleepBlock, seconds=0.05),
            node("tpl", FillTextTemplateBlock, format="{{ g }} {{ n }}"),
            out("o", "lines"),
        ],
        [
            link("greet.result", "tpl.values_#_g"),
            link("names.result", "step.items"),
            link("step.item", "slow.value"),
            link("slow.output", "tpl.values_#_n"),
            link("tpl.output", "o.value"),
        ],
    )
    if not bench.ephemeral:
        # Store it first: concurrent first runs of an unsaved graph race to insert it.
        g = await bench.graphs.save(g, LOCAL_USER_ID)
    first, second = await asyncio.gather(
        run(bench, g, {"greeting": "Hi", "names": ["a", "b"]}),
        run(bench, g, {"greeting": "Yo", "names": ["c", "d", "e"]}),
    )
    assert first.outputs == {"lines": ["Hi a", "Hi b"]}
    assert second.outputs == {"lines": ["Yo c", "Yo d", "Yo e"]}
    assert first.execution_id != second.execution_id
    assert {n.id for n in first.node_executions}.isdisjoint(n.id for n in second.node_executions)
    await assert_stored(bench, first)
    await assert_stored(bench, second)


# ---- graph inputs (E2) -------------------------------------------------------------------------


def _two_inputs() -> Any:
    return graph(
        [
            inp("in_name", "name"),
            inp("in_greeting", "greeting", value="Hello"),
            node("tpl", FillTextTemplateBlock, format="{{ g }}, {{ n }}"),
            out("o", "text"),
        ],
        [
            link("in_name.result", "tpl.values_#_n"),
            link("in_greeting.result", "tpl.values_#_g"),
            link("tpl.output", "o.value"),
        ],
    )


async def test_graph_inputs_reach_input_nodes_and_defaults_apply(bench: Workbench) -> None:
    result = await run(bench, _two_inputs(), {"name": "Ada"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"text": ["Hello, Ada"]}
    result = await run(bench, _two_inputs(), {"name": "Ada", "greeting": "Bye"})
    assert result.outputs == {"text": ["Bye, Ada"]}


async def test_unknown_graph_input_is_refused_naming_it(bench: Workbench) -> None:
    with pytest.raises(InputError) as info:
        await run(bench, _two_inputs(), {"name": "Ada", "nmae": "typo"})
    message = str(info.value)
    assert "'nmae'" in message
    assert "greeting, name" in message


async def test_missing_graph_input_is_refused_naming_it_and_its_node(bench: Workbench) -> None:
    with pytest.raises(InputError) as info:
        await run(bench, _two_inputs(), {"greeting": "Hi"})
    message = str(info.value)
    assert "missing required input(s): 'name' (node 'in_name')" in message
    assert "greeting" not in message


# ---- events ------------------------------------------------------------------------------------


async def test_stream_yields_started_node_events_and_completed(bench: Workbench) -> None:
    g = graph(
        [inp("x", "x"), node("e", EchoBlock), out("o", "y")],
        [link("x.result", "e.value"), link("e.output", "o.value")],
    )
    events = [ev async for ev in bench.executions.stream(g, {"x": 42})]
    kinds = [ev.type for ev in events]
    assert kinds[0] == EventType.EXECUTION_STARTED
    assert kinds[-1] == EventType.EXECUTION_COMPLETED
    assert kinds.count(EventType.EXECUTION_STARTED) == 1
    assert kinds.count(EventType.EXECUTION_COMPLETED) == 1
    assert EventType.EXECUTION_FAILED not in kinds
    executed = [ev for ev in events if ev.type == EventType.NODE_EXECUTED]
    assert [ev.node_id for ev in executed] == ["x", "e", "o"]
    assert all(ev.status == "COMPLETED" for ev in executed)
    assert executed[1].data["outputs"] == [["output", 42]]
    for ev in executed:  # each node execution announced itself RUNNING before it finished
        position = events.index(ev)
        running = [
            e
            for e in events[:position]
            if e.type == EventType.EXECUTION_UPDATED and e.node_execution_id == ev.node_execution_id
        ]
        assert [e.status for e in running] == ["RUNNING"]
    assert len({ev.execution_id for ev in events}) == 1
    assert events[-1].status == "COMPLETED"
    assert events[-1].data["outputs"] == {"y": [42]}
    if not bench.ephemeral:  # the events name the stored node executions
        stored = await bench.executions.get(events[0].execution_id)
        assert stored.status == "COMPLETED"
        assert {n.id for n in stored.node_executions} == {ev.node_execution_id for ev in executed}


async def test_stream_of_a_failing_run_ends_with_execution_failed(bench: Workbench) -> None:
    g = graph([node("broken", FailBlock, message="nope")])
    events = [ev async for ev in bench.executions.stream(g)]
    assert events[0].type == EventType.EXECUTION_STARTED
    assert events[-1].type == EventType.EXECUTION_FAILED
    assert events[-1].status == "FAILED"
    assert events[-1].data["error_node_id"] == "broken"
    executed = [ev for ev in events if ev.type == EventType.NODE_EXECUTED]
    assert [(ev.node_id, ev.status, ev.data["error"]) for ev in executed] == [("broken", "FAILED", "nope")]


# ---- durable storage ---------------------------------------------------------------------------


async def test_durable_run_is_stored_with_every_node_execution(wb: Workbench) -> None:
    g = graph(
        [
            inp("names", "names"),
            node("step", StepThroughItemsBlock),
            node("tpl", FillTextTemplateBlock, format="{{ n }}!"),
            out("o", "lines"),
        ],
        [
            link("names.result", "step.items"),
            link("step.item", "tpl.values_#_n"),
            link("tpl.output", "o.value"),
        ],
    )
    result = await run(wb, g, {"names": ["p", "q"]})
    assert result.status == "COMPLETED", result.error
    stored = await wb.executions.get(result.execution_id)
    assert stored.status == "COMPLETED"
    assert stored.outputs == {"lines": ["p!", "q!"]}
    assert len(stored.node_executions) == 1 + 1 + 2 + 2
    by_node: dict[str, list[NodeExecution]] = {}
    for n in stored.node_executions:
        by_node.setdefault(n.node_id, []).append(n)
    tpl = sorted(by_node["tpl"], key=lambda n: n.seq)
    assert [n.inputs["values"] for n in tpl] == [{"n": "p"}, {"n": "q"}]
    assert [n.outputs for n in tpl] == [[("output", "p!")], [("output", "q!")]]
    assert all(n.status == "COMPLETED" for n in stored.node_executions)
    assert by_node["step"][0].outputs == [("item", "p"), ("key", 0), ("item", "q"), ("key", 1)]
    await assert_stored(wb, result)
