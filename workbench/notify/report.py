"""What happened when a notification was sent: each attempt and the outcome (a delivery log's row),
and the errors a failed delivery raises on demand.

::

    WorkbenchError
    └── DeliveryError             a notification was not delivered (``report`` has every attempt)
        ├── RetryableDelivery     try again later: refused or timed-out connection, SMTP 4xx,
        │                         HTTP 408, 429 and 5xx
        └── PermanentDelivery     trying again will not help: SMTP 5xx, a bad recipient or URL,
                                  a failed login, HTTP 3xx and other 4xx, an address the outbound
                                  guard refuses

Senders do not raise these for a failed delivery: they return a :class:`DeliveryReport`, whose
:meth:`~DeliveryReport.raise_for_failure` raises the right one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from workbench.errors import WorkbenchError


class DeliveryError(WorkbenchError):
    """A notification was not delivered; the message names the channel and the target."""

    retryable: ClassVar[bool] = False
    """Whether a later try may succeed (a control signal for the notifier, like Temporal's
    ``non_retryable``)."""

    def __init__(self, message: str, *, report: DeliveryReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class RetryableDelivery(DeliveryError):
    """A transient failure: the same notification may be sent again later."""

    retryable = True


class PermanentDelivery(DeliveryError):
    """A failure that repeating will not fix (a refused recipient, a bad URL, a rejected login)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering.

    Attributes:
        number: 1 for the first try, then 2, 3...
        at: when it started (UTC).
        duration: how long it took, in seconds.
        status: the answer's HTTP status or SMTP reply code, when there was one.
        error: why it failed (None: it succeeded); never holds a secret.
        retryable: whether this failure was worth another try.
    """

    number: int
    at: datetime
    duration: float
    status: int | None = None
    error: str | None = None
    retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (a delivery log row)."""
        return {
            "number": self.number,
            "at": self.at.isoformat(),
            "duration": round(self.duration, 6),
            "status": self.status,
            "error": self.error,
            "retryable": self.retryable,
        }


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The outcome of sending one notification on one channel.

    Attributes:
        channel: the channel's name (``email``, ``webhook``...).
        target: the recipient, safe to show and store (a URL is cut to its origin: Slack and Discord
            webhook URLs carry their secret in the path).
        delivery_id: this delivery's id (webhooks send it as ``X-Workbench-Delivery``, the same on
            every attempt, so receivers can drop repeats).
        attempts: every try, in order.
        delivered: whether the last attempt succeeded.
        retryable: when not delivered, whether a later try may succeed.
        error: when not delivered, why (the last attempt's error).
        retry_after: when not delivered, the seconds the last answer asked to wait before another
            try (``Retry-After``), for the caller to schedule it.
    """

    channel: str
    target: str
    delivery_id: str
    attempts: tuple[Attempt, ...] = ()
    delivered: bool = False
    retryable: bool = False
    error: str | None = None
    retry_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what a delivery log stores)."""
        return {
            "channel": self.channel,
            "target": self.target,
            "delivery_id": self.delivery_id,
            "delivered": self.delivered,
            "retryable": self.retryable,
            "error": self.error,
            "retry_after": self.retry_after,
            "attempts": [a.to_dict() for a in self.attempts],
        }

    def raise_for_failure(self) -> None:
        """Raise RetryableDelivery or PermanentDelivery (carrying this report) unless delivered."""
        if self.delivered:
            return
        message = f"{self.channel} to {self.target} failed: {self.error or 'not delivered'}"
        if self.retryable:
            raise RetryableDelivery(message, report=self)
        raise PermanentDelivery(message, report=self)


@dataclass(slots=True)
class AttemptClock:
    """Times one attempt: ``clock = AttemptClock(n)``, then ``clock.done(...)`` makes its :class:`Attempt`."""

    number: int
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)

    def done(
        self, *, status: int | None = None, error: str | None = None, retryable: bool = False
    ) -> Attempt:
        """The attempt, ended now."""
        return Attempt(self.number, self.at, time.monotonic() - self.started, status, error, retryable)


def describe_url(url: str) -> str:
    """``url`` cut to its origin (``https://hooks.slack.com/…``): paths and queries of webhook URLs
    are often their secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    if not parts.scheme or not host:
        return "(an invalid URL)"
    host = f"[{host}]" if ":" in host else host
    tail = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{tail}"
