"""What callers get back about a run: :class:`ExecutionResult` and its typed :class:`NodeExecution` records.

Both are built the same way whether the run is going on in this process (from the engine's
``GraphRun``), was read from storage (from the repository's records) or arrived over HTTP (from the
API's document), so every front door sees the same types: statuses as :class:`ExecutionStatus`,
timings as timezone-aware ``datetime``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench import jsonutil
from workbench.engine.state import ExecutionStatus, NodeExec
from workbench.runtime.events import EventType, ExecutionEvent

if TYPE_CHECKING:
    from workbench.engine.run import GraphRun
    from workbench.store.executions import ExecutionRecord, NodeExecutionRecord


def when(value: float | str | datetime | None) -> datetime | None:
    """A timestamp as an aware ``datetime``: epoch seconds (live runs), ISO text (JSON) or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return when(datetime.fromisoformat(value))
    return datetime.fromtimestamp(float(value), UTC)


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


@dataclass(slots=True)
class NodeExecution:
    """One execution of one node of a run: what it was given, what it yielded, when, and how it ended."""

    id: str
    node_id: str
    block_id: str
    seq: int
    status: ExecutionStatus
    inputs: Any
    """The full input the block ran with (defaults and delivered values merged), or what was delivered."""
    outputs: list[tuple[str, Any]] = field(default_factory=list)
    """``(pin, value)`` pairs in the order the block yielded them."""
    error: str | None = None
    attempts: int = 0
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    """Numbers the block reported (tokens, cost)."""
    block_name: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None until it has ended)."""
        return _seconds(self.started_at, self.ended_at)

    def output(self, pin: str) -> Any:
        """The last value yielded on ``pin`` (KeyError if none)."""
        for name, value in reversed(self.outputs):
            if name == pin:
                return value
        raise KeyError(pin)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (timings as ISO 8601)."""
        return {
            "id": self.id,
            "node_id": self.node_id,
            "block_id": self.block_id,
            "block_name": self.block_name,
            "seq": self.seq,
            "status": str(self.status),
            "inputs": self.inputs,
            "outputs": [list(o) for o in self.outputs],
            "error": self.error,
            "attempts": self.attempts,
            "queued_at": _iso(self.queued_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "stats": self.stats,
        }

    @classmethod
    def from_live(cls, ne: NodeExec) -> NodeExecution:
        """From the engine's in-memory node execution."""
        return cls(
            id=ne.id,
            node_id=ne.node.id,
            block_id=ne.node.block.id,
            block_name=ne.node.block.name,
            seq=ne.seq,
            status=ne.status,
            inputs=ne.data if ne.data is not None else ne.inputs,
            outputs=list(ne.outputs),
            error=ne.error,
            attempts=ne.attempts,
            queued_at=when(ne.queued_at),
            started_at=when(ne.started_at),
            ended_at=when(ne.ended_at),
            stats=dict(ne.stats) if ne.stats else {},
        )

    @classmethod
    def from_record(cls, rec: NodeExecutionRecord) -> NodeExecution:
        """From a stored node execution (the same fields as the API's document)."""
        return cls.from_dict({f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)})

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> NodeExecution:
        """From the API's JSON document (or :meth:`to_dict`)."""
        return cls(
            id=str(doc["id"]),
            node_id=str(doc["node_id"]),
            block_id=str(doc["block_id"]),
            block_name=doc.get("block_name"),
            seq=int(doc.get("seq") or 0),
            status=ExecutionStatus(doc["status"]),
            inputs=doc.get("inputs"),
            outputs=[(o[0], o[1]) for o in doc.get("outputs") or []],
            error=doc.get("error"),
            attempts=int(doc.get("attempts") or 0),
            queued_at=when(doc.get("queued_at")),
            started_at=when(doc.get("started_at")),
            ended_at=when(doc.get("ended_at")),
            stats=dict(doc.get("stats") or {}),
        )


@dataclass(slots=True)
class ExecutionResult:
    """The outcome of a run: status, outputs by name (rule E7), the error, and node details."""

    execution_id: str
    graph_id: str
    graph_version: int
    status: ExecutionStatus
    outputs: dict[str, list[Any]]
    error: str | None = None
    error_node_id: str | None = None
    node_executions: list[NodeExecution] = field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    created_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """Whether the run COMPLETED."""
        return self.status == ExecutionStatus.COMPLETED

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (None until it has ended)."""
        return _seconds(self.started_at, self.ended_at)

    def output(self, name: str) -> Any:
        """The last value of output ``name`` (KeyError if it produced none)."""
        return self.outputs[name][-1]

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` document."""
        return {
            "execution_id": self.execution_id,
            "status": str(self.status),
            "outputs": self.outputs,
            "error": self.error,
        }

    def as_stored(self) -> ExecutionResult:
        """This result exactly as a later read of the stored run gives it: values in their JSON form,
        and those blocks produced holding a NUL character (which PostgreSQL cannot hold) with U+FFFD."""
        nodes = self.node_executions
        outputs, values = jsonutil.as_stored([self.outputs, [[n.inputs, n.outputs] for n in nodes]])
        return dataclasses.replace(
            self,
            outputs=outputs,
            error=jsonutil.clean_text(self.error),
            node_executions=[
                dataclasses.replace(
                    n,
                    inputs=inputs,
                    outputs=[(o[0], o[1]) for o in pairs],
                    error=jsonutil.clean_text(n.error),
                )
                for n, (inputs, pairs) in zip(nodes, values, strict=True)
            ],
        )

    @classmethod
    def from_run(cls, run: GraphRun) -> ExecutionResult:
        """From a run in this process (live or just finished)."""
        return cls(
            execution_id=run.spec.execution_id,
            graph_id=run.spec.graph_id,
            graph_version=run.spec.graph_version,
            status=run.status,
            outputs=run.outputs,
            error=run.error,
            error_node_id=run.error_node_id,
            node_executions=[NodeExecution.from_live(ne) for ne in run.node_execs],
            started_at=when(run.started_at),
            ended_at=when(run.ended_at),
            inputs=run.spec.inputs,
            user_id=run.spec.user_id,
            created_at=when(run.started_at),
        )

    @classmethod
    def from_record(cls, rec: ExecutionRecord) -> ExecutionResult:
        """From a stored execution (with its node executions when they were loaded)."""
        return cls(
            execution_id=rec.id,
            graph_id=rec.graph_id,
            graph_version=rec.graph_version,
            status=ExecutionStatus(rec.status),
            outputs=rec.outputs,
            error=rec.error,
            error_node_id=rec.error_node_id,
            node_executions=[NodeExecution.from_record(n) for n in rec.nodes],
            started_at=when(rec.started_at),
            ended_at=when(rec.ended_at),
            inputs=rec.inputs,
            user_id=rec.user_id,
            created_at=when(rec.created_at),
        )

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ExecutionResult:
        """From the API's execution document."""
        return cls(
            execution_id=str(doc["id"]),
            graph_id=str(doc["graph_id"]),
            graph_version=int(doc["graph_version"]),
            status=ExecutionStatus(doc["status"]),
            outputs=doc.get("outputs") or {},
            error=doc.get("error"),
            error_node_id=doc.get("error_node_id"),
            node_executions=[NodeExecution.from_dict(n) for n in doc.get("node_executions") or []],
            started_at=when(doc.get("started_at")),
            ended_at=when(doc.get("ended_at")),
            inputs=doc.get("inputs") or {},
            user_id=doc.get("user_id"),
            created_at=when(doc.get("created_at")),
        )


def replay_events(result: ExecutionResult, seen: set[str], *, final: bool = True) -> list[ExecutionEvent]:
    """The NODE_EXECUTED events of ``result`` not in ``seen`` (added to it), then its final event:
    what a watcher missed of a run, rebuilt from what is stored."""
    events = []
    base = (result.execution_id, result.graph_id, result.graph_version, result.user_id or "")
    for n in result.node_executions:
        if n.id in seen or not n.status.is_final:
            continue
        seen.add(n.id)
        data = {
            "seq": n.seq,
            "inputs": n.inputs,
            "outputs": [list(o) for o in n.outputs],
            "error": n.error,
            "started_at": _epoch(n.started_at),
            "ended_at": _epoch(n.ended_at),
        }
        if n.block_name is not None:
            data["block_name"] = n.block_name
        events.append(
            ExecutionEvent(
                EventType.NODE_EXECUTED,
                *base,
                str(n.status),
                node_id=n.node_id,
                node_execution_id=n.id,
                block_id=n.block_id,
                data=data,
            )
        )
    if final:
        kind = EventType.EXECUTION_COMPLETED if result.ok else EventType.EXECUTION_FAILED
        data = {"outputs": result.outputs, "error": result.error, "error_node_id": result.error_node_id}
        events.append(ExecutionEvent(kind, *base, str(result.status), data=data))
    return events
