"""A graph as a picture: an SVG with a layered layout that reads left to right and fits the notebook.

The layout is the classic layered (Sugiyama) one, kept small:

1. ranks: each node's longest distance from a node without incoming links (links closing a loop
   ignored), so data flows left to right;
2. a link spanning several ranks gets a *dummy* slot in every rank it crosses, so it never runs over a
   box;
3. within a rank, nodes and slots are ordered by the barycentre of their neighbours (a few sweeps down
   and up) to limit crossings;
4. ranks are placed in columns; when they do not fit in ``max_width`` they wrap onto further rows
   (*bands*), like lines of text;
5. each node is put level with its first upstream neighbour when it can be, so chains are straight.

Boxes list the pins their links use: inputs on the left edge, outputs on the right, each link drawn
from its output pin to its input pin. Pin names are the link labels, so a label always sits inside
its own box and never on another one. Links between neighbouring columns are curves inside the gap
between them; links that wrap to the next band or go back (loops) are routed around the boxes: along
the gaps between columns and the channels between bands. Static links are dashed.

Names are isolated (:mod:`workbench.client.text`): a bidi control in a node id cannot reorder the picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from itertools import pairwise

from workbench.block.base import BlockType
from workbench.block.registry import BlockRegistry, default_registry
from workbench.client.text import FSI, PDI, isolate, svg_name, visible
from workbench.graph.model import Graph, Link

MAX_WIDTH = 800
"""Default width budget in pixels (a notebook's output area)."""
BOX_W = 150
GAP = 52
"""Horizontal space between columns: link curves and routed lanes run here."""
PAD = 20
"""Left and right margins: the lanes of links wrapping to the next band run here."""
TOP = 10
HEAD_H = 36
PIN_H = 15
BOX_BOTTOM = 6
VGAP = 16
DUMMY_H = 6
BAND_GAP = 24
LANE = 6
TITLE_SIZE, TEXT_SIZE = 11, 10

_NARROW = set("ijl|!.,:;'`")
_SEMI = set("ft()[]{}r/\\ ")
_WIDE = set("mwMW@%")
STYLES = {
    BlockType.INPUT: ("#e8f5e9", "#43a047"),
    BlockType.OUTPUT: ("#fff3e0", "#ef6c00"),
    BlockType.AGENT: ("#f3e5f5", "#8e24aa"),
    BlockType.NOTE: ("#fffde7", "#f9a825"),
}
DEFAULT_STYLE = ("#eef3fb", "#4a6fa5")
Item = tuple[str, str, int]
"""A slot in a rank: ``("n", node id, rank)`` or a link's dummy ``("d", link index, rank)``."""


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


def text_width(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of the width of ``text`` in pixels (DejaVu Sans, the widest usual sans)."""
    em = 0.0
    for ch in text:
        if ch in "\u2068\u2069":
            continue
        if ch in _NARROW:
            em += 0.3
        elif ch in _SEMI:
            em += 0.4
        elif ch in _WIDE:
            em += 0.95
        elif ch.isupper():
            em += 0.74
        elif ch.isascii():
            em += 0.64
        else:
            em += 1.0
    return em * size * (1.12 if bold else 1.0)


def fit(text: str, width: float, size: float, bold: bool = False) -> tuple[str, bool]:
    """``text`` (controls made visible) cut with an ellipsis to fit ``width``; and whether it was cut."""
    shown = visible(text)
    if text_width(shown, size, bold) <= width:
        return shown, False
    while shown and text_width(shown + "…", size, bold) > width:
        shown = shown[:-1]
    return shown + "…", True


@dataclass
class Box:
    """A node's box: position, size, and the pins its links use (inputs left, outputs right).

    Input ``i`` and output ``i`` share a row when both names fit side by side, so a chain of one-in
    one-out nodes is a straight line; otherwise each gets a row of its own.
    """

    node_id: str
    title: str
    subtitle: str
    kind: BlockType | None
    inputs: list[str]
    outputs: list[str]
    x: float = 0.0
    y: float = 0.0
    in_row: dict[str, int] = field(default_factory=dict)
    out_row: dict[str, int] = field(default_factory=dict)
    rows: int = 0

    def __post_init__(self) -> None:
        inner = BOX_W - 16
        for i in range(max(len(self.inputs), len(self.outputs))):
            pin_in = self.inputs[i] if i < len(self.inputs) else None
            pin_out = self.outputs[i] if i < len(self.outputs) else None
            if pin_in is not None and pin_out is not None:
                both = text_width(visible(pin_in), TEXT_SIZE) + text_width(visible(pin_out), TEXT_SIZE)
                if both + 12 > inner:  # one row each
                    self.in_row[pin_in], self.out_row[pin_out] = self.rows, self.rows + 1
                    self.rows += 2
                    continue
            if pin_in is not None:
                self.in_row[pin_in] = self.rows
            if pin_out is not None:
                self.out_row[pin_out] = self.rows
            self.rows += 1

    @property
    def w(self) -> float:
        """Width."""
        return BOX_W

    @property
    def h(self) -> float:
        """Height: the header and the pin rows."""
        return HEAD_H + self.rows * PIN_H + BOX_BOTTOM if self.rows else HEAD_H + 4

    def in_offset(self, pin: str) -> float:
        """The input pin's anchor height below the top of the box."""
        return HEAD_H + self.in_row[pin] * PIN_H + PIN_H / 2

    def out_offset(self, pin: str) -> float:
        """The output pin's anchor height below the top of the box."""
        return HEAD_H + self.out_row[pin] * PIN_H + PIN_H / 2

    def in_anchor(self, pin: str) -> tuple[float, float]:
        """Where a link enters input ``pin`` (the left edge)."""
        return self.x, self.y + self.in_offset(pin)

    def out_anchor(self, pin: str) -> tuple[float, float]:
        """Where a link leaves output ``pin`` (the right edge)."""
        return self.x + BOX_W, self.y + self.out_offset(pin)


@dataclass
class Edge:
    """One link as drawn: its SVG path and the kind of route it took."""

    link: Link
    path: str
    route: str
    """``curve`` (neighbouring columns, possibly through dummy slots), ``wrap`` (onto a later band)
    or ``back`` (to an earlier or the same rank: a loop)."""


@dataclass
class Picture:
    """A laid-out graph; :meth:`svg` draws it."""

    graph: Graph
    width: float
    height: float
    boxes: dict[str, Box]
    edges: list[Edge]
    columns: int
    """Ranks per band (row)."""
    bands: int = 1
    """Rows the ranks were wrapped onto."""

    def svg(self) -> str:
        """The SVG document."""
        return _draw(self)


def _block_label(graph: Graph, node_id: str, registry: BlockRegistry) -> tuple[str, BlockType | None]:
    node = graph.node(node_id)
    if node.block_id not in registry:
        return node.block_id[:8], None
    block = registry.get(node.block_id)
    label, kind = block.name, block.block_type
    name = node.input_default.get("name")
    if isinstance(name, str) and kind in (BlockType.INPUT, BlockType.OUTPUT):
        label = f"{'input' if kind == BlockType.INPUT else 'output'} {name!r}"
    return label, kind


def layout(graph: Graph, registry: BlockRegistry | None = None, max_width: float = MAX_WIDTH) -> Picture:
    """Lay ``graph`` out within ``max_width`` pixels (wider only if one column is wider than that)."""
    registry = registry or default_registry()
    ids = list(dict.fromkeys(n.id for n in graph.nodes))
    known = set(ids)
    links = [lk for lk in graph.links if lk.source_id in known and lk.sink_id in known]
    rank = layers(graph)

    boxes: dict[str, Box] = {}
    for node_id in ids:
        label, kind = _block_label(graph, node_id, registry)
        ins = list(dict.fromkeys(lk.sink_name for lk in links if lk.sink_id == node_id))
        outs = list(dict.fromkeys(lk.source_name for lk in links if lk.source_id == node_id))
        boxes[node_id] = Box(node_id, node_id, label, kind, ins, outs)

    # Items per rank: nodes, and a dummy slot per rank a forward link crosses.
    top_rank = max(rank.values(), default=0)
    ranks: list[list[Item]] = [[] for _ in range(top_rank + 1)]
    for node_id in ids:
        ranks[rank[node_id]].append(("n", node_id, rank[node_id]))
    chains: dict[int, list[Item]] = {}
    back: list[int] = []
    for i, lk in enumerate(links):
        rs, rt = rank[lk.source_id], rank[lk.sink_id]
        if rt <= rs:
            back.append(i)
            continue
        chain: list[Item] = [("n", lk.source_id, rs)]
        for r in range(rs + 1, rt):
            dummy: Item = ("d", str(i), r)
            ranks[r].append(dummy)
            chain.append(dummy)
        chain.append(("n", lk.sink_id, rt))
        chains[i] = chain
    preds: dict[Item, list[Item]] = {}
    succs: dict[Item, list[Item]] = {}
    for chain in chains.values():
        for a, b in pairwise(chain):
            succs.setdefault(a, []).append(b)
            preds.setdefault(b, []).append(a)

    # Order within ranks: barycentre sweeps, down then up.
    pos = {item: i for members in ranks for i, item in enumerate(members)}

    def reorder(r: int, neighbours: dict[Item, list[Item]]) -> None:
        def key(item: Item) -> tuple[float, int]:
            near = neighbours.get(item)
            centre = sum(pos[n] for n in near) / len(near) if near else float(pos[item])
            return centre, pos[item]

        ranks[r].sort(key=key)
        for i, item in enumerate(ranks[r]):
            pos[item] = i

    for _ in range(4):
        for r in range(1, len(ranks)):
            reorder(r, preds)
        for r in range(len(ranks) - 2, -1, -1):
            reorder(r, succs)

    # Columns and bands.
    per_band = max(1, int((max_width - 2 * PAD + GAP) // (BOX_W + GAP)))
    bands = (len(ranks) + per_band - 1) // per_band
    per_band = (len(ranks) + bands - 1) // bands  # balanced rows: 3 + 2 rather than 4 + 1

    def band(r: int) -> int:
        return r // per_band

    def col_x(r: int) -> float:
        return PAD + (r % per_band) * (BOX_W + GAP)

    # Heights within each band (band-local y), each item level with its first upstream neighbour.
    local_y: dict[Item, float] = {}
    band_h = [0.0] * bands

    step_link: dict[tuple[Item, Item], Link] = {}
    for i, chain in chains.items():
        for a, b in pairwise(chain):
            step_link.setdefault((a, b), links[i])

    for r, members in enumerate(ranks):
        cursor = 0.0
        for item in members:
            height = DUMMY_H if item[0] == "d" else boxes[item[1]].h
            desired = None
            for p in preds.get(item, []):
                if p[2] == r - 1 and band(r - 1) == band(r):
                    lk = step_link[(p, item)]
                    y = local_y[p] + (boxes[p[1]].out_offset(lk.source_name) if p[0] == "n" else DUMMY_H / 2)
                    desired = y - (boxes[item[1]].in_offset(lk.sink_name) if item[0] == "n" else DUMMY_H / 2)
                    break
            top = max(cursor, desired) if desired is not None else cursor
            local_y[item] = top
            cursor = top + height + VGAP
            band_h[band(r)] = max(band_h[band(r)], top + height)

    # Lanes: links wrapping to the next band, and loops, run in the channel below a band.
    channel_lanes = [0] * bands
    gap_lanes: dict[tuple[int, str], int] = {}

    def take(counter: dict[tuple[int, str], int], key: tuple[int, str]) -> int:
        counter[key] = counter.get(key, 0) + 1
        return counter[key] - 1

    wraps: list[tuple[int, int, int, int, int]] = []  # link, rank, channel lane, right lane, left lane
    for i, chain in chains.items():
        for a, b in pairwise(chain):
            if band(a[2]) != band(b[2]):
                lane = channel_lanes[band(a[2])]
                channel_lanes[band(a[2])] += 1
                right = take(gap_lanes, (a[2] % per_band, "after"))
                wraps.append((i, a[2], lane, right, take(gap_lanes, (b[2] % per_band, "before"))))
    backs: dict[int, tuple[int, int, int]] = {}
    for i in back:
        lk = links[i]
        rs, rt = rank[lk.source_id], rank[lk.sink_id]
        lane = channel_lanes[band(rs)]
        channel_lanes[band(rs)] += 1
        after = take(gap_lanes, (rs % per_band, "after"))
        backs[i] = (lane, after, take(gap_lanes, (rt % per_band, "before")))

    band_top = [float(TOP)] * bands
    for b in range(1, bands):
        band_top[b] = band_top[b - 1] + band_h[b - 1] + BAND_GAP + channel_lanes[b - 1] * LANE
    last_channel = (10 + channel_lanes[-1] * LANE) if bands and channel_lanes[-1] else 0
    height = (band_top[-1] + band_h[-1] if bands else TOP) + last_channel + TOP

    used = min(per_band, len(ranks))
    width = 2 * PAD + used * BOX_W + (used - 1) * GAP

    for item, y in local_y.items():
        if item[0] == "n":
            boxes[item[1]].x = col_x(item[2])
            boxes[item[1]].y = band_top[band(item[2])] + y

    def channel_y(b: int, lane: int) -> float:
        return band_top[b] + band_h[b] + 10 + lane * LANE

    def lane_x(r: int, side: str, lane: int) -> float:
        """A vertical lane beside column ``r``: in the gap (or margin) after or before it."""
        margin = (r % per_band == used - 1) if side == "after" else (r % per_band == 0)
        room = PAD - 2 if margin else GAP / 2  # in a gap, "after" lanes keep to its left half
        first = 6.0 if side == "after" else 12.0  # "before" lanes clear the arrowheads
        slots = max(1, int((room - first) // 4) + 1)
        offset = first + (lane % slots) * 4
        if side == "after":
            return col_x(r) + BOX_W + offset
        return col_x(r) - offset

    def point(item: Item, side: str, lk: Link) -> tuple[float, float]:
        if item[0] == "n":
            box = boxes[item[1]]
            return box.out_anchor(lk.source_name) if side == "out" else box.in_anchor(lk.sink_name)
        x = col_x(item[2]) + (BOX_W if side == "out" else 0)
        return x, band_top[band(item[2])] + local_y[item] + DUMMY_H / 2

    wrap_at = {(i, r): (lane, right, left) for i, r, lane, right, left in wraps}
    edges: list[Edge] = []
    for i, lk in enumerate(links):
        if i in backs:
            lane, after, before = backs[i]
            s = boxes[lk.source_id].out_anchor(lk.source_name)
            t = boxes[lk.sink_id].in_anchor(lk.sink_name)
            xa = lane_x(rank[lk.source_id], "after", after)
            xb = lane_x(rank[lk.sink_id], "before", before)
            yc = channel_y(band(rank[lk.source_id]), lane)
            path = f"M{_n(s[0])},{_n(s[1])}" + _orthogonal([s, (xa, s[1]), (xa, yc), (xb, yc), (xb, t[1]), t])
            edges.append(Edge(lk, path, "back"))
            continue
        chain = chains[i]
        s = point(chain[0], "out", lk)
        path = f"M{_n(s[0])},{_n(s[1])}"
        route = "curve"
        for a, b in pairwise(chain):
            p, q = point(a, "out", lk), point(b, "in", lk)
            if a[0] == "d":  # across the dummy's slot
                path += f" L{_n(p[0])},{_n(p[1])}"
            if band(a[2]) == band(b[2]):
                mid = (q[0] - p[0]) / 2
                path += f" C{_n(p[0] + mid)},{_n(p[1])} {_n(q[0] - mid)},{_n(q[1])} {_n(q[0])},{_n(q[1])}"
            else:
                route = "wrap"
                lane, right, left = wrap_at[(i, a[2])]
                xr, xl = lane_x(a[2], "after", right), lane_x(b[2], "before", left)
                yc = channel_y(band(a[2]), lane)
                path += _orthogonal([p, (xr, p[1]), (xr, yc), (xl, yc), (xl, q[1]), q])
        edges.append(Edge(lk, path, route))
    return Picture(graph, width, height, boxes, edges, per_band, bands)


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _orthogonal(points: list[tuple[float, float]], radius: float = 5.0) -> str:
    """Path commands along ``points`` (after a move to the first), with rounded corners."""
    out = []
    for k in range(1, len(points) - 1):
        (x0, y0), (x1, y1), (x2, y2) = points[k - 1], points[k], points[k + 1]
        d_in = abs(x1 - x0) + abs(y1 - y0)
        d_out = abs(x2 - x1) + abs(y2 - y1)
        r = min(radius, d_in / 2, d_out / 2)
        if r <= 0.01:
            out.append(f" L{_n(x1)},{_n(y1)}")
            continue
        ax = x1 - (r if x1 > x0 else -r if x1 < x0 else 0)
        ay = y1 - (r if y1 > y0 else -r if y1 < y0 else 0)
        bx = x1 + (r if x2 > x1 else -r if x2 < x1 else 0)
        by = y1 + (r if y2 > y1 else -r if y2 < y1 else 0)
        out.append(f" L{_n(ax)},{_n(ay)} Q{_n(x1)},{_n(y1)} {_n(bx)},{_n(by)}")
    x, y = points[-1]
    out.append(f" L{_n(x)},{_n(y)}")
    return "".join(out)


def _text(x: float, y: float, text: str, size: int, width: float, **attrs: str) -> str:
    """An SVG text fitted to ``width``; the full text as a tooltip when cut."""
    shown, cut = fit(text, width, size, bold=attrs.get("font_weight") == "bold")
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
    tip = f"<title>{svg_name(text)}</title>" if cut else ""
    return f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}"{extra}>{tip}{escape(FSI + shown + PDI)}</text>'


def _draw(pic: Picture) -> str:
    graph = pic.graph
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(pic.width)}" height="{_n(pic.height)}" '
        f'viewBox="0 0 {_n(pic.width)} {_n(pic.height)}" font-family="DejaVu Sans, Verdana, sans-serif" '
        'style="max-width:100%;height:auto">',
        f"<title>{svg_name(graph.name)}</title>",
        '<defs><marker id="wb-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#546e7a"/></marker></defs>',
    ]
    if not pic.boxes:
        parts.append(f'<text x="{PAD}" y="{TOP + 14}" font-size="{TEXT_SIZE}" fill="#777">(no nodes)</text>')
    for edge in pic.edges:
        lk = edge.link
        dash = ' stroke-dasharray="5,3"' if lk.is_static else ""
        label = f"{isolate(lk.source_id)}.{isolate(lk.source_name)} → {isolate(lk.sink_id)}.{isolate(lk.sink_name)}"
        parts.append(
            f'<path class="wb-link wb-{edge.route}" data-source="{escape(visible(lk.source_id))}" '
            f'data-sink="{escape(visible(lk.sink_id))}" d="{edge.path}" fill="none" stroke="#546e7a" '
            f'stroke-width="1.3"{dash} marker-end="url(#wb-arrow)"><title>{escape(label)}</title></path>'
        )
    for box in pic.boxes.values():
        fill, stroke = STYLES.get(box.kind, DEFAULT_STYLE) if box.kind else DEFAULT_STYLE
        x, y = box.x, box.y
        inner = BOX_W - 16
        g = [
            f'<g class="wb-node" data-node-id="{escape(visible(box.node_id))}">',
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{BOX_W}" height="{_n(box.h)}" rx="6" fill="{fill}" '
            f'stroke="{stroke}"/>',
            _text(x + 8, y + 15, box.title, TITLE_SIZE, inner, font_weight="bold", fill="#1a1a1a"),
            _text(x + 8, y + 29, box.subtitle, TEXT_SIZE, inner, fill="#555"),
        ]
        if box.rows:
            g.append(
                f'<line x1="{_n(x)}" y1="{_n(y + HEAD_H - 2)}" x2="{_n(x + BOX_W)}" y2="{_n(y + HEAD_H - 2)}" '
                f'stroke="{stroke}" stroke-opacity="0.35"/>'
            )
        for pin in box.inputs:
            ax, ay = box.in_anchor(pin)
            g.append(f'<circle cx="{_n(ax)}" cy="{_n(ay)}" r="2.5" fill="{stroke}"/>')
            g.append(_text(ax + 8, ay + 3.5, pin, TEXT_SIZE, inner, fill="#333", class_="wb-pin wb-pin-in"))
        for pin in box.outputs:
            ax, ay = box.out_anchor(pin)
            g.append(f'<circle cx="{_n(ax)}" cy="{_n(ay)}" r="2.5" fill="{stroke}"/>')
            g.append(
                _text(
                    ax - 8, ay + 3.5, pin, TEXT_SIZE, inner, fill="#333", text_anchor="end",
                    class_="wb-pin wb-pin-out",
                )
            )  # fmt: skip
        g.append("</g>")
        parts.append("".join(g))
    parts.append("</svg>")
    return "".join(parts)


def graph_svg(graph: Graph, registry: BlockRegistry | None = None, max_width: float = MAX_WIDTH) -> str:
    """The SVG picture of ``graph``, at most ``max_width`` pixels wide (one column if narrower)."""
    return layout(graph, registry, max_width).svg()
