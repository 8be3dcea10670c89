"""Where notifier events come from and how they travel: the Notify block in a graph, a schedule
that misses its time or keeps failing, and the RabbitMQ queue (a message delivered twice is one
notification; a handler that keeps failing is retried, then dead-lettered)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.notifications.conftest import INPUT_BLOCK, echo_graph, eventually, new_user
from workbench.app import Workbench
from workbench.graph.autogpt import parse_graph
from workbench.runtime.notify_queue import NotifyEvent
from workbench.runtime.rabbit_notify import DLQ, QUEUE, RabbitNotifyQueue
from workbench.scheduler import Scheduler
from workbench.services.notifications.notifier import Notifier
from workbench.services.notifications.service import NotificationService
from workbench.services.schedules import ScheduleService

NOTIFY_BLOCK = "7ce4a760-806d-4a29-b453-b3800857cbf5"


async def test_the_notify_block_sends_once_per_node_execution(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb)
    doc = {
        "name": "Reporter",
        "nodes": [
            {"id": "what", "block_id": INPUT_BLOCK, "input_default": {"name": "what"}},
            {
                "id": "tell",
                "block_id": NOTIFY_BLOCK,
                "input_default": {"title": "Report ready", "channel": "in_app"},
            },
        ],
        "links": [{"source_id": "what", "source_name": "result", "sink_id": "tell", "sink_name": "message"}],
    }
    graph = await wb.graphs.create(parse_graph(doc), user)
    result = await wb.executions.run(graph, {"what": "3 new items"}, user_id=user, timeout=30)
    assert result.status == "COMPLETED", result.error
    (key,) = [
        v for ne in result.node_executions if ne.node_id == "tell" for name, v in ne.outputs if name == "key"
    ]
    (note,) = await eventually(lambda: service.inbox(user))
    assert (note.kind, note.title, note.text.strip()) == ("custom", "Report ready", "3 new items")
    assert note.execution_id == result.execution_id and note.graph_id == graph.id
    # the node ran again after a crash: the same key, so nothing new
    await notifier.handle(
        NotifyEvent("message", user, f"custom:{key}", {"title": "Report ready", "text": "again"})
    )
    assert [n.id for n in await service.inbox(user)] == [note.id]


async def test_a_missed_schedule_is_told(wb: Workbench, service: NotificationService) -> None:
    user = await new_user(wb)
    graph = await echo_graph(wb, user, "Morning digest")
    schedules = ScheduleService.of(wb, wb.settings.with_(schedule_min_interval=1))
    long_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    schedule = await schedules.create(
        user,
        {
            "graph_id": graph.id,
            "schedule_type": "DAILY",
            "time_of_day": long_ago.time().isoformat(),
            "inputs": {"who": "Ada"},
        },
    )
    assert wb.db is not None
    try:
        await wb.db.pool.execute("UPDATE schedules SET next_run_at = $2 WHERE id = $1", schedule.id, long_ago)
        async with Scheduler(wb, poll_interval=0.5):
            (note,) = await eventually(lambda: service.inbox(user))
    finally:
        await wb.db.pool.execute("DELETE FROM schedules WHERE id = $1", schedule.id)
    assert note.kind == "schedule_missed" and note.data["schedule_id"] == schedule.id
    assert note.data["agent_name"] == "Morning digest" and "grace period" in note.data["reason"]


async def test_a_schedule_failing_again_and_again_is_told_once_per_streak(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb)
    graph = await echo_graph(wb, user, "Flaky sync")
    assert wb.db is not None
    schedule_id = await wb.db.pool.fetchval(
        """INSERT INTO schedules (user_id, graph_id, schedule_type, interval_seconds, is_enabled)
           VALUES ($1, $2, 'INTERVAL', 3600, false) RETURNING id::text""",
        user,
        graph.id,
    )
    start = datetime.now(UTC) - timedelta(hours=10)
    fires = []
    for n in range(5):
        fires.append(
            await wb.db.pool.fetchval(
                """INSERT INTO schedule_runs (schedule_id, fire_time, status, error)
                   VALUES ($1, $2, 'FAILED', $3) RETURNING id::text""",
                schedule_id,
                start + timedelta(hours=n),
                f"inputs no longer valid ({n})",
            )
        )
        await notifier.handle(
            NotifyEvent("schedule_fire", user, f"schedule_fire:{fires[-1]}", {"schedule_run_id": fires[-1]})
        )
    inbox = await service.inbox(user)
    assert [n.kind for n in inbox] == ["schedule_failing"]  # at the third failure, once for the streak
    assert inbox[0].data["failures"] == 3 and "inputs no longer valid (2)" in inbox[0].data["error"]


async def test_rabbitmq_twice_is_once_and_poison_is_dead_lettered(
    wb: Workbench, service: NotificationService, notifier: Notifier, amqp_url: str
) -> None:
    user = await new_user(wb)
    url = amqp_url
    queue = RabbitNotifyQueue(url, max_attempts=3, delay=lambda attempt: 0.05)
    await queue.start()
    calls: list[NotifyEvent] = []

    async def handle(event: NotifyEvent) -> None:
        calls.append(event)
        if event.kind == "poison":
            raise RuntimeError("cannot handle this")
        await notifier.handle(event)

    try:
        await queue.consume(handle, concurrency=4)
        event = NotifyEvent("message", user, "custom:rabbit-twice", {"title": "Via RabbitMQ", "text": "hi"})
        queue.publish(event)
        queue.publish(event)
        queue.publish(NotifyEvent("poison", user, "poison:1", {}))
        await eventually(lambda: asyncio.sleep(0, result=queue.dead_lettered == 1), timeout=20)
        await eventually(lambda: asyncio.sleep(0, result=queue.handled == 2), timeout=20)

        async def dead_letter_arrived() -> dict[str, object] | None:
            health = await queue.health()
            return health if health["depth"][DLQ] >= 1 else None

        health = await eventually(dead_letter_arrived)
    finally:
        await queue.stop()
    assert [n.title for n in await service.inbox(user)] == ["Via RabbitMQ"]
    assert [c.attempt for c in calls if c.kind == "poison"] == [1, 2, 3]
    assert health["depth"][DLQ] >= 1 and health["depth"][QUEUE] == 0
    assert health["ok"] and health["retried"] == 2


@pytest.fixture
def amqp_url(amqp_vhosts: object) -> str:
    """A fresh vhost for one test."""
    return amqp_vhosts()  # type: ignore[operator]


HUMAN_BLOCK = "8b2a7b3c-6e9d-4a5f-8c1b-2e3f4a5b6c7d"


async def test_a_run_waiting_for_review_is_told_with_a_signed_link(
    wb: Workbench, service: NotificationService
) -> None:
    user = await new_user(wb)
    doc = {
        "name": "Invoice approver",
        "nodes": [
            {"id": "what", "block_id": INPUT_BLOCK, "input_default": {"name": "what"}},
            {"id": "ask", "block_id": HUMAN_BLOCK, "input_default": {"name": "Invoice 42"}},
        ],
        "links": [{"source_id": "what", "source_name": "result", "sink_id": "ask", "sink_name": "data"}],
    }
    graph = await wb.graphs.create(parse_graph(doc), user)
    before, wb.api_url = wb.api_url, "https://wb.example.com"
    try:
        execution_id = await wb.executions.submit(graph, {"what": {"amount": 120}}, user_id=user)
        (note,) = await eventually(lambda: service.inbox(user), timeout=15)
    finally:
        wb.api_url = before
    assert note.kind == "review_requested" and note.execution_id == execution_id
    assert note.title == "Invoice approver is waiting for your review"
    link = note.data["link"]
    assert link.startswith(f"https://wb.example.com/review/{note.data['review_id']}?token=")
    token = link.split("token=", 1)[1]
    review = await wb.reviews.by_link(note.data["review_id"], token)
    assert review.name == "Invoice 42"
    await wb.reviews.decide(review.id, user, "approve")
    assert (await wb.executions.wait(execution_id, timeout=20, user_id=user)).status == "COMPLETED"
