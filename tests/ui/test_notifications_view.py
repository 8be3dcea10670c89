"""The notification parts of the apps without a browser: the inbox table (unread marked, the opened
one's text under it, users' text escaped, runs linked), the delivery log in words; on real PostgreSQL
with the shared Workbench's notifier: a session's live count and the inbox hearing new notifications
(and nothing of another user's), the inbox's actions, Profile's channel form (problems under their
field, a webhook's secret once) and preferences (saved as the service reads them back, or refused
whole with nothing stored)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.notifications.conftest import new_user
from workbench.app import Workbench
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.runtime.notify_queue import NotifyEvent
from workbench.services.notifications.notifier import Notifier
from workbench.services.notifications.service import NotificationService
from workbench.store.notifications import DeliveryRecord
from workbench.ui.notifications import inbox_html
from workbench.ui.notifications_data import InboxItem, InboxStore, LiveNotifications, kind_label
from workbench.ui.profile_notifications import NotificationSettings, deliveries_table

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def item(title: str, **changes: Any) -> InboxItem:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": "run_failed",
        "title": title,
        "text": "",
        "agent": "",
        "graph_id": None,
        "execution_id": None,
        "read": False,
        "created_at": NOW,
    }
    fields.update(changes)
    return InboxItem(**fields)


async def until(check: Callable[[], Awaitable[Any] | Any], timeout: float = 10.0) -> Any:
    """Wait until ``check`` gives something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.02)


def message(user: str, title: str, text: str = "") -> NotifyEvent:
    return NotifyEvent("message", user, f"custom:{uuid.uuid4().hex}", {"title": title, "text": text})


# ---- without a database ---------------------------------------------------------------------------


def test_the_inbox_table_marks_unread_links_runs_and_escapes() -> None:
    run = str(uuid.uuid4())
    failed = item("<b>Run of X failed</b>", agent="<i>X</i>", execution_id=run, text="line 1\n<script>")
    read = item("Backup", kind="custom", read=True, created_at=NOW - timedelta(hours=1))
    page = inbox_html([failed, read], "Europe/Madrid", fresh=[failed.id])
    assert "<b>" not in page and "<i>" not in page and "&lt;b&gt;Run of X failed&lt;/b&gt;" in page
    assert f'href="/monitor/run?id={run}"' in page
    assert page.count('class="wb-row wb-unread"') == 1 and 'class="wb-row"' in page
    assert ">Run failed<" in page and ">Message<" in page  # kinds in words
    assert "2026-12-02 13:00" in page  # in the user's timezone
    assert page.count('class="wb-new"') == 1
    assert 'data-action="read"' in page and 'data-action="unread"' in page
    assert "wb-detail" not in page  # nothing opened
    opened = inbox_html([failed, read], "UTC", selected=failed.id)
    assert opened.count("wb-detail") == 1 and "line 1\n&lt;script&gt;" in opened
    assert 'aria-expanded="true"' in opened
    assert inbox_html([], "UTC", empty="No unread notifications.") == (
        '<p class="wb-empty">No unread notifications.</p>'
    )
    assert kind_label("schedule_missed") == "Schedule missed" and kind_label("new_thing") == "New thing"


def test_an_item_from_the_bus_and_a_malformed_one() -> None:
    doc = {
        "id": "n1",
        "kind": "run_completed",
        "title": "Run of Greeter completed",
        "text": "ok",
        "data": {"agent_name": "Greeter"},
        "graph_id": "g",
        "execution_id": "e",
        "read": False,
        "created_at": NOW.isoformat(),
    }
    found = InboxItem.of_dict(doc)
    assert found is not None and found.agent == "Greeter" and found.created_at == NOW
    assert InboxItem.of_dict({"title": "no id"}) is None
    assert InboxItem.of_dict({**doc, "created_at": "yesterday"}) is None


def test_the_delivery_log_reads_as_words() -> None:
    rows = [
        DeliveryRecord(
            "d1", "n1", "u", None, "unknown", "pager", "suppressed", "no enabled channel is named 'pager'",
            0, NOW, [], NOW, NOW, None, "custom", "Nightly <report>",
        ),
        DeliveryRecord(
            "d2", "n2", "u", "c", "webhook", "https://hooks.example.com/…", "pending", "HTTP 503", 2,
            NOW + timedelta(minutes=2), [{"status": 503}], NOW, NOW, None, "run_failed", "Run of X failed",
        ),
    ]  # fmt: skip
    page = deliveries_table(rows, "UTC")
    assert "Nightly &lt;report&gt;" in page and "<report>" not in page
    assert ">Message<" in page and ">Run failed<" in page and ">Webhook<" in page
    assert "HTTP 503; next try 2026-12-02 12:02" in page
    assert "wb-dstatus-suppressed" in page and "{" not in page  # never the raw reports
    assert deliveries_table([], "UTC") == '<p class="wb-empty">Nothing sent outside the apps yet.</p>'


# ---- on PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def service(wb: Workbench) -> NotificationService:
    return NotificationService.of(wb)


@pytest.fixture
def notifier(wb: Workbench) -> Notifier:
    assert wb.notifier is not None  # it runs in the Workbench (no AMQP_URL)
    return wb.notifier


async def test_the_live_count_and_the_inbox_hear_new_notifications(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user, other = await new_user(wb), await new_user(wb)
    live = LiveNotifications(service, wb.bus, user, min_interval=0)
    store = InboxStore(service, user)
    live.listen(store.arrived)
    try:
        await live.start()
        await store.load()
        assert live.unread == 0 and store.items == [] and store.read_once
        # Runs going on do not reach the bell's subscription.
        assert live.feed is not None
        wb.bus.publish(ExecutionEvent(EventType.NODE_EXECUTED, "e", "g", 1, user, "COMPLETED"))
        await notifier.handle(message(other, "Not yours"))
        await notifier.handle(message(user, "First", "one"))
        await until(lambda: live.unread == 1 and store.items)
        assert [i.title for i in store.items] == ["First"] and store.fresh == [store.items[0].id]
        await notifier.handle(message(user, "Second"))
        await until(lambda: live.unread == 2)
        await until(lambda: [i.title for i in store.items] == ["Second", "First"])
        assert live.feed.handled == 2  # the two notifications; nothing else

        # Opening marks read; marking unread again; the unread view; all read; delete.
        first, second = store.items[1].id, store.items[0].id
        await store.open(first)
        await live.recount()
        assert store.selected == first and store.find(first).read and live.unread == 1  # type: ignore[union-attr]
        await store.mark(first, read=False)
        await live.recount()
        assert live.unread == 2
        store.unread_only, store.selected = True, ""
        await store.load()
        await store.mark(second, read=True)
        assert [i.title for i in store.items] == ["First"]  # read: out of the unread view
        assert await store.mark_all() == 1
        await live.recount()
        assert live.unread == 0 and store.items == []
        store.unread_only = False
        await store.load()
        assert await store.delete(second)
        assert [n.title for n in await service.inbox(user)] == ["First"]
        assert not await store.delete(str(uuid.uuid4()))  # not listed: nothing done
        assert store.error == ""
    finally:
        await live.close()
    assert live.feed is None


async def test_channels_form_says_problems_under_their_field_and_shows_a_secret_once(
    wb: Workbench, service: NotificationService
) -> None:
    user = await new_user(wb)
    settings = NotificationSettings(service, user_id=user)
    await settings.load()
    settings.channel_name.value = "work mail"
    settings.target.value = "not an address"
    await settings.add_channel()
    assert "must be one email address" in settings.errors["target"].text
    assert await service.channels(user) == []

    settings.kind.value = "webhook"
    assert settings.target.label == "Webhook URL"
    settings.channel_name.value = "ops hook"
    settings.target.value = "https://hooks.example.com/wb"
    await settings.add_channel()
    assert settings.errors["target"].text == "" and settings.secret.shown
    secret = settings.secret.field.value
    assert secret.startswith("whsec_")
    (channel,) = await service.channels(user)
    assert "ops hook" in settings.channels_table.html and secret not in settings.channels_table.html
    settings.secret.forget()
    assert settings.secret.field.value == "" and not settings.secret.shown

    settings.channel_name.value = "ops hook"
    settings.target.value = "https://hooks.example.com/other"
    await settings.add_channel()
    assert "already" in settings.errors["name"].text

    settings.kind.value = "slack"
    assert settings.target.label == "Slack webhook URL" and type(settings.target).__name__ == "PasswordInput"
    await settings.set_enabled(channel.id, False)
    assert settings.errors["name"].text == ""  # the form's old problems go with the next action
    assert not (await service.channels(user))[0].enabled
    await settings.rotate(channel.id)
    assert settings.secret.field.value.startswith("whsec_") and settings.secret.field.value != secret
    await settings.delete_channel(channel.id)
    assert await service.channels(user) == []


async def test_preferences_are_saved_as_the_service_reads_them_or_refused_whole(
    wb: Workbench, service: NotificationService, notifier: Notifier
) -> None:
    user = await new_user(wb)
    graph_id = str(uuid.uuid4())
    await service.set_preferences(user, {"agents": {graph_id: {"muted": True}}})
    forgotten: list[str] = []
    settings = NotificationSettings(service, forgotten.append, user_id=user)
    await settings.load()
    assert settings.grid.value["run_failed"] == ["in_app", "email"]  # the defaults, shown
    assert settings.quiet_start.value == "" and settings.cap.value == "" and settings.summary.value == "off"

    settings.grid.value = {**settings.grid.value, "run_completed": ["slack"], "run_failed": ["in_app"]}
    settings.quiet_start.value, settings.quiet_end.value = "22:00", "07:00"
    settings.quiet_zone.value = "Europe/Berlin"
    settings.cap.value = "25"
    settings.summary.value = "daily"
    await settings.save_preferences()
    assert "Saved" in settings.prefs_alert.object and forgotten == [user]
    doc = (await service.preferences(user)).document()
    assert doc["events"]["run_completed"] == ["slack"] and doc["events"]["run_failed"] == ["in_app"]
    assert doc["quiet_hours"] == {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}
    assert doc["daily_cap"] == 25 and doc["summary"] == "daily"
    assert doc["agents"][graph_id]["muted"] is True  # what the form does not edit stays

    for field, value, where, says in (
        ("quiet_zone", "Mars/Olympus_Mons", "quiet_hours.timezone", "unknown timezone 'Mars/Olympus_Mons'"),
        ("quiet_end", "22:00", "quiet_hours.end", "start and end are the same"),
        ("quiet_start", "25:99", "quiet_hours.start", "give a time of day such as 22:00"),
        ("quiet_end", "", "quiet_hours.end", "give both times"),
        ("cap", "0", "daily_cap", "from 1 to 10000"),
        ("cap", "lots", "daily_cap", "from 1 to 10000"),
    ):
        before = getattr(settings, field).value
        getattr(settings, field).value = value
        settings.summary.value = "weekly"  # a good change in the same save is not stored either
        await settings.save_preferences()
        assert says in settings.pref_errors[where].text, (field, value, settings.pref_errors[where].text)
        assert "Nothing was saved" in settings.prefs_alert.object
        assert (await service.preferences(user)).document() == doc
        getattr(settings, field).value = before

    # Quiet hours cleared: none.
    settings.quiet_start.value = settings.quiet_end.value = settings.quiet_zone.value = ""
    await settings.save_preferences()
    assert (await service.preferences(user)).quiet_hours is None
    assert all(error.text == "" for error in settings.pref_errors.values())
