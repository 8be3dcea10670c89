"""An agent being edited: the graph, every edit as one operation, undo and redo, copy and paste.

The Builder page and the notebook's ``%wb build`` both edit through an :class:`Editor`; the canvas
only renders it (:mod:`workbench.ui.builder.canvas`). Every operation checks what it is given against
the block catalogue and raises :class:`EditRefused` with the reason (an unknown block, a pin the block
lacks, a link between kinds that do not convert), leaving the graph unchanged. Whole-graph validation
(required inputs, wrong defaults) is :meth:`Editor.problems`: problems are allowed while editing and
shown where they are; saving refuses a graph that has any.

Positions live in each node's ``metadata["position"]`` (AutoGPT's place for them), so exports keep
the layout. Undo keeps the graph as it was before each operation (its JSON); a run of moves of the
same node is one step.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from workbench.block import pins
from workbench.block.base import Block, BlockType
from workbench.block.registry import BlockRegistry
from workbench.errors import GraphValidationError, NotFoundError, Problem
from workbench.graph import pin_types
from workbench.graph.autogpt import apply_legacy_ids, parse_graph
from workbench.graph.model import Graph, Link, Node, new_id
from workbench.graph.validate import validate_graph
from workbench.jsonutil import dumpb

HISTORY = 200
"""Undo steps kept."""
COLUMN, ROW, GAP = 300.0, 170.0, 40.0
"""Distance between layers, a node's height when not known, and the space between nodes of a layer
in an automatic layout (canvas pixels)."""
PIN_HEIGHT, TITLE_HEIGHT = 22.0, 34.0
"""A node's height on the canvas: its title, then a row per pin (inputs and outputs side by side)."""
EXTRA_PINS = "extra_pins"
"""``metadata`` key of a node's dynamic pins added by hand and not yet linked:
``{"inputs": [...], "outputs": [...]}``."""


class EditRefused(ValueError):
    """An edit that was not made; the message says why (and names the node and pin)."""


@dataclass(frozen=True, slots=True)
class Pin:
    """One handle of a node on the canvas."""

    name: str
    kinds: frozenset[str]
    required: bool = False
    dynamic: bool = False


def position_of(node: Node) -> tuple[float, float] | None:
    """A node's canvas position from its metadata, or None."""
    found = node.metadata.get("position")
    if isinstance(found, dict):
        try:
            return float(found["x"]), float(found["y"])
        except (KeyError, TypeError, ValueError):
            return None
    return None


def auto_positions(
    graph: Graph,
    height: Callable[[Node], float] = lambda node: ROW,
    fixed: Iterable[Node] = (),
) -> dict[str, tuple[float, float]]:
    """Left-to-right layered positions: each node in the column of its longest path from a source,
    stacked under the nodes above it (``height``: a node's height on the canvas); nodes in ``fixed``
    keep their place and the others go below them in their column."""
    from workbench.client.render import layers

    columns = layers(graph)
    bottom: dict[int, float] = {}
    for node in fixed:
        where = position_of(node)
        if where is not None:
            column = round(where[0] / COLUMN)
            bottom[column] = max(bottom.get(column, 0.0), where[1] + height(node) + GAP)
    kept = {node.id for node in fixed}
    out: dict[str, tuple[float, float]] = {}
    for node in graph.nodes:
        if node.id in kept:
            continue
        column = columns.get(node.id, 0)
        y = bottom.get(column, 0.0)
        bottom[column] = y + height(node) + GAP
        out[node.id] = (column * COLUMN, y)
    return out


class Editor:
    """The graph being edited, with its history. ``on_change`` callbacks run after each change."""

    def __init__(self, registry: BlockRegistry, graph: Graph | None = None) -> None:
        self.registry = registry
        self.graph = graph if graph is not None else Graph(name="Untitled agent")
        self._undo: list[bytes] = []
        self._redo: list[bytes] = []
        self._last_move: str | None = None
        self._clipboard: tuple[list[Node], list[Link]] | None = None
        self._problems: tuple[int, list[Problem]] | None = None
        self.revision = 0
        self.saved_revision = 0
        self.last_change = "edit"
        """What the last change was: ``edit`` (one operation), ``history`` (undo/redo) or ``whole`` (a
        new graph: loaded, imported, proposed)."""
        self._pins: dict[tuple[str, str], list[Pin]] = {}
        self._pins_revision: tuple[int, int] = (-1, 0)
        self._nodes_by_id: dict[str, Node] = {}
        self._sinks_of: dict[str, list[str]] = {}
        self._sources_of: dict[str, list[str]] = {}
        self.listeners: list[Callable[[Editor], None]] = []
        self._fill_positions()

    # ---- reading -------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Whether the graph changed since it was loaded or saved."""
        return self.revision != self.saved_revision

    @property
    def can_undo(self) -> bool:
        """Whether there is an edit to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether there is an undone edit to redo."""
        return bool(self._redo)

    def block_of(self, node_id: str) -> Block | None:
        """The block a node runs (None when the catalogue lacks it)."""
        node = self._node(node_id)
        try:
            return self.registry.get(node.block_id)
        except NotFoundError:
            return None

    def problems(self) -> list[Problem]:
        """Every problem of the graph as it is now (computed once per revision)."""
        if self._problems is None or self._problems[0] != self.revision:
            self._problems = (self.revision, validate_graph(self.graph, self.registry))
        return self._problems[1]

    def _cached(self, key: tuple[str, str], make: Callable[[], list[Pin]]) -> list[Pin]:
        """Pins computed once per revision (a drag asks for every handle of every node)."""
        if self._pins_revision != (self.revision, id(self.graph)):
            self._pins.clear()
            self._nodes_by_id = {n.id: n for n in self.graph.nodes}
            self._sinks_of, self._sources_of = {}, {}
            for link in self.graph.links:
                self._sinks_of.setdefault(link.sink_id, []).append(link.sink_name)
                self._sources_of.setdefault(link.source_id, []).append(link.source_name)
            self._pins_revision = (self.revision, id(self.graph))
        found = self._pins.get(key)
        if found is None:
            found = self._pins[key] = make()
        return found

    def input_pins(self, node: Node) -> list[Pin]:
        """The node's input handles: the block's pins, then dynamic ones in use or added."""
        return self._cached((node.id, "in"), lambda: self._input_pins(node))

    def output_pins(self, node: Node) -> list[Pin]:
        """The node's output handles: the block's pins (``error`` last), then dynamic ones."""
        return self._cached((node.id, "out"), lambda: self._output_pins(node))

    def _input_pins(self, node: Node) -> list[Pin]:
        block = self._block_or_none(node.block_id)
        if block is None:
            return []
        found = list(_declared_inputs(block))
        if block.block_type == BlockType.AGENT:
            declared = node.input_default.get("input_schema") or {}
            names = declared.get("properties", {}) if isinstance(declared, dict) else {}
            found += [Pin(name, frozenset({pin_types.ANY}), dynamic=True) for name in names]
        dynamic = [k for k in node.input_default if pins.is_dynamic(k)]
        dynamic += self._sinks_of.get(node.id, [])
        dynamic += list(node.metadata.get(EXTRA_PINS, {}).get("inputs", []))
        return _with_dynamic(found, dynamic)

    def _output_pins(self, node: Node) -> list[Pin]:
        block = self._block_or_none(node.block_id)
        if block is None:
            return []
        outputs = block.output_pins
        names = [name for name in outputs if name != "error"]
        if block.dynamic_outputs:
            declared = node.input_default.get("output_schema") or {}
            props = declared.get("properties", {}) if isinstance(declared, dict) else {}
            names += [name for name in props if name not in names]
        found = [Pin(name, pin_types.output_kinds(block, name)) for name in names]
        dynamic = list(self._sources_of.get(node.id, []))
        dynamic += list(node.metadata.get(EXTRA_PINS, {}).get("outputs", []))
        dynamic = [name for name in dynamic if name != "error"]
        return [*_with_dynamic(found, dynamic), Pin("error", frozenset({"string"}))]

    # ---- edits ---------------------------------------------------------------------------------

    def add_node(
        self,
        block_ref: str,
        position: tuple[float, float] | None = None,
        defaults: dict[str, object] | None = None,
        node_id: str | None = None,
    ) -> Node:
        """Add a node running ``block_ref`` (an id, class name or display name) at ``position``."""
        try:
            block = self.registry.find(block_ref)
        except NotFoundError:
            raise EditRefused(f"there is no block {block_ref!r} in the catalogue") from None
        if node_id is not None and any(n.id == node_id for n in self.graph.nodes):
            raise EditRefused(f"node id {node_id!r} is taken")
        if position is None:
            position = self._free_position()
        node = Node(
            id=node_id or new_id(),
            block_id=block.id,
            input_default=dict(defaults or {}),
            metadata={"position": {"x": position[0], "y": position[1]}},
        )
        self._record()
        self.graph.nodes.append(node)
        self._changed()
        return node

    def remove(self, node_ids: Iterable[str] = (), link_ids: Iterable[str] = ()) -> None:
        """Remove nodes (with their links) and links."""
        nodes, links = set(node_ids), set(link_ids)
        known = {n.id for n in self.graph.nodes}
        nodes &= known
        links &= {link.id for link in self.graph.links}
        if not nodes and not links:
            return
        self._record()
        self.graph.nodes = [n for n in self.graph.nodes if n.id not in nodes]
        self.graph.links = [
            link
            for link in self.graph.links
            if link.id not in links and link.source_id not in nodes and link.sink_id not in nodes
        ]
        self._changed()

    def refusal(self, source_id: str, source_pin: str, sink_id: str, sink_pin: str) -> str | None:
        """Why a link from ``source_id.source_pin`` to ``sink_id.sink_pin`` cannot be made (None: it can)."""
        source = self._find(source_id)
        sink = self._find(sink_id)
        if source is None or sink is None:
            return f"node {source_id if source is None else sink_id!r} does not exist"
        if source_id == sink_id:
            return "a node cannot feed itself"
        source_block = self._block_or_none(source.block_id)
        sink_block = self._block_or_none(sink.block_id)
        if source_block is None or sink_block is None:
            return "the block of this node is not installed"
        outputs = {pin.name: pin for pin in self.output_pins(source)}
        if source_pin not in outputs and not _dynamic_of(source_pin, outputs):
            return f"{source_block.name} has no output {source_pin!r}"
        inputs = {pin.name: pin for pin in self.input_pins(sink)}
        self._find(sink_id)  # keeps the id index of this revision warm for the next candidates
        if sink_pin not in inputs and not _dynamic_of(sink_pin, inputs):
            return f"{sink_block.name} has no input {sink_pin!r}"
        for link in self.graph.links:
            if (link.sink_id, link.sink_name, link.source_id, link.source_name) == (
                sink_id,
                sink_pin,
                source_id,
                source_pin,
            ):
                return "these pins are linked already"
        out_kinds = pin_types.output_kinds(source_block, source_pin)
        in_kinds = (
            inputs[sink_pin].kinds if sink_pin in inputs else pin_types.input_kinds(sink_block, sink_pin)
        )
        reason = pin_types.refusal(out_kinds, in_kinds)
        if reason:
            return (
                f"{source_block.name}.{source_pin} gives {pin_types.describe(out_kinds)}, "
                f"{sink_block.name}.{sink_pin} takes {pin_types.describe(in_kinds)}: {reason}"
            )
        return None

    def connect(
        self, source_id: str, source_pin: str, sink_id: str, sink_pin: str, *, link_id: str | None = None
    ) -> Link:
        """Link an output pin to an input pin (``link_id``: the id the canvas gave it, if free);
        EditRefused says why not."""
        reason = self.refusal(source_id, source_pin, sink_id, sink_pin)
        if reason:
            raise EditRefused(reason)
        self._record()
        link = Link(source_id=source_id, sink_id=sink_id, source_name=source_pin, sink_name=sink_pin)
        taken = {existing.id for existing in self.graph.links}
        link.id = link_id if isinstance(link_id, str) and link_id and link_id not in taken else new_id()
        self.graph.links.append(link)
        self._changed()
        return link

    def set_default(self, node_id: str, pin: str, value: object) -> None:
        """Set (or, with None, clear) the default of an input pin."""
        node = self._node(node_id)
        block = self._block_or_none(node.block_id)
        if (
            block is not None
            and pin not in block.input_pins
            and not pins.is_dynamic(pin)
            and block.block_type != BlockType.AGENT
        ):
            raise EditRefused(f"{block.name} has no input {pin!r}")
        if node.input_default.get(pin) == value and (value is not None or pin not in node.input_default):
            return
        self._record()
        if value is None:
            node.input_default.pop(pin, None)
        else:
            node.input_default[pin] = value
        self._changed()

    def move(self, node_id: str, x: float, y: float) -> None:
        """Put a node at (x, y); consecutive moves of one node undo as one step."""
        node = self._node(node_id)
        if position_of(node) == (x, y):
            return
        if self._last_move != node_id:
            self._record()
        node.metadata["position"] = {"x": x, "y": y}
        self._changed(move=node_id)

    def add_pin(self, node_id: str, pin: str, *, output: bool = False) -> None:
        """Add a dynamic pin (``values_#_name``, ``items_$_0``...) to a node, ready to link."""
        node = self._node(node_id)
        block = self._block_or_none(node.block_id)
        base = pins.base_name(pin)
        declared = block.output_pins if output and block else (block.input_pins if block else {})
        if block is None or base not in declared or not pins.is_dynamic(pin):
            kind = "output" if output else "input"
            raise EditRefused(
                f"{pin!r} is not a dynamic {kind} pin of {block.name if block else node.block_id}: "
                f"write it as <pin>_#_<key> (a dict entry), <pin>_$_<index> (a list item) or "
                f"<pin>_@_<attribute>, on one of: {', '.join(sorted(declared)) or '(none)'}"
            )
        extra = copy.deepcopy(node.metadata.get(EXTRA_PINS) or {})
        listed = extra.setdefault("outputs" if output else "inputs", [])
        if pin in listed:
            return
        self._record()
        listed.append(pin)
        node.metadata[EXTRA_PINS] = extra
        self._changed()

    def rename(self, name: str, description: str | None = None) -> None:
        """Change the agent's name (and description)."""
        name = name.strip() or "Untitled agent"
        if name == self.graph.name and (description is None or description == self.graph.description):
            return
        self._record()
        self.graph.name = name
        if description is not None:
            self.graph.description = description
        self._changed()

    def replace(self, graph: Graph, *, saved: bool = False, record: bool = True) -> None:
        """Edit ``graph`` instead (a loaded version, an import, an accepted proposal); undoable."""
        if record:
            self._record()
        self.graph = graph
        self._fill_positions()
        self._changed(whole=True)
        if saved:
            self.saved_revision = self.revision

    def import_text(self, text: str | bytes) -> Graph:
        """Replace the graph with an AutoGPT export (or our JSON); GraphValidationError says what is
        wrong and where, and nothing changes. Nodes without positions are laid out."""
        if not text.strip():
            raise GraphValidationError([Problem("the document is empty: paste an agent's JSON")])
        graph = apply_legacy_ids(parse_graph(text.encode() if isinstance(text, str) else text))
        self.replace(graph)
        return graph

    def layout(self) -> None:
        """Lay every node out automatically (left to right along the links)."""
        self._record()
        for node_id, (x, y) in auto_positions(self.graph, self.height).items():
            self._node(node_id).metadata["position"] = {"x": x, "y": y}
        self._changed()

    def mark_saved(self, graph: Graph) -> None:
        """The graph was stored as ``graph`` (its id and version are now the stored ones)."""
        self.graph.id = graph.id
        self.graph.version = graph.version
        self.saved_revision = self.revision

    # ---- history and clipboard -----------------------------------------------------------------

    def undo(self) -> bool:
        """Go back one edit; False when there is none."""
        if not self._undo:
            return False
        self._redo.append(self._snapshot())
        self.graph = parse_graph(self._undo.pop())
        self._changed(history=True)
        return True

    def redo(self) -> bool:
        """Make the last undone edit again; False when there is none."""
        if not self._redo:
            return False
        self._undo.append(self._snapshot())
        self.graph = parse_graph(self._redo.pop())
        self._changed(history=True)
        return True

    def copy(self, node_ids: Iterable[str]) -> int:
        """Keep these nodes and the links among them for :meth:`paste`; the number of nodes kept."""
        chosen = set(node_ids)
        nodes = [n.model_copy(deep=True) for n in self.graph.nodes if n.id in chosen]
        links = [
            link.model_copy()
            for link in self.graph.links
            if link.source_id in chosen and link.sink_id in chosen
        ]
        if nodes:
            self._clipboard = (nodes, links)
        return len(nodes)

    def paste(self, offset: tuple[float, float] = (40.0, 40.0)) -> list[str]:
        """Add a copy of the copied nodes (new ids, shifted by ``offset``); their new ids."""
        if self._clipboard is None:
            return []
        nodes, links = self._clipboard
        fresh = {node.id: new_id() for node in nodes}
        self._record()
        for node in nodes:
            twin = node.model_copy(deep=True, update={"id": fresh[node.id]})
            where = position_of(node) or (0.0, 0.0)
            twin.metadata["position"] = {"x": where[0] + offset[0], "y": where[1] + offset[1]}
            self.graph.nodes.append(twin)
        for link in links:
            self.graph.links.append(
                link.model_copy(
                    update={
                        "id": new_id(),
                        "source_id": fresh[link.source_id],
                        "sink_id": fresh[link.sink_id],
                    }
                )
            )
        # The next paste lands further along, not on top of this one.
        self._clipboard = (
            [
                n.model_copy(
                    deep=True,
                    update={"metadata": {**n.metadata, "position": _shifted(n, offset)}},
                )
                for n in nodes
            ],
            links,
        )
        self._changed()
        return list(fresh.values())

    # ---- internals -----------------------------------------------------------------------------

    def _snapshot(self) -> bytes:
        return dumpb(self.graph.model_dump(mode="json"))

    def _record(self) -> None:
        self._undo.append(self._snapshot())
        del self._undo[:-HISTORY]
        self._redo.clear()
        self._last_move = None

    def _changed(self, *, move: str | None = None, history: bool = False, whole: bool = False) -> None:
        self.revision += 1
        self.last_change = "history" if history else "whole" if whole else "edit"
        self._last_move = move
        if history:
            self._last_move = None
        for listener in list(self.listeners):
            listener(self)

    def _find(self, node_id: str) -> Node | None:
        if self._pins_revision == (self.revision, id(self.graph)):
            return self._nodes_by_id.get(node_id)
        return next((n for n in self.graph.nodes if n.id == node_id), None)

    def _node(self, node_id: str) -> Node:
        node = self._find(node_id)
        if node is None:
            raise EditRefused(f"node {node_id!r} does not exist")
        return node

    def _block_or_none(self, block_id: str) -> Block | None:
        try:
            return self.registry.get(block_id)
        except NotFoundError:
            return None

    def height(self, node: Node) -> float:
        """The node's height on the canvas (its title and a row per pin)."""
        rows = max(len(self.input_pins(node)), len(self.output_pins(node)), 1)
        return TITLE_HEIGHT + PIN_HEIGHT * rows

    def _fill_positions(self) -> None:
        """Lay out the nodes that came without a position (an import, a graph built in Python)."""
        if all(position_of(n) is not None for n in self.graph.nodes):
            return
        fixed = [n for n in self.graph.nodes if position_of(n) is not None]
        for node_id, (x, y) in auto_positions(self.graph, self.height, fixed).items():
            self._node(node_id).metadata["position"] = {"x": x, "y": y}

    def _free_position(self) -> tuple[float, float]:
        """Right of the rightmost node, at the top."""
        xs = [p[0] for p in (position_of(n) for n in self.graph.nodes) if p is not None]
        return ((max(xs) + COLUMN) if xs else 0.0, 0.0)


@functools.lru_cache(maxsize=1024)
def _declared_inputs(block: Block) -> tuple[Pin, ...]:
    """A block's declared input pins as handles (the same for every node of the block)."""
    return tuple(
        Pin(name, pin_types.kinds(spec.annotation), spec.required) for name, spec in block.input_pins.items()
    )


def _shifted(node: Node, offset: tuple[float, float]) -> dict[str, float]:
    where = position_of(node) or (0.0, 0.0)
    return {"x": where[0] + offset[0], "y": where[1] + offset[1]}


def _dynamic_of(name: str, declared: dict[str, Pin]) -> bool:
    """Whether ``name`` is a well-formed dynamic pin of one of ``declared``."""
    return pins.is_dynamic(name) and pins.base_name(name) in declared


def _with_dynamic(found: list[Pin], names: Iterable[str]) -> list[Pin]:
    """``found`` followed by the dynamic pin names not already there (each once, in order)."""
    seen = {pin.name for pin in found}
    out = list(found)
    for name in itertools.chain(names):
        if name not in seen:
            seen.add(name)
            out.append(Pin(name, frozenset({pin_types.ANY}), dynamic=True))
    return out
