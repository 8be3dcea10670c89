"""Presence of the deployment's processes and the block result cache, in Redis and in-process."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import Field

from tests.engine.graphs import graph, inp, link, node, out
from workbench.app import Workbench
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.runtime import shared_state
from workbench.runtime.shared_state import SharedState, result_key

LOCAL = "http://127.0.0.1"
"""In-process clients address the server as loopback (a foreign Host is refused)."""

REDIS = "redis://127.0.0.1:6379/0"
CALLS: list[Any] = []


class SlowSquareBlock(Block):
    """A pure block worth caching: its outputs depend on its input alone."""

    id = "5d1c1f0e-4a8b-4f2e-9c3d-7e6f5a4b3c21"
    description = "Test block: squares a number (counts its calls)."
    categories = (BlockCategory.DEVELOPER_TOOLS,)
    cache_ttl = 60.0

    class Input(BlockSchema):
        x: int = Field(description="A number.")

    class Output(BlockSchema):
        square: int = Field(description="x * x.")

    test_input = {"x": 3}
    test_output = [("square", 9)]

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        CALLS.append(input_data.x)
        yield "square", input_data.x * input_data.x


def square_graph() -> Any:
    return graph(
        [inp("in", "x"), node("sq", SlowSquareBlock), out("o", "y")],
        [link("in.result", "sq.x"), link("sq.square", "o.value")],
    )


@pytest.fixture
def cached_registry(registry: BlockRegistry) -> BlockRegistry:
    reg = registry.copy()
    reg.register(SlowSquareBlock, "tests.runtime.test_shared_state")
    return reg


def redis_settings(settings: Settings) -> Settings:
    return settings.with_(redis_url=REDIS, key_prefix=f"wb-test-{uuid.uuid4().hex[:12]}")


async def test_result_keys_are_canonical() -> None:
    assert result_key("b", {"a": 1, "b": [1, 2]}) == result_key("b", {"b": [1, 2], "a": 1})
    assert result_key("b", {"a": 1}) != result_key("c", {"a": 1})
    assert result_key("b", {"a": 1}) != result_key("b", {"a": 2})


async def test_processes_share_cached_results_through_redis(
    settings: Settings, cached_registry: BlockRegistry
) -> None:
    shared = redis_settings(settings)
    CALLS.clear()
    async with (
        Workbench(shared, registry=cached_registry, ephemeral=True) as one,
        Workbench(shared, registry=cached_registry, ephemeral=True) as two,
    ):
        first = await one.executions.run(square_graph(), {"x": 7}, timeout=10)
        again = await two.executions.run(square_graph(), {"x": 7}, timeout=10)
        other = await two.executions.run(square_graph(), {"x": 8}, timeout=10)
    assert first.outputs == again.outputs == {"y": [49]} and other.outputs == {"y": [64]}
    assert CALLS == [7, 8]  # the second process reused the first one's result for x=7
    [hit] = [n for n in again.node_executions if n.node_id == "sq"]
    assert hit.stats == {"cache_hit": 1} and hit.status == "COMPLETED"


async def test_without_redis_the_cache_is_per_process_and_expires(
    settings: Settings, cached_registry: BlockRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SlowSquareBlock, "cache_ttl", 0.2)
    CALLS.clear()
    async with Workbench(settings, registry=cached_registry, ephemeral=True) as wb:
        assert not wb.shared.shared
        for _ in range(2):
            await wb.executions.run(square_graph(), {"x": 5}, timeout=10)
        await asyncio.sleep(0.3)
        await wb.executions.run(square_graph(), {"x": 5}, timeout=10)
    assert CALLS == [5, 5]  # cached once, then expired


async def test_a_stale_entry_is_a_miss(settings: Settings, cached_registry: BlockRegistry) -> None:
    CALLS.clear()
    async with Workbench(settings, registry=cached_registry, ephemeral=True) as wb:
        key = result_key(SlowSquareBlock.id, {"x": 2})
        await wb.shared.cache_set(key, [["old_pin", 1]], 60)
        result = await wb.executions.run(square_graph(), {"x": 2}, timeout=10)
    assert result.outputs == {"y": [4]} and CALLS == [2]


async def test_presence_lists_live_processes_and_forgets_dead_ones(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_state, "HEARTBEAT", 0.1)
    shared = redis_settings(settings)
    api = SharedState(shared, "api", lambda: {"websockets": 3})
    executor = SharedState(shared, "executor", lambda: {"running": 2})
    crashed = SharedState(shared, "executor", lambda: {"running": 9})
    for state in (api, executor, crashed):
        await state.start()
    try:
        assert len(await api.members("executor")) == 2
        assert crashed._task is not None
        crashed._task.cancel()  # dies without leaving: its heartbeat goes stale
        await asyncio.sleep(0.45)
        members = await api.members("executor")
        assert [m["running"] for m in members] == [2]
        assert [m["websockets"] for m in await executor.members("api")] == [3]
    finally:
        for state in (api, executor):
            await state.stop()
    assert await crashed.members("executor") == []  # left at stop
    await crashed.stop()


async def test_health_reports_the_cluster(settings: Settings, registry: BlockRegistry) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    shared = redis_settings(settings)
    async with Workbench(shared, registry=registry, consume=False, role="executor", ephemeral=True):
        wb = Workbench(shared, registry=registry, ephemeral=True)
        app = create_app(workbench=wb, enable_scheduler=False)
        async with AsyncTestClient(app, base_url=LOCAL) as client:
            body = (await client.get("/api/v1/health")).json()
    assert body["cluster"] == {
        "api_replicas": 1,
        "executors": 1,
        "schedulers": 0,
        "running": 0,
        "websockets": 0,
    }
