"""State shared between the processes of a deployment: presence and the block result cache.

With ``REDIS_URL`` both live in Redis under ``{WORKBENCH_KEY_PREFIX}:``; without it, in this process.
PostgreSQL stays the source of truth for everything durable: nothing here is needed for correctness,
so a Redis failure is logged once and the process carries on (presence then shows this process only,
and the cache misses).

- **Presence** (``{prefix}:presence:{role}``, a hash of process id -> JSON heartbeat): every API replica,
  executor and scheduler writes what it is doing (running executions, WebSocket connections) every
  :data:`HEARTBEAT` seconds; entries older than three heartbeats belong to dead processes and are
  ignored and pruned. ``/api/v1/health`` reports the deployment's totals from it.
- **Block result cache** (``{prefix}:blockcache:{sha256}``, with a TTL): blocks that declare
  ``cache_ttl`` (pure functions of their inputs) have their outputs reused for the same inputs by
  every executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from cachetools import TLRUCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from workbench import jsonutil
from workbench.config import Settings

log = logging.getLogger(__name__)
HEARTBEAT = 5.0
"""Seconds between presence heartbeats; an entry is stale after three."""
LOCAL_CACHE_SIZE = 10_000
"""Entries of the in-process result cache (without Redis)."""


def result_key(block_id: str, inputs: Any) -> str:
    """The cache key of one block's outputs for these inputs (a hash of the canonical JSON)."""
    canonical = orjson.dumps(jsonutil.normalize(inputs), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(block_id.encode() + b"\0" + canonical).hexdigest()


class SharedState:
    """Presence and the block result cache; Redis-backed when ``settings.redis_url`` is set."""

    def __init__(self, settings: Settings, role: str, describe: Callable[[], dict[str, Any]]) -> None:
        self.role = role
        self.prefix = settings.key_prefix
        self.member_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._describe = describe
        self._redis: Redis | None = (
            Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
            if settings.redis_url
            else None
        )
        self._local: TLRUCache[str, tuple[bytes, float]] = TLRUCache(
            LOCAL_CACHE_SIZE, ttu=lambda _key, value, _now: value[1], timer=time.monotonic
        )
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.started_at = time.time()

    @property
    def shared(self) -> bool:
        """Whether other processes see this state (Redis is configured)."""
        return self._redis is not None

    async def start(self) -> None:
        """Start heartbeating (the first heartbeat is written before this returns)."""
        if self._redis is None:
            return
        await self._beat()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="workbench-presence")

    async def stop(self) -> None:
        """Stop heartbeating and leave the presence set at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.hdel(self._presence_key(self.role), self.member_id)
            await self._redis.aclose()

    # ---- presence ------------------------------------------------------------------------------

    def _presence_key(self, role: str) -> str:
        return f"{self.prefix}:presence:{role}"

    def _doc(self) -> dict[str, Any]:
        return {
            "id": self.member_id,
            "role": self.role,
            "started_at": self.started_at,
            "at": time.time(),
            **self._describe(),
        }

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self._beat()

    async def _beat(self) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.hset(self._presence_key(self.role), self.member_id, jsonutil.dumpb(self._doc()))
        except (RedisError, OSError) as exc:
            self._fail(exc)
        else:
            self._recovered()

    async def members(self, role: str) -> list[dict[str, Any]]:
        """The live processes of ``role`` (this one included), each with its last heartbeat."""
        if self._redis is None:
            return [self._doc()] if role == self.role else []
        try:
            raw = await self._redis.hgetall(self._presence_key(role))
        except (RedisError, OSError) as exc:
            self._fail(exc)
            return [self._doc()] if role == self.role else []
        now = time.time()
        live: list[dict[str, Any]] = []
        dead: list[bytes] = []
        for field, value in raw.items():
            try:
                doc = jsonutil.loads(value)
                fresh = now - float(doc["at"]) <= 3 * HEARTBEAT
            except (ValueError, TypeError, KeyError):
                fresh = False
            if fresh:
                live.append(doc)
            else:
                dead.append(field)
        if dead:  # processes that died without leaving
            with contextlib.suppress(RedisError, OSError):
                await self._redis.hdel(self._presence_key(role), *dead)
        return live

    # ---- block result cache --------------------------------------------------------------------

    async def cache_get(self, key: str) -> Any | None:
        """The cached value under ``key``, or None."""
        raw: bytes | None
        if self._redis is None:
            entry = self._local.get(key)
            raw = entry[0] if entry is not None else None
        else:
            try:
                raw = await self._redis.get(f"{self.prefix}:blockcache:{key}")
            except (RedisError, OSError) as exc:
                self._fail(exc)
                return None
        return None if raw is None else jsonutil.loads(raw)

    async def cache_set(self, key: str, value: Any, ttl: float) -> None:
        """Keep ``value`` (JSON-serialisable) under ``key`` for ``ttl`` seconds."""
        raw = jsonutil.dumpb(value)
        if self._redis is None:
            self._local[key] = (raw, time.monotonic() + ttl)
            return
        try:
            await self._redis.set(f"{self.prefix}:blockcache:{key}", raw, px=max(1, int(ttl * 1000)))
        except (RedisError, OSError) as exc:
            self._fail(exc)

    # ---- failures ------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning("shared state: Redis unreachable (%s); presence and cache are local meanwhile", exc)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("shared state: Redis reachable again")
