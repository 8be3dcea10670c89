"""What the drafting assistant learns about blocks: a keyword search of the real registry, and each
block described by its pins (name, type, required, default), small enough for a prompt."""

from __future__ import annotations

import re
from typing import Any

from workbench.block.base import Block
from workbench.block.registry import BlockRegistry

SEARCH_LIMIT = 8
"""Most blocks one search returns."""
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a an and the of to for in on at by with from into each every my me i it is be as or then that
    this some any use using block blocks""".split()  # noqa: SIM905
)

_SYNONYMS = {"llm": "ai", "gpt": "ai", "claude": "ai", "chatgpt": "ai", "url": "web", "http": "web"}
"""Words people use for what block names call otherwise."""


def type_name(annotation: Any) -> str:
    """A readable name of a pin's type: ``str``, ``int | None``, ``list[str]``, ``Any``."""
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "None")


def _short(value: Any, limit: int = 80) -> Any:
    """A default as the model sees it: long texts cut, so a description stays small."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 3] + "..."
    return value


def describe(block: Block) -> dict[str, Any]:
    """A block for the model: id, name, description, input pins (type, required, default), outputs."""
    inputs = []
    for pin in block.input_pins.values():
        entry: dict[str, Any] = {"name": pin.name, "type": type_name(pin.annotation)}
        if pin.required:
            entry["required"] = True
        elif pin.default not in (None, "", [], {}):
            entry["default"] = _short(pin.default)
        inputs.append(entry)
    outputs = [{"name": name, "type": type_name(t)} for name, t in block.output_pins.items()]
    return {
        "id": block.id,
        "name": block.name,
        "description": block.description,
        "inputs": inputs,
        "outputs": outputs,
    }


def _words(text: str) -> set[str]:
    """Lower-case words of ``text``, CamelCase split (``SendWebRequestBlock`` -> send, web, request)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    return {w for w in _WORD.findall(spaced.lower()) if w not in _STOP}


def _stem(word: str) -> str:
    """A crude stem, so "summarise" finds "summarizer" and "emails" finds "email"."""
    word = word.replace("ise", "ize")
    for suffix in ("ing", "er", "es", "s", "ed", "e"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def search(registry: BlockRegistry, query: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """The blocks best matching ``query`` (words of the name count most, then categories, then the
    description), each :func:`describe`-d; an empty list when nothing matches."""
    words = _words(query)
    wanted = {_stem(w) for w in words | {_SYNONYMS[w] for w in words if w in _SYNONYMS}}
    if not wanted:
        return []
    scored: list[tuple[int, int, int, str, Block]] = []
    for block in registry:
        name = {_stem(w) for w in _words(block.name)}
        categories = {_stem(w) for c in block.categories for w in _words(str(c))}
        description = {_stem(w) for w in _words(block.description)}
        in_name = len(wanted & name)
        score = sum(3 * (w in name) + 2 * (w in categories) + (w in description) for w in wanted)
        if score:
            # The query's words in the name first, then the name that says least beyond them ("send
            # web request": SendWebRequestBlock before SendAuthenticatedWebRequestBlock), then the rest.
            scored.append((-in_name, len(name - wanted), -score, block.name, block))
    scored.sort(key=lambda item: item[:4])
    return [describe(block) for *_, block in scored[:limit]]
