"""Execution statuses and the in-memory record of one node execution."""

from __future__ import annotations

import enum
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.engine.plan import PlannedNode


class ExecutionStatus(enum.StrEnum):
    """Statuses of graph executions (QUEUED..CANCELLED) and node executions (also INCOMPLETE).

    REVIEW (AutoGPT's name; "waiting" in words) is a node execution that waits for a person's
    decision, and a run with such a node and nothing else to do: not final, held by no executor,
    queued again when the person answers.
    """

    INCOMPLETE = "INCOMPLETE"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    REVIEW = "REVIEW"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        """Whether nothing more will happen to an execution in this status."""
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


def fast_uuid() -> str:
    """A random (version 4) UUID string, cheaper than ``str(uuid.uuid4())`` (no UUID object)."""
    raw = bytearray(random.getrandbits(128).to_bytes(16, "big"))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class NodeExec:
    """One execution of one node within a graph run."""

    __slots__ = (
        "attempts",
        "called_by",
        "data",
        "ended_at",
        "error",
        "id",
        "input_obj",
        "inputs",
        "node",
        "outputs",
        "queued_at",
        "replayed",
        "seq",
        "started_at",
        "stats",
        "status",
    )

    def __init__(self, node: PlannedNode, seq: int, exec_id: str | None = None) -> None:
        self.id = exec_id or fast_uuid()
        self.node = node
        self.seq = seq
        self.status = ExecutionStatus.INCOMPLETE
        self.inputs: dict[str, Any] = {}
        """Values delivered by links (and graph inputs), by sink pin name."""
        self.data: dict[str, Any] | None = None
        """The full input the block ran with: defaults, delivered values, dynamic pins merged."""
        self.input_obj: Any = None
        self.outputs: list[tuple[str, Any]] = []
        self.error: str | None = None
        self.attempts = 0
        self.queued_at: float | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.replayed = False
        self.stats: dict[str, float] | None = None
        """Numbers the block reported (tokens, cost) through ``RunContext.add_stats``."""
        self.called_by: str | None = None
        """The node execution that ran this one as a tool, inside its own run (agent mode); None for
        node executions the data flow started."""

    def __repr__(self) -> str:
        return f"<NodeExec {self.node.id}#{self.seq} {self.status}>"
