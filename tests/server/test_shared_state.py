"""API state shared between replicas through Redis: rate-limit counters (and their memory fallback)."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from server.app import create_app
from server.config import ServerConfig
from server.stores import FallbackStore
from workbench.app import Workbench

LOCAL = "http://127.0.0.1"
"""In-process clients address the server as loopback (a foreign Host is refused)."""

REDIS = "redis://127.0.0.1:6379/0"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_with(settings: Any, registry: Any) -> Any:
    wb = Workbench(settings, registry=registry, ephemeral=True)
    return create_app(workbench=wb, config=ServerConfig(rate_limit=("minute", 3)), enable_scheduler=False)


async def test_two_replicas_share_one_rate_limit_in_redis(
    settings: Any, registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"wb-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("REDIS_URL", REDIS)
    monkeypatch.setenv("WORKBENCH_KEY_PREFIX", prefix)
    one, two = app_with(settings, registry), app_with(settings, registry)
    async with AsyncTestClient(one, base_url=LOCAL) as a, AsyncTestClient(two, base_url=LOCAL) as b:
        codes = [(await c.get("/api/v1/blocks")).status_code for c in (a, b, a, b)]
    assert codes == [200, 200, 200, 429]  # three per minute for the deployment, not per replica
    admin = Redis.from_url(REDIS)
    async with admin:
        keys = [k async for k in admin.scan_iter(f"{prefix}:ratelimit*")]
        assert keys, "the counter is not in Redis under the deployment's prefix"
        await admin.delete(*keys)


async def test_rate_limits_keep_working_per_replica_while_redis_is_down(
    settings: Any, registry: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    app = app_with(settings, registry)
    store = app.stores.get("rate_limit")
    assert isinstance(store, FallbackStore)
    async with AsyncTestClient(app, base_url=LOCAL) as client:
        codes = [(await client.get("/api/v1/blocks")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]  # never a 500: counted in memory meanwhile
    assert store.degraded
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1
