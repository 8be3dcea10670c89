"""A graph as a picture: an SVG drawn with a simple layered layout (no Graphviz needed).

Nodes are placed in columns by their longest distance from a node without incoming links (links that
close a loop are ignored for that), in the order they appear in the graph within a column. Each box
shows the node id and its block; each link is a curve from the source's right edge to the sink's left
edge, labelled ``source pin → sink pin``; static links are dashed.
"""

from __future__ import annotations

from html import escape

from workbench.block.registry import BlockRegistry, default_registry
from workbench.graph.model import Graph

BOX_W, BOX_H, COL_GAP, ROW_GAP, PAD = 190, 46, 110, 28, 16


def layers(graph: Graph) -> dict[str, int]:
    """Column of each node: the longest path to it from a source, ignoring links that close cycles."""
    ids = [n.id for n in graph.nodes]
    out: dict[str, list[str]] = {i: [] for i in ids}
    for link in graph.links:
        if link.source_id in out and link.sink_id in out and link.source_id != link.sink_id:
            out[link.source_id].append(link.sink_id)
    order: list[str] = []  # reverse post-order of a DFS: a topological order of the acyclic part
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for root in ids:
        if root in state:
            continue
        stack = [(root, iter(out[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                order.append(node)
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out[child])))
    level = dict.fromkeys(ids, 0)
    for node in reversed(order):
        for child in out[node]:
            if (node, child) not in back:
                level[child] = max(level[child], level[node] + 1)
    return level


def _label(graph: Graph, node_id: str, registry: BlockRegistry) -> tuple[str, str]:
    node = graph.node(node_id)
    block = registry.get(node.block_id).name if node.block_id in registry else node.block_id[:8]
    name = node.input_default.get("name")
    if isinstance(name, str) and block in ("AgentInputBlock", "AgentOutputBlock"):
        block = f"{'input' if block == 'AgentInputBlock' else 'output'} {name!r}"
    return node_id, block


def graph_svg(graph: Graph, registry: BlockRegistry | None = None) -> str:
    """The SVG document picturing ``graph``."""
    registry = registry or default_registry()
    level = layers(graph)
    columns: dict[int, list[str]] = {}
    for node in graph.nodes:
        columns.setdefault(level[node.id], []).append(node.id)
    pos: dict[str, tuple[int, int]] = {}
    for col, members in columns.items():
        for row, node_id in enumerate(members):
            pos[node_id] = (PAD + col * (BOX_W + COL_GAP), PAD + row * (BOX_H + ROW_GAP))
    width = PAD * 2 + (max(columns, default=0) + 1) * (BOX_W + COL_GAP) - COL_GAP
    height = PAD * 2 + max((len(m) for m in columns.values()), default=1) * (BOX_H + ROW_GAP) - ROW_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(graph.name)}</title>",
        '<defs><marker id="wb-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for link in graph.links:
        if link.source_id not in pos or link.sink_id not in pos:
            continue
        (sx, sy), (tx, ty) = pos[link.source_id], pos[link.sink_id]
        x1, y1, x2, y2 = sx + BOX_W, sy + BOX_H / 2, tx, ty + BOX_H / 2
        bend = max(abs(x2 - x1) / 2, 60)
        dash = ' stroke-dasharray="5,3"' if link.is_static else ""
        parts.append(
            f'<path class="wb-link" d="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}" fill="none" '
            f'stroke="#555"{dash} marker-end="url(#wb-arrow)"/>'
        )
        label = escape(f"{link.source_name} → {link.sink_name}")
        parts.append(
            f'<text x="{(x1 + x2) / 2}" y="{(y1 + y2) / 2 - 4}" text-anchor="middle" fill="#333">{label}</text>'
        )
    for node_id, (x, y) in pos.items():
        title, block = _label(graph, node_id, registry)
        parts.append(
            f'<g class="wb-node" data-node-id="{escape(node_id)}">'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#eef3fb" stroke="#4a6fa5"/>'
            f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">{escape(title[:28])}</text>'
            f'<text x="{x + 8}" y="{y + 35}" fill="#444">{escape(block[:30])}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
