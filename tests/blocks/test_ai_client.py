"""The LLM client layer (workbench.llm) against the local OpenAI/Anthropic lookalike server.

The real client code runs over real HTTP: auth headers, SSE streams, retries on 429 with
Retry-After, structured output, tool calls in both protocols, embeddings and images.
"""

from __future__ import annotations

import math
import time

import httpx
import pytest

from tests.support.openai_server import LLMServer
from workbench.block.context import RunContext
from workbench.llm import (
    LLMError,
    LLMNotConfigured,
    LLMRateLimited,
    ProviderConfig,
    chat,
    config_from_env,
    cost_usd,
    embed,
    generate_image,
    resolve_config,
)
from workbench.llm.pricing import price_of

USER = [{"role": "user", "content": "Hello there"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture(autouse=True)
def _fresh(llm: LLMServer) -> None:
    llm.reset()


@pytest.fixture
def openai(llm: LLMServer) -> ProviderConfig:
    return ProviderConfig.for_provider("openai", api_key="test-key", base_url=llm.base_url, backoff=0.01)


@pytest.fixture
def anthropic(llm: LLMServer) -> ProviderConfig:
    return ProviderConfig.for_provider("anthropic", api_key="test-key", base_url=llm.base_url, backoff=0.01)


# ---- OpenAI-compatible chat ---------------------------------------------------------------------


async def test_chat_sends_bearer_key_and_reports_usage_and_cost(llm, openai):
    llm.script({"content": "General Kenobi"})
    reply = await chat(USER, config=openai, model="gpt-4o-mini", max_tokens=50, temperature=0.2)
    assert reply.text == "General Kenobi"
    assert reply.finish_reason == "stop"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (2, 2)
    assert reply.usage.cost_usd == pytest.approx((2 * 0.15 + 2 * 0.60) / 1e6)
    sent = llm.requests[-1]
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": USER,
        "max_tokens": 50,
        "temperature": 0.2,
    }


async def test_streaming_calls_back_per_token_and_counts_usage(llm, openai):
    llm.script({"content": "one two three"})
    tokens: list[str] = []
    reply = await chat(USER, config=openai, model="local-model", on_token=tokens.append)
    assert tokens == ["one ", "two ", "three"]
    assert reply.text == "one two three"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (2, 3)
    assert reply.usage.cost_usd == 0  # unknown model: tokens recorded, no price
    assert llm.requests[-1].body["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls_plain_and_streamed(llm, openai, stream):
    llm.script({"tool_calls": [{"id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}}]})
    reply = await chat(
        USER, config=openai, model="gpt-4o", tools=TOOLS, on_token=(lambda _t: None) if stream else None
    )
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_a", "get_weather", '{"city":"Paris"}')
    ]
    assert reply.finish_reason == "tool_calls"
    assert reply.message() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert llm.requests[-1].body["tools"] == TOOLS


async def test_json_schema_is_sent_as_response_format(llm, openai):
    schema = {"title": "person", "type": "object", "properties": {"name": {"type": "string"}}}
    llm.script({"json": {"name": "Ada"}})
    reply = await chat(USER, config=openai, model="gpt-4o", json_schema=schema)
    assert reply.text == '{"name":"Ada"}'
    assert llm.requests[-1].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": schema},
    }


async def test_rate_limit_is_retried_after_the_servers_delay(llm, openai):
    llm.rate_limit(2, retry_after=0.2)
    llm.script({"content": "finally"})
    started = time.monotonic()
    reply = await chat(USER, config=openai, model="gpt-4o")
    elapsed = time.monotonic() - started
    assert reply.text == "finally"
    assert len(llm.requests) == 3
    assert elapsed >= 0.4  # two waits of Retry-After: 0.2, not the 0.01 s backoff


async def test_server_errors_are_retried_then_reported(llm, openai):
    llm.rate_limit(3, status=503)
    with pytest.raises(LLMRateLimited, match=r"still answered HTTP 503 after 2 retries"):
        await chat(USER, config=openai.with_(max_retries=2), model="gpt-4o")
    assert len(llm.requests) == 3


async def test_too_long_retry_after_fails_at_once(llm, openai):
    llm.rate_limit(1, retry_after=3600)
    with pytest.raises(LLMRateLimited, match="asked to retry after 3600s"):
        await chat(USER, config=openai, model="gpt-4o")
    assert len(llm.requests) == 1


async def test_streams_are_retried_before_their_first_byte(llm, openai):
    llm.rate_limit(1, retry_after=0)
    llm.script({"content": "streamed"})
    tokens: list[str] = []
    reply = await chat(USER, config=openai, model="gpt-4o", on_token=tokens.append)
    assert (reply.text, tokens) == ("streamed", ["streamed"])


async def test_a_wrong_key_says_so_without_retrying(llm, openai):
    with pytest.raises(LLMError, match=r"refused the API key \(HTTP 401") as err:
        await chat(USER, config=openai.with_(api_key="wrong"), model="gpt-4o")
    assert "wrong" not in str(err.value)
    assert len(llm.requests) == 1


async def test_a_bad_request_reports_the_providers_message(llm, openai):
    bad = [{"role": "tool", "tool_call_id": "x", "content": "orphan"}]
    with pytest.raises(LLMError, match="HTTP 400: messages\\[0\\]: messages with role 'tool'"):
        await chat(bad, config=openai, model="gpt-4o")


async def test_an_unreachable_server_is_named(openai):
    dead = openai.with_(base_url="http://127.0.0.1:9/v1", max_retries=1)
    with pytest.raises(LLMError, match=r"openai \(http://127.0.0.1:9/v1\) cannot be reached"):
        await chat(USER, config=dead, model="gpt-4o")


# ---- Anthropic Messages API ---------------------------------------------------------------------


async def test_anthropic_plain_with_system_and_key_header(llm, anthropic):
    llm.script({"content": "Bonjour"})
    msgs = [{"role": "system", "content": "Be French."}, *USER]
    reply = await chat(msgs, config=anthropic, model="claude-3-5-haiku-latest")
    assert reply.text == "Bonjour"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (4, 1)
    assert reply.usage.cost_usd == pytest.approx((4 * 0.8 + 1 * 4.0) / 1e6)
    sent = llm.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body["system"] == "Be French."
    assert sent.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}]
    assert sent.body["max_tokens"] == 4096


async def test_anthropic_streaming_tokens_and_tool_use(llm, anthropic):
    llm.script(
        {
            "content": "Let me check.",
            "tool_calls": [{"id": "toolu_1", "name": "get_weather", "arguments": {"city": "Oslo"}}],
        }
    )
    tokens: list[str] = []
    reply = await chat(USER, config=anthropic, model="claude-sonnet-4-5", tools=TOOLS, on_token=tokens.append)
    assert tokens == ["Let ", "me ", "check."]
    assert reply.text == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("toolu_1", "get_weather", '{"city":"Oslo"}')
    ]
    assert reply.finish_reason == "tool_calls"
    assert llm.requests[-1].body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather of a city.",
            "input_schema": TOOLS[0]["function"]["parameters"],
        }
    ]


async def test_anthropic_translates_a_tool_conversation(llm, anthropic):
    llm.script({"content": "It is sunny in Oslo."})
    conversation = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
    ]
    reply = await chat(conversation, config=anthropic, model="claude-sonnet-4-5", tools=TOOLS)
    assert reply.text == "It is sunny in Oslo."
    assert llm.requests[-1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Oslo"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_json_schema_is_a_forced_tool(llm, anthropic, stream):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    llm.script({"json": {"n": 7}})
    tokens: list[str] = []
    reply = await chat(
        USER,
        config=anthropic,
        model="claude-sonnet-4-5",
        json_schema=schema,
        on_token=tokens.append if stream else None,
    )
    assert reply.text == '{"n":7}'
    assert reply.tool_calls == []
    assert tokens == []
    body = llm.requests[-1].body
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}
    assert body["tools"][0]["input_schema"] == schema


async def test_anthropic_wrong_key(llm, anthropic):
    with pytest.raises(LLMError, match=r"refused the API key \(HTTP 401: Incorrect API key"):
        await chat(USER, config=anthropic.with_(api_key="nope"), model="claude-sonnet-4-5")


# ---- embeddings and images ----------------------------------------------------------------------


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_embeddings_are_ordered_normalised_and_similar_for_similar_texts(llm, openai):
    texts = ["the cat sat on the mat", "a cat sat on a mat", "stock markets fell sharply today"]
    result = await embed(texts, config=openai, dimensions=128)
    assert result.model == "text-embedding-3-small"
    assert result.input_tokens == 6 + 6 + 5
    assert result.cost_usd == pytest.approx(17 * 0.02 / 1e6)
    assert [len(v) for v in result.vectors] == [128, 128, 128]
    assert all(math.isclose(_cos(v, v), 1.0) for v in result.vectors)
    assert _cos(result.vectors[0], result.vectors[1]) > 0.5 > _cos(result.vectors[0], result.vectors[2])
    again = await embed(texts[:1], config=openai, dimensions=128)
    assert again.vectors[0] == result.vectors[0]
    assert llm.requests[-1].body == {
        "model": "text-embedding-3-small",
        "input": ["the cat sat on the mat"],
        "encoding_format": "float",
        "dimensions": 128,
    }
    assert (await embed([], config=openai)).vectors == []


async def test_embeddings_need_an_openai_compatible_provider(anthropic):
    with pytest.raises(LLMError, match="Anthropic has no embeddings API"):
        await embed(["x"], config=anthropic)


async def test_image_generation_returns_a_fetchable_url_and_cost(llm, openai):
    result = await generate_image("a red fox", config=openai, size="1024x1024")
    assert result.revised_prompt == "a red fox"
    assert result.cost_usd == pytest.approx(0.04)
    async with httpx.AsyncClient() as client:
        png = await client.get(result.images[0])
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    assert llm.requests[-1].body == {"model": "dall-e-3", "prompt": "a red fox", "n": 1, "size": "1024x1024"}


async def test_models_endpoint_checks_the_key(llm):
    async with httpx.AsyncClient() as client:
        denied = await client.get(f"{llm.base_url}/models")
        listed = await client.get(f"{llm.base_url}/models", headers={"authorization": "Bearer test-key"})
    assert denied.status_code == 401
    assert "gpt-4o-mini" in {m["id"] for m in listed.json()["data"]}


# ---- configuration ------------------------------------------------------------------------------


def test_environment_configuration():
    assert config_from_env({}) is None
    local = config_from_env(
        {"WORKBENCH_LLM_BASE_URL": "http://127.0.0.1:11434/v1", "WORKBENCH_LLM_PROVIDER": "ollama"}
    )
    assert (local.provider, local.base_url, local.api_key, local.api) == (
        "ollama",
        "http://127.0.0.1:11434/v1",
        None,
        "openai",
    )
    openai = config_from_env({"OPENAI_API_KEY": "sk-1", "WORKBENCH_LLM_MODEL": "gpt-4o-mini"})
    assert (openai.base_url, openai.api_key, openai.model) == (
        "https://api.openai.com/v1",
        "sk-1",
        "gpt-4o-mini",
    )
    both = {"OPENAI_API_KEY": "sk-1", "ANTHROPIC_API_KEY": "ak-1"}
    assert config_from_env(both, model="claude-sonnet-4-5").api == "anthropic"
    assert config_from_env(both, model="gpt-4o").api == "openai"
    assert "sk-1" not in repr(openai)


def test_prices_of_dated_and_unknown_models():
    assert price_of("gpt-4o-2024-08-06") == price_of("gpt-4o") == (2.5, 10.0)
    assert price_of("claude-3-5-haiku-latest") == (0.8, 4.0)
    assert price_of("openai/gpt-4o-mini") == (0.15, 0.6)
    assert price_of("llama3.2") is None
    assert cost_usd("llama3.2", 1000, 1000) == 0.0
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)


async def test_without_any_provider_the_error_says_how_to_configure_one():
    ctx = RunContext.for_test()
    with pytest.raises(LLMNotConfigured) as err:
        await resolve_config(ctx, None, model="gpt-4o", env={})
    message = str(err.value)
    assert "no LLM provider for model 'gpt-4o'" in message
    assert "POST /api/v1/credentials" in message
    assert "OPENAI_API_KEY" in message
    assert "WORKBENCH_LLM_BASE_URL" in message


async def test_admin_endpoints_script_replies_from_another_process(llm, openai):
    async with httpx.AsyncClient(base_url=llm.url) as client:
        queued = await client.post("/_admin/script", json={"replies": [{"content": "scripted"}]})
        assert queued.json() == {"queued": 1}
        await client.post("/_admin/script", json={"rules": {"weather": {"content": "rainy"}}})
        assert (await chat(USER, config=openai, model="gpt-4o")).text == "scripted"
        ask = [{"role": "user", "content": "what is the weather?"}]
        assert (await chat(ask, config=openai, model="gpt-4o")).text == "rainy"
        assert (await chat(USER, config=openai, model="gpt-4o")).text == "echo: Hello there"
        seen = (await client.get("/_admin/requests")).json()
        assert [r["path"] for r in seen] == ["/v1/chat/completions"] * 3
        assert (await client.post("/_admin/reset")).json() == {"reset": True}
    assert llm.requests == []
