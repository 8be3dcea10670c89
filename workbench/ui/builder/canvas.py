"""The Builder's canvas: an :class:`~workbench.ui.builder.editor.Editor`'s graph drawn by React Flow
(``panel-reactflow``, served from its wheel), and what the person does there turned into edits.

Each node is a React Flow node whose handles are its pins (inputs left, outputs right, named with
their kind); a node type is made per block (per node when it has dynamic pins). Python sets the
whole node and edge lists when the graph changes (the library sends a list either way) and never
calls the library's ``add_*``/``remove_*`` methods, whose events would come back as if the person had
made them: every event the canvas handles comes from the browser.

Problems and run states are drawn with CSS: node classes (``wb-invalid``, ``wb-status-RUNNING``...)
and one stylesheet naming the pins that have a problem (``data-id``/``data-handleid`` selectors).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import param
from panel_reactflow import NodeType, ReactFlow

from workbench.block.base import BlockType
from workbench.errors import Problem
from workbench.graph import pin_types
from workbench.graph.model import Graph, Node
from workbench.ui.builder.editor import Editor, EditRefused, Pin, position_of

log = logging.getLogger(__name__)

BLOCK_MIME = "application/x-workbench-block"
"""The drag data type of a block dragged from the palette."""
PIN_ROW = 22
PIN_TOP = 34
"""Where the first pin sits below a node's top edge (its title above)."""
NODE_WIDTH = 250
MAX_PINS_PLACED = 60

CANVAS_CSS = f"""
.react-flow__node.wb-node {{ width: {NODE_WIDTH}px; padding: 4px 6px; border-radius: 8px;
  border: 1px solid #8fa3bf; background: #fbfcfe; color: #1d2733; font-size: 12px; text-align: left; }}
.react-flow__node.wb-node .rf-node-label {{ position: absolute; top: 6px; left: 10px; right: 10px;
  margin: 0 !important; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.react-flow__node.wb-node.selected {{ box-shadow: 0 0 0 2px #3b6fd8; }}
.react-flow__node.wb-kind-INPUT {{ background: #eef7ee; border-color: #6aa86a; }}
.react-flow__node.wb-kind-OUTPUT {{ background: #f3eefb; border-color: #8e6ac0; }}
.react-flow__node.wb-invalid {{ border: 2px solid #c0392b; }}
.react-flow__node.wb-status-QUEUED {{ background: #f4f4f4; }}
.react-flow__node.wb-status-RUNNING {{ background: #fff6d6; border-color: #c9a227; }}
.react-flow__node.wb-status-COMPLETED {{ background: #e3f4e6; border-color: #2e8b57; }}
.react-flow__node.wb-status-FAILED {{ background: #fbe3e1; border-color: #c0392b; }}
.react-flow__node.wb-node .react-flow__handle {{ width: 9px; height: 9px; }}
.react-flow__node.wb-node .react-flow__handle[data-tooltip]::after {{ opacity: 1; background: none;
  color: #4a5563; padding: 0; font-size: 10.5px; max-width: {NODE_WIDTH // 2 - 14}px; overflow: hidden;
  text-overflow: ellipsis; }}
.react-flow__node.wb-node .react-flow__handle[data-tooltip-pos="left"]::after {{ right: auto;
  left: calc(100% + 3px); }}
.react-flow__node.wb-node .react-flow__handle[data-tooltip-pos="right"]::after {{ left: auto;
  right: calc(100% + 3px); text-align: right; }}
.react-flow__node.wb-node .react-flow__handle.rf-handle-invalid::after {{ color: #b02a1f;
  font-weight: 600; max-width: none; background: #fff; z-index: 10; }}
"""
# Pins in rows under the title: inputs from the top (they are the first children of a node's
# content), outputs from the bottom (the last children), whatever the library's even spread says.
CANVAS_CSS += "\n".join(
    f".react-flow__node.wb-node .rf-node-content > .react-flow__handle-left:nth-child({k}) "
    f"{{ top: {PIN_TOP + (k - 1) * PIN_ROW}px !important; }}\n"
    f".react-flow__node.wb-node .rf-node-content > .react-flow__handle-right:nth-last-child({k}) "
    f"{{ top: auto !important; bottom: {4 + (k - 1) * PIN_ROW}px !important; transform: translate(50%, 50%); }}"
    for k in range(1, MAX_PINS_PLACED + 1)
)


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def problem_css(problems: list[Problem]) -> str:
    """CSS marking each pin that has a problem: a red handle, its label with the message."""
    rules = []
    for problem in problems:
        if not problem.node_id or not problem.pin:
            continue
        node = problem.node_id.replace('"', "")
        pin = problem.pin.replace('"', "")
        where = f'.react-flow__node[data-id="{node}"] .react-flow__handle-left[data-handleid="{pin}"]'
        rules.append(f"{where} {{ background: #c0392b; border-color: #c0392b; }}")
        rules.append(
            f"{where}::after {{ color: #b02a1f !important; font-weight: 600; "
            f"content: {_css_string(pin + ' ⚠')} !important; }}"
        )
    return "\n".join(rules)


def handle(pin: Pin) -> dict[str, Any]:
    """A pin as a React Flow handle: its id is the pin name; its kind shows unless it takes anything."""
    found: dict[str, Any] = {"id": pin.name, "label": pin.name + (" *" if pin.required else "")}
    if pin_types.ANY not in pin.kinds:
        found["type"] = pin_types.describe(pin.kinds)
    return found


class CanvasModel:
    """The React Flow payloads of an editor's graph (pure: no widget), with node states."""

    def __init__(self, editor: Editor) -> None:
        self.editor = editor
        self.status: dict[str, str] = {}
        """Run state of each node (``RUNNING``, ``COMPLETED``...) while a run is shown."""
        self.selected: set[str] = set()
        """The nodes selected in the browser (kept when the nodes are sent again)."""
        self._static_types: dict[str, NodeType] = {}

    def node_label(self, node: Node) -> str:
        """What a node's title says: its block's name, and the name of an agent input or output."""
        block = self.editor.block_of(node.id)
        if block is None:
            return f"Missing block {node.block_id}"
        name = node.input_default.get("name")
        if block.block_type in (BlockType.INPUT, BlockType.OUTPUT) and isinstance(name, str) and name:
            return f"{block.name}: {name}"
        return block.name

    def type_of(self, node: Node) -> tuple[str, NodeType]:
        """The node's React Flow type name and type (per block; per node when it has dynamic pins)."""
        inputs = self.editor.input_pins(node)
        outputs = self.editor.output_pins(node)
        dynamic = any(p.dynamic for p in inputs) or any(p.dynamic for p in outputs)
        name = f"{node.block_id}/{node.id}" if dynamic else node.block_id
        known = None if dynamic else self._static_types.get(name)
        if known is not None:
            return name, known
        block = self.editor.block_of(node.id)
        made = NodeType(
            type=name,
            label=block.name if block else node.block_id,
            inputs=[handle(p) for p in inputs],
            outputs=[handle(p) for p in outputs],
        )
        if not dynamic and block is not None:
            self._static_types[name] = made
        return name, made

    def classes(self, node: Node, invalid: set[str]) -> str:
        """The node's CSS classes: kind, problems, run state."""
        block = self.editor.block_of(node.id)
        found = ["wb-node"]
        if block is not None and block.block_type in (BlockType.INPUT, BlockType.OUTPUT):
            found.append(f"wb-kind-{block.block_type.value}")
        if node.id in invalid or block is None:
            found.append("wb-invalid")
        status = self.status.get(node.id)
        if status:
            found.append(f"wb-status-{status}")
        return " ".join(found)

    def payloads(self) -> tuple[dict[str, NodeType], list[dict[str, Any]], list[dict[str, Any]]]:
        """(node types, nodes, edges) for React Flow."""
        graph: Graph = self.editor.graph
        invalid = {p.node_id for p in self.editor.problems() if p.node_id}
        types: dict[str, NodeType] = {}
        nodes = []
        for node in graph.nodes:
            name, kind = self.type_of(node)
            types.setdefault(name, kind)
            rows = max(len(kind.inputs or ()), len(kind.outputs or ()), 1)
            x, y = position_of(node) or (0.0, 0.0)
            label = self.node_label(node)
            nodes.append(
                {
                    "id": node.id,
                    "type": name,
                    "position": {"x": x, "y": y},
                    "label": label,
                    "data": {},
                    "className": self.classes(node, invalid),
                    "selected": node.id in self.selected,
                    "style": {"height": f"{PIN_TOP + PIN_ROW * rows - 6}px"},
                }
            )
        edges = [
            {
                "id": link.id,
                "source": link.source_id,
                "target": link.sink_id,
                "sourceHandle": link.source_name,
                "targetHandle": link.sink_name,
                **({"animated": True} if link.is_static else {}),
            }
            for link in graph.links
        ]
        return types, nodes, edges


def fitted_viewport(graph: Graph, width: float = 820, height: float = 640) -> dict[str, float]:
    """A viewport showing every node of ``graph`` (zoom at most 1) in a canvas of about this size."""
    spots = [p for p in (position_of(n) for n in graph.nodes) if p is not None]
    if not spots:
        return {"x": 40.0, "y": 40.0, "zoom": 1.0}
    left, top = min(x for x, _ in spots), min(y for _, y in spots)
    right, bottom = max(x for x, _ in spots) + NODE_WIDTH, max(y for _, y in spots) + 200
    zoom = max(0.1, min(1.0, (width - 60) / max(right - left, 1), (height - 60) / max(bottom - top, 1)))
    return {"x": 30 - left * zoom, "y": 30 - top * zoom, "zoom": round(zoom, 3)}


def _keep_browser_edges(flow: ReactFlow) -> None:
    """Make ``flow`` not send a new edge drawn in the browser back to it.

    The library answers a new edge from the browser by setting its edge list, which sends the whole
    list back (hundreds of edges for one); the browser has the edge already. Here the list is updated
    in Python only and the ``edge_added`` event goes out as before: the Builder then keeps the edge
    (its link takes the edge's id) or sends the list without it (a refused link). An instance
    attribute, not a subclass: the library's browser bundle is looked up by its class."""
    process = flow._process_msg

    def process_msg(msg: dict[str, Any]) -> None:
        edge = msg.get("edge") if isinstance(msg, dict) and msg.get("type") == "edge_added" else None
        if not isinstance(edge, dict) or not edge.get("id"):
            process(msg)
            return
        with param.parameterized.discard_events(flow):
            flow.edges = [*flow.edges, dict(edge)]
        flow._emit("edge_added", {"type": "edge_added", "edge": dict(edge)})

    flow._process_msg = process_msg  # type: ignore[method-assign]


class Canvas:
    """The React Flow widget bound to an editor: it redraws on every change of the editor and turns
    the browser's events (drops, links, deletions, moves, selection) into edits.

    ``on_message(html, ok)`` reports what happened, as HTML (a refused link and why); ``on_select(node_id |
    None)`` the selected node; ``on_drop(block_id, (x, y))`` a block dropped from the palette."""

    def __init__(
        self,
        editor: Editor,
        *,
        on_message: Callable[[str, bool], None] = lambda text, ok: None,
        on_select: Callable[[str | None], None] = lambda node_id: None,
        editable: bool = True,
        height: int = 640,
    ) -> None:
        self.editor = editor
        self.model = CanvasModel(editor)
        self.on_message = on_message
        self.on_select = on_select
        self.flow = ReactFlow(
            display_side_bar=False,
            # No per-node editor (the library would build a form of Bokeh models for every node):
            # the Builder's node panel edits the selected one.
            default_node_editor=_no_editor,
            default_edge_editor=_no_editor,
            editor_mode="side",
            max_zoom=1.25,
            editable=editable,
            drop_types=[BLOCK_MIME],
            show_minimap=len(editor.graph.nodes) > 40,
            viewport=fitted_viewport(editor.graph),
            min_zoom=0.1,
            connection_validation={"direction": True, "duplicates": True},
            stylesheets=[CANVAS_CSS],
            sizing_mode="stretch_width",
            height=height,
        )
        self._sent_nodes: list[dict[str, Any]] | None = None
        self._sent_edges: list[dict[str, Any]] | None = None
        self._sent_sheet: str | None = None
        _keep_browser_edges(self.flow)
        self.flow.add_connection_validator(self._validate_connection)
        for event, handler in (
            ("edge_added", self._edge_added),
            ("edge_deleted", self._edge_deleted),
            ("node_deleted", self._node_deleted),
            ("node_moved", self._node_moved),
            ("selection_changed", self._selection_changed),
            ("drop", self._dropped),
            ("sync", self._browser_sync),
        ):
            self.flow.on(event, handler)
        editor.listeners.append(lambda _editor: self.redraw())
        self.redraw()

    # ---- Python -> browser ---------------------------------------------------------------------

    def redraw(self) -> None:
        """Send what changed of the graph, node types first (so new nodes find theirs). When the
        same nodes are there, only the changed ones go, as patches (a 300-node list is not sent
        again to mark one node); the edge list goes when it changed."""
        types, nodes, edges = self.model.payloads()
        if set(types) != set(self.flow.node_types) or any(
            types[name].to_dict() != _type_dict(self.flow.node_types[name]) for name in types
        ):
            self.flow.node_types = types
        changes: dict[str, Any] = {}
        patches = _node_patches(self._sent_nodes, nodes)
        if patches is None:
            changes["nodes"] = nodes
        if edges != self._sent_edges:
            changes["edges"] = edges
        sheet = problem_css(self.editor.problems())
        if sheet != self._sent_sheet:
            changes["stylesheets"] = [CANVAS_CSS, sheet]
        self._sent_edges, self._sent_sheet = edges, sheet
        if patches is None:
            self._sent_nodes = nodes
        if changes:
            self.flow.param.update(**changes)
        for node_id, patch in patches or ():
            self.flow.patch_node_props(node_id, patch)  # also updates the node dict in _sent_nodes

    def fit(self) -> None:
        """Pan and zoom so that every node shows."""
        self.flow.viewport = fitted_viewport(self.editor.graph)

    def show_status(self, status: dict[str, str]) -> None:
        """Colour the nodes by run state (``{node id: status}``; empty: no run shown)."""
        self.model.status = dict(status)
        self.redraw()

    # ---- browser -> Python ---------------------------------------------------------------------

    def _validate_connection(self, payload: dict[str, Any]) -> str | None:
        source, target = payload.get("source"), payload.get("target")
        out_pin, in_pin = payload.get("sourceHandle"), payload.get("targetHandle")
        if not (source and target and out_pin and in_pin):
            return "connect an output pin to an input pin"
        return self.editor.refusal(source, out_pin, target, in_pin)

    def _edge_added(self, payload: dict[str, Any]) -> None:
        edge = payload.get("edge") or {}
        source, target = edge.get("source"), edge.get("target")
        out_pin, in_pin = edge.get("sourceHandle"), edge.get("targetHandle")
        edge_id = edge.get("id")
        if self._sent_edges is not None and isinstance(edge_id, str):
            # The browser drew this edge already: it need not be sent back once the link is made.
            self._sent_edges = [
                *self._sent_edges,
                {
                    "id": edge_id,
                    "source": source,
                    "target": target,
                    "sourceHandle": out_pin,
                    "targetHandle": in_pin,
                },
            ]
        try:
            if not (source and target and out_pin and in_pin):
                raise EditRefused("connect an output pin to an input pin")
            link = self.editor.connect(source, out_pin, target, in_pin, link_id=edge_id)
        except EditRefused as exc:
            self.on_message(html.escape(f"Link refused: {exc}"), False)
            self._sent_edges = None  # take the browser's edge away again
            self.redraw()
            return
        self.on_message(
            f"Linked {_pin_label(self.editor, source, out_pin)} to "
            f"{_pin_label(self.editor, target, in_pin)}.",
            True,
        )
        log.debug("link %s added from the canvas", link.id)

    def _browser_sync(self, _payload: dict[str, Any]) -> None:
        """The browser sent its whole graph (the library now holds its lists): send ours whole next."""
        self._sent_nodes = self._sent_edges = None
        self.redraw()

    def _edge_deleted(self, payload: dict[str, Any]) -> None:
        edge_id = payload.get("edge_id")
        if edge_id:
            self.editor.remove(link_ids=[edge_id])

    def _node_deleted(self, payload: dict[str, Any]) -> None:
        node_id = payload.get("node_id")
        if node_id:
            self.editor.remove(node_ids=[node_id])

    def _node_moved(self, payload: dict[str, Any]) -> None:
        node_id, where = payload.get("node_id"), payload.get("position") or {}
        try:
            self.editor.move(node_id, float(where["x"]), float(where["y"]))
        except (EditRefused, KeyError, TypeError, ValueError):
            return

    def _selection_changed(self, payload: dict[str, Any]) -> None:
        nodes = [n for n in payload.get("nodes") or [] if isinstance(n, str)]
        self.model.selected = set(nodes)  # the library marked them in the node dicts sent
        self.on_select(nodes[0] if len(nodes) == 1 else None)

    def _dropped(self, payload: dict[str, Any]) -> None:
        data = payload.get("data")
        block = data.get("block") if isinstance(data, dict) else data
        where = payload.get("position") or {}
        if not isinstance(block, str):
            return
        try:
            node = self.editor.add_node(block, (float(where.get("x", 0)), float(where.get("y", 0))))
        except (EditRefused, TypeError, ValueError) as exc:
            self.on_message(html.escape(str(exc)), False)
            return
        self.on_message(html.escape(f"Added {self.model.node_label(node)}."), True)


PATCHED_PROPS = ("position", "label", "className", "style", "selected", "type")
MAX_PATCHES = 40
"""More changed nodes than this: the whole list is sent instead."""


def _node_patches(
    sent: list[dict[str, Any]] | None, nodes: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]] | None:
    """The per-node prop patches turning ``sent`` into ``nodes``; None when the whole list must go
    (nothing sent yet, nodes added, removed or reordered, their data changed, or too many patches)."""
    if sent is None or len(sent) != len(nodes):
        return None
    patches = []
    for old, new in zip(sent, nodes, strict=True):
        if old.get("id") != new["id"] or old.get("data") != new["data"]:
            return None
        patch = {key: new[key] for key in PATCHED_PROPS if key in new and old.get(key) != new[key]}
        if patch:
            patches.append((new["id"], patch))
    return patches if len(patches) <= MAX_PATCHES else None


def _type_dict(kind: Any) -> dict[str, Any]:
    """A node type as the library keeps it (it normalizes ours to dicts)."""
    return kind if isinstance(kind, dict) else kind.to_dict()


def _no_editor(*_args: Any, **_kwargs: Any) -> None:
    """The library's editor factory signature, making no editor."""
    return


def _pin_label(editor: Editor, node_id: str, pin: str) -> str:
    block = editor.block_of(node_id)
    return html.escape(f"{block.name if block else node_id}.{pin}")
