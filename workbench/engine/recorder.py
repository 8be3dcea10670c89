"""Where a run writes its state: the port between the engine and storage.

The engine marks what changed; a recorder decides when to write. :class:`NullRecorder` stores
nothing (ephemeral runs); the PostgreSQL one batches writes (``workbench.store.writer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workbench.engine.state import ExecutionStatus, NodeExec


class _RunIds(Protocol):
    @property
    def execution_id(self) -> str: ...


class RecordedRun(Protocol):
    """What a recorder reads of a run (:class:`workbench.engine.run.GraphRun` is one).

    A protocol, so this port does not import the run module that uses it (no import cycle).
    """

    @property
    def spec(self) -> _RunIds:
        """The run's identity (``spec.execution_id``)."""
        ...

    status: ExecutionStatus
    node_execs: list[NodeExec]
    outputs: dict[str, list[Any]]
    error: str | None
    error_node_id: str | None
    started_at: float | None
    ended_at: float | None

    def cancel(self) -> None:
        """Stop the run (its execution was deleted, or cancelled through storage)."""
        ...


class Recorder:
    """Base recorder: stores nothing."""

    durable = False

    def node_changed(self, ne: NodeExec, *, urgent: bool = False) -> None:
        """A node execution changed; ``urgent`` asks for a prompt write (slow or side-effecting node)."""

    async def run_started(self, run: RecordedRun) -> None:
        """The run switched to RUNNING."""

    async def run_finished(self, run: RecordedRun) -> None:
        """The run reached a final status: everything must be stored when this returns."""

    def cancel_requested(self, execution_id: str) -> bool:
        """Whether someone asked (through storage) to cancel this run."""
        return False


class NullRecorder(Recorder):
    """For ephemeral runs: nothing is written anywhere."""


@dataclass(slots=True)
class StoredNodeExec:
    """A node execution as read back from storage, used to resume a run."""

    id: str
    node_id: str
    seq: int
    status: str
    inputs: Any
    outputs: list[tuple[str, Any]]
    error: str | None
    consumed: bool = False


@dataclass(slots=True)
class Replay:
    """What a resumed run already did: completed node executions are replayed, never re-run."""

    by_node: dict[str, list[StoredNodeExec]] = field(default_factory=dict)

    def add(self, item: StoredNodeExec) -> None:
        """Index one stored node execution."""
        self.by_node.setdefault(item.node_id, []).append(item)

    def id_for(self, node_id: str, seq: int) -> str | None:
        """Reuse the stored id of the same (node, seq) so a resumed run updates, not duplicates."""
        for item in self.by_node.get(node_id, ()):
            if item.seq == seq:
                return item.id
        return None

    def match(self, node_id: str, seq: int, normalized_inputs: Any) -> StoredNodeExec | None:
        """The stored final execution of ``node_id`` this one repeats, if any.

        The same ``seq`` with equal inputs is preferred; otherwise any unconsumed final execution of
        the node with equal inputs (concurrent runs may order deliveries differently).
        """
        candidates = [
            i for i in self.by_node.get(node_id, ()) if not i.consumed and i.status in ("COMPLETED", "FAILED")
        ]
        for item in candidates:
            if item.seq == seq and item.inputs == normalized_inputs:
                item.consumed = True
                return item
        for item in candidates:
            if item.inputs == normalized_inputs:
                item.consumed = True
                return item
        return None
