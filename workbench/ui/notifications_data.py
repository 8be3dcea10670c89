"""The notification data of the web apps: what a browser session knows about the user's inbox.

- :class:`LiveNotifications`: one per browser session (every page has the header's bell): the unread
  count, kept live by one subscription to the user's ``NOTIFICATION`` events on the bus (no other
  event type reaches it, so runs going on cost it nothing), handed over in batches within the live
  pages' share of the loop (:class:`~workbench.ui.monitor_data.EventFeed`); pages of the session
  listen to it for the new notifications themselves;
- :class:`InboxStore`: the inbox page's list (newest first, all or unread only, paged by time) and
  what a person does with it: open one, mark read or unread, mark all read, delete.

Everything goes through :class:`~workbench.services.notifications.service.NotificationService` with
the session's user id: a page sees what the API would show that user. A failure lands in ``error``
(in words), never as a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import param

from workbench.errors import WorkbenchError
from workbench.runtime.bus import EventBus
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.notifications.service import NotificationService
from workbench.store.notifications import NotificationRecord
from workbench.ui.monitor_data import EventFeed, describe_error

log = logging.getLogger(__name__)

KIND_LABELS = {
    "run_failed": "Run failed",
    "run_completed": "Run completed",
    "schedule_missed": "Schedule missed",
    "schedule_failing": "Schedule failing",
    "review_requested": "Review requested",
    "summary": "Summary",
    "custom": "Message",
    "password_reset": "Password reset",
    "verify_email": "Email check",
    "signup_notice": "Sign-up",
}
"""What a notification is about, as the tables say it."""
CHANNEL_LABELS = {
    "in_app": "In the apps",
    "email": "Email",
    "webhook": "Webhook",
    "slack": "Slack",
    "discord": "Discord",
    "unknown": "Unknown channel",
}
"""The channels, as the pages say them."""

FAILED: Any = object()
"""What :meth:`InboxStore._call` returns when the call failed."""
Listener = Callable[[list["InboxItem"], bool], Awaitable[None]]
"""Told the new notifications of a batch, and whether some may have been missed (then re-read)."""


def kind_label(kind: str) -> str:
    """A notification kind as a person reads it."""
    return KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


def channel_label(channel: str) -> str:
    """A channel kind as a person reads it."""
    return CHANNEL_LABELS.get(channel) or channel.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One notification as the inbox shows it."""

    id: str
    kind: str
    title: str
    text: str
    agent: str
    graph_id: str | None
    execution_id: str | None
    read: bool
    created_at: datetime

    @classmethod
    def of_record(cls, record: NotificationRecord) -> InboxItem:
        """From the service's record."""
        return cls(
            record.id,
            record.kind,
            record.title,
            record.text,
            _agent(record.data),
            record.graph_id,
            record.execution_id,
            record.read_at is not None,
            record.created_at,
        )

    @classmethod
    def of_dict(cls, doc: dict[str, Any]) -> InboxItem | None:
        """From the JSON form the bus carries (``NotificationRecord.to_dict``); None if malformed."""
        try:
            created = datetime.fromisoformat(str(doc["created_at"]))
            return cls(
                str(doc["id"]),
                str(doc.get("kind") or ""),
                str(doc.get("title") or ""),
                str(doc.get("text") or ""),
                _agent(doc.get("data") or {}),
                doc.get("graph_id"),
                doc.get("execution_id"),
                bool(doc.get("read")),
                created if created.tzinfo else created.replace(tzinfo=UTC),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _agent(data: Any) -> str:
    name = data.get("agent_name") if isinstance(data, dict) else None
    return str(name) if name else ""


class LiveNotifications(param.Parameterized):
    """The unread count of one browser session's user, live; its pages hear of new notifications."""

    unread = param.Integer(default=-1, doc="Unread notifications (-1: not read yet).")
    error = param.String(default="", doc="Why the last count failed ('' when it worked).")

    def __init__(
        self,
        service: NotificationService,
        bus: EventBus,
        user_id: str,
        *,
        min_interval: float = 0.5,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.service = service
        self.bus = bus
        self.user_id = user_id
        self.min_interval = min_interval
        """Seconds between two hand-overs at least: a burst of notifications is one recount."""
        self.feed: EventFeed | None = None
        self._listeners: list[Listener] = []
        self._last_count = float("-inf")
        self._counting: asyncio.Task[None] | None = None

    def subscribe(self) -> None:
        """Listen for new notifications from now on (on the running loop; once)."""
        if self.feed is None:
            self.feed = EventFeed(
                self.bus,
                self.user_id,
                self._handle,
                types=[EventType.NOTIFICATION],
                min_interval=self.min_interval,
            )

    async def start(self) -> None:
        """Listen, then read the count (listening first: no notification falls between the two)."""
        self.subscribe()
        await self.recount()

    def listen(self, listener: Listener) -> None:
        """Tell ``listener`` about each batch of new notifications."""
        self._listeners.append(listener)

    async def recount(self) -> None:
        """Read the unread count again."""
        try:
            count = await self.service.unread_count(self.user_id)
        except Exception as exc:  # the page's boundary: the bell keeps its last number
            self.error = describe_error(exc)
            return
        self._last_count = time.monotonic()
        self.error = ""
        self.unread = count

    def recount_soon(self, min_age: float = 2.0) -> None:
        """Read the count again in the background unless it was read less than ``min_age`` s ago (the
        tab came back into view: reads made elsewhere show)."""
        if time.monotonic() - self._last_count < min_age:
            return
        if self._counting is not None and not self._counting.done():
            return
        self._counting = asyncio.get_running_loop().create_task(self.recount())

    async def _handle(self, events: list[ExecutionEvent]) -> None:
        items = []
        missed = False
        for event in events:
            item = InboxItem.of_dict(event.data) if event.type is EventType.NOTIFICATION else None
            if item is None:
                missed = True  # the feed's "events may have been missed", or a malformed one
            else:
                items.append(item)
        await self.recount()
        for listener in list(self._listeners):
            try:
                await listener(items, missed)
            except Exception:
                log.exception("notifications: a page failed to take new notifications")

    async def close(self) -> None:
        """Stop listening (the session ended)."""
        self._listeners.clear()
        if self._counting is not None:
            self._counting.cancel()
        if self.feed is not None:
            feed, self.feed = self.feed, None
            await feed.close()


class InboxStore(param.Parameterized):
    """The inbox page's notifications, newest first, and the actions on them."""

    unread_only = param.Boolean(default=False, doc="Show the unread ones only.")
    items = param.List(default=[], item_type=InboxItem, doc="The notifications shown, newest first.")
    selected = param.String(default="", doc="The id of the notification opened ('' for none).")
    fresh = param.List(default=[], doc="Ids that arrived live since the page was read (highlighted).")
    has_older = param.Boolean(default=False, doc="Whether older notifications may be read.")
    read_once = param.Boolean(default=False, doc="Whether the list has been read (before: loading).")
    error = param.String(default="", doc="Why the last read or action failed ('' when it worked).")

    def __init__(
        self, service: NotificationService, user_id: str, *, page_size: int = 50, **params: Any
    ) -> None:
        super().__init__(**params)
        self.service = service
        self.user_id = user_id
        self.page_size = page_size

    async def _call(self, call: Awaitable[Any]) -> Any:
        """``call``'s result, or :data:`FAILED` with the reason in ``error``."""
        try:
            result = await call
        except Exception as exc:  # the page's boundary
            if not isinstance(exc, WorkbenchError):
                log.error("inbox: a call failed: %s", exc, exc_info=exc)
            self.error = describe_error(exc)
            return FAILED
        self.error = ""
        return result

    async def load(self) -> None:
        """Read the newest page (after a filter change too)."""
        found = await self._call(
            self.service.inbox(self.user_id, unread=self.unread_only, limit=self.page_size)
        )
        if found is FAILED:
            return
        with param.parameterized.batch_call_watchers(self):
            self.items = [InboxItem.of_record(r) for r in found]
            self.has_older = len(found) == self.page_size
            self.fresh = []
            self.read_once = True

    async def older(self) -> None:
        """Add the next older page at the bottom."""
        if not self.items:
            return
        found = await self._call(
            self.service.inbox(
                self.user_id,
                unread=self.unread_only,
                limit=self.page_size,
                before=self.items[-1].created_at,
            )
        )
        if found is FAILED:
            return
        known = {item.id for item in self.items}
        with param.parameterized.batch_call_watchers(self):
            self.items = self.items + [InboxItem.of_record(r) for r in found if r.id not in known]
            self.has_older = len(found) == self.page_size

    def find(self, notification_id: str) -> InboxItem | None:
        """A notification shown, by id."""
        return next((item for item in self.items if item.id == notification_id), None)

    async def arrived(self, items: list[InboxItem], missed: bool) -> None:
        """New notifications: at the top (they are unread, so they belong in either view); when some
        may have been missed, the page is read again."""
        if missed:
            await self.load()
            return
        known = {item.id for item in self.items}
        new = [
            item for item in sorted(items, key=lambda i: i.created_at, reverse=True) if item.id not in known
        ]
        if not new:
            return
        with param.parameterized.batch_call_watchers(self):
            self.items = new + self.items
            self.fresh = [item.id for item in new] + self.fresh

    async def open(self, notification_id: str) -> None:
        """Show one notification's text (opening it marks it read); opening it again closes it."""
        item = self.find(notification_id)
        if item is None:
            return
        if self.selected == notification_id:
            self.selected = ""
            return
        self.selected = notification_id
        if not item.read:
            await self.mark(notification_id, read=True)

    async def mark(self, notification_id: str, *, read: bool) -> None:
        """Mark one read, or unread again."""
        if self.find(notification_id) is None:
            return
        if await self._call(self.service.mark_read(self.user_id, [notification_id], read=read)) is FAILED:
            return
        self._set_read(lambda item: item.id == notification_id, read)

    async def mark_all(self) -> int | None:
        """Mark every notification of the user read (not only those shown); how many changed."""
        changed = await self._call(self.service.mark_read(self.user_id, None, read=True))
        if changed is FAILED:
            return None
        self._set_read(lambda _item: True, True)
        return int(changed)

    def _set_read(self, which: Callable[[InboxItem], bool], read: bool) -> None:
        items = [replace(item, read=read) if which(item) else item for item in self.items]
        if self.unread_only and read:  # what was read leaves the unread view, unless it is open
            items = [item for item in items if not item.read or item.id == self.selected]
        self.items = items

    async def delete(self, notification_id: str) -> bool:
        """Remove one from the inbox."""
        if self.find(notification_id) is None:
            return False
        if await self._call(self.service.delete_notification(notification_id, self.user_id)) is FAILED:
            return False
        with param.parameterized.batch_call_watchers(self):
            self.items = [item for item in self.items if item.id != notification_id]
            if self.selected == notification_id:
                self.selected = ""
        return True


async def close_quietly(live: LiveNotifications) -> None:
    """Close ``live`` whatever happens (a session's end)."""
    with contextlib.suppress(Exception):
        await live.close()
