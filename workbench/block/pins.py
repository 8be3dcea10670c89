"""Dynamic pins: ``_$_`` list index, ``_#_`` dict key, ``_@_`` object attribute, and tool pins.

The pin name grammar is part of the block contract: graphs name links with it, the engine routes
values by it, and a block's inputs are assembled by it (also when a block runs alone, in its self-test).

Part C of the interoperability contract: :func:`select` reads a nested part of a yielded output for a
link's ``source_name`` (C1, C2); :func:`merge_dynamic` assembles nested inputs from flat sink pins (C3).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

LIST = "_$_"
DICT = "_#_"
ATTR = "_@_"
TOOL = "_^_"
TOOL_FIELD = "_~_"
_DELIMS = (LIST, DICT, ATTR)
_SPLIT = re.compile(r"(_\$_|_#_|_@_)")
_MISSING = object()


class PinError(ValueError):
    """A dynamic pin name that cannot be resolved (e.g. a non-integer list index)."""


def is_dynamic(name: str) -> bool:
    """Whether ``name`` carries any dynamic delimiter."""
    return LIST in name or DICT in name or ATTR in name


def base_name(name: str) -> str:
    """The pin a dynamic name refers to: ``values_#_a`` -> ``values``; tool pins -> ``tools``."""
    if name.startswith("tools" + TOOL):
        return "tools"
    cut = len(name)
    for delim in _DELIMS:
        i = name.find(delim)
        if i != -1 and i < cut:
            cut = i
    return name[:cut]


def _tokens(suffix: str) -> list[tuple[str, str]] | None:
    """``_$_0_#_k`` -> ``[("_$_", "0"), ("_#_", "k")]``; None when malformed."""
    parts = _SPLIT.split(suffix)
    if parts[0] != "":
        return None
    out = []
    for i in range(1, len(parts), 2):
        token = parts[i + 1]
        if token == "":
            return None
        out.append((parts[i], token))
    return out


def is_tool_pin(name: str) -> bool:
    """Whether a link selector is a SmartDecisionMaker tool pin (``tools`` or ``tools_^_...``)."""
    return name == "tools" or name.startswith("tools" + TOOL)


def select(pin: str, data: Any, selector: str, sink_id: str = "", sink_name: str = "") -> Any:
    """The value a link with ``source_name == selector`` carries for the output ``(pin, data)``.

    Returns the module-level sentinel :data:`NOTHING` when the link does not fire.
    """
    if selector == pin:
        return data
    if pin.startswith("tools" + TOOL):
        # C2: a tool emission reaches only the tool link whose sink matches.
        if not is_tool_pin(selector):
            return NOTHING
        target = pin[len("tools" + TOOL) :]
        node_id, sep, field = target.partition(TOOL_FIELD)
        if sep and node_id == sink_id and field == sink_name:
            return data
        return NOTHING
    if not selector.startswith(pin):
        return NOTHING
    tokens = _tokens(selector[len(pin) :])
    if not tokens:
        return NOTHING
    value = data
    for delim, token in tokens:
        if delim == LIST:
            if not isinstance(value, list | tuple):
                return NOTHING
            try:
                index = int(token)
            except ValueError:
                return NOTHING
            if index >= len(value) or index < -len(value):
                return NOTHING
            value = value[index]
        elif delim == DICT:
            if not isinstance(value, dict) or token not in value:
                return NOTHING
            value = value[token]
        else:
            if isinstance(value, dict) or not hasattr(value, token):
                return NOTHING
            value = getattr(value, token)
    return value


NOTHING: Any = _MISSING


def _assign(container: Any, delim: str, token: str, value: Any) -> Any:
    """Set ``token`` in ``container`` (created or replaced to match ``delim``); return the container."""
    if delim == LIST:
        try:
            index = int(token)
        except ValueError as exc:
            raise PinError(f"index must be an integer, got {token!r}") from exc
        if not isinstance(container, list):
            container = []
        if index < 0:
            raise PinError(f"index must be a non-negative integer, got {token!r}")
        while len(container) <= index:
            container.append(None)
        container[index] = value
        return container
    if delim == DICT:
        if not isinstance(container, dict):
            container = {}
        container[token] = value
        return container
    if container is None or isinstance(container, dict | list):
        container = SimpleNamespace()
    setattr(container, token, value)
    return container


def _get(container: Any, delim: str, token: str) -> Any:
    if delim == LIST and isinstance(container, list):
        try:
            index = int(token)
        except ValueError:
            return None
        return container[index] if 0 <= index < len(container) else None
    if delim == DICT and isinstance(container, dict):
        return container.get(token)
    if delim == ATTR and container is not None and not isinstance(container, dict | list):
        return getattr(container, token, None)
    return None


def merge_dynamic(data: dict[str, Any]) -> dict[str, Any]:
    """Assemble nested inputs from flat dynamic keys (C3). Flat keys stay; bases are set or extended.

    Raises:
        PinError: a list index that is not an integer.
    """
    if not any(is_dynamic(k) for k in data):
        return data
    merged: dict[str, Any] = {}
    for key, value in data.items():
        if not is_dynamic(key):
            # Copied as-is: a plain base key seen before its dynamic parts is extended by them; seen
            # after them, it replaces what they assembled (AutoGPT's merge_execution_input).
            merged[key] = _copy(value)
            continue
        base = base_name(key)
        tokens = _tokens(key[len(base) :])
        if not tokens:
            raise PinError(f"malformed dynamic pin name {key!r}")
        merged[base] = _set_path(merged.get(base), tokens, value)
    out = dict(data)
    out.update(merged)
    return out


def _set_path(container: Any, tokens: list[tuple[str, str]], value: Any) -> Any:
    delim, token = tokens[0]
    if len(tokens) == 1:
        return _assign(container, delim, token, value)
    # A nested container may belong to a default or a delivered value: write into a copy of it.
    child = _copy(_get(container, delim, token))
    return _assign(container, delim, token, _set_path(child, tokens[1:], value))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value
