"""The contract of a delivery channel: its name, where it delivers (:class:`Target`) and ``send``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from workbench.notify.message import Notification
    from workbench.notify.report import DeliveryReport


class ChannelName(StrEnum):
    """The channels a notification may go through."""

    EMAIL = "email"
    WEBHOOK = "webhook"
    SLACK = "slack"
    DISCORD = "discord"
    IN_APP = "in_app"
    """Reserved: stored notifications shown in the apps (the notifier service's, it needs storage)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one channel delivers: an email address, or a webhook URL with its signing secret.

    Attributes:
        address: the email address or URL.
        secret: the webhook's signing secret (``webhook`` only; never in ``repr``).
        delivery_id: the delivery's id, when the caller keeps one across sends (a notifier's
            delivery row): a webhook sends it as ``X-Workbench-Delivery`` and ``Idempotency-Key``, so
            a receiver drops a repeat even across the notifier's own retries. None: a fresh one.
    """

    address: str
    secret: str | None = field(default=None, repr=False)
    delivery_id: str | None = None


@runtime_checkable
class Channel(Protocol):
    """A sender of notifications on one channel.

    ``send`` reports a failed delivery in its :class:`~workbench.notify.report.DeliveryReport` (with
    whether a later try may succeed) rather than raising: the caller stores the report either way.
    """

    @property
    def name(self) -> ChannelName:
        """The channel this sender serves."""
        ...

    async def send(self, target: Target, notification: Notification) -> DeliveryReport:
        """Deliver ``notification`` to ``target``; every attempt is in the report."""
        ...
