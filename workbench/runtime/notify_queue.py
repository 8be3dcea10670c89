"""The notifier's event queue: what happened ("run X ended", "schedule fire Y was missed", "a block
asked to notify"), from the processes where it happened to the notifier.

Publishing never waits and never fails the caller: an event goes into a bounded in-memory buffer and
a background task hands it to the queue, so a slow or dead broker, mail server or webhook never
slows an execution. Two implementations, held to one contract (``tests/runtime/
test_notify_queue.py``): :class:`LocalNotifyQueue` (this process: the embedded default, where the
notifier runs inside ``workbench up``) and ``RabbitNotifyQueue`` (``workbench.runtime.rabbit_notify``,
with ``AMQP_URL``: a durable queue with retries and a dead-letter queue, consumed by ``workbench
notifier`` processes). A handler that raises gets the event again later, with backoff, up to
``MAX_ATTEMPTS`` times; then the event is dead-lettered. Delivering an event twice is harmless: the
notifier keeps one notification per user and dedupe key.

Events lost anyway (a process killed between storing a run's end and publishing it) are found by
the notifier's sweep of the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
"""Deliveries of one event to a failing handler before it is dead-lettered."""
BUFFER = 10_000
"""Events waiting to be published, at most; beyond, the oldest are dropped (the sweep finds them)."""


def retry_delay(attempt: int) -> float:
    """Seconds before the ``attempt``-th delivery (2, 3, …) of an event whose handler failed."""
    return float(min(300, 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class NotifyEvent:
    """Something a user may want to hear about.

    Attributes:
        kind: ``run_ended``, ``run_waiting``, ``schedule_fire`` or ``message``.
        user_id: whose it is.
        key: what it is about, the same on every copy (``run_ended:<execution id>``).
        data: the facts (ids; a message's title and text).
        attempt: 1 for the first delivery, then 2, 3… (set by the queue).
    """

    kind: str
    user_id: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON form a queue carries."""
        return {"kind": self.kind, "user_id": self.user_id, "key": self.key, "data": self.data}

    @classmethod
    def from_dict(cls, doc: dict[str, Any], attempt: int = 1) -> NotifyEvent:
        """The event back from :meth:`to_dict`; KeyError/TypeError when malformed."""
        data = doc.get("data") or {}
        if not isinstance(data, dict):
            raise TypeError("data must be an object")
        return cls(str(doc["kind"]), str(doc["user_id"]), str(doc["key"]), data, attempt)


Handler = Callable[[NotifyEvent], Awaitable[None]]


class NotifyQueue(ABC):
    """Port of the notifier's event queue (see the module documentation)."""

    kind = "abstract"

    def __init__(self) -> None:
        self._outbox: deque[NotifyEvent] = deque(maxlen=BUFFER)
        self._wake = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0
        self.handled = 0
        self.retried = 0
        self.dead_lettered = 0

    @property
    def accepting(self) -> bool:
        """Whether published events reach a notifier (a local queue needs one in this process)."""
        return True

    def publish(self, event: NotifyEvent) -> None:
        """Queue ``event`` for the notifier; never waits, never raises."""
        if len(self._outbox) == self._outbox.maxlen:
            self.dropped += 1
        self._outbox.append(event)
        self._wake.set()

    async def start(self) -> None:
        """Connect, and start handing published events to the queue."""
        if self._publisher is None:
            self._publisher = asyncio.get_running_loop().create_task(
                self._publish_loop(), name="notify-publisher"
            )

    async def stop(self, grace: float = 2.0) -> None:
        """Publish what is buffered (for up to ``grace`` seconds), stop consuming, disconnect."""
        if self._publisher is not None:
            deadline = asyncio.get_running_loop().time() + grace
            while self._outbox and asyncio.get_running_loop().time() < deadline:
                self._wake.set()
                await asyncio.sleep(0.01)
            task, self._publisher = self._publisher, None
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            if self._outbox:
                log.warning(
                    "notifier: %d event(s) not published at stop (the sweep finds runs' ends)",
                    len(self._outbox),
                )

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                event = self._outbox[0]
                try:
                    await self._send(event)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("notifier: publishing an event failed (%s); retrying in 1 s", exc)
                    await asyncio.sleep(1.0)
                    continue
                self._outbox.popleft()
                self.published += 1

    @abstractmethod
    async def _send(self, event: NotifyEvent) -> None:
        """Hand one event to the queue (raise to keep it buffered and try again)."""

    @abstractmethod
    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        """Start delivering events to ``handler``, at most ``concurrency`` at once."""

    async def health(self) -> dict[str, Any]:
        """Reachability and counters."""
        return {
            "ok": True,
            "kind": self.kind,
            "buffered": len(self._outbox),
            "published": self.published,
            "handled": self.handled,
            "retried": self.retried,
            "dead_lettered": self.dead_lettered,
        }


class LocalNotifyQueue(NotifyQueue):
    """Events handled in this process."""

    kind = "in-process"

    def __init__(self) -> None:
        super().__init__()
        self._queue: asyncio.Queue[NotifyEvent] = asyncio.Queue()
        self._consumers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self.consuming = False

    async def _send(self, event: NotifyEvent) -> None:
        self._queue.put_nowait(event)

    @property
    def accepting(self) -> bool:
        return self.consuming

    def publish(self, event: NotifyEvent) -> None:
        if not self.consuming:
            return  # nobody here handles events: the notifier's sweep finds what matters
        super().publish(event)

    async def consume(self, handler: Handler, *, concurrency: int) -> None:
        self.consuming = True
        loop = asyncio.get_running_loop()
        for n in range(concurrency):
            self._consumers.append(loop.create_task(self._consume(handler), name=f"notify-consumer-{n}"))

    async def _consume(self, handler: Handler) -> None:
        while True:
            event = await self._queue.get()
            try:
                await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._retry(event)
            else:
                self.handled += 1
            finally:
                self._queue.task_done()

    def _retry(self, event: NotifyEvent) -> None:
        if event.attempt >= MAX_ATTEMPTS:
            self.dead_lettered += 1
            log.error(
                "notifier: event %s given up after %d attempts", event.key, event.attempt, exc_info=True
            )
            return
        self.retried += 1
        log.warning("notifier: handling event %s failed; retrying", event.key, exc_info=True)
        again = NotifyEvent(event.kind, event.user_id, event.key, event.data, event.attempt + 1)
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def requeue() -> None:
            self._timers.discard(handle)
            self._queue.put_nowait(again)

        handle = loop.call_later(retry_delay(again.attempt), requeue)
        self._timers.add(handle)

    async def stop(self, grace: float = 2.0) -> None:
        await super().stop(grace)
        if self._consumers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(BaseException):
                await task
        self._consumers.clear()
        self.consuming = False
