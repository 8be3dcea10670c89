"""The SmartDecisionMaker's agent mode: the model calls tools and sees their answers in a loop inside one
node execution, against the local OpenAI/Anthropic server, on the durable Workbench.

Each tool call is a node execution of the tool's node (stored, announced with ``called_by``), each
step streams, bad calls go back to the model, the iteration limit and the run's limits hold, and a
conversation that outgrows the model's context window is compacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blocks.agent import AgentExecutorBlock
from blocks.ai_agent import LAST_ITERATION_PROMPT, SmartDecisionMakerBlock
from blocks.logic import CalculatorBlock
from blocks.text import FillTextTemplateBlock
from tests.blocks.test_ai_blocks import ENV_KEYS, node_stats, run_stats
from tests.engine.graphs import execs, graph, inp, link, node, out
from tests.support.blocks import SleepBlock
from tests.support.openai_server import LLMServer
from workbench import jsonutil
from workbench.auth import LOCAL_USER_ID
from workbench.engine.state import ExecutionStatus
from workbench.llm.compaction import NOTE_PREFIX, compact, estimate_tokens
from workbench.llm.windows import DEFAULT_CONTEXT_WINDOW, context_window
from workbench.runtime.events import EventType

pytestmark = pytest.mark.usefixtures("loopback_allowed")  # the local LLM server is on 127.0.0.1
S = ExecutionStatus


@pytest.fixture(autouse=True)
def _fresh(llm: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm.reset()
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


async def _credential(wb, llm, provider: str, **secret: Any) -> dict[str, Any]:
    meta = await wb.credentials.create(
        LOCAL_USER_ID, provider, "api_key", {"api_key": "test-key", "base_url": llm.base_url, **secret}
    )
    return {"id": meta.id, "provider": provider, "type": "api_key"}


@pytest.fixture(scope="module")
async def cred(wb, llm) -> AsyncIterator[dict[str, Any]]:
    """An 'openai' credential for the local server (always named by the nodes)."""
    ref = await _credential(wb, llm, "openai")
    yield ref
    await wb.credentials.delete(LOCAL_USER_ID, ref["id"])


def calc_call(call_id: str, operation: str, a: Any, b: Any) -> dict[str, Any]:
    return {"id": call_id, "name": "calculator", "arguments": {"operation": operation, "a": a, "b": b}}


def agent_graph(cred: dict[str, Any], iterations: int, **sdm: Any):
    """Task -> decision maker in agent mode with a calculator tool; finished and conversations -> outputs.

    No link comes back to the decision maker: in agent mode it runs the tool itself."""
    return graph(
        [
            inp("task", "task"),
            node(
                "sdm",
                SmartDecisionMakerBlock,
                model="gpt-4o",
                credentials=cred,
                agent_mode_max_iterations=iterations,
                **sdm,
            ),
            node("calc", CalculatorBlock, metadata={"customized_name": "Calculator"}),
            out("answer", "answer"),
            out("talk", "conversation"),
        ],
        [
            link("task.result", "sdm.prompt"),
            link("sdm.tools_^_calc_~_operation", "calc.operation"),
            link("sdm.tools_^_calc_~_a", "calc.a"),
            link("sdm.tools_^_calc_~_b", "calc.b"),
            link("sdm.finished", "answer.value"),
            link("sdm.conversations", "talk.value"),
        ],
    )


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


async def test_the_agent_calls_a_tool_twice_and_finishes_in_one_execution(wb, llm, cred):
    llm.script(
        {"tool_calls": [calc_call("c1", "Multiply", 6, 7)]},
        {"tool_calls": [calc_call("c2", "Add", 42, 0.5)]},
        {"content": "The answer is 42.5."},
    )
    events = [e async for e in wb.executions.stream(agent_graph(cred, 5), {"task": "What is 6*7 + 0.5?"})]
    final = events[-1]
    assert final.type == EventType.EXECUTION_COMPLETED, final.data
    assert final.data["outputs"]["answer"] == ["The answer is 42.5."]
    result = await wb.executions.get(final.execution_id)  # as stored
    (sdm,) = execs(result, "sdm")
    assert sdm.status == S.COMPLETED
    calcs = execs(result, "calc")
    assert [(c.status, c.outputs) for c in calcs] == [
        (S.COMPLETED, [("result", 42.0)]),
        (S.COMPLETED, [("result", 42.5)]),
    ]
    assert calcs[0].inputs["operation"] == "Multiply"
    # The model saw each tool's outputs (by pin) as the answer to its call.
    first, second, third = llm.chat_requests()
    assert first["tools"][0]["function"]["name"] == "calculator"
    assert second["messages"][-2]["tool_calls"][0]["id"] == "c1"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": '{"result":[42.0]}'}
    assert third["messages"][-1] == {"role": "tool", "tool_call_id": "c2", "content": '{"result":[42.5]}'}
    (conversation,) = final.data["outputs"]["conversation"]
    assert conversation[-1] == {"role": "assistant", "content": "The answer is 42.5."}
    assert [m["role"] for m in conversation] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    # Each tool call is a node execution on the bus, naming the execution that called it.
    executed = [e for e in events if e.type == EventType.NODE_EXECUTED and e.node_id == "calc"]
    assert [e.data["called_by"] for e in executed] == [sdm.id, sdm.id]
    assert [e.node_execution_id for e in executed] == [c.id for c in calcs]
    steps = [(e.data["pin"], e.data["chunk"]) for e in events if e.type == EventType.NODE_STREAM]
    calls = [chunk for pin, chunk in steps if pin == "tool_call"]
    answers = [chunk for pin, chunk in steps if pin == "tool_result"]
    assert [(c["iteration"], c["name"], jsonutil.loads(c["arguments"])["operation"]) for c in calls] == [
        (1, "calculator", "Multiply"),
        (2, "calculator", "Add"),
    ]
    assert [(a["node_execution_id"], a["error"], a["content"]) for a in answers] == [
        (calcs[0].id, None, '{"result":[42.0]}'),
        (calcs[1].id, None, '{"result":[42.5]}'),
    ]
    # Tokens and cost of every model call are the decision maker's; the run sums them.
    (stats,) = (await node_stats(wb, final.execution_id))["sdm"]
    assert (stats["llm_calls"], stats["tool_calls"]) == (3, 2)
    assert stats["cost_usd"] > 0
    totals = await run_stats(wb, final.execution_id)
    assert totals["llm_calls"] == 3
    assert totals["node_executions"] == 6  # task, sdm, 2 tool calls, 2 outputs


async def test_the_iteration_limit_holds(wb, llm, cred):
    llm.script(
        {"tool_calls": [calc_call("c1", "Add", 1, 1)]},
        {"tool_calls": [calc_call("c2", "Add", 2, 2)]},
        {"tool_calls": [calc_call("c3", "Add", 3, 3)]},
    )
    result = await wb.executions.run(agent_graph(cred, 2), {"task": "Keep adding"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs["answer"] == ["Agent mode completed after 2 iterations (limit reached)"]
    requests = llm.chat_requests()
    assert len(requests) == 2
    # The last call allowed is told so (that call only; the conversation does not keep it).
    assert requests[1]["messages"][-1] == {"role": "system", "content": LAST_ITERATION_PROMPT}
    assert all(m["content"] != LAST_ITERATION_PROMPT for m in requests[0]["messages"])
    assert [c.outputs for c in execs(result, "calc")] == [[("result", 2.0)], [("result", 4.0)]]
    (conversation,) = result.outputs["conversation"]
    assert conversation[-1] == {"role": "tool", "tool_call_id": "c2", "content": '{"result":[4.0]}'}
    assert LAST_ITERATION_PROMPT not in [m.get("content") for m in conversation]


async def test_bad_calls_go_back_to_the_model_as_tool_errors(wb, llm, cred):
    llm.script(
        {
            "tool_calls": [
                calc_call("c1", "Frobnicate", 6, 7),  # the tool's input check refuses it
                {"id": "c2", "name": "calculator", "arguments": {"operation": "Add", "a": 1}},
                {"id": "c3", "name": "abacus", "arguments": {}},
                {"id": "c4", "name": "calculator", "arguments": "{not json"},
            ],
            "unoffered_tools": True,
        },
        {"tool_calls": [calc_call("c5", "Multiply", 6, 7)]},
        {"content": "42"},
    )
    result = await wb.executions.run(agent_graph(cred, -1, multiple_tool_calls=True), {"task": "6*7"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs["answer"] == ["42"]
    answers = {m["tool_call_id"]: m["content"] for m in tool_messages(llm.chat_requests()[1])}
    assert answers["c1"].startswith("Tool execution failed: invalid input: pin 'operation'")
    assert answers["c2"].startswith("Error: 'calculator' needs the arguments b")
    assert answers["c3"].startswith("Error: there is no function 'abacus'; the functions are: calculator")
    assert answers["c4"].startswith("Error: the arguments of 'calculator' are not valid JSON")
    # Only the call with well-formed arguments reached the tool: its node execution failed, not the run.
    failed, ok = execs(result, "calc")
    assert (failed.status, ok.status) == (S.FAILED, S.COMPLETED)
    assert "pin 'operation'" in (failed.error or "")
    assert ok.outputs == [("result", 42.0)]


async def test_a_sub_graph_tool_runs_as_a_child_run(wb, llm, cred):
    child = graph(
        [
            inp("in", "city"),
            node("t", FillTextTemplateBlock, format="Sunny in {{ c }}"),
            out("out", "weather"),
        ],
        [link("in.result", "t.values_#_c"), link("t.output", "out.value")],
        name="Weather",
    )
    saved = await wb.graphs.save(child, LOCAL_USER_ID)
    parent = graph(
        [
            inp("task", "task"),
            node(
                "sdm", SmartDecisionMakerBlock, model="gpt-4o", credentials=cred, agent_mode_max_iterations=3
            ),
            node(
                "weather",
                AgentExecutorBlock,
                graph_id=saved.id,
                graph_version=saved.version,
                agent_name="Weather Agent",
                input_schema={
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            ),
            out("answer", "answer"),
        ],
        [
            link("task.result", "sdm.prompt"),
            link("sdm.tools_^_weather_~_city", "weather.city"),
            link("sdm.finished", "answer.value"),
        ],
    )
    llm.script(
        {"tool_calls": [{"id": "w1", "name": "weather_agent", "arguments": {"city": "Lima"}}]},
        {"content": "Sunny."},
    )
    result = await wb.executions.run(parent, {"task": "Weather in Lima?"})
    assert result.status == "COMPLETED", result.error
    assert tool_messages(llm.chat_requests()[1]) == [
        {"role": "tool", "tool_call_id": "w1", "content": '{"weather":["Sunny in Lima"]}'}
    ]
    (call,) = execs(result, "weather")
    children = await wb.db.pool.fetch(
        "SELECT status FROM graph_executions WHERE parent_node_execution_id = $1", call.id
    )
    assert [r["status"] for r in children] == ["COMPLETED"]


async def test_on_anthropic_the_tool_results_are_tool_result_blocks(wb, llm):
    ref = await _credential(wb, llm, "anthropic")
    try:
        llm.script({"tool_calls": [calc_call("toolu_1", "Multiply", 6, 7)]}, {"content": "42"})
        g = agent_graph(ref, 3)
        g.nodes[1].input_default["model"] = "claude-sonnet-4-5"
        result = await wb.executions.run(g, {"task": "6*7"})
    finally:
        await wb.credentials.delete(LOCAL_USER_ID, ref["id"])
    assert result.status == "COMPLETED", result.error
    assert result.outputs["answer"] == ["42"]
    second = llm.chat_requests()[1]
    assert second["messages"][-2]["content"][-1]["type"] == "tool_use"
    assert second["messages"][-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"result":[42.0]}'}],
    }


async def test_a_tool_past_its_time_limit_fails_the_call_not_the_run(wb, llm, cred):
    g = graph(
        [
            inp("task", "task"),
            node(
                "sdm", SmartDecisionMakerBlock, model="gpt-4o", credentials=cred, agent_mode_max_iterations=3
            ),
            node("nap", SleepBlock, metadata={"customized_name": "nap", "timeout": 0.2}),
            out("answer", "answer"),
        ],
        [
            link("task.result", "sdm.prompt"),
            link("sdm.tools_^_nap_~_seconds", "nap.seconds"),
            link("sdm.finished", "answer.value"),
        ],
    )
    llm.script(
        {"tool_calls": [{"id": "n1", "name": "nap", "arguments": {"seconds": 30}}]}, {"content": "tired"}
    )
    result = await wb.executions.run(g, {"task": "rest"}, timeout=20)
    assert result.status == "COMPLETED", result.error
    assert (
        tool_messages(llm.chat_requests()[1])[0]["content"] == "Tool execution failed: timed out after 0.2s"
    )
    assert [e.status for e in execs(result, "nap")] == [S.FAILED]


async def test_the_runs_node_execution_limit_stops_an_endless_agent(wb, llm, cred):
    llm.rule("forever", {"tool_calls": [calc_call("c", "Add", 1, 1)]})
    before = wb.executions.settings
    wb.executions.settings = before.with_(max_node_executions=5)
    try:
        result = await wb.executions.run(agent_graph(cred, -1), {"task": "Add forever"}, timeout=20)
    finally:
        wb.executions.settings = before
    assert result.status == "FAILED"
    assert "more than 5 node executions" in (result.error or "")
    assert len(execs(result, "calc")) == 3  # task, sdm, then tool calls until the limit


async def test_cancelling_the_run_cancels_the_running_tool(wb, llm, cred):
    g = graph(
        [
            inp("task", "task"),
            node(
                "sdm", SmartDecisionMakerBlock, model="gpt-4o", credentials=cred, agent_mode_max_iterations=3
            ),
            node("nap", SleepBlock, metadata={"customized_name": "nap"}),
        ],
        [link("task.result", "sdm.prompt"), link("sdm.tools_^_nap_~_seconds", "nap.seconds")],
    )
    llm.script({"tool_calls": [{"id": "n1", "name": "nap", "arguments": {"seconds": 30}}]})
    execution_id = await wb.executions.submit(g, {"task": "rest"})
    for _ in range(200):
        run = wb.executions.live.get(execution_id, LOCAL_USER_ID)
        if run is not None and any(ne.node.id == "nap" and ne.status == S.RUNNING for ne in run.node_execs):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the tool call never started")
    await wb.executions.cancel(execution_id)
    result = await wb.executions.wait(execution_id, timeout=10)
    assert result.status == "CANCELLED"
    assert [e.status for e in execs(result, "nap")] == [S.CANCELLED]


# ---- compaction ----------------------------------------------------------------------------------


LONG = "lorem ipsum dolor sit amet " * 60  # ~1600 characters, ~400 estimated tokens


async def test_a_long_conversation_is_compacted_to_the_context_window(wb, llm):
    # Half of 1600 tokens is the budget: the system prompt, the task and one tool answer fit, not two.
    ref = await _credential(wb, llm, "openai", context_window=1600)
    g = graph(
        [
            inp("task", "task"),
            node(
                "sdm", SmartDecisionMakerBlock, model="gpt-4o", credentials=ref, agent_mode_max_iterations=5
            ),
            node(
                "lookup",
                FillTextTemplateBlock,
                format="About {{ q }}: " + LONG,
                metadata={"customized_name": "lookup"},
            ),
            out("answer", "answer"),
        ],
        [
            link("task.result", "sdm.prompt"),
            link("sdm.tools_^_lookup_~_values_#_q", "lookup.values_#_q"),
            link("sdm.finished", "answer.value"),
        ],
    )
    llm.script(
        *(
            {"tool_calls": [{"id": f"l{i}", "name": "lookup", "arguments": {"values___q": f"topic {i}"}}]}
            for i in (1, 2, 3)
        ),
        {"content": "done"},
    )
    try:
        events = [e async for e in wb.executions.stream(g, {"task": "Research three topics"})]
    finally:
        await wb.credentials.delete(LOCAL_USER_ID, ref["id"])
    assert events[-1].type == EventType.EXECUTION_COMPLETED, events[-1].data
    requests = llm.chat_requests()
    assert len(requests) == 4
    # The second call still fits; the third does not: the oldest tool answer gave up its text.
    assert [m["content"][:26] for m in tool_messages(requests[1])] == ['{"output":["About topic 1:']
    first, latest = tool_messages(requests[2])
    assert first["tool_call_id"] == "l1" and first["content"].startswith("[compacted: this tool result")
    assert latest["content"].startswith('{"output":["About topic 2:') and LONG in latest["content"]
    first, second, latest = tool_messages(requests[3])
    assert [m["content"][:11] for m in (first, second)] == ["[compacted:"] * 2
    assert LONG in latest["content"]
    for request in requests[2:]:
        system, task = request["messages"][:2]
        assert system["content"].startswith("[Main Objective Prompt]: Thinking carefully")
        assert task == {"role": "user", "content": "[Main Objective Prompt]: Research three topics"}
        assert estimate_tokens(request["messages"]) <= 800
    notes = [
        e.data["chunk"] for e in events if e.type == EventType.NODE_STREAM and e.data["pin"] == "compaction"
    ]
    assert [(n["iteration"], n["emptied"], n["context_window"]) for n in notes] == [
        (3, 1, 1600),
        (4, 1, 1600),
    ]
    assert all(n["tokens_after"] <= 800 < n["tokens_before"] for n in notes)


def _turn(call_id: str, text: str) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": text},
    ]


def test_compaction_drops_old_turns_and_cuts_the_latest_answer_last():
    head = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]
    talk = [*head, *_turn("a", "x" * 400), {"role": "user", "content": "y" * 4000}, *_turn("b", "z" * 400)]
    assert compact(talk, 10_000).messages == talk  # within budget: untouched

    # Emptying the old answer is not enough: the old turns go, oldest first, and a note says so.
    done = compact(talk, 400)
    assert (done.emptied, done.dropped, done.cut) == (1, 3, 0)
    assert [m["role"] for m in done.messages] == ["system", "user", "system", "assistant", "tool"]
    assert done.messages[2]["content"].startswith(NOTE_PREFIX)
    assert done.messages[3:] == talk[-2:]
    assert done.tokens_after == estimate_tokens(done.messages) <= 400
    assert talk[3]["content"] == "x" * 400, "the caller's messages are not changed"

    # A latest answer bigger than the budget is cut in the middle; calls keep their answers.
    huge = [*head, *_turn("a", "x" * 400), *_turn("b", "H" + "z" * 8000 + "T")]
    done = compact(huge, 300)
    last = done.messages[-1]["content"]
    assert done.cut == 1 and last.startswith("Hzz") and last.endswith("zzT") and "characters cut" in last
    assert [m.get("tool_call_id") for m in done.messages if m["role"] == "tool"] == ["b"]
    assert done.messages[:2] == head
    assert done.tokens_after == estimate_tokens(done.messages) <= 300


def test_context_windows_by_model_and_configuration():
    assert context_window("gpt-4o-2024-08-06") == 128_000
    assert context_window("claude-sonnet-4-5-20250929") == 200_000
    assert context_window("some-local-model") == DEFAULT_CONTEXT_WINDOW
    assert context_window("gpt-4o", configured=8_000) == 8_000
