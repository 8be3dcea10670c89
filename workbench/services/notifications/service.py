"""What users do with notifications, the same from every front door (API, client, pages, blocks):
their channels, their preferences, their inbox, the delivery log, and messages of their own.

* **Channels** are outside destinations: ``email`` (an address), ``webhook`` (a URL; we make its
  signing secret, ``whsec_…``, shown once, when it is made or rotated), ``slack`` and ``discord``
  (incoming-webhook URLs, which are secrets themselves). Addresses and secrets are encrypted at rest
  (a key derived from the vault's); listings show an email address or a URL cut to its origin.
* **Preferences**: :mod:`workbench.services.notifications.preferences`.
* **Inbox**: the in-app notifications, newest first, with the unread count; marked read one by one
  or all at once.
* **Messages** (:meth:`NotificationService.notify`: the Notify block, ``wb.notify()``): a title and a
  text on the channels the user chose for ``custom`` events, or on one channel kind or channel name.
  They go through the notifier like every event, so quiet hours and the daily cap hold.

Another user's channel, notification or delivery is "not found" on every operation.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from workbench.errors import ConflictError, InputError, InvalidFields, NotFoundError
from workbench.notify.email import recipient_address
from workbench.notify.report import describe_url
from workbench.runtime.notify_queue import NotifyEvent, NotifyQueue
from workbench.secrets import Keys
from workbench.services.notifications.preferences import CHANNELS, OUTSIDE, Preferences
from workbench.store.notifications import (
    ChannelRecord,
    DeliveryRecord,
    NotificationRecord,
    NotificationRepository,
)

SECRET_PREFIX = "whsec_"
KINDS = OUTSIDE
MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_LIST = 200
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "suppressed")


def channel_cipher(keys: Keys) -> Fernet:
    """The cipher of channel addresses and webhook secrets."""
    return keys.cipher("workbench notification channels v1")


@dataclass(frozen=True, slots=True)
class IssuedChannel:
    """A channel, with its webhook signing secret when one was just made (shown this once)."""

    channel: ChannelRecord
    secret: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the channel, plus ``secret`` when there is one to show."""
        doc = self.channel.to_dict()
        if self.secret is not None:
            doc["secret"] = self.secret
        return doc


def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError):
        raise NotFoundError(f"{what} {value} not found") from None


def check_target(kind: str, target: Any) -> tuple[str, str]:
    """The normalised address of a ``kind`` channel and what listings show; InputError otherwise."""
    if not isinstance(target, str) or not target.strip():
        raise InvalidFields([("target", "an email address or URL is required")])
    target = target.strip()
    if kind == "email":
        address = recipient_address(target)
        if address is None or len(address) > 320:
            raise InvalidFields([("target", "must be one email address (ada@example.com)")])
        return address, address
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise InvalidFields([("target", "is not a valid URL")]) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidFields([("target", "must be an http:// or https:// URL")])
    if len(target) > 2048:
        raise InvalidFields([("target", "is longer than 2048 characters")])
    if parts.username or parts.password:
        raise InvalidFields([("target", "must not carry a user name or password")])
    return target, describe_url(target)


class NotificationService:
    """Channels, preferences, inbox, delivery log and messages (module documentation)."""

    def __init__(self, repo: NotificationRepository, keys: Keys, queue: NotifyQueue | None) -> None:
        self.repo = repo
        self.cipher = channel_cipher(keys)
        self.queue = queue

    @classmethod
    def of(cls, wb: Any) -> NotificationService:
        """The service of a started, durable Workbench."""
        if wb.db is None or wb.keys is None:
            raise RuntimeError("notifications need a started workbench with a database")
        return cls(NotificationRepository(wb.db.pool), wb.keys, wb.notify_queue)

    # ---- channels --------------------------------------------------------------------------------

    async def channels(self, user_id: str) -> list[ChannelRecord]:
        """The user's channels."""
        return await self.repo.channels(user_id)

    async def channel(self, channel_id: str, user_id: str) -> ChannelRecord:
        """One of the user's channels; NotFoundError otherwise."""
        found = await self.repo.channel(_uuid(channel_id, "channel"), user_id)
        if found is None:
            raise NotFoundError(f"channel {channel_id} not found")
        return found

    async def add_channel(self, user_id: str, kind: str, name: str, target: str) -> IssuedChannel:
        """A new destination; a webhook gets a signing secret, returned this once."""
        problems = []
        if kind not in KINDS:
            problems.append(("kind", f"must be one of {', '.join(KINDS)}"))
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
            problems.append(("name", "must be 1 to 100 characters"))
        if problems:
            raise InvalidFields(problems)
        address, display = check_target(kind, target)
        secret = f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}" if kind == "webhook" else None
        record = await self.repo.add_channel(
            user_id,
            kind,
            name.strip(),
            self.cipher.encrypt(address.encode()),
            self.cipher.encrypt(secret.encode()) if secret else None,
            display,
        )
        if record is None:
            raise ConflictError(f"you have a channel named {name.strip()!r} already")
        return IssuedChannel(record, secret)

    async def update_channel(
        self, channel_id: str, user_id: str, *, name: str | None = None, enabled: bool | None = None
    ) -> ChannelRecord:
        """Rename a channel or switch it on or off."""
        if name is not None and (not name.strip() or len(name.strip()) > 100):
            raise InvalidFields([("name", "must be 1 to 100 characters")])
        try:
            found = await self.repo.update_channel(
                _uuid(channel_id, "channel"), user_id, name=name.strip() if name else None, enabled=enabled
            )
        except ValueError:
            raise ConflictError(f"you have a channel named {name!r} already") from None
        if found is None:
            raise NotFoundError(f"channel {channel_id} not found")
        return found

    async def rotate_secret(self, channel_id: str, user_id: str) -> IssuedChannel:
        """A new signing secret for a webhook channel (the old one stops at once), returned this once."""
        current = await self.channel(channel_id, user_id)
        if current.kind != "webhook":
            raise InputError(f"channel {channel_id} is a {current.kind} channel: only webhooks have a secret")
        secret = f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"
        record = await self.repo.set_channel_secret(current.id, user_id, self.cipher.encrypt(secret.encode()))
        if record is None:
            raise NotFoundError(f"channel {channel_id} not found")
        return IssuedChannel(record, secret)

    async def delete_channel(self, channel_id: str, user_id: str) -> None:
        """Remove a channel (what it delivered stays in the log)."""
        if not await self.repo.delete_channel(_uuid(channel_id, "channel"), user_id):
            raise NotFoundError(f"channel {channel_id} not found")

    # ---- preferences -----------------------------------------------------------------------------

    async def preferences(self, user_id: str) -> Preferences:
        """The user's preferences (defaults where they chose nothing)."""
        doc, _, _ = await self.repo.preferences(user_id)
        return Preferences.parse(doc or {})

    async def set_preferences(self, user_id: str, doc: Any) -> Preferences:
        """Replace the user's preferences with ``doc`` (PreferencesError naming each bad field)."""
        prefs = Preferences.parse(doc)
        await self.repo.set_preferences(user_id, prefs.model_dump(mode="json", exclude_defaults=True))
        return prefs

    async def update_preferences(self, user_id: str, changes: Any) -> Preferences:
        """Change some top-level fields of the user's preferences; ``events`` and ``agents`` merge
        key by key (a null agent entry removes that override)."""
        if not isinstance(changes, dict):
            raise InvalidFields([("preferences", "must be a JSON object")])
        current = (await self.preferences(user_id)).model_dump(mode="json", exclude_defaults=True)
        for key, value in changes.items():
            if key in ("events", "agents") and isinstance(value, dict):
                merged = dict(current.get(key) or {})
                for item, setting in value.items():
                    if setting is None:
                        merged.pop(item, None)
                    else:
                        merged[item] = setting
                current[key] = merged
            else:
                current[key] = value
        return await self.set_preferences(user_id, current)

    # ---- inbox -----------------------------------------------------------------------------------

    async def inbox(
        self, user_id: str, *, unread: bool = False, limit: int = 50, before: Any = None
    ) -> list[NotificationRecord]:
        """The user's in-app notifications, newest first (``before``: a created_at to page from)."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidFields([("limit", f"must be 1 to {MAX_LIST}")])
        return await self.repo.inbox(user_id, unread=unread, limit=limit, before=before)

    async def unread_count(self, user_id: str) -> int:
        """How many in-app notifications the user has not read."""
        return await self.repo.unread_count(user_id)

    async def notification(self, notification_id: str, user_id: str) -> NotificationRecord:
        """One of the user's notifications."""
        found = await self.repo.notification(_uuid(notification_id, "notification"), user_id)
        if found is None:
            raise NotFoundError(f"notification {notification_id} not found")
        return found

    async def mark_read(self, user_id: str, ids: list[str] | None = None, *, read: bool = True) -> int:
        """Mark notifications read (or unread again); all of the user's when ``ids`` is None.
        Returns how many changed."""
        checked = None
        if ids is not None:
            if len(ids) > 1000:
                raise InvalidFields([("ids", "at most 1000 at once")])
            checked = [_uuid(i, "notification") for i in ids]
        return await self.repo.mark_read(user_id, checked, read)

    async def delete_notification(self, notification_id: str, user_id: str) -> None:
        """Remove a notification from the inbox."""
        if not await self.repo.delete_notification(_uuid(notification_id, "notification"), user_id):
            raise NotFoundError(f"notification {notification_id} not found")

    # ---- delivery log ----------------------------------------------------------------------------

    async def deliveries(
        self, user_id: str, *, status: str | None = None, notification_id: str | None = None, limit: int = 50
    ) -> list[DeliveryRecord]:
        """The user's deliveries on outside channels, newest first, with every attempt."""
        problems = []
        if status is not None and status not in DELIVERY_STATUSES:
            problems.append(("status", f"must be one of {', '.join(DELIVERY_STATUSES)}"))
        if not 1 <= limit <= MAX_LIST:
            problems.append(("limit", f"must be 1 to {MAX_LIST}"))
        if problems:
            raise InvalidFields(problems)
        if notification_id is not None:
            notification_id = _uuid(notification_id, "notification")
        return await self.repo.deliveries(
            user_id, status=status, notification_id=notification_id, limit=limit
        )

    # ---- messages --------------------------------------------------------------------------------

    def notify(
        self,
        user_id: str,
        title: str,
        text: str,
        *,
        channel: str | None = None,
        graph_id: str | None = None,
        execution_id: str | None = None,
        key: str | None = None,
    ) -> str:
        """Send a message of the user's own through the notifier; returns its key (the same key
        twice is one message). ``channel``: a channel kind (``in_app``, ``email``, …) or the name of
        one of the user's channels; None: the user's choice for ``custom`` events."""
        problems = []
        if not isinstance(title, str) or not title.strip():
            problems.append(("title", "is required"))
        elif len(title) > MAX_TITLE:
            problems.append(("title", f"is longer than {MAX_TITLE} characters"))
        if not isinstance(text, str):
            problems.append(("text", "must be text"))
        elif len(text) > MAX_TEXT:
            problems.append(("text", f"is longer than {MAX_TEXT} characters"))
        if channel is not None and (
            not isinstance(channel, str) or not channel.strip() or len(channel) > 100
        ):
            problems.append(("channel", f"must be one of {', '.join(CHANNELS)} or a channel's name"))
        if problems:
            raise InvalidFields(problems)
        if self.queue is None or not self.queue.accepting:
            raise InputError(
                "notifications are off in this process: no notifier runs here (WORKBENCH_NOTIFIER=off, "
                "or no database)"
            )
        key = key or uuid.uuid4().hex
        data = {
            "title": title.strip(),
            "text": text,
            "channel": channel,
            "graph_id": graph_id,
            "execution_id": execution_id,
        }
        self.queue.publish(NotifyEvent("message", user_id, f"custom:{key}", data))
        return key
