"""AutoGPT agent exports built only from the AI blocks import unchanged and run against the local
OpenAI-compatible server: a summarizer, a structured extractor and a tool-calling math agent.

The exports (tests/data/autogpt_llm_*.json) carry no credentials, as AutoGPT exports do not; the run
chooses one for the nodes' ``credentials`` field, as AutoGPT's credentials inputs do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.openai_server import LLMServer, tagged_reply
from workbench import jsonutil
from workbench.auth import LOCAL_USER_ID
from workbench.graph.autogpt import load_graph_file
from workbench.graph.validate import validate_graph

DATA = Path(__file__).resolve().parents[1] / "data"


pytestmark = pytest.mark.usefixtures("loopback_allowed")  # the local LLM server is on 127.0.0.1


@pytest.fixture(autouse=True)
def _fresh(llm: LLMServer) -> None:
    llm.reset()


@pytest.fixture(scope="module")
async def cred(wb, llm) -> AsyncIterator[dict[str, str]]:
    """The run's credentials choice: an 'openai' credential pointing at the local server."""
    meta = await wb.credentials.create(
        LOCAL_USER_ID, "openai", "api_key", {"api_key": "test-key", "base_url": llm.base_url}
    )
    yield {"credentials": meta.id}
    await wb.credentials.delete(LOCAL_USER_ID, meta.id)


def load(name: str):
    return load_graph_file(DATA / f"autogpt_llm_{name}.json")


@pytest.mark.parametrize("name", ["summarizer", "extractor", "math_agent"])
def test_exports_import_and_validate(name, registry):
    graph = load(name)
    assert validate_graph(graph, registry) == []
    assert graph.nodes and graph.links


async def test_summarizer_agent(wb, llm, cred):
    article = "The city council voted on Tuesday to build a new bridge. Work starts in May."
    llm.script(
        tagged_reply({"summary": "- Council approved a bridge\n- Work starts in May"}),
        tagged_reply({"final_summary": "- Council approved a new bridge\n- Construction begins in May"}),
        {"content": "Council Approves New Bridge"},
    )
    result = await wb.executions.run(load("summarizer"), {"article": article}, credentials=cred)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {
        "summary": ["- Council approved a new bridge\n- Construction begins in May"],
        "headline": ["Council Approves New Bridge"],
    }
    requests = llm.chat_requests()
    assert [r["model"] for r in requests] == ["gpt-4o-mini"] * 3
    assert article in requests[0]["messages"][-1]["content"]
    assert "bullet points" in requests[0]["messages"][-1]["content"]
    assert requests[2]["messages"] == [
        {"role": "system", "content": "You write newspaper headlines."},
        {
            "role": "user",
            "content": "Write a headline of at most eight words for this summary:\n"
            "- Council approved a new bridge\n- Construction begins in May",
        },
    ]
    stats = await wb.db.pool.fetchval("SELECT stats FROM graph_executions WHERE id = $1", result.execution_id)
    stats = jsonutil.loads(stats) if isinstance(stats, str) else stats
    assert stats["llm_calls"] == 3
    assert stats["input_tokens"] > 0 and stats["cost_usd"] > 0


async def test_extractor_agent(wb, llm, cred):
    email = "Hi, I'm Ada Lovelace from Analytical Engines Ltd (ada@engines.example). Can we talk pricing and delivery?"

    def by_prompt(body: dict[str, Any]) -> dict[str, Any]:
        # The two AI nodes run concurrently: answer each by what it asks.
        asks_list = "topics" in body["messages"][-1]["content"]
        payload = (
            {"list": ["pricing", "delivery"]}
            if asks_list
            else {"name": "Ada Lovelace", "email": "ada@engines.example", "company": "Analytical Engines Ltd"}
        )
        return tagged_reply(payload)(body)

    llm.script(by_prompt, by_prompt)
    result = await wb.executions.run(load("extractor"), {"email": email}, credentials=cred)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {
        "name": ["Ada Lovelace"],
        "email": ["ada@engines.example"],
        "company": ["Analytical Engines Ltd"],
        "topics": ["pricing", "delivery"],
    }
    asked = [r["messages"][-1]["content"] for r in llm.chat_requests()]
    assert any(email in a and "contact details" in a for a in asked)


async def test_math_agent_loops_through_the_calculator(wb, llm, cred):
    llm.script(
        {"tool_calls": [{"name": "calculator", "arguments": {"operation": "Multiply", "a": 12, "b": 12}}]},
        {"tool_calls": [{"name": "calculator", "arguments": {"operation": "Subtract", "a": 144, "b": 44}}]},
        {"content": "12 squared minus 44 is 100."},
    )
    result = await wb.executions.run(
        load("math_agent"), {"question": "What is 12 squared minus 44?"}, credentials=cred
    )
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"answer": ["12 squared minus 44 is 100."]}
    requests = llm.chat_requests()
    assert len(requests) == 3
    assert requests[0]["messages"][0] == {
        "role": "system",
        "content": "[Main Objective Prompt]: You are a careful calculator assistant. Use the calculator for every operation.",
    }
    assert [t["function"]["name"] for t in requests[0]["tools"]] == ["calculator"]
    tool_answers = [m for m in requests[2]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_answers] == ["144.0", "100.0"]


async def test_agent_fails_clearly_when_the_model_keeps_answering_badly(wb, llm, cred):
    llm.rule("topics", tagged_reply({"list": []}))
    llm.rule("contact details", {"content": "no tags"})  # the feedback retries get "echo: ..."
    result = await wb.executions.run(load("extractor"), {"email": "hello"}, credentials=cred)
    assert result.status == "FAILED"
    assert "AIStructuredResponseGeneratorBlock" in result.error
    assert "the model gave no valid answer after 3 attempt(s)" in result.error
