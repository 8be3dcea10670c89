"""/api/v1/notifications: your in-app inbox, your channels and preferences, the delivery log, and
messages of your own. Every rule is the notification service's (``workbench.services.notifications``);
these routes translate. Reading needs ``notifications:read``; changing ``notifications:manage``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody, Parameter
from pydantic import BaseModel, Field

from server.deps import caller, errors, workbench_of
from server.schemas import Body
from workbench.services.notifications.preferences import EVENTS
from workbench.services.notifications.service import NotificationService
from workbench.store.notifications import ChannelRecord, DeliveryRecord, NotificationRecord

READ = "notifications:read"
MANAGE = "notifications:manage"
ChannelKind = Literal["email", "webhook", "slack", "discord"]


def _service(request: Request[Any, Any, Any]) -> NotificationService:
    return NotificationService.of(workbench_of(request))


def _forget(request: Request[Any, Any, Any], user_id: str) -> None:
    notifier = workbench_of(request).notifier
    if notifier is not None:
        notifier.forget(user_id)


class NotificationOut(BaseModel):
    """One notification of your inbox."""

    id: str
    kind: str = Field(description=f"What it is about: {', '.join(EVENTS)}.")
    title: str
    text: str
    data: dict[str, Any] = Field(description="The facts: run id, agent, failing node, error, link…")
    graph_id: str | None
    execution_id: str | None
    read: bool
    read_at: datetime | None
    created_at: datetime


class InboxOut(BaseModel):
    """A page of the inbox, newest first, and how many are unread in all."""

    items: list[NotificationOut]
    unread: int
    next_before: datetime | None = Field(
        description="Pass as `before` for the next (older) page; null: no more."
    )


class ReadIn(Body):
    """Which notifications to mark; all of yours when `ids` is left out."""

    ids: list[UUID] | None = Field(default=None, max_length=1000)
    read: bool = Field(default=True, description="False marks them unread again.")


class ChangedOut(BaseModel):
    """How many changed."""

    changed: int
    unread: int


class ChannelIn(Body):
    """A new destination for your notifications."""

    kind: ChannelKind
    name: str = Field(
        min_length=1, max_length=100, description="Yours to choose; unique among your channels."
    )
    target: str = Field(
        max_length=2048,
        description="An email address, or the webhook, Slack or Discord incoming-webhook URL "
        "(kept encrypted; listings show its origin only).",
    )


class ChannelPatchIn(Body):
    """What to change of a channel."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool | None = None


class ChannelOut(BaseModel):
    """A channel (never its URL's path or its secret)."""

    id: str
    kind: ChannelKind
    name: str
    target: str = Field(description="The email address, or the URL cut to its origin.")
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ChannelSecretOut(ChannelOut):
    """A webhook channel with its signing secret: shown this once."""

    secret: str | None = Field(
        default=None,
        description="The webhook's signing secret (`whsec_…`), for checking `X-Workbench-Signature`; "
        "never shown again.",
    )


class DeliveryOut(BaseModel):
    """One delivery on an outside channel: a row of the delivery log."""

    id: str = Field(description="Also sent as `X-Workbench-Delivery` and `Idempotency-Key`.")
    notification_id: str
    event: str
    title: str
    channel: str
    channel_id: str | None
    target: str
    status: Literal["pending", "sending", "delivered", "failed", "suppressed"]
    reason: str | None = Field(description="Why it failed, was held or suppressed.")
    attempts: int = Field(description="Sends so far (each may hold several quick retries).")
    next_attempt_at: datetime | None
    reports: list[dict[str, Any]] = Field(description="Each send: every attempt with its status and error.")
    created_at: datetime
    delivered_at: datetime | None


class MessageIn(Body):
    """A message of your own (what the Notify block sends)."""

    title: str = Field(min_length=1, max_length=200)
    text: str = Field(default="", max_length=10_000)
    channel: str | None = Field(
        default=None,
        max_length=100,
        description="A channel kind (in_app, email, webhook, slack, discord) or one of your channels' "
        "names; null: where your preferences send `custom` events.",
    )


class MessageOut(BaseModel):
    """The message's key (the same key twice is one message)."""

    key: str


def _note(n: NotificationRecord) -> NotificationOut:
    return NotificationOut(**n.to_dict())


def _channel(c: ChannelRecord) -> ChannelOut:
    return ChannelOut(**c.to_dict())


def _delivery(d: DeliveryRecord) -> DeliveryOut:
    return DeliveryOut(**d.to_dict())


class NotificationController(Controller):
    """Your notifications: the inbox, channels, preferences and the delivery log."""

    path = "/notifications"
    tags = ["notifications"]

    @get("/", responses=errors(422), summary="Your inbox")
    async def inbox(
        self,
        request: Request[Any, Any, Any],
        unread: bool = Parameter(default=False, description="Only the unread ones."),
        limit: int = Parameter(default=50, ge=1, le=200),
        before: datetime | None = Parameter(default=None, description="Older than this (paging)."),
    ) -> InboxOut:
        """Your in-app notifications, newest first, with the unread count."""
        user = caller(request, READ).user_id
        service = _service(request)
        items = await service.inbox(user, unread=unread, limit=limit, before=before)
        return InboxOut(
            items=[_note(n) for n in items],
            unread=await service.unread_count(user),
            next_before=items[-1].created_at if len(items) == limit else None,
        )

    @post("/read", status_code=200, responses=errors(422), summary="Mark notifications read")
    async def mark_read(self, request: Request[Any, Any, Any], data: JSONBody[ReadIn]) -> ChangedOut:
        """Mark the given notifications (all when `ids` is left out) read, or unread again."""
        user = caller(request, MANAGE).user_id
        service = _service(request)
        ids = [str(i) for i in data.ids] if data.ids is not None else None
        changed = await service.mark_read(user, ids, read=data.read)
        return ChangedOut(changed=changed, unread=await service.unread_count(user))

    @get("/{notification_id:uuid}", responses=errors(404), summary="Get a notification")
    async def get_notification(
        self, request: Request[Any, Any, Any], notification_id: FromPath[UUID]
    ) -> NotificationOut:
        """One of your notifications."""
        user = caller(request, READ).user_id
        return _note(await _service(request).notification(str(notification_id), user))

    @delete(
        "/{notification_id:uuid}", status_code=204, responses=errors(404), summary="Delete a notification"
    )
    async def delete_notification(
        self, request: Request[Any, Any, Any], notification_id: FromPath[UUID]
    ) -> None:
        """Remove it from your inbox (and its deliveries from the log)."""
        await _service(request).delete_notification(str(notification_id), caller(request, MANAGE).user_id)

    @post("/messages", status_code=202, responses=errors(422), summary="Send yourself a message")
    async def message(self, request: Request[Any, Any, Any], data: JSONBody[MessageIn]) -> MessageOut:
        """A message on a channel you set up (or where your preferences send `custom` events),
        through the notifier: quiet hours and the daily cap hold."""
        user = caller(request, MANAGE).user_id
        return MessageOut(key=_service(request).notify(user, data.title, data.text, channel=data.channel))

    # ---- preferences ------------------------------------------------------------------------------

    @get("/preferences", responses=errors(), summary="Your notification preferences")
    async def get_preferences(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Which events go on which channels (defaults filled in), per-agent overrides, quiet hours,
        the daily cap and the summary (see docs/notifications.md)."""
        user = caller(request, READ).user_id
        return (await _service(request).preferences(user)).document()

    @put("/preferences", responses=errors(422), summary="Replace your notification preferences")
    async def put_preferences(
        self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        """The whole document; what it leaves out takes the default."""
        user = caller(request, MANAGE).user_id
        prefs = await _service(request).set_preferences(user, data)
        _forget(request, user)
        return prefs.document()

    @patch("/preferences", responses=errors(422), summary="Change your notification preferences")
    async def patch_preferences(
        self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        """Some fields; `events` and `agents` merge key by key (null removes an agent's override)."""
        user = caller(request, MANAGE).user_id
        prefs = await _service(request).update_preferences(user, data)
        _forget(request, user)
        return prefs.document()

    # ---- channels ---------------------------------------------------------------------------------

    @get("/channels", responses=errors(), summary="Your notification channels")
    async def channels(self, request: Request[Any, Any, Any]) -> list[ChannelOut]:
        """Where your notifications may go besides the inbox."""
        user = caller(request, READ).user_id
        return [_channel(c) for c in await _service(request).channels(user)]

    @post("/channels", status_code=201, responses=errors(409, 422), summary="Add a channel")
    async def add_channel(
        self, request: Request[Any, Any, Any], data: JSONBody[ChannelIn]
    ) -> ChannelSecretOut:
        """An email address, a signed webhook (its secret is made now and shown this once), or a
        Slack or Discord incoming webhook."""
        user = caller(request, MANAGE).user_id
        issued = await _service(request).add_channel(user, data.kind, data.name, data.target)
        return ChannelSecretOut(**issued.to_dict())

    @patch("/channels/{channel_id:uuid}", responses=errors(404, 409, 422), summary="Change a channel")
    async def update_channel(
        self, request: Request[Any, Any, Any], channel_id: FromPath[UUID], data: JSONBody[ChannelPatchIn]
    ) -> ChannelOut:
        """Rename it, or switch it off and on."""
        user = caller(request, MANAGE).user_id
        found = await _service(request).update_channel(
            str(channel_id), user, name=data.name, enabled=data.enabled
        )
        return _channel(found)

    @post(
        "/channels/{channel_id:uuid}/rotate-secret",
        status_code=200,
        responses=errors(404, 422),
        summary="Rotate a webhook channel's secret",
    )
    async def rotate_secret(
        self, request: Request[Any, Any, Any], channel_id: FromPath[UUID]
    ) -> ChannelSecretOut:
        """A new signing secret, shown this once; the old one is not used from now on."""
        user = caller(request, MANAGE).user_id
        issued = await _service(request).rotate_secret(str(channel_id), user)
        return ChannelSecretOut(**issued.to_dict())

    @delete("/channels/{channel_id:uuid}", status_code=204, responses=errors(404), summary="Remove a channel")
    async def delete_channel(self, request: Request[Any, Any, Any], channel_id: FromPath[UUID]) -> None:
        """Remove it; what it delivered stays in the log."""
        await _service(request).delete_channel(str(channel_id), caller(request, MANAGE).user_id)

    # ---- delivery log -----------------------------------------------------------------------------

    @get("/deliveries", responses=errors(422), summary="The delivery log")
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        status: Literal["pending", "sending", "delivered", "failed", "suppressed"] | None = Parameter(
            default=None
        ),
        notification_id: UUID | None = Parameter(default=None),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> list[DeliveryOut]:
        """Your deliveries on outside channels, newest first, each with every attempt."""
        user = caller(request, READ).user_id
        found = await _service(request).deliveries(
            user,
            status=status,
            notification_id=str(notification_id) if notification_id else None,
            limit=limit,
        )
        return [_delivery(d) for d in found]
