"""The graph picture: left to right in ranks, wrapped to fit the notebook, labels inside their own boxes,
links never across a box, names isolated. Geometry is read back from the SVG itself."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from workbench.client.render import graph_svg, layout, text_width
from workbench.client.text import FSI, PDI
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph, Link

NS = "{http://www.w3.org/2000/svg}"
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def chain(steps: int, name: str = "Chain") -> GraphBuilder:
    """input -> ``steps`` template nodes -> output: ``steps + 2`` nodes in a row."""
    g = GraphBuilder(name)
    prev = g.input("text").result
    for _ in range(steps):
        node = g.add("FillTextTemplateBlock", format="{{ x }}!")
        prev >> node.values["x"]
        prev = node.output
    prev >> g.output("result").value
    return g


def branchy() -> tuple[Graph, GraphBuilder]:
    """Branches, a link spanning two ranks (static), a loop back, and a node without links."""
    g = GraphBuilder("Branchy")
    name = g.input("name")
    greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")
    name.result >> greet.values["name"]
    greet.output >> g.output("greeting").value
    size = g.add("FillTextTemplateBlock", format="{{ name|length }}")
    name.result >> size.values["name"]
    check = g.add("ConditionBlock", operator=">", value2=3, yes_value="long", no_value="short")
    size.output >> check.value1
    check.yes_output >> g.output("kind").value
    check.no_output >> g.output("kind", id="output_kind_no").value
    g.add("FillTextTemplateBlock", id="lonely", format="x")
    graph = g.graph.model_copy(deep=True)
    graph.links += [
        Link(source_id="input_name", sink_id="condition_1", source_name="result", sink_name="value2", is_static=True),
        Link(source_id="condition_1", sink_id="fill_text_template_2", source_name="no_output", sink_name="values_#_again"),
    ]  # fmt: skip
    return graph, g


def parse(svg: str) -> ET.Element:
    """The SVG as XML (fails if the document is not well-formed)."""
    return ET.fromstring(svg)


def boxes(root: ET.Element) -> dict[str, Rect]:
    """Node id -> its box, from the SVG's rects."""
    out = {}
    for g in root.iter(f"{NS}g"):
        if g.get("class") == "wb-node":
            r = g.find(f"{NS}rect")
            assert r is not None
            x, y, w, h = (float(r.get(k, 0)) for k in ("x", "y", "width", "height"))
            out[g.get("data-node-id", "")] = (x, y, x + w, y + h)
    return out


def drawn(t: ET.Element) -> str:
    """The text an SVG ``<text>`` draws (not its tooltip)."""
    tip = t.find(f"{NS}title")
    return (t.text or "") + (tip.tail or "" if tip is not None else "")


def label_boxes(root: ET.Element) -> list[tuple[str, str, Rect]]:
    """(node id, text, estimated box) of every text drawn in a node: title, block and pin labels."""
    out = []
    for g in root.iter(f"{NS}g"):
        if g.get("class") != "wb-node":
            continue
        for t in g.iter(f"{NS}text"):
            text = drawn(t)
            size = float(t.get("font-size", "10"))
            width = text_width(text, size, t.get("font-weight") == "bold")
            x, y = float(t.get("x", 0)), float(t.get("y", 0))
            x0 = x - width if t.get("text-anchor") == "end" else x
            out.append((g.get("data-node-id", ""), text, (x0, y - size, x0 + width, y + size * 0.25)))
    return out


def path_points(d: str, steps: int = 24) -> list[tuple[float, float]]:
    """Points along an SVG path made of absolute M, L, C and Q commands (curves sampled)."""
    points: list[tuple[float, float]] = []
    tokens = re.findall(r"[MLCQ]|-?[\d.]+", d)
    i, cmd = 0, ""
    cur = (0.0, 0.0)
    while i < len(tokens):
        if tokens[i] in "MLCQ":
            cmd = tokens[i]
            i += 1
        n = {"M": 1, "L": 1, "Q": 2, "C": 3}[cmd]
        pts = [(float(tokens[i + 2 * k]), float(tokens[i + 2 * k + 1])) for k in range(n)]
        i += 2 * n
        if cmd in "ML":
            if cmd == "L":
                points += [
                    (cur[0] + (pts[0][0] - cur[0]) * t / steps, cur[1] + (pts[0][1] - cur[1]) * t / steps)
                    for t in range(1, steps + 1)
                ]
            else:
                points.append(pts[0])
        else:
            ctrl = [cur, *pts]
            for s in range(1, steps + 1):
                t = s / steps
                layer = ctrl
                while len(layer) > 1:  # de Casteljau
                    layer = [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t) for a, b in pairwise(layer)]
                points.append(layer[0])
        cur = pts[-1]
    return points


def inside(p: tuple[float, float], r: Rect, margin: float = 0.75) -> bool:
    """Whether ``p`` is strictly inside ``r`` (more than ``margin`` from its edges)."""
    return r[0] + margin < p[0] < r[2] - margin and r[1] + margin < p[1] < r[3] - margin


def overlap(a: Rect, b: Rect) -> bool:
    """Whether two rectangles overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def within(a: Rect, b: Rect) -> bool:
    """Whether ``a`` lies within ``b``."""
    return a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]


def check_geometry(svg: str, max_width: float | None = None) -> ET.Element:
    """Every picture rule, read from the SVG."""
    root = parse(svg)
    width = float(root.get("width", 0))
    if max_width is not None:
        assert width <= max_width
    rects = boxes(root)
    for node_id, r in rects.items():
        assert r[0] >= 0 and r[2] <= width and r[1] >= 0 and r[3] <= float(root.get("height", 0)), node_id
        for other_id, other in rects.items():
            assert other_id == node_id or not overlap(r, other), (node_id, other_id)
    for node_id, text, box in label_boxes(root):
        assert within(box, rects[node_id]), (node_id, text, box, rects[node_id])  # inside its own box
        for other_id, other in rects.items():
            assert other_id == node_id or not overlap(box, other), (text, other_id)
    for path in root.iter(f"{NS}path"):
        if "wb-link" not in (path.get("class") or ""):
            continue
        for p in path_points(path.get("d", "")):
            hit = [n for n, r in rects.items() if inside(p, r)]
            assert not hit, (path.get("data-source"), path.get("data-sink"), p, hit)
    return root


@pytest.mark.parametrize("max_width", [800, 560, 360])
def test_a_five_node_chain_fits_the_width_left_to_right(max_width: int) -> None:
    g = chain(3)
    svg = graph_svg(g.graph, g.registry, max_width=max_width)
    root = check_geometry(svg, max_width)
    rects = boxes(root)
    assert len(rects) == 5
    order = [
        "input_text",
        "fill_text_template_1",
        "fill_text_template_2",
        "fill_text_template_3",
        "output_result",
    ]
    # Reading order: left to right along a row, rows top to bottom.
    rows = sorted({round(rects[n][1]) for n in order})
    assert len(rows) > 1  # wrapped: five boxes of 150 px do not fit side by side in 800 px
    reading = sorted(order, key=lambda n: (rows.index(round(rects[n][1])), rects[n][0]))
    assert reading == order
    # A straight chain: the boxes of a row are level (as many heights as rows), left to right.
    assert len(rows) == layout(g.graph, g.registry, max_width=max_width).bands
    for a, b in pairwise(order):
        if round(rects[a][1]) == round(rects[b][1]):
            assert rects[a][2] < rects[b][0]


def test_labels_stay_in_their_boxes_and_links_go_around_boxes() -> None:
    graph, g = branchy()
    for max_width in (800, 420):
        pic = layout(graph, g.registry, max_width=max_width)
        assert {e.route for e in pic.edges} >= {"curve", "back"}
        svg = pic.svg()
        root = check_geometry(svg, max_width)
        assert len([p for p in root.iter(f"{NS}path") if "wb-link" in (p.get("class") or "")]) == len(
            graph.links
        )
    narrow = layout(graph, g.registry, max_width=420)
    assert narrow.bands == 2 and "wrap" in {e.route for e in narrow.edges}
    static = [p for p in parse(narrow.svg()).iter(f"{NS}path") if p.get("stroke-dasharray")]
    assert [(p.get("data-source"), p.get("data-sink")) for p in static] == [("input_name", "condition_1")]


def test_pins_are_the_link_labels() -> None:
    g = GraphBuilder("Greeter")
    name = g.input("name")
    greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")
    name.result >> greet.values["name"]
    greet.output >> g.output("greeting").value
    root = check_geometry(graph_svg(g.graph, g.registry))
    pins = {
        (t.get("class"), "".join(t.itertext()).strip(FSI + PDI))
        for t in root.iter(f"{NS}text")
        if "wb-pin" in (t.get("class") or "")
    }
    assert pins == {
        ("wb-pin wb-pin-out", "result"),
        ("wb-pin wb-pin-in", "values_#_name"),
        ("wb-pin wb-pin-out", "output"),
        ("wb-pin wb-pin-in", "value"),
    }
    tips = ["".join(t.itertext()) for p in root.iter(f"{NS}path") for t in p.iter(f"{NS}title")]
    assert (
        f"{FSI}input_name{PDI}.{FSI}result{PDI} → {FSI}fill_text_template_1{PDI}.{FSI}values_#_name{PDI}"
        in tips
    )


def test_long_names_are_cut_with_the_full_name_as_a_tooltip() -> None:
    g = GraphBuilder("Long")
    long_id = "a_node_with_a_really_remarkably_long_identifier"
    node = g.add("FillTextTemplateBlock", id=long_id, format="x")
    g.input("name").result >> node.values["a_pin_name_that_goes_on_and_on_forever"]
    root = check_geometry(graph_svg(g.graph, g.registry))
    titles = [t for t in root.iter(f"{NS}text") if t.find(f"{NS}title") is not None]
    full = {"".join(t.find(f"{NS}title").itertext()).strip(FSI + PDI) for t in titles}  # type: ignore[union-attr]
    assert {long_id, "values_#_a_pin_name_that_goes_on_and_on_forever"} <= full


def test_names_with_bidi_and_control_characters_are_isolated() -> None:
    evil = "a\u202efdp.exe"
    g = GraphBuilder(f"Graph {evil}")
    node = g.add("FillTextTemplateBlock", id="x\u202e\x01", format="x")
    g.input("name").result >> node.values["p\u202e"]
    svg = graph_svg(g.graph, g.registry)
    root = check_geometry(svg)  # well-formed XML even with a control character in a name
    assert "\u202e" not in svg and "\x01" not in svg
    texts = [drawn(t) for t in root.iter(f"{NS}text")]
    assert f"{FSI}x\\u202e\\x01{PDI}" in texts
    assert f"{FSI}values_#_p\\u202e{PDI}" in texts
    assert "".join(root.find(f"{NS}title").itertext()) == f"{FSI}Graph a\\u202efdp.exe{PDI}"  # type: ignore[union-attr]
    # Every drawn text is one isolate: nothing in it can reorder what is around it.
    for text in texts:
        assert text.startswith(FSI) and text.endswith(PDI) and text.count(FSI) == 1, text


def test_an_empty_graph_still_draws() -> None:
    root = parse(graph_svg(GraphBuilder("Empty").graph))
    assert "(no nodes)" in "".join(root.itertext())
