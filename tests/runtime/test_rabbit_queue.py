"""The RabbitMQ execution queue and executors consuming it (real broker, a fresh vhost per run)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from tests.engine.graphs import graph, inp, link, node, out
from tests.support.blocks import COUNTS, CountingBlock, SleepBlock
from workbench.app import Workbench
from workbench.errors import NotFoundError
from workbench.runtime.events import EventType
from workbench.runtime.rabbit import DLQ, PRIORITIES, TTL_MS, queue_name
from workbench.services.executions import MAX_ATTEMPTS


@pytest.fixture(scope="module")
async def api(settings, registry, amqp_url) -> AsyncIterator[Workbench]:
    """A process that submits (like the API server): publishes, runs nothing itself."""
    async with Workbench(settings.with_(amqp_url=amqp_url), registry=registry) as bench:
        yield bench


@pytest.fixture(scope="module")
async def executor(settings, registry, amqp_url) -> AsyncIterator[Workbench]:
    """An executor: consumes the queue."""
    async with Workbench(settings.with_(amqp_url=amqp_url), registry=registry, consume=True) as bench:
        yield bench


def counting_graph(key: str):
    return graph(
        [inp("in", "x"), node("c", CountingBlock, key=key), out("o", "y")],
        [link("in.result", "c.value"), link("c.output", "o.value")],
    )


async def test_topology_is_declared(api, amqp_url) -> None:
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        for priority in PRIORITIES:
            q = await channel.declare_queue(queue_name(priority), passive=True)
            assert q.name == f"execution.{priority}"
        await channel.declare_queue(DLQ, passive=True)
        for name in ("agent.execution", "agent.events", "agent.schedules"):
            await channel.get_exchange(name, ensure=True)
    assert TTL_MS == {"high": 3_600_000, "normal": 86_400_000, "low": 604_800_000}


async def test_runs_on_an_executor_and_the_submitter_gets_the_result(api, executor) -> None:
    key = "dist-basic"
    execution_id = await api.executions.submit(counting_graph(key), {"x": 7}, priority=1)
    assert execution_id not in api.executions.live  # the submitter runs nothing itself
    result = await api.executions.wait(execution_id, timeout=20)
    assert result.status == "COMPLETED"
    assert result.outputs == {"y": [7]}
    assert COUNTS[key] == 1
    stored = await api.executions.repo.get(execution_id, None)
    assert {n.node_id for n in stored.nodes} == {"in", "c", "o"}


async def test_duplicate_and_late_deliveries_run_nothing_twice(api, executor) -> None:
    key = "dist-dup"
    execution_id = await api.executions.submit(counting_graph(key), {"x": 1})
    await api.queue.publish(execution_id)  # a duplicate while it is queued or running
    await api.executions.wait(execution_id, timeout=20)
    await api.queue.publish(execution_id)  # a redelivery after it finished
    await asyncio.sleep(0.5)
    assert COUNTS[key] == 1
    rows = await api.db.pool.fetchval(
        "SELECT count(*) FROM node_executions WHERE graph_execution_id = $1 AND node_id = 'c'", execution_id
    )
    assert rows == 1


async def test_poison_message_ends_failed_in_the_dead_letter_queue(api, executor, amqp_url) -> None:
    execution_id = await api.executions.submit(counting_graph("dist-poison"), {"x": 1}, priority=-1)
    await api.executions.wait(execution_id, timeout=20)
    # Pretend earlier executors died on it again and again, and it is queued once more.
    await api.db.pool.execute(
        "UPDATE graph_executions SET status = 'QUEUED', attempts = $2 WHERE id = $1",
        execution_id,
        MAX_ATTEMPTS,
    )
    await api.queue.publish(execution_id)
    for _ in range(100):
        status, error = await api.db.pool.fetchrow(
            "SELECT status, error FROM graph_executions WHERE id = $1", execution_id
        )
        if status == "FAILED":
            break
        await asyncio.sleep(0.05)
    assert status == "FAILED" and f"given up after {MAX_ATTEMPTS} attempts" in error
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        message = await (await channel.declare_queue(DLQ, passive=True)).get(timeout=5)
        assert execution_id.encode() in message.body
        await message.ack()


async def test_failed_publish_is_published_again_by_the_sweeper(settings, registry, api, executor) -> None:
    broken = Workbench(settings.with_(amqp_url="amqp://guest:guest@127.0.0.1:1/"), registry=registry)
    with pytest.raises(Exception, match="RabbitMQ"):
        await broken.start()
    await broken.stop()
    # Simulate the API process losing the broker after start: its publish fails.
    original = api.queue.publish

    async def failing(*args, **kwargs):
        raise ConnectionError("broker gone")

    api.queue.publish = failing  # type: ignore[method-assign]
    try:
        execution_id = await api.executions.submit(counting_graph("dist-sweep"), {"x": 3})
    finally:
        api.queue.publish = original  # type: ignore[method-assign]
    row = await api.db.pool.fetchrow(
        "SELECT status, published_at FROM graph_executions WHERE id = $1", execution_id
    )
    assert row["status"] == "QUEUED" and row["published_at"] is None  # stored, not lost
    assert await executor.executions.republish_stuck() >= 1
    result = await api.executions.wait(execution_id, timeout=20)
    assert result.status == "COMPLETED" and result.outputs == {"y": [3]}


async def test_cancel_reaches_the_executor_that_holds_the_run(api, executor) -> None:
    slow = graph(
        [inp("in", "x"), node("s", SleepBlock, seconds=30), out("o", "y")],
        [link("in.result", "s.value"), link("s.output", "o.value")],
    )
    execution_id = await api.executions.submit(slow, {"x": 1})
    for _ in range(600):  # a loaded machine can take seconds to deliver and claim it
        if (await api.executions.get(execution_id)).status == "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert execution_id in executor.executions.live  # the other executor holds it
    assert await api.executions.cancel(execution_id) == "RUNNING"  # flagged in the database
    result = await api.executions.wait(execution_id, timeout=10)
    assert result.status == "CANCELLED"


async def test_streaming_a_run_on_another_executor_ends_from_storage(api, executor) -> None:
    # The submitter's bus is its own (no Redis): no event of the run reaches it; storage fills in.
    key = "dist-stream"
    events = [e async for e in api.executions.stream(counting_graph(key), {"x": 3})]
    assert [e.type for e in events][-1] == EventType.EXECUTION_COMPLETED
    assert events[-1].data["outputs"] == {"y": [3]}
    node_events = [e for e in events if e.type == EventType.NODE_EXECUTED]
    assert sorted(e.node_id for e in node_events) == ["c", "in", "o"]
    [counted] = [e for e in node_events if e.node_id == "c"]
    assert counted.data["outputs"][0] == ["output", 3]
    assert isinstance(counted.data["ended_at"], float)
    assert COUNTS[key] == 1


async def test_following_a_finished_run_replays_it_from_storage(api, executor) -> None:
    execution_id = await api.executions.submit(counting_graph("dist-follow"), {"x": 4})
    await api.executions.wait(execution_id, timeout=20)
    events = [e async for e in api.executions.follow(execution_id)]
    assert [e.type for e in events].count(EventType.NODE_EXECUTED) == 3
    assert events[-1].type == EventType.EXECUTION_COMPLETED
    with pytest.raises(NotFoundError):
        [e async for e in api.executions.follow(execution_id, user_id=str(uuid.uuid4()))]


async def test_broker_connections_dropped_mid_flight_lose_and_repeat_nothing(api, executor, amqp_url) -> None:
    # Runs are in flight (unacked) and queued when the broker drops every connection of this vhost
    # (what clients see of a broker restart); both sides reconnect and every run ends exactly once.
    vhost = amqp_url.rsplit("/", 1)[1]
    slow = [
        graph(
            [
                inp("in", "x"),
                node("s", SleepBlock, seconds=0.4),
                node("c", CountingBlock, key=f"drop-{i}"),
                out("o", "y"),
            ],
            [link("in.result", "s.value"), link("s.output", "c.value"), link("c.output", "o.value")],
        )
        for i in range(6)
    ]
    ids = [await api.executions.submit(g, {"x": i}) for i, g in enumerate(slow)]
    for _ in range(100):
        if executor.executions.running_count():
            break
        await asyncio.sleep(0.02)
    assert executor.executions.running_count(), "no run started before the connections were dropped"
    proc = await asyncio.create_subprocess_exec(
        shutil.which("rabbitmqctl") or "rabbitmqctl",
        "close_all_connections",
        "-p",
        vhost,
        "test: broker restart",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await proc.wait() == 0
    results = [await api.executions.wait(i, timeout=60) for i in ids]
    assert [r.status for r in results] == ["COMPLETED"] * 6
    assert [r.outputs for r in results] == [{"y": [i]} for i in range(6)]
    assert [COUNTS[f"drop-{i}"] for i in range(6)] == [1] * 6
    # Both connections came back: a new run is published and consumed.
    after = await api.executions.submit(counting_graph("drop-after"), {"x": 9})
    assert (await api.executions.wait(after, timeout=30)).outputs == {"y": [9]}


async def test_executor_health_and_metrics_report_queue_depth(settings, registry, api, amqp_url) -> None:
    from litestar.testing import AsyncTestClient

    from launch.executor import create_executor_app

    execution_id = await api.executions.submit(counting_graph("metrics"), {"x": 1}, priority=2)
    own = Workbench(settings.with_(amqp_url=amqp_url), registry=registry, consume=False)
    async with AsyncTestClient(create_executor_app(own.settings, workbench=own)) as client:
        health = (await client.get("/health")).json()
        assert health["status"] == "ok" and set(health["queue"]["depth"]) == {"high", "normal", "low"}
        text = (await client.get("/metrics")).text
        samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
        for priority in ("high", "normal", "low"):
            assert f'workbench_queue_messages_ready{{queue="execution.{priority}"}}' in samples
        assert float(samples["process_resident_memory_bytes"]) > 10_000_000
    await api.executions.wait(execution_id, timeout=20)
