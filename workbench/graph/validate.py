"""Graph validation: every problem at once, each located (node, link, pin).

Checks unknown blocks, duplicate ids, links to missing nodes, unknown or malformed pins, required
inputs neither linked nor defaulted, and defaults of the wrong type. :func:`normalize` applies rule E1:
links leaving a block with static output are static.

A link is located by what it joins, ``link from <source node>.<pin> to <sink node>.<pin>`` (its
message starts so, for every transport), since link ids are usually generated; the id stays in
``link_id``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import lru_cache
from typing import Any, get_args, get_origin

from pydantic import TypeAdapter, ValidationError
from pydantic_core.core_schema import ErrorType

from workbench.block import pins
from workbench.block.base import Block, BlockType
from workbench.block.coerce import convert, needs_conversion
from workbench.block.registry import BlockRegistry
from workbench.errors import GraphValidationError, NotFoundError, Problem
from workbench.graph.model import Graph

SubgraphResolver = Callable[[str, int | None], Graph | None]


@dataclasses.dataclass(frozen=True, slots=True)
class LinkProblem(Problem):
    """A problem of a link; its message starts with the link's ends (see the module documentation)."""

    def __str__(self) -> str:
        """The message alone: it says which link, by its ends, and ``link_id`` is a detail."""
        return self.message


def link_ends(link: Any) -> str:
    """``link from a.out to b.in``: how a problem names a link."""
    return f"link from {link.source_id}.{link.source_name} to {link.sink_id}.{link.sink_name}"


def unknown_block(node: Any) -> Problem:
    """The problem of a node whose block is not installed in this process.

    A block of AutoGPT's catalogue is named by its class ("TranscribeYoutubeVideoBlock (AutoGPT) is
    not available here"), so an importer knows which block to replace or install.
    """
    from workbench.graph.autogpt_names import AUTOGPT_BLOCK_CLASSES

    autogpt_class = AUTOGPT_BLOCK_CLASSES.get(node.block_id)
    if autogpt_class is not None:
        message = (
            f"{autogpt_class} (AutoGPT) is not available here (block id {node.block_id!r}): replace "
            "the node with a block this server has, or install a package that provides it"
        )
    else:
        message = (
            f"unknown block {node.block_id!r}: no block with this id is installed here (a block "
            "defined in a notebook exists only in that notebook's process; install it as a package "
            "to run it elsewhere)"
        )
    return Problem(message, node_id=node.id, code="unknown_block")


def _link_problem(link: Any, message: str, **fields: Any) -> LinkProblem:
    return LinkProblem(f"{link_ends(link)}: {message}", link_id=link.id, **fields)


_base_name = lru_cache(maxsize=4096)(pins.base_name)
"""``pins.base_name``, remembered: a big graph repeats a few pin names thousands of times."""


@lru_cache(maxsize=1024)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _check_default(
    block: Block,
    key: str,
    annotation: Any,
    value: Any,
    convertible: bool,
    defaults: dict[str, Any] | None = None,
) -> None:
    """Raise ValidationError when ``value`` is not what pin ``key`` takes when the block runs.

    The pin's type is checked first (fast, cached per type). A value it refuses gets a second chance
    through the block's own input model, whose field validators may accept it (a list input that
    skips ``None`` items, say), and a container the executor converts item by item (a list of
    numbers for a list of texts, a text for a list) is checked as converted. A text for a number or
    a yes/no pin stays an error: the executor's conversion would silently make ``"abc"`` a 0.
    """
    try:
        _adapter(annotation).validate_python(value)
        return
    except ValidationError:
        container = (get_origin(annotation) or annotation) in (list, dict, set, tuple)
        if convertible and container and needs_conversion(value, annotation):
            value = convert(value, annotation)
    model = block.Input
    model.__pydantic_validator__.validate_assignment(model.model_construct(**(defaults or {})), key, value)


_PYDANTIC_ERROR_TYPES = frozenset(get_args(ErrorType))


def pin_value_problem(
    block: Block, key: str, value: Any, defaults: dict[str, Any] | None = None
) -> str | None:
    """Why ``value`` cannot go to input pin ``key`` of ``block`` (None when it can, or is not checked).

    The same check as a node's defaults get (:func:`validate_graph`), for a run's inputs: a bad date
    is refused when the run is asked for, not when its input node runs. ``defaults`` are the node's
    other inputs, which the block's own validators may use (an input's ``name``); the block's own
    message is kept when it has one."""
    pin = block.input_pins.get(key)
    if pin is None or value is None or pin.annotation is Any:
        return None
    expected = f"expected {_type_name(pin.annotation)}, got {type(value).__name__} {_short(value)}"
    try:
        _check_default(block, key, pin.annotation, value, pin.convertible, defaults)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "value_error":
            return str(error.get("ctx", {}).get("error") or error["msg"])
        if error["type"] not in _PYDANTIC_ERROR_TYPES:  # the block's own error: its message says it all
            return str(error["msg"])
        return f"{expected} ({error['msg']})"
    except (ValueError, TypeError) as exc:
        return f"{expected} ({exc})"
    except Exception:  # annotations pydantic cannot build a validator for are not checked
        return None
    return None


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def subgraph_io(node_defaults: dict[str, Any], key: str) -> dict[str, Any]:
    """The ``input_schema``/``output_schema`` properties an agent executor node declares."""
    schema = node_defaults.get(key)
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        return schema["properties"]
    return {}


def validate_graph(
    graph: Graph, registry: BlockRegistry, resolve_subgraph: SubgraphResolver | None = None
) -> list[Problem]:
    """Return every problem of ``graph`` (and its sub-graphs); an empty list means valid."""
    problems: list[Problem] = []
    blocks: dict[str, Block] = {}
    seen: set[str] = set()
    # Input defaults by node id (of the first node of a duplicated id, as Graph.node finds it): links
    # to agent nodes read their declared pins from it without a scan of the nodes per link.
    defaults: dict[str, dict[str, Any]] = {}
    for node in graph.nodes:
        if node.id in seen:
            problems.append(Problem("duplicate node id", node_id=node.id, code="duplicate_node"))
        seen.add(node.id)
        defaults.setdefault(node.id, node.input_default)
        try:
            blocks[node.id] = registry.get(node.block_id)
        except NotFoundError:
            problems.append(unknown_block(node))
    link_ids: set[str] = set()
    linked_inputs: dict[str, set[str]] = {}
    for link in graph.links:
        if link.id in link_ids:
            problems.append(_link_problem(link, f"duplicate link id {link.id!r}", code="duplicate_link"))
        link_ids.add(link.id)
        problems.extend(_check_link(defaults, link, blocks, seen))
        linked_inputs.setdefault(link.sink_id, set()).add(_base_name(link.sink_name))
    for node in graph.nodes:
        block = blocks.get(node.id)
        if block is not None:
            problems.extend(
                _check_node(node, block, linked_inputs.get(node.id, set()), graph, resolve_subgraph)
            )
    sub_ids = set()
    for sub in graph.sub_graphs:
        sub_ids.add(sub.id)
        for p in validate_graph(sub, registry, resolve_subgraph):
            problems.append(
                dataclasses.replace(p, message=f"in sub-graph {sub.name!r} ({sub.id}): {p.message}")
            )
    return problems


def _check_link(
    defaults: dict[str, dict[str, Any]], link: Any, blocks: dict[str, Block], node_ids: set[str]
) -> list[Problem]:
    out = []
    for end, node_id in (("source", link.source_id), ("sink", link.sink_id)):
        if node_id not in node_ids:
            out.append(_link_problem(link, f"{end} node {node_id!r} does not exist", code="missing_node"))
    source = blocks.get(link.source_id)
    if source is not None:
        out.extend(_check_source_pin(defaults, link, source))
    sink = blocks.get(link.sink_id)
    if sink is not None:
        out.extend(_check_sink_pin(defaults, link, sink))
    return out


def _check_source_pin(defaults: dict[str, dict[str, Any]], link: Any, block: Block) -> list[Problem]:
    name = link.source_name
    if pins.is_tool_pin(name) and block.block_type == BlockType.AI:
        return []
    base = _base_name(name)
    if block.dynamic_outputs:
        declared = set(subgraph_io(defaults[link.source_id], "output_schema"))
        if not declared or base in declared or base == "error":
            return []
        valid = sorted(declared | {"error"})
    else:
        if base in block.output_pins:
            return _check_dynamic_suffix(name, base, link, link.source_id)
        valid = sorted(block.output_pins)
    return [
        _link_problem(
            link,
            f"unknown output pin {name!r} of {block.name}; valid: {', '.join(valid)}",
            node_id=link.source_id,
            pin=name,
            code="unknown_pin",
        )
    ]


def _check_sink_pin(defaults: dict[str, dict[str, Any]], link: Any, block: Block) -> list[Problem]:
    name = link.sink_name
    base = _base_name(name)
    if block.block_type == BlockType.AGENT:
        declared = set(subgraph_io(defaults[link.sink_id], "input_schema"))
        if base in declared or base in block.input_pins:
            return []
        valid = sorted(declared)
    else:
        if base in block.input_pins:
            return _check_dynamic_suffix(name, base, link, link.sink_id)
        valid = sorted(block.input_pins)
    return [
        _link_problem(
            link,
            f"unknown input pin {name!r} of {block.name}; valid: {', '.join(valid) or '(none)'}",
            node_id=link.sink_id,
            pin=name,
            code="unknown_pin",
        )
    ]


def _check_dynamic_suffix(name: str, base: str, link: Any, node_id: str) -> list[Problem]:
    if name == base or not pins.is_dynamic(name):
        return []
    tokens = pins._tokens(name[len(base) :])
    if tokens is None:
        return [
            _link_problem(link, f"malformed dynamic pin {name!r}", node_id=node_id, pin=name, code="bad_pin")
        ]
    return []


def _check_node(
    node: Any,
    block: Block,
    linked: set[str],
    graph: Graph,
    resolve_subgraph: SubgraphResolver | None,
) -> list[Problem]:
    out = []
    defaults = node.input_default
    dynamic_bases = {pins.base_name(k) for k in defaults if pins.is_dynamic(k)}
    for name in sorted(block.required_inputs):
        if name in linked or name in dynamic_bases:
            continue
        if defaults.get(name) is None:
            out.append(
                Problem(
                    "required input is neither linked nor given a default",
                    node_id=node.id,
                    pin=name,
                    code="missing_input",
                )
            )
    for key, value in defaults.items():
        pin = block.input_pins.get(key)
        if pin is None or value is None or pin.annotation is Any:
            continue
        try:
            _check_default(block, key, pin.annotation, value, pin.convertible)
        except (ValidationError, ValueError, TypeError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            out.append(
                Problem(
                    f"default has the wrong type: expected {_type_name(pin.annotation)}, "
                    f"got {type(value).__name__} {_short(value)} ({msg})",
                    node_id=node.id,
                    pin=key,
                    code="bad_default",
                )
            )
        except Exception:  # annotations pydantic cannot build a validator for are not checked
            continue
    if block.block_type == BlockType.AGENT and not any(p.pin == "graph_id" for p in out):
        out.extend(_check_agent_node(node, graph, resolve_subgraph))
    return out


def _check_agent_node(node: Any, graph: Graph, resolve_subgraph: SubgraphResolver | None) -> list[Problem]:
    graph_id = node.input_default.get("graph_id")
    version = node.input_default.get("graph_version")
    if not graph_id:
        return [
            Problem(
                "agent executor node names no graph_id", node_id=node.id, pin="graph_id", code="missing_input"
            )
        ]
    if any(s.id == graph_id and (version is None or s.version == version) for s in graph.sub_graphs):
        return []
    if graph_id == graph.id:
        return []
    if resolve_subgraph is None or resolve_subgraph(graph_id, version) is not None:
        return []
    return [
        Problem(
            f"sub-graph {graph_id} version {version} not found (include it in sub_graphs or save it first)",
            node_id=node.id,
            pin="graph_id",
            code="unknown_graph",
        )
    ]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def normalize(graph: Graph, registry: BlockRegistry) -> Graph:
    """Apply rule E1: every link leaving a block with static output becomes static."""
    static_nodes = {
        n.id for n in graph.nodes if n.block_id in registry and registry.get(n.block_id).static_output
    }
    for link in graph.links:
        if link.source_id in static_nodes:
            link.is_static = True
    for sub in graph.sub_graphs:
        normalize(sub, registry)
    return graph


def check_graph(
    graph: Graph, registry: BlockRegistry, resolve_subgraph: SubgraphResolver | None = None
) -> Graph:
    """Normalize and validate ``graph``; raise GraphValidationError listing every problem."""
    problems = validate_graph(graph, registry, resolve_subgraph)
    if problems:
        raise GraphValidationError(problems)
    return normalize(graph, registry)
