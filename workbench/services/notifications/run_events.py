"""The notifier events of runs, made where a run ends (the executor that ran it).

The event carries what its notification says (agent name, failing node and error, duration, tokens,
cost), read off the finished run in memory, so the notifier needs no database read to tell the user.
"""

from __future__ import annotations

from typing import Any

from workbench.engine.run import GraphRun
from workbench.engine.state import ExecutionStatus
from workbench.runtime.notify_queue import NotifyEvent

WAITING = "REVIEW"
"""The status of a run paused on a human review."""


def _node_name(run: GraphRun, node_id: str | None) -> str | None:
    if node_id is None:
        return None
    node = run.plan.nodes.get(node_id)
    if node is None:
        return node_id
    name = (node.metadata or {}).get("customized_name") or node.block.name
    return f"{name} ({node_id})" if name != node_id else node_id


def _totals(run: GraphRun) -> tuple[float, float]:
    tokens = cost = 0.0
    for ne in run.node_execs:
        stats = ne.stats or {}
        tokens += float(stats.get("input_tokens") or 0) + float(stats.get("output_tokens") or 0)
        tokens += float(stats.get("embedding_tokens") or 0)
        cost += float(stats.get("cost_usd") or 0)
    return tokens, cost


def run_event(run: GraphRun) -> NotifyEvent | None:
    """The event of a stored top-level run that just ended or paused; None for any other run."""
    spec = run.spec
    if not run.recorder.durable or spec.parent_execution_id is not None:
        return None
    status = str(run.status)
    base: dict[str, Any] = {
        "execution_id": spec.execution_id,
        "graph_id": spec.graph_id,
        "graph_version": spec.graph_version,
        "status": status,
        "agent_name": run.plan.graph.name,
    }
    if status == WAITING:
        return NotifyEvent("run_waiting", spec.user_id, f"run_waiting:{spec.execution_id}", base)
    if status not in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED):
        return None
    tokens, cost = _totals(run)
    duration = (run.ended_at - run.started_at) if run.ended_at and run.started_at else None
    base.update(
        error=run.error,
        error_node_id=run.error_node_id,
        node_name=_node_name(run, run.error_node_id),
        duration=duration,
        tokens=tokens,
        cost=cost,
    )
    return NotifyEvent("run_ended", spec.user_id, f"run_ended:{spec.execution_id}", base)
