"""Building graphs in Python, readably, with mistakes caught at the line that makes them.

Example::

    g = GraphBuilder("Greeter")
    name = g.input("name")
    greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")
    name.result >> greet.values["name"]          # values_#_name
    greet.output >> g.output("greeting").value
    graph = g.build()                            # a validated Graph (AutoGPT format)

A pin is ``node.<pin name>``; ``pin["key"]`` is the dict entry ``pin_#_key``, ``pin[0]`` the list item
``pin_$_0`` and ``pin.attr("a")`` the attribute ``pin_@_a``. ``a >> b`` links output ``a`` to input ``b``;
``a.to(b, static=True)`` makes a static link. A wrong pin name fails at once with the valid names.
"""

from __future__ import annotations

import re
from typing import Any

from workbench.block import pins
from workbench.block.base import Block, BlockType
from workbench.block.registry import BlockRegistry, default_registry
from workbench.errors import GraphValidationError, InputError
from workbench.graph.model import Graph, Link, Node, new_id
from workbench.graph.validate import check_graph, subgraph_io

INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"
AGENT_BLOCK = "e189baac-8c20-45a1-94a7-55177ea42565"


def _snake(name: str) -> str:
    name = name.removesuffix("Block")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Pin:
    """A pin of a node in a builder, possibly with a dynamic path (``values_#_name``)."""

    __slots__ = ("name", "node")

    def __init__(self, node: NodeHandle, name: str) -> None:
        self.node = node
        self.name = name

    def __getitem__(self, key: int | str) -> Pin:
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise TypeError("a pin is indexed by a list position (int) or a dict key (str)")
        delim = pins.LIST if isinstance(key, int) else pins.DICT
        return Pin(self.node, f"{self.name}{delim}{key}")

    def attr(self, name: str) -> Pin:
        """The attribute ``name`` of an object pin (``pin_@_name``)."""
        return Pin(self.node, f"{self.name}{pins.ATTR}{name}")

    def to(self, sink: Pin, *, static: bool = False) -> Link:
        """Link this output pin to the input pin ``sink``."""
        return self.node.builder.link(self, sink, static=static)

    def __rshift__(self, sink: Pin) -> Pin:
        self.to(sink)
        return sink

    def __repr__(self) -> str:
        return f"<Pin {self.node.id}.{self.name}>"


class NodeHandle:
    """A node being built; its pins are attributes (``node.result``, ``node.values``)."""

    def __init__(self, builder: GraphBuilder, node: Node, block: Block) -> None:
        self.builder = builder
        self.node = node
        self.block = block

    @property
    def id(self) -> str:
        """The node id."""
        return self.node.id

    def pin_names(self) -> tuple[list[str], list[str]]:
        """(input pin names, output pin names) of this node."""
        inputs = list(self.block.input_pins)
        outputs = list(self.block.output_pins)
        if self.block.block_type == BlockType.AGENT:
            inputs += list(subgraph_io(self.node.input_default, "input_schema"))
            outputs += list(subgraph_io(self.node.input_default, "output_schema"))
        return inputs, outputs

    def __getattr__(self, name: str) -> Pin:
        if name.startswith("_"):
            raise AttributeError(name)
        inputs, outputs = self.pin_names()
        if name in inputs or name in outputs:
            return Pin(self, name)
        raise AttributeError(
            f"{self.block.name} node {self.id!r} has no pin {name!r}; "
            f"inputs: {', '.join(inputs) or '(none)'}; outputs: {', '.join(outputs)}"
        )

    def pin(self, name: str) -> Pin:
        """A pin by name (for names that are not valid Python attributes)."""
        inputs, outputs = self.pin_names()
        if pins.base_name(name) not in inputs and pins.base_name(name) not in outputs:
            return self.__getattr__(pins.base_name(name))
        return Pin(self, name)

    def set(self, **defaults: Any) -> NodeHandle:
        """Set default input values (checked against the block's input pins)."""
        self.builder._check_defaults(self.block, self.node, defaults)
        self.node.input_default.update(defaults)
        return self

    def __repr__(self) -> str:
        return f"<Node {self.id} {self.block.name}>"


class GraphBuilder:
    """Builds a :class:`Graph` node by node; ``build()`` validates the whole."""

    def __init__(
        self,
        name: str = "Untitled agent",
        description: str = "",
        *,
        graph_id: str | None = None,
        registry: BlockRegistry | None = None,
    ) -> None:
        self.registry = registry or default_registry()
        self.graph = Graph(id=graph_id or new_id(), name=name, description=description)
        self.handles: dict[str, NodeHandle] = {}
        self._counts: dict[str, int] = {}

    def _register(self, block: type[Block] | Block) -> Block:
        """Make a block class defined in a notebook usable by this graph."""
        cls = block if isinstance(block, type) else type(block)
        if getattr(cls, "id", None) in self.registry and isinstance(self.registry.get(cls.id), cls):
            return self.registry.get(cls.id)
        return self.registry.register(block, f"{cls.__module__}.{cls.__qualname__}", replace=True)

    def add(self, block: str | type[Block] | Block, *, id: str | None = None, **defaults: Any) -> NodeHandle:
        """Add a node running ``block`` (id, class name, display name, or a Block class)."""
        instance = self._register(block) if not isinstance(block, str) else self.registry.find(block)
        node_id = id or self._next_id(_snake(instance.name))
        if node_id in self.handles:
            raise InputError(f"node id {node_id!r} is already used in this graph")
        node = Node(id=node_id, block_id=instance.id)
        self._check_defaults(instance, node, defaults)
        node.input_default.update(defaults)
        self.graph.nodes.append(node)
        handle = NodeHandle(self, node, instance)
        self.handles[node_id] = handle
        return handle

    def _next_id(self, stem: str) -> str:
        n = self._counts.get(stem, 0) + 1
        self._counts[stem] = n
        while f"{stem}_{n}" in self.handles:
            n += 1
        return f"{stem}_{n}"

    def _check_defaults(self, block: Block, node: Node, defaults: dict[str, Any]) -> None:
        valid = set(block.input_pins)
        if block.block_type == BlockType.AGENT:
            valid |= set(subgraph_io({**node.input_default, **defaults}, "input_schema"))
        for key in defaults:
            if pins.base_name(key) not in valid:
                raise InputError(
                    f"{block.name} has no input {key!r}; valid inputs: {', '.join(sorted(valid))}"
                )

    def input(self, name: str, *, id: str | None = None, default: Any = None, **options: Any) -> NodeHandle:
        """An agent input named ``name`` (its value leaves on ``.result``)."""
        return self.add(
            INPUT_BLOCK, id=id or self._unique(f"input_{name}"), name=name, value=default, **options
        )

    def output(self, name: str, *, id: str | None = None, **options: Any) -> NodeHandle:
        """An agent output named ``name`` (link a value to its ``.value``)."""
        return self.add(OUTPUT_BLOCK, id=id or self._unique(f"output_{name}"), name=name, **options)

    def subgraph(self, graph: Graph | GraphBuilder, *, id: str | None = None, **inputs: Any) -> NodeHandle:
        """A node running another graph; its inputs and outputs become this node's pins."""
        from workbench.engine.plan import Plan

        sub = graph.build() if isinstance(graph, GraphBuilder) else graph
        plan = Plan(sub, self.registry, 600.0)
        input_schema = plan.input_schema()
        unknown = [k for k in inputs if k not in input_schema["properties"]]
        if unknown:
            valid = ", ".join(sorted(input_schema["properties"])) or "(none)"
            raise InputError(
                f"sub-graph {sub.name!r} has no input(s) {', '.join(map(repr, unknown))}; valid inputs: {valid}"
            )
        if not any(s.id == sub.id and s.version == sub.version for s in self.graph.sub_graphs):
            self.graph.sub_graphs.append(sub)
            self.graph.sub_graphs.extend(s for s in sub.sub_graphs if s not in self.graph.sub_graphs)
        return self.add(
            AGENT_BLOCK,
            id=id or self._unique(_snake(sub.name.replace(" ", "_")) or "agent"),
            graph_id=sub.id,
            graph_version=sub.version,
            agent_name=sub.name,
            input_schema=input_schema,
            output_schema=plan.output_schema(),
            inputs=inputs,
        )

    def _unique(self, stem: str) -> str:
        stem = re.sub(r"[^A-Za-z0-9_]+", "_", stem)
        return stem if stem not in self.handles else self._next_id(stem)

    def link(self, source: Pin, sink: Pin, *, static: bool = False) -> Link:
        """Link output pin ``source`` to input pin ``sink``; a wrong direction or name fails at once."""
        if source.node.builder is not self or sink.node.builder is not self:
            raise InputError("both pins must belong to nodes of this graph")
        _, s_out = source.node.pin_names()
        if pins.base_name(source.name) not in s_out and not pins.is_tool_pin(source.name):
            raise InputError(
                f"{source.node.block.name} node {source.node.id!r} has no output {source.name!r}; "
                f"outputs: {', '.join(s_out)}"
            )
        d_in, _ = sink.node.pin_names()
        if pins.base_name(sink.name) not in d_in:
            raise InputError(
                f"{sink.node.block.name} node {sink.node.id!r} has no input {sink.name!r}; "
                f"inputs: {', '.join(d_in) or '(none)'}"
            )
        link = Link(
            source_id=source.node.id,
            sink_id=sink.node.id,
            source_name=source.name,
            sink_name=sink.name,
            is_static=static,
        )
        link.id = new_id()
        self.graph.links.append(link)
        return link

    def __getitem__(self, node_id: str) -> NodeHandle:
        return self.handles[node_id]

    def build(self) -> Graph:
        """The validated graph (raises GraphValidationError listing every problem)."""
        graph = self.graph.model_copy(deep=True)
        try:
            return check_graph(graph, self.registry)
        except GraphValidationError:
            raise
