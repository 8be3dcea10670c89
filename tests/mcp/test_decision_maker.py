"""The SmartDecisionMaker with MCP servers as a tool source, against the local OpenAI-compatible server
and a real MCP server: the servers' tools are offered beside the graph's as ``mcp__<server>__<tool>``,
and a call of one is made by the block and its answer given to the model, in agent mode and in
traditional mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from blocks.ai_agent import SmartDecisionMakerBlock
from blocks.logic import CalculatorBlock
from blocks.mcp import MCPToolBlock
from tests.blocks.test_ai_blocks import ENV_KEYS
from tests.engine.graphs import execs, graph, inp, link, node, out
from tests.mcp.conftest import TOKEN
from tests.support.mcp_server import HttpMcpServer
from tests.support.openai_server import LLMServer
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.runtime.events import EventType
from workbench.services.template_snapshot import stripped

pytestmark = pytest.mark.usefixtures("mcp_allowed")


@pytest.fixture(autouse=True)
def _fresh(llm: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm.reset()
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
async def creds(wb: Workbench, llm: LLMServer, mcp_http: HttpMcpServer) -> AsyncIterator[dict[str, Any]]:
    """An 'openai' credential for the local LLM server and an 'mcp' one (named 'tt') for the MCP server."""
    model = await wb.credentials.create(
        LOCAL_USER_ID, "openai", "api_key", {"api_key": "test-key", "base_url": llm.base_url}
    )
    tools = await wb.credentials.create(
        LOCAL_USER_ID, "mcp", "api_key", {"url": mcp_http.url, "token": TOKEN, "name": "tt"}
    )
    yield {
        "openai": {"id": model.id, "provider": "openai", "type": "api_key"},
        "mcp": {"id": tools.id, "provider": "mcp", "type": "api_key"},
    }
    for meta in (model, tools):
        await wb.credentials.delete(LOCAL_USER_ID, meta.id)


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


def sdm_graph(creds: dict[str, Any], *, loop: bool, also: tuple[list, list] = ([], []), **sdm: Any):
    """Task -> decision maker (with the MCP server, and a calculator as the graph's tool) -> answer.

    ``loop``: traditional mode's links back (the tool's result and the conversation); ``also``: more
    nodes and links."""
    links = [
        link("task.result", "sdm.prompt"),
        link("sdm.tools_^_calc_~_operation", "calc.operation"),
        link("sdm.tools_^_calc_~_a", "calc.a"),
        link("sdm.tools_^_calc_~_b", "calc.b"),
        link("sdm.finished", "answer.value"),
    ]
    if loop:
        links += [
            link("calc.result", "sdm.last_tool_output"),
            link("sdm.conversations", "sdm.conversation_history"),
        ]
    return graph(
        [
            inp("task", "task"),
            node(
                "sdm",
                SmartDecisionMakerBlock,
                model="gpt-4o",
                credentials=creds["openai"],
                **{"mcp_servers": [creds["mcp"]], **sdm},
            ),
            node("calc", CalculatorBlock, metadata={"customized_name": "Calculator"}),
            out("answer", "answer"),
            *also[0],
        ],
        [*links, *also[1]],
    )


def tool_answers(request: dict[str, Any]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in request["messages"] if m["role"] == "tool"}


async def test_agent_mode_calls_mcp_tools_beside_the_graphs_own(wb, llm, creds):
    llm.script(
        {"tool_calls": [call("c1", "mcp__tt__add", a=40, b=2)]},
        {
            "tool_calls": [
                call("c2", "mcp__tt__fail", reason="why"),
                call("c3", "calculator", operation="Add", a=42, b=1),
            ]
        },
        {"content": "42, then 43"},
    )
    # One agent, two users of the MCP server: the decision maker's tools, and an MCPToolBlock that
    # says the answer back through the server's echo tool.
    say = (
        [node("say", MCPToolBlock, credentials=creds["mcp"], tool_name="echo"), out("said", "said")],
        [link("sdm.finished", "say.arguments_#_text"), link("say.result", "said.value")],
    )
    graph_ = sdm_graph(creds, loop=False, also=say, agent_mode_max_iterations=5, multiple_tool_calls=True)
    events = [e async for e in wb.executions.stream(graph_, {"task": "Add 40 and 2, then 1"})]
    final = events[-1]
    assert final.type == EventType.EXECUTION_COMPLETED, final.data
    assert final.data["outputs"]["answer"] == ["42, then 43"]
    assert final.data["outputs"]["said"] == [{"result": "42, then 43"}]
    first, second, third = llm.chat_requests()
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(offered) == {
        "calculator",
        *(f"mcp__tt__{t}" for t in ("add", "echo", "forecast", "fail", "pause")),
    }
    add = offered["mcp__tt__add"]
    assert add["parameters"]["required"] == ["a", "b"]
    assert add["parameters"]["properties"]["a"]["type"] == "integer"
    assert add["description"].startswith("Add two whole numbers. (tool 'add' of the MCP server 'tt')")
    # The MCP tool's structured answer, its error, and the graph tool's outputs, each as its answer.
    assert tool_answers(second) == {"c1": '{"result":42}'}
    answers = tool_answers(third)
    assert answers["c2"].startswith("Tool execution failed: Error executing tool fail: cannot do it: why")
    assert answers["c3"] == '{"result":[43.0]}'
    result = await wb.executions.get(final.execution_id)
    assert [c.outputs for c in execs(result, "calc")] == [[("result", 43.0)]]  # MCP calls are no nodes
    steps = [
        e.data["chunk"] for e in events if e.type == EventType.NODE_STREAM and e.data["pin"] == "tool_result"
    ]
    assert [(s["name"], s["node_execution_id"] is None, s["error"] is None) for s in steps] == [
        ("mcp__tt__add", True, True),
        ("mcp__tt__fail", True, False),
        ("calculator", False, True),
    ]


async def test_traditional_mode_answers_mcp_calls_itself_and_leaves_graph_calls_to_the_graph(wb, llm, creds):
    llm.script(
        {"tool_calls": [call("c1", "mcp__tt__add", a=6, b=7)]},  # answered inside the execution
        {
            "tool_calls": [
                call("c2", "calculator", operation="Multiply", a=13, b=2),
                call("c3", "mcp__tt__echo", text="hi"),
            ]
        },
        {"content": "26"},  # the second execution, with the calculator's answer
    )
    result = await wb.executions.run(
        sdm_graph(creds, loop=True, multiple_tool_calls=True), {"task": "(6+7)*2"}
    )
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"answer": ["26"]}
    assert len(execs(result, "sdm")) == 2
    assert [c.outputs for c in execs(result, "calc")] == [[("result", 26.0)]]
    _, second, third = llm.chat_requests()
    assert tool_answers(second) == {"c1": '{"result":13}'}
    assert tool_answers(third) == {"c1": '{"result":13}', "c3": '{"result":"hi"}', "c2": "26.0"}


async def test_without_mcp_servers_nothing_changes(wb, llm, creds):
    llm.script({"content": "no tools needed"})
    result = await wb.executions.run(sdm_graph(creds, loop=True, mcp_servers=[]), {"task": "hi"})
    assert result.outputs == {"answer": ["no tools needed"]}
    (request,) = llm.chat_requests()
    assert [t["function"]["name"] for t in request["tools"]] == ["calculator"]


def test_a_published_agent_leaves_its_mcp_servers_out(registry) -> None:
    """The MCP credentials a decision maker names are the publisher's: a template drops them."""
    refs = {
        "openai": {"id": "1", "provider": "openai"},
        "mcp": {"id": "2", "provider": "mcp", "type": "api_key"},
    }
    kept = stripped(sdm_graph(refs, loop=False), registry)
    (sdm,) = [n for n in kept.nodes if n.id == "sdm"]
    assert "mcp_servers" not in sdm.input_default and "credentials" not in sdm.input_default
    assert sdm.input_default["model"] == "gpt-4o"
