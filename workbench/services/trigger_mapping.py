"""From a webhook's JSON payload to an agent's inputs: paths into the payload, checked and resolved.

A trigger's ``input_mapping`` maps input names to paths into the payload, so a GitHub- or
Stripe-shaped body can feed named inputs. A path is either

* a JSON pointer (RFC 6901), starting with ``/``: ``/pull_request/title``, ``/commits/0/id``
  (``~1`` stands for ``/`` and ``~0`` for ``~`` inside a key); the empty pointer ``""`` is the whole
  payload;
* or a dotted path: ``pull_request.title``, ``commits.0.id`` (keys containing dots need a pointer).

A list is indexed by a decimal number (``0``, ``12``; no sign, no leading zero). A path that leads
nowhere in a given payload gives no value: the input keeps its default, or the run is refused when the
input is required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_PATH = 500
"""The longest path, in characters."""
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")
_ESCAPE = re.compile(r"~(?![01])")


def path_problem(path: Any) -> str | None:
    """Why ``path`` is not a valid path (None when it is)."""
    if not isinstance(path, str):
        return "must be a JSON pointer (/a/0/b) or a dotted path (a.0.b) into the payload, as text"
    if len(path) > MAX_PATH or "\x00" in path:
        return f"must be at most {MAX_PATH} characters, without NUL characters"
    if path.startswith("/") or path == "":
        if _ESCAPE.search(path):
            return "a JSON pointer writes '~' as ~0 and '/' as ~1 inside a key"
        return None
    if any(part == "" for part in path.split(".")):
        return "a dotted path has no empty parts (a.b.0); a key with dots needs a JSON pointer (/a.b)"
    return None


def path_parts(path: str) -> list[str]:
    """The keys and indexes ``path`` goes through (none: the whole payload)."""
    if path == "":
        return []
    if path.startswith("/"):
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    return path.split(".")


def resolve(payload: Any, path: str) -> tuple[bool, Any]:
    """``(True, value)`` at ``path`` in ``payload``, or ``(False, None)`` when there is nothing there."""
    here = payload
    for part in path_parts(path):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and _INDEX.fullmatch(part) and int(part) < len(here):
            here = here[int(part)]
        else:
            return False, None
    return True, here


def map_inputs(mapping: Mapping[str, str], payload: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The inputs ``mapping`` takes from ``payload``, and the inputs whose path led nowhere (with
    their paths)."""
    inputs: dict[str, Any] = {}
    absent: dict[str, str] = {}
    for name, path in mapping.items():
        found, value = resolve(payload, path)
        if found:
            inputs[name] = value
        else:
            absent[name] = path
    return inputs, absent
