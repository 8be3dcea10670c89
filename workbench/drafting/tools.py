"""The tools the drafting model may call (OpenAI function schemas) and their dispatch onto a board.

Nothing the model writes runs except through these tools: each call is parsed, checked and applied
to the :class:`~workbench.drafting.board.DraftBoard` (or refused with the reason), and its result,
a short text, goes back to the model.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from workbench import jsonutil
from workbench.block.registry import BlockRegistry
from workbench.drafting import catalogue
from workbench.drafting.board import DraftBoard, Refused

FINISH = "finish"
_ENDS = {
    "source_node": {"type": "string", "description": "Id of the node the value comes from."},
    "source_pin": {"type": "string", "description": "Output pin of the source node."},
    "sink_node": {"type": "string", "description": "Id of the node the value goes to."},
    "sink_pin": {"type": "string", "description": "Input pin of the sink node (dict entry: name_#_key)."},
}


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


TOOLS: list[dict[str, Any]] = [
    _tool(
        "search_blocks",
        "Find blocks of the catalogue by keywords; returns each block's name, description, input pins "
        "(type, required, default) and output pins.",
        {"query": {"type": "string", "description": "Keywords, e.g. 'send web request'."}},
        ["query"],
    ),
    _tool(
        "add_node",
        "Add a node running a block (by the exact name or id search_blocks gave), with input defaults.",
        {
            "node_id": {"type": "string", "description": "A short unique id, e.g. 'fetch'."},
            "block": {"type": "string", "description": "The block's name or id."},
            "defaults": {"type": "object", "description": "Default values of input pins, by pin name."},
        },
        ["node_id", "block"],
    ),
    _tool("link", "Send an output pin's values to an input pin.", _ENDS, list(_ENDS)),
    _tool(
        "set_default",
        "Set the default value of a node's input pin (null clears it).",
        {
            "node_id": {"type": "string"},
            "pin": {"type": "string"},
            "value": {"description": "Any JSON value."},
        },
        ["node_id", "pin", "value"],
    ),
    _tool("remove_node", "Remove a node and its links.", {"node_id": {"type": "string"}}, ["node_id"]),
    _tool("remove_link", "Remove the link with these ends.", _ENDS, list(_ENDS)),
    _tool(
        "set_name",
        "Name and describe the agent.",
        {"name": {"type": "string"}, "description": {"type": "string"}},
        ["name"],
    ),
    _tool(
        FINISH,
        "Call when the graph does what was asked; the whole graph is then validated.",
        {"summary": {"type": "string", "description": "One or two sentences for the person."}},
        ["summary"],
    ),
]
"""Every tool offered to the model."""


def _text(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str):
        raise Refused(f"{key}: a string is required")
    return value


def apply(board: DraftBoard, registry: BlockRegistry, name: str, arguments: str) -> str:
    """Run one tool call on ``board``; the text result for the model (``error: ...`` when refused)."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError as exc:
        return f"error: the arguments are not valid JSON ({exc})"
    if not isinstance(args, dict):
        return "error: the arguments must be a JSON object"
    where = jsonutil.nul_path(args, "arguments")
    if where is not None:  # no graph, pin or value may hold one (PostgreSQL refuses them)
        return f"error: {where}: must not contain NUL characters"
    try:
        return _dispatch(board, registry, name, args)
    except Refused as exc:
        return f"error: {exc}"
    except ValidationError as exc:  # a node or link the graph model refuses
        return f"error: {exc.errors()[0]['msg']}"


def _dispatch(board: DraftBoard, registry: BlockRegistry, name: str, args: dict[str, Any]) -> str:
    if name == "search_blocks":
        found = catalogue.search(registry, _text(args, "query"))
        if not found:
            return "no block matches; try other words"
        return json.dumps(found, ensure_ascii=False, default=str)
    if name == "add_node":
        defaults = args.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise Refused("defaults: an object of pin name -> value is required")
        return board.add_node(_text(args, "node_id"), _text(args, "block"), defaults)
    if name in ("link", "remove_link"):
        ends = [_text(args, key) for key in _ENDS]
        return board.link(*ends) if name == "link" else board.remove_link(*ends)
    if name == "set_default":
        if "value" not in args:
            raise Refused("value: required (null clears the default)")
        return board.set_default(_text(args, "node_id"), _text(args, "pin"), args["value"])
    if name == "remove_node":
        return board.remove_node(_text(args, "node_id"))
    if name == "set_name":
        description = args.get("description")
        return board.set_name(_text(args, "name"), description if isinstance(description, str) else None)
    if name == FINISH:
        return "checking the whole graph"
    raise Refused(f"there is no tool {name!r}; tools: {', '.join(t['function']['name'] for t in TOOLS)}")
