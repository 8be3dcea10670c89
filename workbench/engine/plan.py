"""A graph compiled for execution: blocks resolved, links indexed by source pin and sink node."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from workbench.block import pins
from workbench.block.base import Block, BlockType
from workbench.block.registry import BlockRegistry
from workbench.graph.model import Graph, Link


@dataclass(slots=True, eq=False)
class Route:
    """One outgoing link, with its sink resolved."""

    link: Link
    sink: PlannedNode
    selector: str
    sink_name: str
    is_static: bool


@dataclass(slots=True, eq=False)
class PlannedNode:
    """A node ready to execute: its block, defaults, and indexed links."""

    id: str
    block: Block
    defaults: dict[str, Any]
    metadata: dict[str, Any]
    linked: tuple[str, ...] = ()
    """Sink pin names (as written on links) that must hold a value before the node runs (E5.1)."""
    static_in: tuple[str, ...] = ()
    exact_out: dict[str, list[Route]] = field(default_factory=dict)
    selector_out: list[Route] = field(default_factory=list)
    error_linked: bool = False
    timeout: float | None = None
    dynamic_in: bool = False
    """Whether a default or a link's sink pin is dynamic (``name_#_key``...): inputs need merging."""

    @property
    def block_type(self) -> BlockType:
        """The block's type (INPUT, OUTPUT, NOTE, AGENT...)."""
        return self.block.block_type


_is_dynamic = lru_cache(maxsize=4096)(pins.is_dynamic)
"""``pins.is_dynamic``, remembered: a big graph repeats a few pin names thousands of times."""


@lru_cache(maxsize=4096)
def _source_pin(name: str) -> tuple[bool, bool]:
    """Whether links from the output pin ``name`` select (a dynamic or tool pin: the value is picked
    per link), and whether ``name`` is the error pin."""
    return pins.is_dynamic(name) or pins.is_tool_pin(name), pins.base_name(name) == "error"


class Plan:
    """The executable form of a Graph; built once per (graph id, version) and reused."""

    def __init__(self, graph: Graph, registry: BlockRegistry, default_timeout: float) -> None:
        self.graph = graph
        self.nodes: dict[str, PlannedNode] = {}
        for node in graph.nodes:
            block = registry.get(node.block_id)
            timeout = node.metadata.get("timeout") if isinstance(node.metadata, dict) else None
            if not isinstance(timeout, int | float) or timeout <= 0:
                timeout = block.timeout or default_timeout
            defaults = node.input_default
            self.nodes[node.id] = PlannedNode(
                id=node.id,
                block=block,
                defaults=dict(defaults),
                metadata=node.metadata,
                timeout=float(timeout),
                dynamic_in=bool(defaults) and any(map(_is_dynamic, defaults)),
            )
        linked: dict[str, list[str]] = {}
        static_in: dict[str, list[str]] = {}
        for link in graph.links:
            source = self.nodes[link.source_id]
            sink = self.nodes[link.sink_id]
            route = Route(link, sink, link.source_name, link.sink_name, link.is_static)
            sink_pins = linked.setdefault(sink.id, [])
            if link.sink_name not in sink_pins:
                sink_pins.append(link.sink_name)
                if _is_dynamic(link.sink_name):
                    sink.dynamic_in = True
            if link.is_static:
                static_pins = static_in.setdefault(sink.id, [])
                if link.sink_name not in static_pins:
                    static_pins.append(link.sink_name)
            selects, is_error = _source_pin(link.source_name)
            if selects:
                source.selector_out.append(route)
            else:
                source.exact_out.setdefault(link.source_name, []).append(route)
            if is_error:
                source.error_linked = True
        for nid, names in linked.items():
            node = self.nodes[nid]
            optional = node.block.optional_links
            node.linked = tuple(p for p in names if p not in optional) if optional else tuple(names)
        for nid, names in static_in.items():
            self.nodes[nid].static_in = tuple(names)
        inbound = {link.sink_id for link in graph.links}
        self.starting = [
            n for n in self.nodes.values() if n.id not in inbound and n.block_type != BlockType.NOTE
        ]
        self.input_nodes = [n for n in self.nodes.values() if n.block_type == BlockType.INPUT]
        self.output_nodes = [n for n in self.nodes.values() if n.block_type == BlockType.OUTPUT]
        self._input_schema: dict[str, Any] | None = None

    def input_schema(self) -> dict[str, Any]:
        """JSON Schema of the graph's inputs (one property per input node name); computed once."""
        if self._input_schema is None:
            self._input_schema = self._build_input_schema()
        return self._input_schema

    def _build_input_schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required = []
        for node in self.input_nodes:
            name = node.defaults.get("name")
            if not isinstance(name, str):
                continue
            value_schema = dict(node.block.input_schema().get("properties", {}).get("value", {}))
            value_schema.pop("default", None)
            prop = {k: v for k, v in value_schema.items() if k not in ("title", "description")}
            prop["title"] = node.defaults.get("title") or name
            if node.defaults.get("description"):
                prop["description"] = node.defaults["description"]
            if node.defaults.get("secret"):
                prop["secret"] = True
            options = node.defaults.get("options")
            if isinstance(options, list) and options:
                prop["enum"] = options
            if node.defaults.get("value") is not None:
                prop["default"] = node.defaults["value"]
            elif name not in required:
                required.append(name)
            props[name] = node.block.graph_input_schema(prop, node.defaults)
        return {"type": "object", "properties": props, "required": required}

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema of the graph's outputs (one property per output node name)."""
        props: dict[str, Any] = {}
        for node in self.output_nodes:
            name = node.defaults.get("name")
            if isinstance(name, str):
                prop: dict[str, Any] = {"title": node.defaults.get("title") or name}
                if node.defaults.get("description"):
                    prop["description"] = node.defaults["description"]
                props[name] = prop
        return {"type": "object", "properties": props}
