"""The notifier end to end on the real database: runs that fail or complete become notifications on
the channels the user chose, delivered to real local peers; a repeated event is one notification;
quiet hours hold outside deliveries; the daily cap holds; lost events are found by the sweep."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.notifications.conftest import echo_graph, eventually, failing_graph, new_user
from tests.notify.conftest import FAST
from tests.notify.peers import Answer, MailHandler, receiving, smtp_server
from workbench.app import Workbench
from workbench.config import Settings
from workbench.notify.http_delivery import HttpDelivery
from workbench.notify.message import custom
from workbench.notify.senders import default_senders
from workbench.runtime.events import EventType
from workbench.runtime.notify_queue import NotifyEvent
from workbench.services.notifications.notifier import Notifier
from workbench.services.notifications.service import NotificationService
from workbench.store.notifications import PlannedDelivery

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def mailbox(wb: Workbench, tmp_path: Any) -> Iterator[MailHandler]:
    """An SMTP server on 127.0.0.1 the shared notifier mails through for one test."""
    assert wb.notifier is not None
    with smtp_server() as (handler, port):
        settings = Settings.from_env(
            {
                "WORKBENCH_HOME": str(tmp_path),
                "WORKBENCH_HTTP_ALLOW": "127.0.0.1",
                "WORKBENCH_SMTP_URL": f"smtp://127.0.0.1:{port}?starttls=off",
                "WORKBENCH_MAIL_FROM": "Agent Workbench <bot@example.com>",
            }
        )
        before = wb.notifier.senders
        wb.notifier.senders = default_senders(settings, delivery=HttpDelivery.from_settings(settings, FAST))
        try:
            yield handler
        finally:
            wb.notifier.senders = before


async def _inbox(service: NotificationService, user_id: str) -> list[Any]:
    return await service.inbox(user_id)


async def _deliveries(service: NotificationService, user_id: str, status: str | None = None) -> list[Any]:
    return await service.deliveries(user_id, status=status)


async def test_a_failed_run_is_mailed_with_its_node_and_error(
    wb: Workbench, service: NotificationService, mailbox: MailHandler
) -> None:
    user = await new_user(wb)
    graph = await failing_graph(wb, user, "Price watcher")
    result = await wb.executions.run(graph, {}, user_id=user, timeout=30)
    assert result.status == "FAILED"

    inbox = await eventually(lambda: _inbox(service, user))
    assert [n.kind for n in inbox] == ["run_failed"]
    assert inbox[0].data["node"] == "Fetch prices (fetch)"
    assert "HTTP 503 from upstream" in inbox[0].data["error"]
    assert inbox[0].execution_id == result.execution_id

    await eventually(lambda: asyncio.sleep(0, result=len(mailbox.messages) == 1))
    mail = email.message_from_bytes(mailbox.messages[0].content, policy=email.policy.default)
    assert mailbox.messages[0].rcpt_tos[0].startswith("notify-")
    assert mail["Subject"] == "Run of Price watcher failed"
    assert mail["X-Workbench-Event"] == "run_failed"
    text = mail.get_body(("plain",)).get_content()
    assert "Failing node: Fetch prices (fetch)" in text and "HTTP 503 from upstream" in text
    assert result.execution_id in text
    log = await eventually(lambda: _deliveries(service, user, "delivered"))
    assert log[0].channel == "email" and log[0].attempts == 1


async def test_a_completed_run_goes_only_where_the_user_asked(
    wb: Workbench, service: NotificationService, loopback_notifier: Notifier
) -> None:
    user = await new_user(wb)
    graph = await echo_graph(wb, user, "Digest")
    result = await wb.executions.run(graph, {"who": "Ada"}, user_id=user, timeout=30)
    assert result.status == "COMPLETED"
    await asyncio.sleep(0.3)
    assert await service.inbox(user) == []  # run_completed goes nowhere by default

    with receiving([Answer(500), Answer(200)]) as receiver:
        issued = await service.add_channel(user, "webhook", "ops", receiver.url)
        await service.update_preferences(user, {"events": {"run_completed": ["in_app", "webhook"]}})
        loopback_notifier.forget(user)
        second = await wb.executions.run(graph, {"who": "Bob"}, user_id=user, timeout=30)
        receiver.secret = issued.secret  # the receiver checks signatures with the channel's secret
        delivered = await eventually(lambda: _deliveries(service, user, "delivered"))
    assert len(receiver.requests) == 2  # a 500, then the retry
    assert all(r.signature_ok for r in receiver.requests)
    body = receiver.requests[1].json()
    assert body["event"] == "run_completed" and body["data"]["run_id"] == second.execution_id
    assert receiver.requests[0].headers["x-workbench-delivery"] == delivered[0].id
    assert receiver.requests[1].headers["x-workbench-delivery"] == delivered[0].id
    assert [a["status"] for a in delivered[0].report[0]["attempts"]] == [500, 200]
    inbox = await service.inbox(user)
    assert [n.execution_id for n in inbox] == [second.execution_id]


async def test_an_event_delivered_twice_is_one_notification(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb)
    event = NotifyEvent(
        "message", user, "custom:twice", {"title": "Hello", "text": "once", "channel": "in_app"}
    )
    await asyncio.gather(*(notifier.handle(event) for _ in range(5)))
    await notifier.handle(event)
    inbox = await service.inbox(user)
    assert [n.title for n in inbox] == ["Hello"]


async def test_quiet_hours_hold_outside_deliveries_until_they_end(
    wb: Workbench, service: NotificationService, loopback_notifier: Notifier
) -> None:
    user = await new_user(wb, "Asia/Tokyo")
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=2)).strftime("%H:%M")
    with receiving() as receiver:
        await service.add_channel(user, "webhook", "ops", receiver.url)
        await service.set_preferences(
            user, {"events": {"custom": ["in_app", "webhook"]}, "quiet_hours": {"start": start, "end": end}}
        )
        service.notify(user, "Night news", "shh")
        inbox = await eventually(lambda: _inbox(service, user))
        await asyncio.sleep(0.5)
        assert receiver.requests == []
    assert [n.title for n in inbox] == ["Night news"]  # the inbox gets it at once
    (held,) = await service.deliveries(user)
    assert held.status == "pending" and held.reason.startswith("held by quiet hours until")
    wait = (held.next_attempt_at - datetime.now(UTC)).total_seconds()
    assert 3600 < wait <= 2 * 3600 + 60


async def test_the_daily_cap_holds(
    wb: Workbench, service: NotificationService, loopback_notifier: Notifier
) -> None:
    user = await new_user(wb)
    with receiving() as receiver:
        await service.add_channel(user, "webhook", "ops", receiver.url)
        await service.set_preferences(user, {"events": {"custom": ["in_app", "webhook"]}, "daily_cap": 2})
        for n in range(4):
            await loopback_notifier.handle(
                NotifyEvent("message", user, f"custom:cap-{n}", {"title": f"Note {n}", "text": "x"})
            )

        async def two_delivered() -> bool:
            return len(await service.deliveries(user, status="delivered")) == 2

        await eventually(two_delivered)
        log = await service.deliveries(user)
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 2
    assert sorted(d.status for d in log) == ["delivered", "delivered", "suppressed", "suppressed"]
    suppressed = [d for d in log if d.status == "suppressed"]
    assert all("daily cap of 2" in d.reason for d in suppressed)
    assert len(await service.inbox(user)) == 4  # the inbox keeps everything


async def test_a_private_address_is_refused_and_logged(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb)
    with receiving() as receiver:  # the default guard: loopback is not allowed
        await service.add_channel(user, "webhook", "internal", receiver.url)
        await notifier.handle(
            NotifyEvent("message", user, "custom:private", {"title": "T", "text": "x", "channel": "webhook"})
        )
        (failed,) = await eventually(lambda: _deliveries(service, user, "failed"))
        assert receiver.connections == 0
    assert "private" in failed.reason or "loopback" in failed.reason


async def test_in_app_notifications_are_pushed_on_the_bus(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb)
    sub = wb.bus.subscribe(user_id=user)
    try:
        service.notify(user, "Ping", "hello", channel="in_app")
        event = await sub.get(timeout=5)
    finally:
        sub.close()
    assert event.type is EventType.NOTIFICATION
    assert event.data["title"] == "Ping" and event.data["read"] is False


async def test_the_sweep_finds_a_run_whose_event_was_lost(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb)
    graph = await failing_graph(wb, user, "Lost event")
    assert wb.notify_queue is not None
    consuming, wb.notify_queue.consuming = wb.notify_queue.consuming, False  # events go nowhere
    try:
        result = await wb.executions.run(graph, {}, user_id=user, timeout=30)
    finally:
        wb.notify_queue.consuming = consuming
    await asyncio.sleep(0.3)
    assert await service.inbox(user) == []
    await eventually(lambda: notifier.sweep(after=0))
    inbox = await service.inbox(user)
    assert [(n.kind, n.execution_id) for n in inbox] == [("run_failed", result.execution_id)]
    assert await notifier.sweep(after=0) == 0 or [n.id for n in await service.inbox(user)] == [inbox[0].id]


async def test_muting_an_agent(wb: Workbench, service: NotificationService, notifier: Notifier) -> None:
    user = await new_user(wb)
    loud = await failing_graph(wb, user, "Loud")
    quiet = await failing_graph(wb, user, "Quiet")
    await service.set_preferences(user, {"agents": {quiet.id: {"muted": True}}})
    notifier.forget(user)
    await wb.executions.run(quiet, {}, user_id=user, timeout=30)
    await wb.executions.run(loud, {}, user_id=user, timeout=30)
    inbox = await eventually(lambda: _inbox(service, user))
    await asyncio.sleep(0.3)
    assert [n.data["agent_name"] for n in await service.inbox(user)] == ["Loud"]
    assert inbox


async def test_inbox_read_and_unread(wb: Workbench, service: NotificationService, notifier: Notifier) -> None:
    user = await new_user(wb)
    other = await new_user(wb)
    for n in range(3):
        await notifier.handle(NotifyEvent("message", user, f"custom:r{n}", {"title": f"N{n}", "text": ""}))
    assert await service.unread_count(user) == 3
    newest = (await service.inbox(user))[0]
    assert newest.title == "N2"
    assert await service.mark_read(user, [newest.id]) == 1
    assert await service.mark_read(other, [newest.id]) == 0  # not theirs: nothing changes
    assert await service.unread_count(user) == 2
    assert [n.title for n in await service.inbox(user, unread=True)] == ["N1", "N0"]
    assert await service.mark_read(user) == 2
    assert await service.unread_count(user) == 0


async def test_a_daily_summary_once_per_day(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb, "Europe/Berlin")
    good = await echo_graph(wb, user, "Digest")
    bad = await failing_graph(wb, user, "Scraper")
    for graph in (good, good, bad):
        await wb.executions.run(graph, {"who": "Ada"} if graph is good else {}, user_id=user, timeout=30)
    assert wb.db is not None
    # the runs happened "yesterday" in Berlin
    await wb.db.pool.execute(
        "UPDATE graph_executions SET created_at = created_at - interval '1 day' WHERE user_id = $1", user
    )
    await service.set_preferences(user, {"summary": "daily", "events": {"summary": ["in_app"]}})
    await notifier.summaries()
    await notifier.summaries()  # the same day again: nothing new
    summaries = [n for n in await service.inbox(user) if n.kind == "summary"]
    assert len(summaries) == 1
    data = summaries[0].data
    assert (data["period"], data["runs"], data["failures"]) == ("daily", 3, 1)
    assert {a["name"]: (a["runs"], a["failures"]) for a in data["agents"]} == {
        "Digest": (2, 0),
        "Scraper": (1, 1),
    }
    start = datetime.fromisoformat(data["start"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (start.hour, start.minute) == (0, 0)


async def test_a_send_whose_notifier_died_is_sent_again_with_the_same_delivery_id(
    wb: Workbench, service: NotificationService, loopback_notifier: Notifier
) -> None:
    user = await new_user(wb)
    assert wb.db is not None
    with receiving() as receiver:
        await service.add_channel(user, "webhook", "ops", receiver.url)
        # a notifier took the delivery and died before sending: its lease is all that is left
        (channel,) = await service.channels(user)
        note = custom(title="Lease", text="x", dedupe_key="k-lease")
        later = datetime.now(UTC) + timedelta(hours=1)
        await loopback_notifier.repo.create(
            user,
            kind="custom",
            dedupe_key=note.dedupe_key,
            title=note.title,
            text=note.text,
            html=None,
            data={},
            graph_id=None,
            execution_id=None,
            in_app=False,
            deliveries=[PlannedDelivery("webhook", channel.id, channel.display, next_attempt_at=later)],
        )
        row = await wb.db.pool.fetchrow(
            """UPDATE notification_deliveries SET status = 'sending', attempts = 1,
                   lease_until = now() + interval '1 hour'
               WHERE user_id = $1 RETURNING id::text""",
            user,
        )
        await asyncio.sleep(0.3)
        assert receiver.requests == []  # held by the dead notifier's lease
        await wb.db.pool.execute(
            "UPDATE notification_deliveries SET lease_until = now() - interval '1 second' WHERE id = $1",
            row["id"],
        )
        loopback_notifier.wake()
        (done,) = await eventually(lambda: _deliveries(service, user, "delivered"))
    assert done.id == row["id"] and done.attempts == 2
    assert [r.headers["x-workbench-delivery"] for r in receiver.requests] == [row["id"]]
