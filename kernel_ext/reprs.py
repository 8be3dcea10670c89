"""Rich displays: a graph as a picture, a run as tables of outputs and node executions, a block's pins.

Every name and value a user (or a server) chose is escaped and isolated (:mod:`workbench.client.text`), in
HTML, in the picture and in the plain-text forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from workbench.block.registry import default_registry
from workbench.client.render import graph_svg
from workbench.client.text import display_value, html_name, html_value, isolate
from workbench.client.types import BlockInfo, GraphInfo
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph
from workbench.services.executions import ExecutionResult, NodeExecution

STATUS_COLOURS = {
    "COMPLETED": "#2e7d32",
    "FAILED": "#c62828",
    "CANCELLED": "#757575",
    "REVIEW": "#b26a00",
    "RUNNING": "#1565c0",
    "QUEUED": "#6d4c41",
    "INCOMPLETE": "#6d4c41",
}


def badge(status: str) -> str:
    """A coloured status label."""
    colour = STATUS_COLOURS.get(status, "#444")
    return f'<span style="color:{colour};font-weight:bold">{escape(status)}</span>'


TD_STYLE = "text-align:left;vertical-align:top"
"""Cells read left to right (JupyterLab's stylesheet would right-align them)."""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "wb-table") -> str:
    """An HTML table; cells are HTML already (escape text before)."""
    head = "".join(f"<th style='text-align:left'>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='{TD_STYLE}'>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return ""
    seconds = ((end or datetime.now(UTC)) - start).total_seconds()
    return f"{seconds * 1000:.1f} ms"


def _block_name(node: NodeExecution) -> str:
    """The block's name (stored node executions carry only its id)."""
    if node.block_name:
        return node.block_name
    registry = default_registry()
    return registry.get(node.block_id).name if node.block_id in registry else node.block_id


def _pin_values(outputs: Any, limit: int = 120) -> str:
    """A node execution's outputs (``[[pin, value], ...]``) as ``pin: value`` lines."""
    if not isinstance(outputs, list):
        return html_value(outputs, limit) if outputs else ""
    lines = []
    for item in outputs[-5:]:
        if isinstance(item, list | tuple) and len(item) == 2:
            lines.append(
                f"<span style='color:#555'>{html_name(item[0])}</span>: {html_value(item[1], limit)}"
            )
        else:
            lines.append(html_value(item, limit))
    earlier = f"<small>… {len(outputs) - 5} earlier</small><br>" if len(outputs) > 5 else ""
    return earlier + "<br>".join(lines)


def execution_html(result: ExecutionResult) -> str:
    """A run: status, each output value under its name, error, and every node execution."""
    parts = [
        f"<div class='wb-execution'><b>Execution</b> <code>{escape(result.execution_id)}</code> "
        f"{badge(str(result.status))} <small>{_duration(result.started_at, result.ended_at)}</small></div>"
    ]
    if result.outputs:
        rows = [
            (f"<b>{html_name(k)}</b>", html_value(v, 200))
            for k, values in result.outputs.items()
            for v in (values if isinstance(values, list) else [values])
        ]
        parts.append(table(["output", "value"], rows))
    if result.error:
        where = f" (node {html_name(result.error_node_id)})" if result.error_node_id else ""
        parts.append(f"<div style='color:#c62828'>error{where}: {html_name(result.error)}</div>")
    if result.node_executions:
        rows = [
            (
                html_name(n.node_id),
                html_name(_block_name(n)[:40]),
                badge(str(n.status)),
                _duration(n.started_at, n.ended_at),
                _pin_values(n.outputs),
            )
            for n in result.node_executions
        ]
        parts.append(table(["node", "block", "status", "time", "outputs"], rows))
    return "".join(parts)


def execution_text(result: ExecutionResult, p: Any, cycle: bool) -> None:
    """A run in plain text (IPython's pretty printer): id, status, outputs."""
    outs = "; ".join(
        f"{isolate(k)}: {isolate(display_value(v, 80))}"
        for k, values in result.outputs.items()
        for v in (values if isinstance(values, list) else [values])
    )
    error = f" · error: {isolate(result.error)}" if result.error else ""
    p.text(f"<Execution {result.execution_id} {result.status}" + (f" · {outs}" if outs else "") + error + ">")


def block_html(info: BlockInfo) -> str:
    """A block: name, categories, description, input and output pins."""
    pins = [("in", p.name + ("*" if p.required else ""), p.type, p.description) for p in info.inputs] + [
        ("out", p.name, p.type, p.description) for p in info.outputs
    ]
    rows = [(d, f"<code>{html_name(n)}</code>", escape(t), html_name(desc[:100])) for d, n, t, desc in pins]
    return (
        f"<div class='wb-block'><b>{html_name(info.name)}</b> <small>{escape(', '.join(info.categories))} · "
        f"<code>{escape(info.id)}</code></small><br>{html_name(info.description[:300])}</div>"
        + table(["", "pin", "type", "description"], rows)
    )


class BlockTable(list[BlockInfo]):
    """A list of blocks that displays as a table."""

    def _repr_html_(self) -> str:
        rows = [
            (
                f"<b>{html_name(b.name)}</b>",
                escape(", ".join(b.categories)),
                ", ".join(html_name(p.name) for p in b.inputs),
                ", ".join(html_name(p.name) for p in b.outputs),
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
                ", ".join(
                    f"{html_name(k)}: {html_value(v, 60)}" for k, vs in r.outputs.items() for v in vs[:2]
                ),
            )
            for r in self
        ]
        return table(["execution", "graph", "status", "time", "outputs"], rows)


class GraphTable(list[GraphInfo]):
    """A list of stored graphs that displays as a table."""

    def _repr_html_(self) -> str:
        rows = [
            (f"<code>{escape(g.id)}</code>", html_name(g.name), str(g.version), str(g.node_count))
            for g in self
        ]
        return table(["graph", "name", "version", "nodes"], rows)


def builder_svg(builder: GraphBuilder) -> str:
    """The picture of a graph being built (not validated: it may be unfinished)."""
    return graph_svg(builder.graph, builder.registry)


def graph_text(graph: Graph | GraphBuilder, p: Any, cycle: bool) -> None:
    """A graph in plain text (IPython's pretty printer): name, id, size."""
    g = graph.graph if isinstance(graph, GraphBuilder) else graph
    kind = "GraphBuilder" if isinstance(graph, GraphBuilder) else "Graph"
    p.text(f"<{kind} {isolate(g.name)} {g.id} v{g.version}: {len(g.nodes)} nodes, {len(g.links)} links>")


def register_reprs(ipython: Any) -> None:
    """Teach IPython's display to show graphs, builders, runs and blocks."""
    formatters = ipython.display_formatter.formatters
    formatters["image/svg+xml"].for_type(Graph, lambda g: graph_svg(g))
    formatters["image/svg+xml"].for_type(GraphBuilder, builder_svg)
    formatters["text/plain"].for_type(Graph, graph_text)
    formatters["text/plain"].for_type(GraphBuilder, graph_text)
    formatters["text/html"].for_type(ExecutionResult, execution_html)
    formatters["text/plain"].for_type(ExecutionResult, execution_text)
    formatters["text/html"].for_type(BlockInfo, block_html)
