"""The AI blocks run in graphs on the durable Workbench, against the local OpenAI/Anthropic server.

Credentials come from the vault; tokens and cost land on the node execution rows and are summed
into the run's stats; streamed tokens reach the bus as NODE_STREAM events; the SmartDecisionMaker
loop calls a linked tool and gets its answer back until the model is done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from blocks.agent import AgentExecutorBlock
from blocks.ai import (
    AIConversationBlock,
    AIImageGenerationBlock,
    AIListGeneratorBlock,
    AIStructuredResponseGeneratorBlock,
    AITextGeneratorBlock,
    AITextSummarizerBlock,
)
from blocks.ai_agent import SmartDecisionMakerBlock, pending_tool_calls
from blocks.logic import CalculatorBlock
from blocks.text import FillTextTemplateBlock
from tests.engine.graphs import execs, graph, inp, link, node, out
from tests.support.openai_server import LLMServer, tagged_reply
from workbench import jsonutil
from workbench.auth import LOCAL_USER_ID
from workbench.runtime.events import EventType

ENV_KEYS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "WORKBENCH_LLM_BASE_URL",
    "WORKBENCH_LLM_API_KEY",
    "WORKBENCH_LLM_PROVIDER",
    "WORKBENCH_LLM_MODEL",
)


pytestmark = pytest.mark.usefixtures("loopback_allowed")  # the local LLM server is on 127.0.0.1


@pytest.fixture(autouse=True)
def _fresh(llm: LLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm.reset()
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
async def openai_cred(wb, llm) -> AsyncIterator[dict[str, Any]]:
    """The user's one 'openai' credential: the local server's base URL and key."""
    meta = await wb.credentials.create(
        LOCAL_USER_ID, "openai", "api_key", {"api_key": "test-key", "base_url": llm.base_url}, title="local"
    )
    yield {"id": meta.id, "provider": "openai", "type": "api_key", "title": "local"}
    await wb.credentials.delete(LOCAL_USER_ID, meta.id)


@pytest.fixture(scope="module")
async def anthropic_cred(wb, llm) -> AsyncIterator[dict[str, Any]]:
    meta = await wb.credentials.create(
        LOCAL_USER_ID, "anthropic", "api_key", {"api_key": "test-key", "base_url": llm.base_url}
    )
    yield {"id": meta.id, "provider": "anthropic", "type": "api_key"}
    await wb.credentials.delete(LOCAL_USER_ID, meta.id)


def tagged(payload: Any) -> Any:
    """A scripted reply answering the structured-output instructions, with text around the tag."""
    return tagged_reply(payload, prefix="Here: ")


async def node_stats(wb, execution_id: str) -> dict[str, list[dict[str, Any]]]:
    rows = await wb.db.pool.fetch(
        "SELECT node_id, stats FROM node_executions WHERE graph_execution_id = $1 ORDER BY node_id, seq",
        execution_id,
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        stats = row["stats"]
        found.setdefault(row["node_id"], []).append(
            jsonutil.loads(stats) if isinstance(stats, str) else stats
        )
    return found


async def run_stats(wb, execution_id: str) -> dict[str, Any]:
    value = await wb.db.pool.fetchval("SELECT stats FROM graph_executions WHERE id = $1", execution_id)
    return jsonutil.loads(value) if isinstance(value, str) else value


def text_graph(**defaults: Any):
    return graph(
        [
            inp("in", "topic"),
            node("gen", AITextGeneratorBlock, prompt="Write about {{ topic }}.", **defaults),
            out("out", "text"),
        ],
        [link("in.result", "gen.prompt_values_#_topic"), link("gen.response", "out.value")],
    )


async def test_text_generation_streams_tokens_and_records_usage(wb, llm, openai_cred):
    llm.script({"content": "Foxes are quick and clever."})
    g = text_graph(model="gpt-4o-mini", credentials=openai_cred, sys_prompt="Be brief.")
    events = [e async for e in wb.executions.stream(g, {"topic": "foxes"})]
    final = events[-1]
    assert final.type == EventType.EXECUTION_COMPLETED
    assert final.data["outputs"] == {"text": ["Foxes are quick and clever."]}
    chunks = [e.data["chunk"] for e in events if e.type == EventType.NODE_STREAM]
    assert chunks == ["Foxes ", "are ", "quick ", "and ", "clever."]
    assert {(e.node_id, e.data["pin"]) for e in events if e.type == EventType.NODE_STREAM} == {
        ("gen", "response")
    }
    sent = llm.chat_requests()[0]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write about foxes."},
    ]
    assert llm.requests[0].headers["authorization"] == "Bearer test-key"
    stats = await node_stats(wb, final.execution_id)
    expected_cost = (5 * 0.15 + 5 * 0.60) / 1e6
    assert stats["gen"] == [
        {"input_tokens": 5, "output_tokens": 5, "cost_usd": pytest.approx(expected_cost), "llm_calls": 1}
    ]
    totals = await run_stats(wb, final.execution_id)
    assert (totals["input_tokens"], totals["output_tokens"], totals["llm_calls"]) == (5, 5, 1)
    assert totals["cost_usd"] == pytest.approx(expected_cost)


async def test_the_users_only_credential_is_used_without_a_reference(wb, llm, openai_cred):
    llm.script({"content": "ok"})
    result = await wb.executions.run(text_graph(model="gpt-4o"), {"topic": "x"})
    assert result.outputs == {"text": ["ok"]}
    assert llm.requests[0].headers["authorization"] == "Bearer test-key"


async def test_without_a_provider_the_run_fails_saying_how_to_configure_one(wb, llm, openai_cred):
    # Runs before any Anthropic credential exists (the anthropic_cred fixture is used further down).
    result = await wb.executions.run(text_graph(model="claude-sonnet-4-5"), {"topic": "x"})
    assert result.status == "FAILED"
    assert (
        "node 'gen' (AITextGeneratorBlock) failed: no LLM provider for model 'claude-sonnet-4-5'"
        in result.error
    )
    assert "POST /api/v1/credentials" in result.error and "OPENAI_API_KEY" in result.error
    assert llm.requests == []


async def test_environment_provider_when_the_vault_has_none(wb, llm, openai_cred, monkeypatch):
    # Runs before any Anthropic credential exists: a Claude model falls back to the environment's
    # OpenAI-compatible server.
    monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", llm.base_url)
    monkeypatch.setenv("WORKBENCH_LLM_API_KEY", "test-key")
    llm.script({"content": "from env"})
    result = await wb.executions.run(text_graph(model="claude-sonnet-4-5"), {"topic": "x"})
    assert result.outputs == {"text": ["from env"]}
    assert llm.chat_requests()[-1]["model"] == "claude-sonnet-4-5"


async def test_a_credentials_model_replaces_the_default_model(wb, llm):
    meta = await wb.credentials.create(
        LOCAL_USER_ID,
        "ollama",
        "api_key",
        {"base_url": llm.base_url, "api_key": "test-key", "model": "llama3.2"},
    )
    ref = {"id": meta.id, "provider": "ollama", "type": "api_key"}
    try:
        llm.script({"content": "from ollama"}, {"content": "chosen model"})
        result = await wb.executions.run(text_graph(credentials=ref), {"topic": "x"})
        assert result.outputs == {"text": ["from ollama"]}
        assert llm.chat_requests()[-1]["model"] == "llama3.2"
        result = await wb.executions.run(text_graph(credentials=ref, model="qwen2.5"), {"topic": "x"})
        assert result.outputs == {"text": ["chosen model"]}
        assert llm.chat_requests()[-1]["model"] == "qwen2.5"
    finally:
        await wb.credentials.delete(LOCAL_USER_ID, meta.id)


async def test_a_bare_credential_id_finds_its_provider(wb, llm, anthropic_cred):
    llm.script({"content": "Claude here"})
    result = await wb.executions.run(
        text_graph(model="claude-3-5-haiku-latest", credentials=anthropic_cred["id"]), {"topic": "x"}
    )
    assert result.outputs == {"text": ["Claude here"]}
    assert llm.requests[0].path == "/v1/messages"


async def test_structured_response_retries_with_feedback_until_valid(wb, llm, openai_cred):
    llm.script({"content": "I think it is Paris."}, tagged({"city": "Paris"}))
    g = graph(
        [
            node(
                "ask",
                AIStructuredResponseGeneratorBlock,
                prompt="Capital of France?",
                expected_format={"city": "the city"},
                model="gpt-4o",
                credentials=openai_cred,
            ),
            out("out", "answer"),
        ],
        [link("ask.response", "out.value")],
    )
    result = await wb.executions.run(g, {})
    assert result.outputs == {"answer": [{"city": "Paris"}]}
    first, second = llm.chat_requests()
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assert second["messages"][-2] == {"role": "assistant", "content": "I think it is Paris."}
    assert "expected exactly one <json_output" in second["messages"][-1]["content"]
    stats = await node_stats(wb, result.execution_id)
    assert stats["ask"][0]["llm_calls"] == 2
    assert (await run_stats(wb, result.execution_id))["llm_calls"] == 2


async def test_structured_response_gives_up_after_retry_attempts(wb, llm, openai_cred):
    llm.script({"content": "nope"}, {"content": "still nope"})
    g = graph(
        [
            node(
                "ask",
                AIStructuredResponseGeneratorBlock,
                prompt="?",
                expected_format={"city": "the city"},
                retry=2,
                credentials=openai_cred,
            )
        ]
    )
    result = await wb.executions.run(g, {})
    assert result.status == "FAILED"
    assert "the model gave no valid answer after 2 attempt(s)" in result.error
    assert len(llm.chat_requests()) == 2


async def test_structured_json_mode_uses_the_json_schema_response_format(wb, llm, openai_cred):
    llm.script({"json": {"results": [{"name": "Ada"}, {"name": "Grace"}]}})
    g = graph(
        [
            node(
                "ask",
                AIStructuredResponseGeneratorBlock,
                prompt="Two programmers",
                expected_format={"name": "their name"},
                list_result=True,
                force_json_output=True,
                credentials=openai_cred,
            ),
            out("out", "people"),
        ],
        [link("ask.response", "out.value")],
    )
    result = await wb.executions.run(g, {})
    assert result.outputs == {"people": [[{"name": "Ada"}, {"name": "Grace"}]]}
    fmt = llm.chat_requests()[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["properties"]["results"]["items"]["required"] == ["name"]


async def test_conversation_on_anthropic_streams_tokens(wb, llm, anthropic_cred):
    llm.script({"content": "Nice to meet you"})
    history = [{"role": "user", "content": "Hi, I am Bo."}, {"role": "assistant", "content": "Hello Bo!"}]
    g = graph(
        [
            node(
                "chat",
                AIConversationBlock,
                messages=history,
                prompt="Remember me?",
                model="claude-3-5-haiku-latest",
                credentials=anthropic_cred,
            ),
            out("out", "reply"),
        ],
        [link("chat.response", "out.value")],
    )
    events = [e async for e in wb.executions.stream(g, {})]
    assert events[-1].data["outputs"] == {"reply": ["Nice to meet you"]}
    assert [e.data["chunk"] for e in events if e.type == EventType.NODE_STREAM] == [
        "Nice ",
        "to ",
        "meet ",
        "you",
    ]
    assert llm.chat_requests()[0]["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "Remember me?"}],
    }
    stats = await node_stats(wb, events[-1].execution_id)
    assert stats["chat"][0]["output_tokens"] == 4


async def test_list_generator_yields_each_item_downstream(wb, llm, openai_cred):
    llm.script(tagged({"list": ["red", "yellow", "blue"]}))
    g = graph(
        [
            node("gen", AIListGeneratorBlock, focus="primary colours", credentials=openai_cred),
            node("shout", FillTextTemplateBlock, format="{{ c | upper }}"),
            out("all", "all"),
            out("each", "each"),
        ],
        [
            link("gen.generated_list", "all.value"),
            link("gen.list_item", "shout.values_#_c"),
            link("shout.output", "each.value"),
        ],
    )
    result = await wb.executions.run(g, {})
    assert result.outputs == {"all": [["red", "yellow", "blue"]], "each": ["RED", "YELLOW", "BLUE"]}
    assert "primary colours" in llm.chat_requests()[0]["messages"][-1]["content"]


async def test_summarizer_summarises_chunks_then_combines(wb, llm, openai_cred):
    text = " ".join(f"w{i}" for i in range(25))
    llm.script(
        tagged({"summary": "first part"}),
        tagged({"summary": "second part"}),
        tagged({"final_summary": "all of it"}),
    )
    g = graph(
        [
            node(
                "sum",
                AITextSummarizerBlock,
                text=text,
                max_tokens=15,
                chunk_overlap=5,
                credentials=openai_cred,
            ),
            out("out", "summary"),
        ],
        [link("sum.summary", "out.value")],
    )
    result = await wb.executions.run(g, {})
    assert result.outputs == {"summary": ["all of it"]}
    prompts = [r["messages"][-1]["content"] for r in llm.chat_requests()]
    assert "w0 w1" in prompts[0] and "w14" in prompts[0] and "w15" not in prompts[0]
    assert "w10 w11" in prompts[1] and "w24" in prompts[1]
    assert "first part\n\nsecond part" in prompts[2]
    assert (await node_stats(wb, result.execution_id))["sum"][0]["llm_calls"] == 3


async def test_image_generation_block_records_cost(wb, llm, openai_cred):
    g = graph(
        [node("img", AIImageGenerationBlock, prompt="a red fox", credentials=openai_cred), out("out", "url")],
        [link("img.image_url", "out.value")],
    )
    result = await wb.executions.run(g, {})
    assert result.outputs["url"][0].startswith(f"{llm.url}/files/")
    assert (await node_stats(wb, result.execution_id))["img"] == [{"cost_usd": 0.04, "images": 1}]


async def test_rate_limited_llm_calls_are_retried_inside_the_node(wb, llm, openai_cred):
    llm.rate_limit(1, retry_after=0.05)
    llm.script({"content": "after the limit"})
    result = await wb.executions.run(text_graph(credentials=openai_cred), {"topic": "x"})
    assert result.outputs == {"text": ["after the limit"]}
    assert len(llm.requests) == 2
    assert (await node_stats(wb, result.execution_id))["gen"][0]["llm_calls"] == 1


# ---- SmartDecisionMaker --------------------------------------------------------------------------


def agent_graph(cred: dict[str, Any], **sdm: Any):
    """Task -> decision maker; its tools: a calculator whose result comes back; finished -> output."""
    return graph(
        [
            inp("task", "task"),
            node("sdm", SmartDecisionMakerBlock, model="gpt-4o", credentials=cred, **sdm),
            node("calc", CalculatorBlock, metadata={"customized_name": "Calculator"}),
            out("answer", "answer"),
        ],
        [
            link("task.result", "sdm.prompt"),
            link("sdm.tools_^_calc_~_operation", "calc.operation"),
            link("sdm.tools_^_calc_~_a", "calc.a"),
            link("sdm.tools_^_calc_~_b", "calc.b"),
            link("calc.result", "sdm.last_tool_output"),
            link("sdm.conversations", "sdm.conversation_history"),
            link("sdm.finished", "answer.value"),
        ],
    )


async def test_decision_maker_calls_a_tool_and_gets_its_answer_back(wb, llm, openai_cred):
    llm.script(
        {
            "tool_calls": [
                {"id": "c1", "name": "calculator", "arguments": {"operation": "Multiply", "a": 6, "b": 7}}
            ]
        },
        {
            "tool_calls": [
                {"id": "c2", "name": "calculator", "arguments": {"operation": "Add", "a": 42, "b": 0.5}}
            ]
        },
        {"content": "The answer is 42.5."},
    )
    result = await wb.executions.run(agent_graph(openai_cred), {"task": "What is 6*7 + 0.5?"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"answer": ["The answer is 42.5."]}
    assert [e.status for e in execs(result, "sdm")] == ["COMPLETED"] * 3
    assert [e.outputs for e in execs(result, "calc")] == [[("result", 42.0)], [("result", 42.5)]]
    first, second, third = llm.chat_requests()
    fn = first["tools"][0]["function"]
    assert fn["name"] == "calculator"
    assert fn["parameters"]["required"] == ["operation", "a", "b"]
    assert "Multiply" in fn["parameters"]["properties"]["operation"]["enum"]
    assert "_sink_node_id" not in fn
    assert first["messages"][-1] == {"role": "user", "content": "[Main Objective Prompt]: What is 6*7 + 0.5?"}
    assert second["messages"][-2]["tool_calls"][0]["id"] == "c1"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": "42.0"}
    assert third["messages"][-1] == {"role": "tool", "tool_call_id": "c2", "content": "42.5"}
    # The objective is sent once, however often the prompt is re-delivered by its static link.
    assert (
        sum(m["content"].startswith("[Main Objective") for m in third["messages"] if m["role"] == "user") == 1
    )
    totals = await run_stats(wb, result.execution_id)
    assert totals["llm_calls"] == 3


async def test_decision_maker_finishes_at_once_without_tool_calls(wb, llm, openai_cred):
    llm.script({"content": "Nothing to compute."})
    result = await wb.executions.run(agent_graph(openai_cred), {"task": "Say hi"})
    assert result.outputs == {"answer": ["Nothing to compute."]}
    assert len(execs(result, "sdm")) == 1
    assert execs(result, "calc") == []


async def test_decision_maker_retries_a_wrong_tool_call(wb, llm, openai_cred):
    llm.script(
        {"tool_calls": [{"name": "calculator", "arguments": {"operation": "Add", "a": 1}}]},
        {"tool_calls": [{"name": "calculator", "arguments": {"operation": "Add", "a": 1, "b": 2}}]},
        {"content": "3"},
    )
    result = await wb.executions.run(agent_graph(openai_cred), {"task": "1+2"})
    assert result.outputs == {"answer": ["3"]}
    retry = llm.chat_requests()[1]["messages"][-1]["content"]
    assert "'calculator' needs the arguments b" in retry
    assert [e.outputs for e in execs(result, "calc")] == [[("result", 3.0)]]


async def test_decision_maker_can_call_a_sub_graph(wb, llm, openai_cred):
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
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    }
    parent = graph(
        [
            inp("task", "task"),
            node("sdm", SmartDecisionMakerBlock, model="gpt-4o", credentials=openai_cred),
            node(
                "weather",
                AgentExecutorBlock,
                graph_id=saved.id,
                graph_version=saved.version,
                user_id=LOCAL_USER_ID,
                agent_name="Weather Agent",
                inputs={},
                input_schema=schema,
                output_schema={"type": "object", "properties": {"weather": {}}},
            ),
            out("answer", "answer"),
        ],
        [
            link("task.result", "sdm.prompt"),
            link("sdm.tools_^_weather_~_city", "weather.city"),
            link("weather.weather", "sdm.last_tool_output"),
            link("sdm.conversations", "sdm.conversation_history"),
            link("sdm.finished", "answer.value"),
        ],
    )
    llm.script(
        {"tool_calls": [{"id": "w1", "name": "weather_agent", "arguments": {"city": "Lima"}}]},
        {"content": "It is sunny in Lima."},
    )
    result = await wb.executions.run(parent, {"task": "Weather in Lima?"})
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"answer": ["It is sunny in Lima."]}
    fn = llm.chat_requests()[0]["tools"][0]["function"]
    assert fn == {
        "name": "weather_agent",
        "description": "Run the agent Weather Agent.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    }
    assert llm.chat_requests()[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "w1",
        "content": "Sunny in Lima",
    }


def test_pending_tool_calls():
    conversation = [
        {"role": "assistant", "tool_calls": [{"id": "a"}, {"id": "b"}]},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
    ]
    assert pending_tool_calls(conversation) == {"b": 1}
    assert pending_tool_calls([*conversation, {"role": "tool", "tool_call_id": "b"}]) == {}
    sdm = SmartDecisionMakerBlock()
    assert sdm.waiting_for({"conversation_history": conversation}) == "last_tool_output"
    assert sdm.waiting_for({"conversation_history": conversation, "last_tool_output": 1}) is None
    assert sdm.waiting_for({"conversation_history": [], "last_tool_output": 1}) == "conversation_history"
    assert sdm.waiting_for({"conversation_history": []}) is None


async def test_a_credential_pointing_at_a_private_address_is_refused_by_default(wb, llm, openai_cred) -> None:
    # A user's credential chooses the base URL; without WORKBENCH_HTTP_ALLOW, loopback is refused.
    allowed = wb.executions.settings
    wb.executions.settings = allowed.with_(http_allow=())
    try:
        result = await wb.executions.run(text_graph(credentials=openai_cred), {"topic": "x"})
    finally:
        wb.executions.settings = allowed
    assert result.status == "FAILED"
    assert "loopback" in result.error and "WORKBENCH_HTTP_ALLOW" in result.error
    assert llm.requests == []  # nothing reached the server
