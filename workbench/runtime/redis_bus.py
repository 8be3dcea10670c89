"""The event bus over Redis pub/sub: every API replica sees the events of every process.

Each process publishes its events on ``{key_prefix}:events:{user_id}`` and listens to
``{key_prefix}:events:*`` with one pattern subscription. An event reaches this process's subscribers
at once, as with :class:`~workbench.runtime.bus.LocalBus`; the copy that comes back from Redis is
recognised by its origin (one random id per bus) and skipped, so nobody sees an event twice.

Redis never holds an execution up: :meth:`RedisBus.publish` only appends to a bounded outbox that a
background task sends with pipelined ``PUBLISH``. When the outbox is full or Redis cannot be
reached, events for other processes are dropped and counted (``health()["dropped"]``; one log line
per outage, not per event), and the process's own subscribers still get everything. The listener
and the publisher reconnect with capped, jittered backoff and delivery resumes when Redis returns;
what was missed is not replayed, but it is announced: a listener that reconnects, and a publisher that
dropped events and is back, count a *gap* (``EventBus.gaps``; the publisher tells every process with a
gap notice on the channels), and watchers re-read the state of the runs they follow from the database
(the WebSocket sends ``resync`` and fresh ``EXECUTION_STATE`` frames; ``ExecutionService.follow``
fills in from storage). A bus that cannot reach Redis at start
starts degraded, with a warning, rather than refusing to run; a URL that Redis refuses (bad
password, bad database) is a configuration mistake and raises :class:`~workbench.errors.ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, RedisError, ResponseError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random_exponential,
)

from workbench import jsonutil
from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.runtime.bus import EventBus
from workbench.runtime.events import ExecutionEvent

log = logging.getLogger(__name__)

OUTBOX = 10_000
"""Events waiting to be sent to Redis; beyond that new ones are dropped."""
BATCH = 500
"""Events sent in one pipeline."""
CONNECT_TIMEOUT = 2.0
"""Seconds ``start`` waits for Redis before starting degraded."""
STOP_DRAIN = 1.0
"""Seconds ``stop`` waits for the outbox to be sent."""
POLL = 5.0
"""Seconds the listener waits for a message before checking its connection."""
REDIS_DOWN = (RedisError, OSError, TimeoutError)
"""What Redis being unreachable (or failing) raises."""


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis glob pattern."""
    return "".join("\\" + c if c in "\\*?[]^" else c for c in text)


def _client_name(text: str) -> str:
    """``text`` as a valid Redis client name (printable, no spaces)."""
    return "".join(c if "!" <= c <= "~" else "_" for c in text)


class RedisBus(EventBus):
    """Events through Redis pub/sub, for several processes (API replicas, executors).

    Args:
        settings: ``redis_url`` (required) and ``key_prefix`` are used.
        outbox: events buffered for Redis before new ones are dropped.
        min_backoff, max_backoff: reconnection delays in seconds (doubling, capped, each between half
            and all of its value).
    """

    kind = "redis"

    def __init__(
        self,
        settings: Settings,
        *,
        outbox: int = OUTBOX,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        super().__init__()
        url = settings.redis_url
        if not url or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        self.url = url
        self.prefix = settings.key_prefix
        self.origin = uuid.uuid4().hex
        """Tags this bus's messages, so the copies Redis sends back are skipped."""
        self.pattern = f"{_glob_escape(self.prefix)}:events:*"
        self.client_name = _client_name(f"{self.prefix}:bus:{self.origin[:12]}")
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._outbox: deque[ExecutionEvent] = deque()
        self._outbox_max = outbox
        self._wakeup = asyncio.Event()
        self._sending = False
        self._redis: Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._running = False
        self._publisher_ok = True
        self._listener_ok = False
        self._outage = False
        self._dropped_before_outage = 0
        self._overflowing = False
        self._malformed_logged = False
        self.dropped = 0
        self._gap_announced = 0
        """``dropped`` when the last gap notice went out (a new notice is due when it grows)."""
        """Events that did not reach Redis (outage, or the outbox full); this process's subscribers
        had them."""
        self.received = 0
        """Events of other processes delivered here."""

    # ---- the port ------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        # Other processes may listen: a started bus always publishes.
        return self._running or bool(self._subs)

    def publish(self, event: ExecutionEvent) -> None:
        self._deliver(event)
        if not self._running:
            return
        if not self._publisher_ok:
            self.dropped += 1
            return
        if len(self._outbox) >= self._outbox_max:
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                log.warning(
                    "event bus: Redis does not keep up (%d events waiting); dropping events for other "
                    "processes until it catches up",
                    len(self._outbox),
                )
            return
        self._outbox.append(event)
        self._wakeup.set()

    async def start(self) -> None:
        """Connect and subscribe; if Redis cannot be reached, start degraded and keep trying."""
        if self._running:
            return
        self._publisher_ok, self._listener_ok, self._outage = True, False, False
        self._redis = Redis.from_url(
            self.url,
            client_name=self.client_name,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=CONNECT_TIMEOUT,
            health_check_interval=10,
            retry=Retry(NoBackoff(), 0),  # we reconnect ourselves, with backoff, never in publish's way
        )
        try:
            await asyncio.wait_for(self._redis.ping(), CONNECT_TIMEOUT)
        except (AuthenticationError, AuthorizationError, ResponseError) as exc:
            await self._redis.aclose()
            self._redis = None
            raise ConfigError(f"REDIS_URL was refused by Redis: {exc}") from exc
        except (RedisError, OSError, TimeoutError) as exc:
            self._down("publisher", exc)
        self._running = True
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="redis-bus-listener"),
            loop.create_task(self._send(), name="redis-bus-sender"),
        ]
        if self._publisher_ok:  # so that events published from now on by others reach us
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), CONNECT_TIMEOUT)

    async def stop(self) -> None:
        """Send what is waiting (briefly), then disconnect."""
        if not self._running:
            return
        self._running = False
        deadline = time.monotonic() + STOP_DRAIN
        while (self._outbox or self._sending) and self._publisher_ok and time.monotonic() < deadline:
            self._wakeup.set()
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        self.dropped += len(self._outbox)
        self._outbox.clear()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
        self._listener_ok = False
        self._subscribed.clear()

    async def health(self) -> dict[str, Any]:
        """``ok`` when started, subscribed and Redis answers a PING; ``dropped`` counts lost events."""
        ok = self._running and self._publisher_ok and self._listener_ok
        if ok and self._redis is not None:
            try:
                await asyncio.wait_for(self._redis.ping(), 1.0)
            except (RedisError, OSError, TimeoutError):
                ok = False
        return {"ok": ok, "kind": self.kind, "dropped": self.dropped}

    # ---- sending -------------------------------------------------------------------------------

    def _channel(self, event: ExecutionEvent) -> str:
        return f"{self.prefix}:events:{event.user_id}"

    def _encode(self, event: ExecutionEvent) -> bytes:
        return jsonutil.dumpb({"origin": self.origin, "event": event.to_dict()})

    async def _send(self) -> None:
        """Empty the outbox into Redis, a pipeline at a time; on failure wait for Redis to return."""
        assert self._redis is not None
        while True:
            if not self._publisher_ok:
                await self._reconnect_publisher()
            if self.dropped != self._gap_announced:
                await self._announce_gap()
            if not self._outbox:
                self._overflowing = False
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
            self._sending = True
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for event in batch:
                        pipe.publish(self._channel(event), self._encode(event))
                    await pipe.execute()
            except (RedisError, OSError, TimeoutError) as exc:
                self._down("publisher", exc)  # first: the outage's count includes this batch
                self.dropped += len(batch) + len(self._outbox)
                self._outbox.clear()
                await self._forget_idle_connections()
            except Exception:  # a bug must not end event delivery
                self.dropped += len(batch)
                log.exception("event bus: sending %d events to Redis failed", len(batch))
            finally:
                self._sending = False

    async def _announce_gap(self) -> None:
        """Tell the other processes that events of this one were lost (they re-read state)."""
        assert self._redis is not None
        try:
            await self._redis.publish(
                f"{self.prefix}:events:-gap", jsonutil.dumpb({"origin": self.origin, "gap": True})
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self._down("publisher", exc)
            return
        self._gap_announced = self.dropped

    def _reconnecting(
        self, part: str, retry_on: type[BaseException] | tuple[type[BaseException], ...]
    ) -> AsyncRetrying:
        """Attempts of ``part`` (publisher, listener) until one works: never giving up, each failure
        recorded as an outage, with capped exponential backoff and equal jitter (between half and all
        of the delay: processes reconnecting together spread out, and none hammers Redis)."""
        half_min, half_max = self.min_backoff / 2, self.max_backoff / 2
        return AsyncRetrying(
            retry=retry_if_exception_type(retry_on),
            wait=wait_exponential(multiplier=half_min, max=half_max)
            + wait_random_exponential(multiplier=half_min, max=half_max),
            before_sleep=self._failed(part),
            reraise=True,
        )

    def _failed(self, part: str) -> Callable[[RetryCallState], None]:
        """Record a failed attempt of ``part`` (the first of an outage is a warning, then debug)."""

        def record(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            if exc is not None and not isinstance(exc, REDIS_DOWN):  # a bug must not end delivery
                log.error("event bus: the Redis %s failed; retrying", part, exc_info=exc)
            self._down(part, exc)

        return record

    async def _reconnect_publisher(self) -> None:
        """Wait until Redis answers a PING again (backing off), then resume sending."""
        assert self._redis is not None
        # A pause first, so that a Redis that answers PING but fails PUBLISH is not hammered.
        await asyncio.sleep(self.min_backoff)
        await self._reconnecting("publisher", REDIS_DOWN)(self._ping)
        await self._forget_idle_connections()
        self._up("publisher")

    async def _ping(self) -> None:
        """Return once Redis answers a PING; raise when it does not within ``CONNECT_TIMEOUT``."""
        assert self._redis is not None
        await asyncio.wait_for(self._redis.ping(), CONNECT_TIMEOUT)

    async def _forget_idle_connections(self) -> None:
        """Close the pool's idle connections: after an outage they may be dead without knowing it, and
        a batch sent on one would be lost (retrying a batch instead could deliver it twice)."""
        assert self._redis is not None
        with contextlib.suppress(Exception):
            await self._redis.connection_pool.disconnect(inuse_connections=False)

    # ---- receiving -----------------------------------------------------------------------------

    async def _listen(self) -> None:
        """One pattern subscription for the process; resubscribe with backoff when it breaks."""
        listened = False
        while True:
            pubsub = await self._reconnecting("listener", Exception)(self._subscribe)
            if listened:
                self.gaps += 1  # whatever was published while we were away is lost
            listened = True
            self._up("listener")
            self._subscribed.set()
            try:
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL)
                    if message is not None and message["type"] == "pmessage":
                        self._receive(message["data"])
            except REDIS_DOWN as exc:
                self._down("listener", exc)
                await self._forget_idle_connections()
            except Exception:
                log.exception("event bus: the Redis listener failed; reconnecting")
                self._down("listener", None)
            finally:
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(self.min_backoff)  # then resubscribe, backing off while it fails

    async def _subscribe(self) -> PubSub:
        """A new pattern subscription to every process's events."""
        assert self._redis is not None
        pubsub = self._redis.pubsub()
        try:
            await pubsub.psubscribe(self.pattern)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            await self._forget_idle_connections()
            raise
        return pubsub

    def _receive(self, data: bytes) -> None:
        try:
            doc = jsonutil.loads(data)
            if doc["origin"] == self.origin:
                return  # ours: this process's subscribers had it when it was published
            if doc.get("gap"):
                self.gaps += 1
                return
            event = ExecutionEvent.from_dict(doc["event"])
        except Exception as exc:  # someone else's message on our channels: never fatal
            if not self._malformed_logged:
                self._malformed_logged = True
                log.warning("event bus: ignoring a malformed message on %s: %s", self.pattern, exc)
            return
        self.received += 1
        self._deliver(event)

    # ---- outages -------------------------------------------------------------------------------

    def _down(self, part: str, exc: BaseException | None) -> None:
        if part == "publisher":
            self._publisher_ok = False
        else:
            self._listener_ok = False
        if not self._outage:
            self._outage = True
            self._dropped_before_outage = self.dropped
            log.warning(
                "event bus: Redis (REDIS_URL) unreachable (%s: %s); executions go on, events reach "
                "this process's subscribers only until it returns",
                part,
                exc or "error",
            )
        else:
            log.debug("event bus: Redis %s still failing: %s", part, exc)

    def _up(self, part: str) -> None:
        if part == "publisher":
            self._publisher_ok = True
        else:
            self._listener_ok = True
        if self._outage and self._publisher_ok and self._listener_ok:
            self._outage = False
            log.info(
                "event bus: Redis reachable again; delivery resumed (%d events were not delivered to "
                "other processes meanwhile)",
                self.dropped - self._dropped_before_outage,
            )
