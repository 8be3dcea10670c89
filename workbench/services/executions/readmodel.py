"""The read side of runs: a run's state, waiting for its end, and following its events, wherever it runs.

A run going on in this process answers from memory; anything else from storage (another process's
runs, finished runs). Events come from the bus as they happen; storage fills in what the bus cannot
promise (see :meth:`ReadModel.follow`). Results of stored runs read the same live or stored: a value
holding a NUL character reads U+FFFD in both (see :meth:`ExecutionResult.as_stored`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from workbench.engine.run import GraphRun
from workbench.engine.state import ExecutionStatus
from workbench.errors import NotFoundError
from workbench.runtime.bus import EventBus, Subscription
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.executions.live import LiveRuns
from workbench.services.executions.results import ExecutionResult, replay_events
from workbench.store.executions import ExecutionRepository

POLL_INTERVAL = 0.1
"""Seconds between storage checks while waiting for a run another process runs."""
FOLLOW_IDLE = 1.0
"""Seconds without an event after which :meth:`ReadModel.follow` checks storage."""


def _not_found(execution_id: str) -> NotFoundError:
    return NotFoundError(f"execution {execution_id} not found")


def live_result(run: GraphRun) -> ExecutionResult:
    """A run of this process as a reader sees it (stored runs: as a later read will give it)."""
    result = ExecutionResult.from_run(run)
    return result.as_stored() if run.recorder.durable else result


class ReadModel:
    """Answers "what is the state of run X" and "tell me what happens to it" for any run."""

    def __init__(self, live: LiveRuns, bus: EventBus, repo: ExecutionRepository | None) -> None:
        self.live = live
        self.bus = bus
        self.repo = repo

    async def get(self, execution_id: str, user_id: str | None) -> ExecutionResult:
        """A run's current state (NotFoundError unless it exists and is ``user_id``'s)."""
        run = self.live.get(execution_id, user_id)
        if run is not None:
            return live_result(run)
        recent = self.live.recent(execution_id, user_id)
        if recent is not None:
            return recent
        if self.repo is None:
            raise _not_found(execution_id)
        rec = await self.repo.get(execution_id, user_id)
        if rec is None:
            raise _not_found(execution_id)
        return ExecutionResult.from_record(rec)

    async def wait(self, execution_id: str, timeout: float | None, user_id: str | None) -> ExecutionResult:
        """Wait for a run to end; TimeoutError after ``timeout`` seconds (the run goes on). A run
        waiting for a human review (REVIEW) has not ended: this waits for the answer and the rest.

        A run going on here is awaited in memory. Any other (queued, or running in another process)
        is read from storage whenever one of its events arrives, and every ``POLL_INTERVAL`` seconds
        in case its events do not reach this process.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        sub: Subscription | None = None
        try:
            while True:
                if self.live.get(execution_id, user_id) is not None:
                    ended = await self.live.wait(execution_id, _left(deadline))
                    if ended is not None and ended.status.is_final:
                        return self.live.recent(execution_id, None) or live_result(ended)
                    if ended is not None:
                        continue  # paused for a review: wait for it to be queued again and end
                recent = self.live.recent(execution_id, user_id)
                if recent is not None:
                    return recent
                if await self.live.until_started(execution_id, _left(deadline)):
                    continue  # queued here a moment ago and now taken: look again
                if self.repo is None:
                    raise _not_found(execution_id)
                if sub is None:  # before reading storage, so that no event slips in between
                    sub = self.bus.subscribe(execution_id=execution_id)
                rec = await self.repo.get(execution_id, user_id, with_nodes=False)
                if rec is None:
                    raise _not_found(execution_id)
                if ExecutionStatus(rec.status).is_final:
                    return await self.get(execution_id, user_id)
                left = _left(deadline)
                if left is not None and left <= 0:
                    raise TimeoutError(f"execution {execution_id} still {rec.status} after {timeout}s")
                if execution_id in self.live:
                    continue  # claimed here meanwhile: wait for it in memory
                await _next_news(sub, execution_id, self.live, deadline)
        finally:
            if sub is not None:
                sub.close()

    async def follow(
        self,
        sub: Subscription,
        execution_id: str,
        user_id: str | None,
        idle: float = FOLLOW_IDLE,
        *,
        check_first: bool = False,
    ) -> AsyncIterator[ExecutionEvent]:
        """Yield the events of a run from ``sub`` until its final one (the subscription is closed).

        A run already finished yields its stored node executions and final event at once (with
        ``check_first``); a run in another process whose events do not reach this one (no shared
        bus, or Redis down for a while) is checked in storage after ``idle`` quiet seconds; and a
        final event from another process is preceded by the NODE_EXECUTED events that never arrived.
        """
        seen: set[str] = set()
        try:
            if check_first and execution_id not in self.live:
                finished = await self._finished(execution_id, user_id, must_exist=True)
                if finished is not None:
                    for event in replay_events(finished, seen):
                        yield event
                    return
            while True:
                try:
                    event = await sub.get(timeout=idle)
                except TimeoutError:
                    if execution_id in self.live or self.repo is None:
                        continue  # runs here: its events reach this process's subscribers
                    finished = await self._finished(execution_id, user_id)
                    if finished is not None:
                        for missed in replay_events(finished, seen):
                            yield missed
                        return
                    continue
                if user_id is not None and event.user_id != user_id:
                    continue
                if event.is_final and execution_id not in self.live and self.repo is not None:
                    rec = await self.repo.get(execution_id, user_id)
                    if rec is not None:
                        for missed in replay_events(ExecutionResult.from_record(rec), seen, final=False):
                            yield missed
                elif event.type == EventType.NODE_EXECUTED and event.node_execution_id:
                    seen.add(event.node_execution_id)
                yield event
                if event.is_final:
                    return
        finally:
            sub.close()

    async def _finished(
        self, execution_id: str, user_id: str | None, *, must_exist: bool = False
    ) -> ExecutionResult | None:
        """The run's result when it has ended (NotFoundError with ``must_exist`` when it is unknown)."""
        if self.repo is None:
            recent = self.live.recent(execution_id, user_id)
            if recent is None and must_exist:
                raise _not_found(execution_id)
            return recent
        rec = await self.repo.get(execution_id, user_id)
        if rec is None:
            if must_exist:
                raise _not_found(execution_id)
            return None
        return ExecutionResult.from_record(rec) if ExecutionStatus(rec.status).is_final else None


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


async def _next_news(sub: Subscription, execution_id: str, live: LiveRuns, deadline: float | None) -> None:
    """Return when storage is worth reading again: the run's final event came, it started here, or
    ``POLL_INTERVAL`` (or what is left until ``deadline``) passed without either."""
    end = time.monotonic() + POLL_INTERVAL
    if deadline is not None:
        end = min(end, deadline)
    while (left := end - time.monotonic()) > 0:
        try:
            event = await sub.get(timeout=left)
        except TimeoutError:
            return
        if event.is_final or execution_id in live:
            return
