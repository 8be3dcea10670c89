"""The OpenAI-compatible protocol: ``/chat/completions`` (plain and SSE streaming, tools, JSON schema),
``/embeddings`` and ``/images/generations``. Works with OpenAI, Ollama, vLLM, llama.cpp, LM Studio,
OpenRouter and any server that speaks the same protocol."""

from __future__ import annotations

import inspect
from typing import Any

from workbench import jsonutil
from workbench.llm import pricing
from workbench.llm.config import ProviderConfig
from workbench.llm.errors import LLMError
from workbench.llm.transport import open_stream, post_json, sse_events
from workbench.llm.types import (
    ChatResponse,
    EmbeddingResult,
    ImageResult,
    Message,
    TokenCallback,
    ToolCall,
    Usage,
)


def _usage(model: str, data: Any) -> Usage:
    data = data if isinstance(data, dict) else {}
    tin = int(data.get("prompt_tokens") or data.get("input_tokens") or 0)
    tout = int(data.get("completion_tokens") or data.get("output_tokens") or 0)
    return Usage(tin, tout, pricing.cost_usd(model, tin, tout))


def chat_body(
    messages: list[Message],
    model: str,
    *,
    tools: list[dict[str, Any]] | None,
    response_format: dict[str, Any] | None,
    max_tokens: int | None,
    temperature: float | None,
    parallel_tool_calls: bool | None,
    stream: bool,
) -> dict[str, Any]:
    """The request body of a chat completion."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if tools:
        body["tools"] = [_strip_private(t) for t in tools]
        if parallel_tool_calls is not None:
            body["parallel_tool_calls"] = parallel_tool_calls
    if response_format is not None:
        body["response_format"] = response_format
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _strip_private(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool definition without our ``_``-prefixed bookkeeping keys."""
    fn = tool.get("function")
    if not isinstance(fn, dict):
        return tool
    return {**tool, "function": {k: v for k, v in fn.items() if not k.startswith("_")}}


async def chat(
    config: ProviderConfig,
    messages: list[Message],
    model: str,
    *,
    tools: list[dict[str, Any]] | None = None,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    parallel_tool_calls: bool | None = None,
    on_token: TokenCallback | None = None,
) -> ChatResponse:
    """One chat completion; streamed (``on_token`` called per token) when ``on_token`` is given."""
    body = chat_body(
        messages,
        model,
        tools=tools,
        response_format=response_format,
        max_tokens=max_tokens,
        temperature=temperature,
        parallel_tool_calls=parallel_tool_calls,
        stream=on_token is not None,
    )
    if on_token is None:
        data = await post_json(config, "/chat/completions", body)
        return _parse_completion(config, model, data)
    return await _stream_completion(config, model, body, on_token)


def _parse_completion(config: ProviderConfig, model: str, data: dict[str, Any]) -> ChatResponse:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise LLMError(f"{config.provider} answered without choices: {jsonutil.dumps(data)[:300]}")
    choice = choices[0]
    msg = choice.get("message") or {}
    calls = [
        ToolCall(
            id=str(c.get("id") or f"call_{i}"),
            name=str((c.get("function") or {}).get("name") or ""),
            arguments=_arguments_text((c.get("function") or {}).get("arguments")),
        )
        for i, c in enumerate(msg.get("tool_calls") or [])
    ]
    used = data.get("model") or model
    return ChatResponse(
        text=_content_text(msg.get("content")),
        model=used,
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        usage=_usage(model, data.get("usage")),
        reasoning=msg.get("reasoning_content") or msg.get("reasoning") or None,
    )


def _arguments_text(value: Any) -> str:
    if value is None:
        return "{}"
    return value if isinstance(value, str) else jsonutil.dumps(value)


def _content_text(content: Any) -> str:
    """Text of a message content: a string, or the text parts of a content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


async def _stream_completion(
    config: ProviderConfig, model: str, body: dict[str, Any], on_token: TokenCallback
) -> ChatResponse:
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage = Usage()
    used = model
    async with open_stream(config, "/chat/completions", body) as response:
        async for _event, data in sse_events(response):
            if data.strip() == "[DONE]":
                break
            try:
                chunk = jsonutil.loads(data)
            except Exception as exc:
                raise LLMError(f"{config.provider} sent a malformed stream chunk: {data[:200]!r}") from exc
            if isinstance(chunk.get("error"), dict):
                raise LLMError(f"{config.provider} failed mid-stream: {chunk['error'].get('message')}")
            used = chunk.get("model") or used
            if chunk.get("usage"):
                usage = _usage(model, chunk["usage"])
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                piece = delta.get("content")
                if piece:
                    text.append(piece)
                    result = on_token(piece)
                    if inspect.isawaitable(result):
                        await result
                thought = delta.get("reasoning_content") or delta.get("reasoning")
                if thought:
                    reasoning.append(thought)
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(
                        int(tc.get("index", len(calls))), {"id": None, "name": "", "args": []}
                    )
                    if tc.get("id"):
                        slot["id"] = tc["id"]
                    fn = tc.get("function") or {}
                    if fn.get("name"):
                        slot["name"] += fn["name"]
                    if fn.get("arguments"):
                        slot["args"].append(fn["arguments"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
    tool_calls = [
        ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments="".join(s["args"]) or "{}")
        for i, s in sorted(calls.items())
    ]
    return ChatResponse(
        text="".join(text),
        model=used,
        tool_calls=tool_calls,
        finish_reason=finish,
        usage=usage,
        reasoning="".join(reasoning) or None,
    )


async def embed(
    config: ProviderConfig, texts: list[str], model: str, *, dimensions: int | None = None
) -> EmbeddingResult:
    """Vectors of ``texts`` from ``/embeddings``, in input order."""
    if not texts:
        return EmbeddingResult([], model, 0)
    body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
    if dimensions is not None:
        body["dimensions"] = dimensions
    data = await post_json(config, "/embeddings", body)
    items = data.get("data")
    if not isinstance(items, list) or len(items) != len(texts):
        got = len(items) if isinstance(items, list) else "no"
        raise LLMError(f"{config.provider} returned {got} embeddings for {len(texts)} texts")
    ordered = sorted(items, key=lambda d: int(d.get("index", 0)))
    vectors = []
    for item in ordered:
        vec = item.get("embedding")
        if not isinstance(vec, list):
            raise LLMError(f"{config.provider} returned an embedding that is not a list of numbers")
        vectors.append([float(x) for x in vec])
    usage = data.get("usage") or {}
    tokens = int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0)
    return EmbeddingResult(vectors, data.get("model") or model, tokens, pricing.cost_usd(model, tokens, 0))


async def generate_image(
    config: ProviderConfig,
    prompt: str,
    model: str,
    *,
    size: str | None = None,
    n: int = 1,
    quality: str | None = None,
    style: str | None = None,
) -> ImageResult:
    """Images from ``/images/generations``: URLs, or ``data:image/png;base64,...`` when sent inline."""
    body: dict[str, Any] = {"model": model, "prompt": prompt, "n": n}
    for key, value in (("size", size), ("quality", quality), ("style", style)):
        if value:
            body[key] = value
    data = await post_json(config, "/images/generations", body)
    items = data.get("data")
    if not isinstance(items, list) or not items:
        raise LLMError(f"{config.provider} returned no image: {jsonutil.dumps(data)[:300]}")
    images = []
    for item in items:
        if item.get("url"):
            images.append(str(item["url"]))
        elif item.get("b64_json"):
            images.append(f"data:image/png;base64,{item['b64_json']}")
    if not images:
        raise LLMError(f"{config.provider} returned images without url or b64_json")
    revised = items[0].get("revised_prompt")
    return ImageResult(images, model, revised, pricing.image_cost_usd(model, len(images)))
