"""Execution events (the seed's names), as the bus, the WebSocket and the widgets carry them."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any


class EventType(enum.StrEnum):
    """What happened."""

    EXECUTION_STARTED = "EXECUTION_STARTED"
    EXECUTION_UPDATED = "EXECUTION_UPDATED"
    EXECUTION_COMPLETED = "EXECUTION_COMPLETED"
    EXECUTION_FAILED = "EXECUTION_FAILED"
    NODE_EXECUTED = "NODE_EXECUTED"
    NODE_STREAM = "NODE_STREAM"
    """A partial output while a node runs (LLM tokens); carries ``pin`` and ``chunk``; not stored."""
    NOTIFICATION = "NOTIFICATION"
    """A new in-app notification for ``user_id`` (``data`` is the notification; no execution or
    graph id, so only subscribers to all of a user's events get it)."""


FINAL_EVENTS = frozenset({EventType.EXECUTION_COMPLETED, EventType.EXECUTION_FAILED})


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    """One event of one graph execution.

    ``status`` is the execution's status for EXECUTION_* events and the node execution's status for
    NODE_EXECUTED and node-level EXECUTION_UPDATED events (those carry ``node_id``). A cancelled run
    ends with EXECUTION_FAILED and status CANCELLED.
    """

    type: EventType
    execution_id: str
    graph_id: str
    graph_version: int
    user_id: str
    status: str
    node_id: str | None = None
    node_execution_id: str | None = None
    block_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    @property
    def is_final(self) -> bool:
        """Whether this is the last event of its execution."""
        return self.type in FINAL_EVENTS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "type": str(self.type),
            "execution_id": self.execution_id,
            "graph_id": self.graph_id,
            "graph_version": self.graph_version,
            "user_id": self.user_id,
            "status": self.status,
            "node_id": self.node_id,
            "node_execution_id": self.node_execution_id,
            "block_id": self.block_id,
            "data": self.data,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ExecutionEvent:
        """The event back from :meth:`to_dict` (after a JSON round trip); KeyError/ValueError if malformed."""
        return cls(
            type=EventType(doc["type"]),
            execution_id=doc["execution_id"],
            graph_id=doc["graph_id"],
            graph_version=int(doc["graph_version"]),
            user_id=doc["user_id"],
            status=doc["status"],
            node_id=doc.get("node_id"),
            node_execution_id=doc.get("node_execution_id"),
            block_id=doc.get("block_id"),
            data=doc.get("data") or {},
            at=float(doc["at"]),
        )
