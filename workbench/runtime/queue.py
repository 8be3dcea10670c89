"""The execution queue port: it only says "work on execution X"; the database holds the rest.

:class:`LocalQueue` dispatches in this process (the embedded default); ``RabbitQueue``
(``workbench.runtime.rabbit``) feeds any number of executor processes through RabbitMQ. A consumer
handler returns normally when the execution's final state is stored (the message is then acked),
raises :class:`DeadLetter` to give a message up (it goes to ``execution.dlq``), and any other
exception requeues it (its attempts are counted in the database, so a poison message ends in the
DLQ after a bounded number of tries).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


Handler = Callable[[Job], Awaitable[None]]


class ExecutionQueue(ABC):
    """Port for the execution queue."""

    kind = "abstract"

    async def start(self) -> None:
        """Connect and declare what is needed."""

    async def stop(self) -> None:
        """Stop consuming (in-flight handlers finish or are handed back) and disconnect."""

    @abstractmethod
    async def publish(self, execution_id: str, priority: str = "normal") -> None:
        """Ask for the execution to be run; raises when the queue could not take it."""

    @abstractmethod
    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        """Start delivering jobs to ``handler``, at most ``concurrency`` at once."""

    async def health(self) -> dict[str, Any]:
        """Reachability and depth."""
        return {"ok": True, "kind": self.kind}


class LocalQueue(ExecutionQueue):
    """In-process: a published job is handed to the handler at once, as a task."""

    kind = "in-process"

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, execution_id: str, priority: str = "normal") -> None:
        if self._handler is None:
            raise RuntimeError("no consumer: LocalQueue.consume() has not been called")
        task = asyncio.get_running_loop().create_task(self._run(Job(execution_id, priority)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        assert self._handler is not None
        try:
            await self._handler(job)
        except DeadLetter as exc:
            log.error("execution %s given up: %s", job.execution_id, exc)
        except Exception:
            log.exception("handler failed for execution %s", job.execution_id)

    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        self._handler = handler

    async def stop(self) -> None:
        self._handler = None
