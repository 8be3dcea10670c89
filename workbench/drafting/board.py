"""The working copy the assistant edits: one method per tool, each checked at once.

Every operation is tried on a copy of the graph and checked against the registry and the validator
(:func:`~workbench.graph.validate.validate_graph`); a refused operation raises :class:`Refused` with
the validator's message (which node, which pin, the valid names) and leaves the graph as it was. A
required input not linked yet is not a reason to refuse: links usually come after the node. The
whole graph is validated at the end (:meth:`AgentDrafter.propose`).
"""

from __future__ import annotations

import uuid
from typing import Any

from workbench.block import pins
from workbench.block.base import Block, BlockType
from workbench.block.registry import BlockRegistry
from workbench.errors import NotFoundError, Problem
from workbench.graph import pin_types
from workbench.graph.model import Graph, Link, Node
from workbench.graph.validate import link_ends, validate_graph

X_STEP, Y_START = 320, 80
"""Where new nodes go: a column to the right of the rightmost node, one column per new node."""
LATER = frozenset({"missing_input", "unknown_graph"})
"""Problems an unfinished graph may have: an input linked later, a sub-graph saved later."""


class Refused(Exception):
    """An operation the assistant asked for is not applied; the message says why (for the model)."""


def link_id(graph_id: str, source: str, source_pin: str, sink: str, sink_pin: str) -> str:
    """The id :class:`Graph` derives for a link with these ends (so the same link is the same id)."""
    key = f"{graph_id}|{source}|{source_pin}|{sink}|{sink_pin}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


class DraftBoard:
    """A graph being drafted, with a readable line per applied change."""

    def __init__(self, base: Graph, registry: BlockRegistry) -> None:
        self.graph = base.model_copy(deep=True)
        self.registry = registry
        self.changes: list[str] = []
        self._column = max((_x(n) for n in self.graph.nodes), default=-X_STEP)

    # ---- checks ------------------------------------------------------------------------------------

    def _check(self, candidate: Graph, *, node_id: str | None = None, link: Link | None = None) -> None:
        """Refuse ``candidate`` when the validator finds a problem of the node or link just touched."""
        found: list[Problem] = []
        for p in validate_graph(candidate, self.registry):
            if p.code in LATER:
                continue
            if (node_id is not None and p.node_id == node_id and p.link_id is None) or (
                link is not None and p.link_id == link.id
            ):
                found.append(p)
        if found:
            raise Refused("; ".join(str(p) for p in found))

    def _block(self, node_id: str) -> Block:
        node = self._node(node_id)
        return self.registry.get(node.block_id)

    def _node(self, node_id: str) -> Node:
        try:
            return self.graph.node(node_id)
        except KeyError:
            known = ", ".join(n.id for n in self.graph.nodes) or "none yet"
            raise Refused(f"node {node_id!r} does not exist (nodes: {known})") from None

    def _check_pins(self, node_id: str, block: Block, defaults: dict[str, Any]) -> None:
        """Refuse defaults for pins the block does not have (the validator ignores unknown keys)."""
        if block.block_type == BlockType.AGENT:
            return
        for key in defaults:
            if pins.base_name(key) not in block.input_pins:
                valid = ", ".join(block.input_pins) or "(none)"
                raise Refused(
                    f"node {node_id!r}, pin {key!r}: unknown input pin {key!r} of {block.name}; valid: {valid}"
                )

    # ---- operations --------------------------------------------------------------------------------

    def add_node(self, node_id: str, block: str, defaults: dict[str, Any] | None = None) -> str:
        """Place a block (by id or name) as node ``node_id`` with input defaults."""
        node_id = node_id.strip()
        if not node_id:
            raise Refused("node_id: give the new node a short id, e.g. 'fetch'")
        if any(n.id == node_id for n in self.graph.nodes):
            raise Refused(f"node {node_id!r} exists already; choose another node_id")
        try:
            found: Block | None = self.registry.find(block)
        except NotFoundError:
            found = None
        defaults = dict(defaults or {})
        node = Node(
            id=node_id,
            block_id=found.id if found is not None else block,
            input_default=defaults,
            metadata={"position": {"x": self._column + X_STEP, "y": Y_START}},
        )
        candidate = self.graph.model_copy(update={"nodes": [*self.graph.nodes, node]})
        if found is None:  # the validator's message, and what to do about it
            said = [str(p) for p in validate_graph(candidate, self.registry) if p.node_id == node_id]
            said = said or [f"node {node_id!r}: unknown block {block!r}"]
            raise Refused("; ".join(said) + "; call search_blocks to find a block's exact name")
        self._check_pins(node_id, found, defaults)
        self._check(candidate, node_id=node_id)
        self.graph = candidate
        self._column += X_STEP
        self.changes.append(f"added node {node_id!r} ({found.name})")
        return f"added node {node_id!r} ({found.name})"

    def link(self, source_node: str, source_pin: str, sink_node: str, sink_pin: str) -> str:
        """Link an output pin of one node to an input pin of another."""
        self._node(source_node)
        self._node(sink_node)
        new = Link(
            id=link_id(self.graph.id, source_node, source_pin, sink_node, sink_pin),
            source_id=source_node,
            source_name=source_pin,
            sink_id=sink_node,
            sink_name=sink_pin,
        )
        ends = link_ends(new).removeprefix("link ")
        if any(existing.id == new.id for existing in self.graph.links):
            raise Refused(f"the link {ends} exists already")
        candidate = self.graph.model_copy(update={"links": [*self.graph.links, new]})
        self._check(candidate, link=new)
        source, sink = self._block(source_node), self._block(sink_node)
        out_kinds = pin_types.output_kinds(source, source_pin)
        in_kinds = pin_types.input_kinds(sink, sink_pin)
        reason = pin_types.refusal(out_kinds, in_kinds)
        if reason:  # the rule the Builder's canvas applies to a dragged link
            raise Refused(
                f"{source.name}.{source_pin} gives {pin_types.describe(out_kinds)}, "
                f"{sink.name}.{sink_pin} takes {pin_types.describe(in_kinds)}: {reason}"
            )
        self.graph = candidate
        self.changes.append(f"linked {source_node}.{source_pin} → {sink_node}.{sink_pin}")
        return f"linked {ends}"

    def set_default(self, node_id: str, pin: str, value: Any) -> str:
        """Set (or, with None, clear) the default of an input pin."""
        node = self._node(node_id)
        block = self._block(node_id)
        self._check_pins(node_id, block, {pin: value})
        defaults = dict(node.input_default)
        if value is None:
            defaults.pop(pin, None)
        else:
            defaults[pin] = value
        changed = node.model_copy(update={"input_default": defaults})
        nodes = [changed if n.id == node_id else n for n in self.graph.nodes]
        candidate = self.graph.model_copy(update={"nodes": nodes})
        self._check(candidate, node_id=node_id)
        self.graph = candidate
        shown = "cleared" if value is None else f"= {_shown(value)}"
        self.changes.append(f"set {node_id}.{pin} {shown}")
        return f"set {node_id}.{pin} {shown}"

    def remove_node(self, node_id: str) -> str:
        """Remove a node and every link to or from it."""
        self._node(node_id)
        nodes = [n for n in self.graph.nodes if n.id != node_id]
        links = [k for k in self.graph.links if node_id not in (k.source_id, k.sink_id)]
        dropped = len(self.graph.links) - len(links)
        self.graph = self.graph.model_copy(update={"nodes": nodes, "links": links})
        also = f" and its {dropped} link(s)" if dropped else ""
        self.changes.append(f"removed node {node_id!r}{also}")
        return f"removed node {node_id!r}{also}"

    def remove_link(self, source_node: str, source_pin: str, sink_node: str, sink_pin: str) -> str:
        """Remove the link with these ends."""
        ends = (source_node, source_pin, sink_node, sink_pin)
        links = [k for k in self.graph.links if (k.source_id, k.source_name, k.sink_id, k.sink_name) != ends]
        if len(links) == len(self.graph.links):
            raise Refused(f"there is no link from {source_node}.{source_pin} to {sink_node}.{sink_pin}")
        self.graph = self.graph.model_copy(update={"links": links})
        self.changes.append(f"removed link {source_node}.{source_pin} → {sink_node}.{sink_pin}")
        return f"removed the link from {source_node}.{source_pin} to {sink_node}.{sink_pin}"

    def set_name(self, name: str, description: str | None = None) -> str:
        """Name (and describe) the agent."""
        name = name.strip()
        if not name:
            raise Refused("name: must not be empty")
        if len(name) > 500:
            raise Refused("name: at most 500 characters")
        update: dict[str, Any] = {"name": name}
        if description is not None:
            update["description"] = description[:50_000]
        self.graph = self.graph.model_copy(update=update)
        self.changes.append(f"named the agent {name!r}")
        return f"named the agent {name!r}"

    # ---- a view for the model ----------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The graph as the model sees it: nodes by id with their block's name and defaults, links."""
        nodes = []
        for n in self.graph.nodes:
            name = self.registry.get(n.block_id).name if n.block_id in self.registry else n.block_id
            nodes.append({"id": n.id, "block": name, "defaults": n.input_default})
        links = [f"{k.source_id}.{k.source_name} -> {k.sink_id}.{k.sink_name}" for k in self.graph.links]
        return {
            "name": self.graph.name,
            "description": self.graph.description,
            "nodes": nodes,
            "links": links,
        }


def _x(node: Node) -> float:
    position = node.metadata.get("position")
    if isinstance(position, dict) and isinstance(position.get("x"), int | float):
        return float(position["x"])
    return 0.0


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
