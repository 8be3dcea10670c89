"""The execution queue port: one contract, held by the in-process queue and by RabbitMQ.

Each test gets a fresh queue (RabbitMQ: on a fresh vhost of the machine's broker), publishes jobs and
watches what its handler is given: every job delivered, acknowledged once handled, delivered again
(marked) when the handler fails, never again once dead-lettered, at most ``concurrency`` at once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from workbench.runtime.queue import PRIORITIES, DeadLetter, ExecutionQueue, Job, LocalQueue
from workbench.runtime.rabbit import RabbitQueue

KINDS = ["in-process", "rabbitmq"]


@pytest.fixture(params=KINDS)
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[ExecutionQueue]:
    if request.param == "in-process":
        made: ExecutionQueue = LocalQueue()
    else:
        vhosts: Callable[[], str] = request.getfixturevalue("amqp_vhosts")
        made = RabbitQueue(vhosts())
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


async def test_every_published_job_is_delivered_once_with_its_priority(queue: ExecutionQueue) -> None:
    seen: list[Job] = []

    async def handler(job: Job) -> None:
        seen.append(job)

    await queue.consume(handler, concurrency=4)
    sent = {eid: PRIORITIES[i % 3] for i, eid in enumerate(ids(9))}
    for eid, priority in sent.items():
        await queue.publish(eid, priority)
    await until(lambda: len(seen) >= len(sent))
    await asyncio.sleep(0.3)  # acknowledged: nothing comes a second time
    assert sorted(j.execution_id for j in seen) == sorted(sent)
    assert all(j.priority == sent[j.execution_id] and not j.redelivered for j in seen)


async def test_a_failing_handler_gets_the_job_again_marked_redelivered(queue: ExecutionQueue) -> None:
    seen: list[Job] = []

    async def handler(job: Job) -> None:
        seen.append(job)
        if len(seen) == 1:
            raise RuntimeError("executor trouble")

    await queue.consume(handler, concurrency=1)
    [eid] = ids(1)
    await queue.publish(eid)
    await until(lambda: len(seen) >= 2)
    await asyncio.sleep(0.3)
    assert [(j.execution_id, j.redelivered) for j in seen] == [(eid, False), (eid, True)]


async def test_a_dead_lettered_job_is_never_delivered_again(queue: ExecutionQueue) -> None:
    seen: list[str] = []

    async def handler(job: Job) -> None:
        seen.append(job.execution_id)
        raise DeadLetter("poison")

    await queue.consume(handler, concurrency=2)
    poison, fine = ids(2)
    await queue.publish(poison)
    await until(lambda: seen == [poison])
    await queue.publish(fine)  # the queue goes on delivering
    await until(lambda: len(seen) == 2)
    await asyncio.sleep(0.3)
    assert seen == [poison, fine]
    assert (await queue.health())["dead_lettered"] == 2


async def test_at_most_concurrency_handlers_run_at_once(queue: ExecutionQueue) -> None:
    running = peak = 0
    done: list[str] = []

    async def handler(job: Job) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.1)
        running -= 1
        done.append(job.execution_id)

    await queue.consume(handler, concurrency=2)
    sent = ids(6)
    for eid in sent:
        await queue.publish(eid)
    await until(lambda: len(done) == len(sent))
    assert peak == 2
    assert sorted(done) == sorted(sent)


async def test_health_reports_the_queue_and_its_counts(queue: ExecutionQueue) -> None:
    handled = asyncio.Event()

    async def handler(job: Job) -> None:
        handled.set()

    await queue.consume(handler, concurrency=1)
    await queue.publish(ids(1)[0], "high")
    await asyncio.wait_for(handled.wait(), 10)
    health = await queue.health()
    assert health["ok"] is True and health["kind"] in ("in-process", "rabbitmq")
    assert set(health["depth"]) == set(PRIORITIES)
    assert health["delivered"] >= 1


async def test_an_unknown_priority_is_refused(queue: ExecutionQueue) -> None:
    with pytest.raises(ValueError, match="priority"):
        await queue.publish(ids(1)[0], "urgent")


async def test_stop_cancels_handlers_still_running_after_the_grace(queue: ExecutionQueue) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()  # the worker hands its run back here
            raise

    await queue.consume(handler, concurrency=1)
    await queue.publish(ids(1)[0])
    await asyncio.wait_for(started.wait(), 10)
    began = time.monotonic()
    await queue.stop(grace=0.2)  # type: ignore[call-arg]
    assert cancelled.is_set()
    assert time.monotonic() - began < 5


async def test_in_process_deliveries_go_by_priority() -> None:
    """The in-process queue also orders what waits: high, then normal, then low, each first-in first-out."""
    queue = LocalQueue()
    order: list[str] = []
    gate = asyncio.Event()

    async def handler(job: Job) -> None:
        if job.execution_id == "blocker":
            await gate.wait()
        order.append(job.execution_id)

    await queue.consume(handler, concurrency=1)
    await queue.publish("blocker")
    await until(lambda: queue.delivered == 1)
    for name, priority in (
        ("low-1", "low"),
        ("normal-1", "normal"),
        ("high-1", "high"),
        ("normal-2", "normal"),
    ):
        await queue.publish(name, priority)
    assert (await queue.health())["depth"] == {"high": 1, "normal": 2, "low": 1}
    gate.set()
    await until(lambda: len(order) == 5)
    assert order == ["blocker", "high-1", "normal-1", "normal-2", "low-1"]
    await queue.stop()
