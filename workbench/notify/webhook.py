"""The ``webhook`` channel: a signed JSON POST to a user's URL.

The body (UTF-8 JSON, exactly the bytes signed)::

    {"id": "<delivery id>", "event": "run_failed", "created_at": "2025-01-01T12:00:00+00:00",
     "dedupe_key": "run_failed:<run id>", "title": "...", "text": "...", "data": {...}}

Headers: ``X-Workbench-Event`` (the kind), ``X-Workbench-Delivery`` (the delivery id, the same on
every attempt: drop repeats), ``X-Workbench-Attempt``, ``Idempotency-Key`` (the delivery id), and
the signature (:mod:`workbench.notify.signature`), made afresh for each attempt:
``X-Workbench-Timestamp`` and ``X-Workbench-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}">``.
A receiver checks it with :func:`verify_signature`. Delivery, retries and the outbound guard:
:mod:`workbench.notify.http_delivery`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from workbench.notify.channel import ChannelName, Target
from workbench.notify.http_delivery import HttpSender
from workbench.notify.message import Notification
from workbench.notify.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
    sign,
    verify_signature,
)

EVENT_HEADER = "X-Workbench-Event"

__all__ = [
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookSender",
    "compute_signature",
    "sign",
    "verify_signature",
    "webhook_payload",
]


def webhook_payload(notification: Notification, delivery_id: str) -> dict[str, Any]:
    """The JSON value a webhook receives for ``notification``."""
    return {
        "id": delivery_id,
        "event": notification.kind.value,
        "created_at": notification.created_at.isoformat(),
        "dedupe_key": notification.dedupe_key,
        "title": notification.title,
        "text": notification.text,
        "data": dict(notification.data),
    }


class WebhookSender(HttpSender):
    """Signs and POSTs notifications to ``target.address`` with ``target.secret``."""

    channel: ClassVar[ChannelName] = ChannelName.WEBHOOK

    def payload(self, notification: Notification, delivery_id: str) -> dict[str, Any]:
        """The webhook's JSON (see the module docstring)."""
        return webhook_payload(notification, delivery_id)

    def headers(self, target: Target, notification: Notification, body: bytes) -> dict[str, str]:
        """The event kind and the signature headers, signed now (each attempt afresh)."""
        assert target.secret is not None  # refusal() turned away targets without one
        return {EVENT_HEADER: notification.kind.value, **sign(target.secret, body)}

    def refusal(self, target: Target, notification: Notification) -> str | None:
        """Besides account mails: a webhook without a signing secret is refused."""
        if not target.secret:
            return "a webhook needs its signing secret"
        return super().refusal(target, notification)
