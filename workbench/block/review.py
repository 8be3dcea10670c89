"""Human review, as a block sees it: ask a person, get their decision, or pause the run until they give one.

Part of the block contract: a block calls ``await context.review(name, data, ...)``
(:meth:`workbench.block.context.RunContext.review`) and gets a :class:`ReviewAnswer`. Where the answer
comes from is the platform's business, reached through a :class:`ReviewDesk` (the review service):

- in a stored run the desk looks up the node execution's review; a decision already stored is the
  answer; otherwise the review is stored WAITING and the desk raises :class:`AwaitingReview`, which the
  engine turns into a pause (the node execution and the run go to REVIEW, the run's attempt ends, and
  a decision queues it again; the replayed node execution asks again and gets the answer);
- in a run that stores nothing the desk waits in memory for the answer.

A block must ask before it yields anything: a node that yielded and then pauses would yield the same
values again after the pause (the engine fails such a node instead).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Decision = Literal["approve", "reject"]
DECISIONS: tuple[Decision, ...] = ("approve", "reject")
AUTO_APPROVED = "auto-approved: safe mode is off"
"""The message of the answer a run without safe mode gets at once."""


@dataclass(frozen=True, slots=True)
class ReviewQuestion:
    """What a block asks a person: the data, what it is, whether it may be changed, how long to wait."""

    name: str
    """What the data is, shown to the reviewer."""
    data: Any
    editable: bool = True
    """Whether the reviewer may change the data when approving."""
    timeout_seconds: float = 0
    """Seconds to wait for a person (0: for ever); then ``default_decision`` applies."""
    default_decision: Decision = "reject"


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """A question with where it comes from: the node execution (stable across replays by its sequence
    number) of which run, whose, and whether the run is stored."""

    question: ReviewQuestion
    execution_id: str
    """The run the node belongs to (a sub-graph run for a node inside one)."""
    root_execution_id: str
    """The top-level run (the one queued again after a decision)."""
    node_id: str
    node_execution_id: str
    seq: int
    user_id: str
    graph_id: str
    graph_version: int
    stored: bool
    """Whether the run is stored (pause and resume) or not (wait in memory)."""
    waiting: Callable[[dict[str, Any] | None], None] | None = None
    """Told what watchers should know of the review when a wait in memory starts, None when it ends
    (the node execution shows REVIEW meanwhile)."""


@dataclass(frozen=True, slots=True)
class ReviewAnswer:
    """A person's decision (or the default one, or the automatic approval without safe mode)."""

    approved: bool
    data: Any
    """The data to pass on: as the reviewer left it when approved (possibly edited), else as asked."""
    message: str | None = None
    """The reviewer's message (or why the decision was made for them); None without one."""
    review_id: str | None = None
    status: str = "APPROVED"
    """APPROVED, REJECTED or TIMED_OUT."""


class AwaitingReview(Exception):
    """Control signal: the node waits for a person. The engine pauses the node execution (REVIEW)
    instead of failing it; ``review`` is what watchers are told about it (id, name, data, editable)."""

    def __init__(self, review_id: str, review: dict[str, Any] | None = None) -> None:
        super().__init__(f"waiting for a person to review {review_id}")
        self.review_id = review_id
        self.review = review or {"review_id": review_id}


class ReviewDesk(Protocol):
    """Where reviews are asked and answered: the platform's review service."""

    async def ask(self, request: ReviewRequest) -> ReviewAnswer:
        """The answer to ``request``: stored already, or waited for in memory (runs that store
        nothing); raises :class:`AwaitingReview` when a stored run must pause for it."""
        ...


ReviewGate = Callable[[ReviewQuestion], Awaitable[ReviewAnswer]]
"""``await gate(question)``: the engine's way to ask for this node execution (set on the context in a
graph run; None outside one)."""
