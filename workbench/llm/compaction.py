"""Keeping a growing conversation within a model's context window.

A tool-calling agent's conversation grows with every tool result. :func:`compact` shrinks it to a token
budget, each step only as far as needed:

1. the oldest tool results (before the latest turn) give up their text for a short note, oldest first;
   each call keeps its answer, as providers require;
2. whole oldest turns (an assistant message with the tool results answering it, or a lone message) are
   dropped, oldest first, and one system note says that earlier messages were removed;
3. the latest turn's tool results are cut in the middle (their head and tail kept), largest first.

System messages, the first user message, messages ``keep`` protects (the task) and the latest turn
(the last assistant message and what follows it) are never dropped. Tokens are estimated from the
characters (about four a token): no tokenizer, the same for every provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench import jsonutil
from workbench.llm.types import Message

__all__ = ["Compaction", "compact", "estimate_tokens"]

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
"""Tokens a provider adds around each message (role, separators)."""
NOTE_PREFIX = "[Compacted]: "
MIN_KEPT_CHARS = 200
"""A cut tool result keeps at least this much of its text."""
CUT_MARK_CHARS = 80
"""Room for the note a cut leaves in the text."""


def _chars(value: Any) -> int:
    if value is None:
        return 0
    return len(value) if isinstance(value, str) else len(jsonutil.dumps(value))


def message_tokens(message: Message) -> int:
    """Estimated tokens of one message: its content, tool calls and the per-message overhead."""
    chars = _chars(message.get("content")) + _chars(message.get("tool_calls"))
    return MESSAGE_OVERHEAD + -(-chars // CHARS_PER_TOKEN)


def estimate_tokens(messages: list[Message]) -> int:
    """Estimated tokens of a conversation."""
    return sum(message_tokens(m) for m in messages)


def _is_result(message: Message) -> bool:
    """A tool's answer: OpenAI's ``tool`` message or a user message of Anthropic ``tool_result`` blocks."""
    if message.get("role") == "tool":
        return True
    content = message.get("content")
    return (
        message.get("role") == "user"
        and isinstance(content, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def _calls_tools(message: Message) -> bool:
    if message.get("role") != "assistant":
        return False
    content = message.get("content")
    return bool(message.get("tool_calls")) or (
        isinstance(content, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
    )


def _result_chars(message: Message) -> int:
    content = message.get("content")
    if message.get("role") == "tool":
        return _chars(content)
    return sum(
        _chars(b.get("content")) for b in content if isinstance(b, dict) and b.get("type") == "tool_result"
    )


def _with_results(message: Message, change: Callable[[str], str]) -> Message:
    """A copy of the tool-result message with each result's text passed through ``change``."""
    if message.get("role") == "tool":
        content = message.get("content")
        return {
            **message,
            "content": change(content if isinstance(content, str) else jsonutil.dumps(content)),
        }
    blocks = []
    for block in message["content"]:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            text = block.get("content")
            block = {**block, "content": change(text if isinstance(text, str) else jsonutil.dumps(text))}
        blocks.append(block)
    return {**message, "content": blocks}


def _emptied(text: str) -> str:
    if text.startswith("[compacted:"):
        return text
    note = f"[compacted: this tool result ({len(text)} characters) was removed to fit the context window]"
    return note if len(note) < len(text) else text


def _cut(text: str, keep: int) -> str:
    if len(text) <= keep:
        return text
    head = keep // 2
    tail = keep - head
    return f"{text[:head]} … [{len(text) - keep} characters cut to fit the context window] … {text[-tail:]}"


@dataclass(slots=True)
class Compaction:
    """The conversation after :func:`compact`, and what was done to it."""

    messages: list[Message]
    tokens_before: int
    tokens_after: int
    emptied: int = 0
    """Old tool results whose text was replaced by a note."""
    dropped: int = 0
    """Messages removed."""
    cut: int = 0
    """Latest tool results shortened."""

    @property
    def changed(self) -> bool:
        """Whether anything was compacted."""
        return bool(self.emptied or self.dropped or self.cut)

    def summary(self) -> dict[str, int]:
        """What was done, for a progress note."""
        return {
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "emptied": self.emptied,
            "dropped": self.dropped,
            "cut": self.cut,
        }


def compact(
    messages: list[Message], budget: int, *, keep: Callable[[Message], bool] | None = None
) -> Compaction:
    """``messages`` shrunk to about ``budget`` tokens (best effort: protected messages stay whole).

    The caller's list and messages are not modified.
    """
    msgs = list(messages)
    total = estimate_tokens(msgs)
    result = Compaction(msgs, total, total)
    if total <= budget:
        return result
    latest = next(
        (i for i in range(len(msgs) - 1, -1, -1) if msgs[i].get("role") == "assistant"), len(msgs) - 1
    )
    first_user = next((i for i, m in enumerate(msgs) if m.get("role") == "user" and not _is_result(m)), -1)

    def protected(i: int) -> bool:
        m = msgs[i]
        return i >= latest or i == first_user or m.get("role") == "system" or (keep is not None and keep(m))

    def replace(i: int, new: Message) -> None:
        nonlocal total
        total += message_tokens(new) - message_tokens(msgs[i])
        msgs[i] = new

    for i in range(latest):  # 1. old tool results give up their text
        if total <= budget:
            break
        if _is_result(msgs[i]) and not protected(i):
            new = _with_results(msgs[i], _emptied)
            if new != msgs[i]:
                replace(i, new)
                result.emptied += 1

    if total > budget:  # 2. old turns go
        total = _drop_turns(msgs, latest, budget, protected, result)

    if total > budget:  # 3. the latest tool results are cut
        latest = next(
            (i for i in range(len(msgs) - 1, -1, -1) if msgs[i].get("role") == "assistant"), len(msgs)
        )
        results = sorted(
            (i for i in range(latest, len(msgs)) if _is_result(msgs[i])),
            key=lambda i: -_result_chars(msgs[i]),
        )
        for i in results:
            if total <= budget:
                break
            excess = (total - budget) * CHARS_PER_TOKEN
            keep_chars = max(MIN_KEPT_CHARS, _result_chars(msgs[i]) - excess - CUT_MARK_CHARS)
            new = _with_results(msgs[i], lambda text, k=keep_chars: _cut(text, k))
            if new != msgs[i]:
                replace(i, new)
                result.cut += 1
    result.tokens_after = total
    return result


def _drop_turns(
    msgs: list[Message], latest: int, budget: int, protected: Callable[[int], bool], result: Compaction
) -> int:
    """Remove the oldest droppable turns before ``latest`` until ``msgs`` fits; the new total."""
    turns: list[list[int]] = []
    i = 0
    while i < latest:
        turn = [i]
        if _calls_tools(msgs[i]):
            while i + 1 < latest and _is_result(msgs[i + 1]):
                i += 1
                turn.append(i)
        turns.append(turn)
        i += 1
    total = estimate_tokens(msgs)
    gone: set[int] = set()
    for turn in turns:
        if total <= budget:
            break
        # A lone tool result belongs to a kept call: removing it would leave the call unanswered.
        if any(protected(j) for j in turn) or (len(turn) == 1 and _is_result(msgs[turn[0]])):
            continue
        gone.update(turn)
        total -= sum(message_tokens(msgs[j]) for j in turn)
    if not gone:
        return total
    result.dropped += len(gone)
    first = min(gone)
    kept = [m for j, m in enumerate(msgs) if j not in gone]
    if not any(m.get("role") == "system" and str(m.get("content", "")).startswith(NOTE_PREFIX) for m in kept):
        note: Message = {
            "role": "system",
            "content": NOTE_PREFIX + "earlier messages of this conversation were removed to fit the "
            "model's context window.",
        }
        kept.insert(sum(1 for j in range(first) if j not in gone), note)
        total += message_tokens(note)
    msgs[:] = kept
    return total
