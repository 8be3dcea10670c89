"""The channels by name: a registry of senders, and ``send(channel, target, notification)``.

A notifier service builds one registry at start (:func:`default_senders`), calls
``await senders.send(channel, target, notification)`` for each delivery, storing the returned
report, and ``await senders.aclose()`` when it stops. ``email`` is registered only when ``WORKBENCH_SMTP_URL`` is set; ``webhook``, ``slack`` and
``discord`` always (behind the outbound guard). ``in_app`` is reserved for the notifier service,
which stores notifications: it registers its own sender under that name.
"""

from __future__ import annotations

import ssl
import uuid

from workbench.config import Settings
from workbench.errors import ConfigError, InputError, RegistryError
from workbench.notify.channel import Channel, ChannelName, Target
from workbench.notify.chat_hooks import DiscordSender, SlackSender
from workbench.notify.email import SmtpMailer
from workbench.notify.http_delivery import HttpDelivery, RetryPolicy
from workbench.notify.message import ACCOUNT_KINDS, Notification
from workbench.notify.report import DeliveryReport
from workbench.notify.webhook import WebhookSender

__all__ = ["Channel", "ChannelName", "SenderRegistry", "Target", "default_senders"]

_UNAVAILABLE = {
    ChannelName.EMAIL: "email is not configured: set WORKBENCH_SMTP_URL and WORKBENCH_MAIL_FROM",
    ChannelName.IN_APP: "in_app notifications are stored by the notifier service, which is not running here",
}


class SenderRegistry:
    """Senders by channel name; a name is registered once unless overriding is asked for."""

    def __init__(self) -> None:
        self._senders: dict[ChannelName, Channel] = {}

    def register(self, sender: Channel, *, allow_override: bool = False) -> None:
        """Add ``sender`` under its name; RegistryError when the name is taken (and not overridden)."""
        name = ChannelName(sender.name)
        current = self._senders.get(name)
        if current is not None and not allow_override:
            raise RegistryError(
                f"channel {name.value!r} has a sender already ({type(current).__name__}); "
                f"cannot register {type(sender).__name__}"
            )
        self._senders[name] = sender

    async def aclose(self) -> None:
        """Close the senders' connections (those that keep any)."""
        for sender in self._senders.values():
            closer = getattr(sender, "aclose", None)
            if closer is not None:
                await closer()

    def names(self) -> list[ChannelName]:
        """The channels that have a sender."""
        return sorted(self._senders)

    def get(self, channel: ChannelName | str) -> Channel:
        """The sender of ``channel``; InputError for an unknown name, ConfigError for one not set up."""
        name = _channel(channel)
        sender = self._senders.get(name)
        if sender is None:
            raise ConfigError(_UNAVAILABLE.get(name, f"channel {name.value!r} has no sender"))
        return sender

    async def send(
        self, channel: ChannelName | str, target: Target | str, notification: Notification
    ) -> DeliveryReport:
        """Deliver ``notification`` on ``channel`` to ``target`` (an address or URL, or a
        :class:`Target` with a webhook's secret); the report says how it went."""
        name = _channel(channel)
        target = Target(target) if isinstance(target, str) else target
        if notification.kind in ACCOUNT_KINDS and name is not ChannelName.EMAIL:
            return DeliveryReport(
                name,
                "(not sent)",
                uuid.uuid4().hex,
                error=f"{notification.kind.value} notifications go by email only (they carry a secret link)",
            )
        return await self.get(name).send(target, notification)


def _channel(channel: ChannelName | str) -> ChannelName:
    try:
        return ChannelName(channel)
    except ValueError as exc:
        known = ", ".join(c.value for c in ChannelName)
        raise InputError(f"unknown notification channel {channel!r} (known: {known})") from exc


def default_senders(
    settings: Settings,
    *,
    retry: RetryPolicy | None = None,
    delivery: HttpDelivery | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> SenderRegistry:
    """The built-in channels under ``settings``: email when configured, webhook, Slack, Discord.

    ``delivery`` replaces the HTTP delivery built from the settings and ``retry`` (tests pass one
    with a resolver or a recording sleep); ``tls_context`` goes to the mailer.
    """
    http = delivery or HttpDelivery.from_settings(settings, retry)
    registry = SenderRegistry()
    if settings.smtp_url is not None:
        registry.register(SmtpMailer.from_settings(settings, tls_context=tls_context))
    for sender_class in (WebhookSender, SlackSender, DiscordSender):
        registry.register(sender_class(http))
    return registry
