"""Rich displays: a graph as a picture, a run as tables of outputs and node executions, a block's pins."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from workbench import jsonutil
from workbench.block.registry import default_registry
from workbench.client.render import graph_svg
from workbench.client.types import BlockInfo, GraphInfo
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph
from workbench.services.executions import ExecutionResult

STATUS_COLOURS = {
    "COMPLETED": "#2e7d32",
    "FAILED": "#c62828",
    "CANCELLED": "#757575",
    "RUNNING": "#1565c0",
    "QUEUED": "#6d4c41",
    "INCOMPLETE": "#6d4c41",
}


def short(value: Any, limit: int = 80) -> str:
    """A value as compact JSON (or repr), cut to ``limit`` characters."""
    try:
        text = jsonutil.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def badge(status: str) -> str:
    """A coloured status label."""
    colour = STATUS_COLOURS.get(status, "#444")
    return f'<span style="color:{colour};font-weight:bold">{escape(status)}</span>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "wb-table") -> str:
    """An HTML table; cells are HTML already (escape text before)."""
    head = "".join(f"<th style='text-align:left'>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _duration(start: float | None, end: float | None) -> str:
    if start is None:
        return ""
    return f"{((end or time.time()) - start) * 1000:.1f} ms"


def _block_name(node: dict[str, Any]) -> str:
    """The block's name (stored node executions carry only its id)."""
    if node.get("block_name"):
        return str(node["block_name"])
    registry = default_registry()
    block_id = str(node.get("block_id", ""))
    return registry.get(block_id).name if block_id in registry else block_id


def execution_html(result: ExecutionResult) -> str:
    """A run: status, outputs by name, error, and every node execution."""
    parts = [
        f"<div class='wb-execution'><b>Execution</b> <code>{escape(result.execution_id)}</code> "
        f"{badge(str(result.status))} <small>{_duration(result.started_at, result.ended_at)}</small></div>"
    ]
    if result.outputs:
        rows = [(escape(k), escape(short(v, 200))) for k, v in result.outputs.items()]
        parts.append(table(["output", "values"], rows))
    if result.error:
        where = f" (node {escape(result.error_node_id)})" if result.error_node_id else ""
        parts.append(f"<div style='color:#c62828'>error{where}: {escape(result.error)}</div>")
    if result.node_executions:
        rows = [
            (
                escape(str(n.get("node_id"))),
                escape(_block_name(n)[:40]),
                badge(str(n.get("status"))),
                _duration(n.get("started_at"), n.get("ended_at")),
                escape(short(n.get("outputs"), 120)),
            )
            for n in result.node_executions
        ]
        parts.append(table(["node", "block", "status", "time", "outputs"], rows))
    return "".join(parts)


def block_html(info: BlockInfo) -> str:
    """A block: name, categories, description, input and output pins."""
    pins = [("in", p.name + ("*" if p.required else ""), p.type, p.description) for p in info.inputs] + [
        ("out", p.name, p.type, p.description) for p in info.outputs
    ]
    rows = [(d, f"<code>{escape(n)}</code>", escape(t), escape(desc[:100])) for d, n, t, desc in pins]
    return (
        f"<div class='wb-block'><b>{escape(info.name)}</b> <small>{escape(', '.join(info.categories))} · "
        f"<code>{escape(info.id)}</code></small><br>{escape(info.description[:300])}</div>"
        + table(["", "pin", "type", "description"], rows)
    )


class BlockTable(list[BlockInfo]):
    """A list of blocks that displays as a table."""

    def _repr_html_(self) -> str:
        rows = [
            (
                f"<b>{escape(b.name)}</b>",
                escape(", ".join(b.categories)),
                escape(", ".join(p.name for p in b.inputs)),
                escape(", ".join(p.name for p in b.outputs)),
            )
            for b in self
        ]
        return f"<div>{len(self)} blocks</div>" + table(["block", "categories", "inputs", "outputs"], rows)


class RunTable(list[ExecutionResult]):
    """A list of runs that displays as a table."""

    def _repr_html_(self) -> str:
        rows = [
            (
                f"<code>{escape(r.execution_id)}</code>",
                f"<code>{escape(r.graph_id[:8])}</code> v{r.graph_version}",
                badge(str(r.status)),
                _duration(r.started_at, r.ended_at),
                escape(short(r.outputs, 100)),
            )
            for r in self
        ]
        return table(["execution", "graph", "status", "time", "outputs"], rows)


class GraphTable(list[GraphInfo]):
    """A list of stored graphs that displays as a table."""

    def _repr_html_(self) -> str:
        rows = [
            (f"<code>{escape(g.id)}</code>", escape(g.name), str(g.version), str(g.node_count)) for g in self
        ]
        return table(["graph", "name", "version", "nodes"], rows)


def builder_svg(builder: GraphBuilder) -> str:
    """The picture of a graph being built (not validated: it may be unfinished)."""
    return graph_svg(builder.graph, builder.registry)


def register_reprs(ipython: Any) -> None:
    """Teach IPython's display to show graphs, builders, runs and blocks."""
    formatters = ipython.display_formatter.formatters
    formatters["image/svg+xml"].for_type(Graph, lambda g: graph_svg(g))
    formatters["image/svg+xml"].for_type(GraphBuilder, builder_svg)
    formatters["text/html"].for_type(ExecutionResult, execution_html)
    formatters["text/html"].for_type(BlockInfo, block_html)
