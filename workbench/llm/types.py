"""What the LLM client returns: chat responses with tool calls and usage, embeddings, images.

Messages are OpenAI-style dicts (``{"role": "user", "content": "..."}``, assistant messages with
``tool_calls``, ``{"role": "tool", "tool_call_id": ..., "content": ...}``) whatever the provider: the
Anthropic client translates them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]
"""One chat message in OpenAI's format."""

TokenCallback = Callable[[str], Awaitable[None] | None]
"""Called with each text token of a streamed answer."""


@dataclass(slots=True)
class Usage:
    """Tokens one call used and what it cost."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        """Add another call's usage to this one."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for; ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str

    def to_message(self) -> dict[str, Any]:
        """The ``tool_calls`` entry of an assistant message (OpenAI format)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    def result_message(self, content: str) -> Message:
        """The tool's answer to this call, to append after the assistant message that made it (the
        Anthropic client sends it as a ``tool_result`` block)."""
        return {"role": "tool", "tool_call_id": self.id, "content": content}


@dataclass(slots=True)
class ChatResponse:
    """A model's answer: its text, tool calls, why it stopped, and usage."""

    text: str
    model: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    reasoning: str | None = None

    def message(self) -> Message:
        """The answer as an assistant message, to append to a conversation."""
        msg: Message = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            msg["tool_calls"] = [t.to_message() for t in self.tool_calls]
        elif msg["content"] is None:
            msg["content"] = ""
        return msg


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """Vectors of the texts, in order, the model that made them and the tokens it counted."""

    vectors: list[list[float]]
    model: str
    input_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class ImageResult:
    """Generated images: URLs or ``data:`` URLs (from base64), and the prompt the model used."""

    images: list[str]
    model: str
    revised_prompt: str | None = None
    cost_usd: float = 0.0
