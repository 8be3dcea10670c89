"""The event bus: publish execution events, subscribe with an async iterator.

:class:`EventBus` is the port and keeps this process's subscribers; :class:`LocalBus` is the
in-process implementation, ``RedisBus`` (``workbench.runtime.redis_bus``, chosen by ``REDIS_URL``)
also carries events between processes over Redis pub/sub. Publishing never waits: each subscriber
has a bounded buffer, and a subscriber that falls behind loses its oldest events and is marked
``lagged``, so a slow consumer never slows an execution.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

from workbench.runtime.events import EventType, ExecutionEvent


class Subscription:
    """An async iterator of the events matching its filters; close it (or use ``async with``)."""

    def __init__(
        self,
        bus: EventBus,
        *,
        execution_id: str | None = None,
        graph_id: str | None = None,
        user_id: str | None = None,
        types: Iterable[EventType] | None = None,
        maxsize: int = 10_000,
    ) -> None:
        self._bus = bus
        self.execution_id = execution_id
        self.graph_id = graph_id
        self.user_id = user_id
        self.types = frozenset(types) if types is not None else None
        """The event types wanted (None: all)."""
        self.follows_runs = self.types is None or bool(self.types - {EventType.NOTIFICATION})
        """Whether it takes execution events (not only notifications)."""
        self._buffer: deque[ExecutionEvent] = deque(maxlen=maxsize)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.lagged = 0
        """How many events were dropped because this subscriber fell behind."""

    def matches(self, event: ExecutionEvent) -> bool:
        """Whether ``event`` passes this subscription's filters."""
        return (
            (self.execution_id is None or event.execution_id == self.execution_id)
            and (self.graph_id is None or event.graph_id == self.graph_id)
            and (self.user_id is None or event.user_id == self.user_id)
            and (self.types is None or event.type in self.types)
        )

    def _push(self, event: ExecutionEvent) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.lagged += 1
        self._buffer.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> ExecutionEvent:
        """The next event; raises TimeoutError after ``timeout`` seconds, StopAsyncIteration when closed."""
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    await asyncio.wait_for(self._waiter, timeout)
            finally:
                self._waiter = None
        return self._buffer.popleft()

    def __aiter__(self) -> AsyncIterator[ExecutionEvent]:
        return self

    async def __anext__(self) -> ExecutionEvent:
        return await self.get()

    def close(self) -> None:
        """Stop receiving events; a pending ``get`` ends with StopAsyncIteration."""
        if not self._closed:
            self._closed = True
            self._bus._remove(self)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class EventBus(ABC):
    """Port for execution events; keeps this process's subscribers and delivers to them."""

    kind = "abstract"

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._run_followers = 0
        """Subscriptions that take execution events: with none, publishers need not build them."""
        self.gaps = 0
        """How many times events of other processes may have been missed (a Redis outage on either
        side). Watchers that need every event re-read state from the database when it grows."""

    @abstractmethod
    def publish(self, event: ExecutionEvent) -> None:
        """Deliver ``event`` to every matching subscriber without waiting."""

    def subscribe(
        self,
        *,
        execution_id: str | None = None,
        graph_id: str | None = None,
        user_id: str | None = None,
        types: Iterable[EventType] | None = None,
        maxsize: int = 10_000,
    ) -> Subscription:
        """A new subscription; events published from now on that match reach it (``maxsize`` buffered).
        ``types`` keeps only those event types (a page's notification bell takes ``NOTIFICATION``
        alone, and then costs nothing while runs go on)."""
        sub = Subscription(
            self,
            execution_id=execution_id,
            graph_id=graph_id,
            user_id=user_id,
            types=types,
            maxsize=maxsize,
        )
        self._subs.append(sub)
        self._run_followers += sub.follows_runs
        return sub

    @property
    def active(self) -> bool:
        """Whether anyone may listen to execution events (publishers skip building them otherwise)."""
        return self._run_followers > 0

    def _deliver(self, event: ExecutionEvent) -> None:
        """Hand ``event`` to this process's matching subscribers (never waits)."""
        for sub in self._subs:
            if sub.matches(event):
                sub._push(event)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._run_followers -= sub.follows_runs

    async def start(self) -> None:
        """Connect (no-op for the in-process bus)."""

    async def stop(self) -> None:
        """Disconnect (no-op for the in-process bus)."""

    async def health(self) -> dict[str, Any]:
        """Reachability, as ``/api/v1/health`` reports it: at least ``ok`` and ``kind``."""
        return {"ok": True, "kind": self.kind}


class LocalBus(EventBus):
    """In-process bus: subscribers in this process only."""

    kind = "in-process"

    def publish(self, event: ExecutionEvent) -> None:
        self._deliver(event)
