"""Litestar stores for state shared between API replicas (rate-limit counters) in Redis.

:class:`FallbackStore` keeps the API answering when Redis is unreachable: each call goes to Redis,
and while Redis fails it goes to a per-process memory store instead (limits then count per replica
rather than per deployment). One warning when Redis goes away, one line when it is back.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class FallbackStore(Store):
    """``primary`` (Redis) while it answers, ``fallback`` (memory) while it does not."""

    def __init__(self, primary: Store, fallback: Store | None = None) -> None:
        self.primary = primary
        self.fallback = fallback or MemoryStore()
        self.degraded = False

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await getattr(self.primary, name)(*args, **kwargs)
        except (RedisError, OSError) as exc:
            if not self.degraded:
                self.degraded = True
                log.warning("shared store: Redis unreachable (%s); counting per process meanwhile", exc)
            return await getattr(self.fallback, name)(*args, **kwargs)
        if self.degraded:
            self.degraded = False
            log.info("shared store: Redis reachable again")
        return result

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        """Store ``value`` under ``key``."""
        await self._call("set", key, value, expires_in)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        """The value under ``key``, or None."""
        return await self._call("get", key, renew_for)

    async def delete(self, key: str) -> None:
        """Remove ``key``."""
        await self._call("delete", key)

    async def delete_all(self) -> None:
        """Remove every key of this store."""
        await self._call("delete_all")

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is set."""
        return await self._call("exists", key)

    async def expires_in(self, key: str) -> int | None:
        """Seconds until ``key`` expires."""
        return await self._call("expires_in", key)


def rate_limit_store() -> Store:
    """Redis (``REDIS_URL``, keys under ``{WORKBENCH_KEY_PREFIX}:ratelimit``) with a memory fallback;
    memory alone without Redis."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return MemoryStore()
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    prefix = os.environ.get("WORKBENCH_KEY_PREFIX") or "workbench"
    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return FallbackStore(RedisStore(client, namespace=f"{prefix}:ratelimit", handle_client_shutdown=True))
