"""Anthropic's Messages API (``/messages``), plain and streamed, with tools.

Conversations come in OpenAI's format and are translated: system messages become ``system``,
assistant ``tool_calls`` become ``tool_use`` blocks, ``tool`` messages become ``tool_result`` blocks.
A JSON-schema answer is asked for as a forced call of a ``respond`` tool whose input is the answer.
"""

from __future__ import annotations

import inspect
from typing import Any

from workbench import jsonutil
from workbench.llm import pricing
from workbench.llm.config import ProviderConfig
from workbench.llm.errors import LLMError
from workbench.llm.transport import open_stream, post_json, sse_events
from workbench.llm.types import ChatResponse, Message, TokenCallback, ToolCall, Usage

DEFAULT_MAX_TOKENS = 4096
RESPOND_TOOL = "respond"

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _json_input(arguments: Any) -> Any:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = jsonutil.loads(arguments or "{}")
    except Exception:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"value": value}


def translate_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, Anthropic messages) for an OpenAI-style conversation."""
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for msg in messages:
        role = msg.get("role")
        if role == "system":
            text = _text(msg.get("content"))
            if text:
                system.append(text)
        elif role == "tool":
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": str(msg.get("tool_call_id")),
                        "content": _text(msg.get("content")),
                    }
                ],
            )
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = _text(msg.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in msg.get("tool_calls") or []:
                fn = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": str(call.get("id")),
                        "name": str(fn.get("name")),
                        "input": _json_input(fn.get("arguments")),
                    }
                )
            if isinstance(msg.get("content"), list) and not blocks:
                blocks = list(msg["content"])
            if blocks:
                add("assistant", blocks)
        else:
            content = msg.get("content")
            if isinstance(content, list):
                add("user", list(content))
            else:
                add("user", [{"type": "text", "text": _text(content)}])
    return "\n\n".join(system), out


def _tools(tools: list[dict[str, Any]] | None, json_schema: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    defs = []
    for tool in tools or []:
        fn = tool.get("function") or tool
        defs.append(
            {
                "name": fn["name"],
                "description": fn.get("description") or "",
                "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    if json_schema is not None and not defs:
        defs.append(
            {
                "name": RESPOND_TOOL,
                "description": "Give the answer in this exact form.",
                "input_schema": json_schema,
            }
        )
        body["tool_choice"] = {"type": "tool", "name": RESPOND_TOOL}
    if defs:
        body["tools"] = defs
    return body


async def chat(
    config: ProviderConfig,
    messages: list[Message],
    model: str,
    *,
    tools: list[dict[str, Any]] | None = None,
    json_schema: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    on_token: TokenCallback | None = None,
) -> ChatResponse:
    """One Messages API call; streamed when ``on_token`` is given."""
    system, converted = translate_messages(messages)
    body: dict[str, Any] = {
        "model": model,
        "messages": converted,
        "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
    }
    if system:
        body["system"] = system
    if temperature is not None:
        body["temperature"] = temperature
    body.update(_tools(tools, json_schema))
    forced = body.get("tool_choice", {}).get("name") == RESPOND_TOOL
    if on_token is None:
        data = await post_json(config, "/messages", body)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise LLMError(f"{config.provider} answered without content: {jsonutil.dumps(data)[:300]}")
        usage = data.get("usage") or {}
        return _response(
            model,
            data.get("model") or model,
            blocks,
            data.get("stop_reason"),
            int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
            forced,
        )
    body["stream"] = True
    return await _stream(config, model, body, on_token, forced)


def _response(
    model: str, used: str, blocks: list[dict[str, Any]], stop: str | None, tin: int, tout: int, forced: bool
) -> ChatResponse:
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    thinking = "".join(b.get("thinking", "") for b in blocks if b.get("type") == "thinking") or None
    calls = [
        ToolCall(id=str(b.get("id")), name=str(b.get("name")), arguments=jsonutil.dumps(b.get("input") or {}))
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    if forced:
        # The forced "respond" call carries the structured answer: it is the text, not a tool call.
        answer = next((c for c in calls if c.name == RESPOND_TOOL), None)
        if answer is not None:
            text, calls, stop = answer.arguments, [], "end_turn"
    return ChatResponse(
        text=text,
        model=used,
        tool_calls=calls,
        finish_reason=_STOP_REASONS.get(stop or "", stop),
        usage=Usage(tin, tout, pricing.cost_usd(model, tin, tout)),
        reasoning=thinking,
    )


async def _stream(
    config: ProviderConfig, model: str, body: dict[str, Any], on_token: TokenCallback, forced: bool
) -> ChatResponse:
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, list[str]] = {}
    stop: str | None = None
    tin = tout = 0
    used = model
    async with open_stream(config, "/messages", body) as response:
        async for event, data in sse_events(response):
            try:
                payload = jsonutil.loads(data)
            except Exception as exc:
                raise LLMError(f"{config.provider} sent a malformed stream event: {data[:200]!r}") from exc
            kind = event or payload.get("type")
            if kind == "error":
                raise LLMError(
                    f"{config.provider} failed mid-stream: {(payload.get('error') or {}).get('message')}"
                )
            if kind == "message_start":
                message = payload.get("message") or {}
                used = message.get("model") or used
                usage = message.get("usage") or {}
                tin = int(usage.get("input_tokens") or 0)
                tout = int(usage.get("output_tokens") or 0)
            elif kind == "content_block_start":
                index = int(payload.get("index", 0))
                blocks[index] = dict(payload.get("content_block") or {})
            elif kind == "content_block_delta":
                index = int(payload.get("index", 0))
                delta = payload.get("delta") or {}
                block = blocks.setdefault(index, {"type": "text", "text": ""})
                if delta.get("type") == "text_delta":
                    piece = delta.get("text", "")
                    block["text"] = block.get("text", "") + piece
                    if piece and not forced:
                        result = on_token(piece)
                        if inspect.isawaitable(result):
                            await result
                elif delta.get("type") == "input_json_delta":
                    partial.setdefault(index, []).append(delta.get("partial_json", ""))
                elif delta.get("type") == "thinking_delta":
                    block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif kind == "message_delta":
                stop = (payload.get("delta") or {}).get("stop_reason") or stop
                usage = payload.get("usage") or {}
                if usage.get("output_tokens") is not None:
                    tout = int(usage["output_tokens"])
                if usage.get("input_tokens"):
                    tin = int(usage["input_tokens"])
            elif kind == "message_stop":
                break
    for index, parts in partial.items():
        raw = "".join(parts)
        blocks[index]["input"] = jsonutil.loads(raw) if raw.strip() else {}
    ordered = [blocks[i] for i in sorted(blocks)]
    return _response(model, used, ordered, stop, tin, tout, forced)
