"""Importing AutoGPT exports: parse a JSON document into a Graph, rewriting legacy block ids.

AutoGPT once shipped block ids that were not valid UUIDs; its importer rewrites them (GitHub issue
#8223). We apply the same table so old exports keep working.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from workbench.errors import GraphValidationError, InputError, Problem
from workbench.graph.model import Graph

LEGACY_BLOCK_IDS: dict[str, str] = {
    "a1b2c3d4-5e6f-7g8h-9i0j-k1l2m3n4o5p6": "436c3984-57fd-4b85-8e9a-459b356883bd",
    "b2g2c3d4-5e6f-7g8h-9i0j-k1l2m3n4o5p6": "0e50422c-6dee-4145-83d6-3a5a392f65de",
    "c3d4e5f6-7g8h-9i0j-1k2l-m3n4o5p6q7r8": "a0a69be1-4528-491c-a85a-a4ab6873e3f0",
    "c3d4e5f6-g7h8-i9j0-k1l2-m3n4o5p6q7r8": "32a87eab-381e-4dd4-bdb8-4c47151be35a",
    "b2c3d4e5-6f7g-8h9i-0j1k-l2m3n4o5p6q7": "87840993-2053-44b7-8da4-187ad4ee518c",
    "h1i2j3k4-5l6m-7n8o-9p0q-r1s2t3u4v5w6": "d0822ab5-9f8a-44a3-8971-531dd0178b6b",
    "d3f4g5h6-1i2j-3k4l-5m6n-7o8p9q0r1s2t": "df06086a-d5ac-4abb-9996-2ad0acb2eff7",
    "h5e7f8g9-1b2c-3d4e-5f6g-7h8i9j0k1l2m": "f5b0f5d0-1862-4d61-94be-3ad0fa772760",
    "a1234567-89ab-cdef-0123-456789abcdef": "4335878a-394e-4e67-adf2-919877ff49ae",
    "f8e7d6c5-b4a3-2c1d-0e9f-8g7h6i5j4k3l": "f66a3543-28d3-4ab5-8945-9b336371e2ce",
    "b29c1b50-5d0e-4d9f-8f9d-1b0e6fcbf0h2": "716a67b3-6760-42e7-86dc-18645c6e00fc",
    "31d1064e-7446-4693-o7d4-65e5ca9110d1": "cc10ff7b-7753-4ff2-9af6-9399b1a7eddc",
    "c6731acb-4105-4zp1-bc9b-03d0036h370g": "5ebe6768-8e5d-41e3-9134-1c7bd89a8d52",
}


def _rewrite_legacy(doc: dict[str, Any]) -> None:
    for node in doc.get("nodes") or []:
        if isinstance(node, dict) and node.get("block_id") in LEGACY_BLOCK_IDS:
            node["block_id"] = LEGACY_BLOCK_IDS[node["block_id"]]
    for sub in doc.get("sub_graphs") or []:
        if isinstance(sub, dict):
            _rewrite_legacy(sub)


def _problems_from(exc: ValidationError, doc: dict[str, Any]) -> list[Problem]:
    problems = []
    nodes = doc.get("nodes") if isinstance(doc.get("nodes"), list) else []
    links = doc.get("links") if isinstance(doc.get("links"), list) else []
    for err in exc.errors():
        loc = list(err["loc"])
        node_id = link_id = None
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int) and loc[1] < len(nodes):
            node = nodes[loc[1]]
            node_id = str(node.get("id", f"#{loc[1]}")) if isinstance(node, dict) else f"#{loc[1]}"
            loc = loc[2:]
        elif len(loc) >= 2 and loc[0] == "links" and isinstance(loc[1], int) and loc[1] < len(links):
            link = links[loc[1]]
            link_id = str(link.get("id", f"#{loc[1]}")) if isinstance(link, dict) else f"#{loc[1]}"
            loc = loc[2:]
        field = ".".join(str(x) for x in loc) or None
        message = f"{field}: {err['msg']}" if field else err["msg"]
        problems.append(Problem(message, node_id=node_id, link_id=link_id, code="schema"))
    return problems


def parse_graph(doc: Any) -> Graph:
    """Build a Graph from an AutoGPT-format document (dict or JSON text).

    Raises:
        GraphValidationError: the document does not have the graph shape (each problem located).
    """
    if isinstance(doc, str | bytes):
        # Fast path: pydantic parses the text itself (no Python objects in between, no copy);
        # legacy block ids are rewritten afterwards. A document that fails takes the path below,
        # which locates every problem.
        try:
            return apply_legacy_ids(Graph.model_validate_json(doc))
        except ValidationError:
            pass
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as exc:
            raise GraphValidationError(
                [Problem(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", code="json")]
            ) from exc
    if not isinstance(doc, dict):
        raise GraphValidationError([Problem("a graph must be a JSON object", code="schema")])
    doc = json.loads(json.dumps(doc))  # private copy
    _rewrite_legacy(doc)
    try:
        return Graph.model_validate(doc)
    except ValidationError as exc:
        raise GraphValidationError(_problems_from(exc, doc)) from None


def load_graph_file(path: str | Path) -> Graph:
    """Read and parse a graph file; a missing file is an InputError naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"graph file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read graph file {p}: {exc}") from exc
    return parse_graph(text)


def apply_legacy_ids(graph: Graph) -> Graph:
    """Rewrite legacy block ids in an already parsed graph (and its sub-graphs), in place."""
    for node in graph.nodes:
        if node.block_id in LEGACY_BLOCK_IDS:
            node.block_id = LEGACY_BLOCK_IDS[node.block_id]
    for sub in graph.sub_graphs:
        apply_legacy_ids(sub)
    return graph
