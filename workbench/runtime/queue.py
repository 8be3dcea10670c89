"""The execution queue port: it only says "work on execution X"; the database holds the rest.

Two implementations, chosen by configuration and held to one contract (tests/runtime/
test_queue_contract.py): :class:`LocalQueue` delivers in this process (the embedded default) and
``RabbitQueue`` (``workbench.runtime.rabbit``) feeds any number of executor processes through
RabbitMQ. A consumer handler returns normally when the execution's final state is stored (the
delivery is then acknowledged), raises :class:`DeadLetter` to give a message up (it is not delivered
again; RabbitMQ moves it to ``execution.dlq``), and any other exception hands it back to be delivered
again, marked ``redelivered`` (the attempts are counted in the database, so a poison message ends
dead-lettered after a bounded number of tries). Deliveries go high priority first, then normal,
then low; at most ``concurrency`` handlers run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
PRIORITIES = ("high", "normal", "low")


class DeadLetter(Exception):
    """Raised by a handler: this message must not be retried."""


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery of "work on execution X"."""

    execution_id: str
    priority: str = "normal"
    redelivered: bool = False
    plan: Any = field(default=None, compare=False, repr=False)
    """In-process deliveries only: the compiled graph the submitter already holds, so the worker
    need not load it again. Never sent over a wire; a redelivery goes without it."""


Handler = Callable[[Job], Awaitable[None]]


def check_priority(priority: str) -> None:
    """ValueError unless ``priority`` is one of PRIORITIES."""
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}, not {priority!r}")


class ExecutionQueue(ABC):
    """Port for the execution queue."""

    kind = "abstract"
    in_process = False
    """Whether deliveries stay in this process (the submitter's executor runs them)."""

    async def start(self) -> None:
        """Connect and declare what is needed."""

    async def stop(self, grace: float = 10.0) -> None:
        """Stop consuming (in-flight handlers finish within ``grace`` seconds or are handed back) and
        disconnect."""

    @abstractmethod
    async def publish(self, execution_id: str, priority: str = "normal") -> None:
        """Ask for the execution to be run; raises when the queue could not take it."""

    async def publish_job(self, job: Job) -> None:
        """Publish ``job`` (implementations that stay in process keep what it carries)."""
        await self.publish(job.execution_id, job.priority)

    @abstractmethod
    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        """Start delivering jobs to ``handler``, at most ``concurrency`` at once."""

    async def health(self) -> dict[str, Any]:
        """Reachability and depth."""
        return {"ok": True, "kind": self.kind}


class LocalQueue(ExecutionQueue):
    """In-process: a priority queue in memory, drained by ``concurrency`` consumer tasks.

    Nothing survives the process, and nothing needs to: every job names a run stored QUEUED with
    this process as its owner, and the next start resumes the runs of a process that died.
    """

    kind = "in-process"
    in_process = True

    def __init__(self) -> None:
        self._queue: asyncio.PriorityQueue[tuple[int, int, Job]] | None = None
        self._order = itertools.count()
        self._handler: Handler | None = None
        self._consumers: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._depth = dict.fromkeys(PRIORITIES, 0)
        self.delivered = 0
        self.acked = 0
        self.dead_lettered = 0

    def _put(self, job: Job) -> None:
        self._pending().put_nowait((PRIORITIES.index(job.priority), next(self._order), job))
        self._depth[job.priority] += 1

    def _pending(self) -> asyncio.PriorityQueue[tuple[int, int, Job]]:
        if self._queue is None:
            self._queue = asyncio.PriorityQueue()
        return self._queue

    async def publish(self, execution_id: str, priority: str = "normal") -> None:
        await self.publish_job(Job(execution_id, priority))

    async def publish_job(self, job: Job) -> None:
        check_priority(job.priority)
        if self._stopping:
            raise RuntimeError("the in-process queue is stopping")
        self._put(job)

    @property
    def consuming(self) -> bool:
        """Whether a consumer is attached (and the queue is not stopping)."""
        return self._handler is not None and not self._stopping

    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        if self._handler is not None:
            raise RuntimeError("LocalQueue already has a consumer")
        self._handler = handler
        self._stopping = False
        loop = asyncio.get_running_loop()
        for i in range(max(1, concurrency)):
            task = loop.create_task(self._consume(), name=f"workbench-local-queue-{i}")
            self._consumers.add(task)
            task.add_done_callback(self._consumers.discard)

    async def _consume(self) -> None:
        pending = self._pending()
        current = asyncio.current_task()
        assert current is not None
        while not self._stopping:
            _, _, job = await pending.get()
            self._depth[job.priority] -= 1
            self._busy.add(current)
            try:
                await self._deliver(job)
            finally:
                self._busy.discard(current)
                pending.task_done()

    async def _deliver(self, job: Job) -> None:
        assert self._handler is not None
        self.delivered += 1
        try:
            await self._handler(job)
        except DeadLetter as exc:
            log.error("execution %s dead-lettered: %s", job.execution_id, exc)
            self.dead_lettered += 1
        except asyncio.CancelledError:
            raise  # stopping: the run stays stored and is resumed by the next start
        except Exception:
            log.exception("handling execution %s failed; delivered again", job.execution_id)
            self._put(dataclasses.replace(job, redelivered=True, plan=None))
        else:
            self.acked += 1

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking work, let running handlers finish for ``grace`` seconds, cancel the rest
        (their handlers hand the runs back)."""
        self._stopping = True
        for task in self._consumers - self._busy:
            task.cancel()  # idle: waiting for a job
        busy = set(self._busy)
        if busy:
            _, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()
        if self._consumers:
            with contextlib.suppress(BaseException):
                await asyncio.gather(*self._consumers, return_exceptions=True)
        self._handler = None

    async def health(self) -> dict[str, Any]:
        return {
            "ok": not self._stopping,
            "kind": self.kind,
            "depth": dict(self._depth),
            "delivered": self.delivered,
            "acked": self.acked,
            "dead_lettered": self.dead_lettered,
        }
