"""Terse graph building and result inspection for the engine tests.

``graph(nodes, links)`` with ``node("id", Block, **defaults)`` and ``link("a.pin", "b.pin")``::

    g = graph(
        [inp("in", "name"), node("t", FillTextTemplateBlock, format="Hi {{ n }}"), out("out", "greeting")],
        [link("in.result", "t.values_#_n"), link("t.output", "out.value")],
    )
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from blocks.io import AgentInputBlock, AgentOutputBlock
from workbench import jsonutil
from workbench.app import Workbench
from workbench.block import Block
from workbench.graph.model import Graph, Link, Node
from workbench.services.executions import ExecutionResult, NodeExecution


def node(
    node_id: str, block: type[Block] | str, *, metadata: dict[str, Any] | None = None, **defaults: Any
) -> Node:
    """A node of ``block`` (class or id) with input defaults given as keyword arguments."""
    block_id = block if isinstance(block, str) else block.id
    return Node(id=node_id, block_id=block_id, input_default=defaults, metadata=metadata or {})


def inp(node_id: str, name: str, value: Any = None) -> Node:
    """An AgentInputBlock node for graph input ``name`` (optional default ``value``)."""
    defaults: dict[str, Any] = {"name": name}
    if value is not None:
        defaults["value"] = value
    return node(node_id, AgentInputBlock, **defaults)


def out(node_id: str, name: str) -> Node:
    """An AgentOutputBlock node recording graph output ``name``."""
    return node(node_id, AgentOutputBlock, name=name)


def link(source: str, sink: str, *, static: bool = False) -> Link:
    """``link("a.output", "b.value")``: from pin (or selector) of node a to pin of node b."""
    source_id, source_name = source.split(".", 1)
    sink_id, sink_name = sink.split(".", 1)
    return Link(
        source_id=source_id, source_name=source_name, sink_id=sink_id, sink_name=sink_name, is_static=static
    )


def graph(nodes: list[Node], links: list[Link] | None = None, name: str = "engine test") -> Graph:
    """A graph of ``nodes`` and ``links`` (fresh id, so every test stores its own graph)."""
    return Graph(name=name, nodes=nodes, links=links or [])


def execs(result: ExecutionResult, node_id: str) -> list[NodeExecution]:
    """The node executions of ``node_id``, in order of creation (seq)."""
    return sorted((n for n in result.node_executions if n.node_id == node_id), key=lambda n: n.seq)


def outputs_of(ne: NodeExecution, pin: str) -> list[Any]:
    """The values a node execution yielded on ``pin``, in order."""
    return [value for name, value in ne.outputs if name == pin]


def statuses(result: ExecutionResult) -> dict[str, list[str]]:
    """``{node_id: [status of each execution by seq]}``."""
    found: dict[str, list[tuple[int, str]]] = {}
    for n in result.node_executions:
        found.setdefault(n.node_id, []).append((n.seq, n.status))
    return {k: [s for _, s in sorted(v)] for k, v in found.items()}


async def assert_stored(bench: Workbench, result: ExecutionResult) -> None:
    """In durable mode, the stored execution equals the live result (after a JSON round trip)."""
    if bench.ephemeral:
        return
    stored = await bench.executions.get(result.execution_id)
    assert stored.status == result.status
    assert stored.outputs == jsonutil.normalize(result.outputs)
    assert stored.error == result.error
    assert stored.error_node_id == result.error_node_id
    live = {n.id: n for n in result.node_executions}
    kept = {n.id: n for n in stored.node_executions}
    assert set(kept) == set(live), "stored node executions differ from the run's"
    for exec_id, s in kept.items():
        n = live[exec_id]
        where = f"node {n.node_id}#{n.seq}"
        assert (s.node_id, s.seq, s.status, s.error, s.attempts) == (
            n.node_id,
            n.seq,
            n.status,
            n.error,
            n.attempts,
        ), where
        assert s.inputs == jsonutil.normalize(n.inputs), where
        assert [list(o) for o in s.outputs] == jsonutil.normalize([list(o) for o in n.outputs]), where
        assert (s.started_at is None) == (n.started_at is None), where
        assert all(t is None or isinstance(t, datetime) for t in (s.started_at, n.ended_at)), where
