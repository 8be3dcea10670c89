"""POSTing a notification to a user's URL: through the outbound guard, with retries and backoff.

Webhook, Slack and Discord URLs are chosen by users, so every request goes through
:class:`~workbench.net.client.SafeClient`: private, loopback and link-local addresses are refused
(before any connection) unless ``WORKBENCH_HTTP_ALLOW`` / ``WORKBENCH_HTTP_ALLOW_PRIVATE`` allow
them. Redirects are not followed (a signed POST goes where it was addressed, or fails).

One delivery makes up to :attr:`RetryPolicy.attempts` attempts (``tenacity``). Retried: network
errors, timeouts, 408, 429 and 5xx answers; the wait doubles from :attr:`RetryPolicy.backoff` up
to :attr:`RetryPolicy.max_backoff`, except after a 429 or 503 with ``Retry-After``, which is
honoured up to :attr:`RetryPolicy.max_retry_after`: a longer one ends the delivery at once,
retryable, with ``retry_after`` in the report for the caller to schedule. Not retried: 3xx, other
4xx, an address the guard refuses, an invalid URL. Every attempt is in the returned report.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Self

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from workbench.config import Settings
from workbench.logsafe import redact
from workbench.net.client import SafeClient
from workbench.net.errors import BlockedAddress, HttpError, RequestTimeout, ResponseTooLarge
from workbench.net.guard import Resolver
from workbench.net.policy import HttpPolicy
from workbench.notify.channel import ChannelName, Target
from workbench.notify.message import ACCOUNT_KINDS, Notification
from workbench.notify.report import Attempt, AttemptClock, DeliveryReport, describe_url

log = logging.getLogger("workbench.notify.http")

USER_AGENT = "AgentWorkbench-Notifier/1"
DELIVERY_HEADER = "X-Workbench-Delivery"
ATTEMPT_HEADER = "X-Workbench-Attempt"
RETRYABLE_STATUSES = frozenset({408, 429})
"""Besides 5xx: statuses worth another try."""
MAX_RESPONSE_BYTES = 64_000
"""Most of an answer read (receivers answer ``ok`` or nothing; only the status matters)."""
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one delivery is tried.

    Attributes:
        attempts: most attempts, the first included.
        backoff: seconds before the second attempt; doubled (``multiplier``) for each next one.
        multiplier: growth of the wait between attempts.
        max_backoff: longest wait between two attempts.
        max_retry_after: longest ``Retry-After`` waited for; a longer one ends the delivery
            (retryable, ``retry_after`` in the report).
        jitter: up to this fraction of each wait is added at random (receivers are not hit in step).
        timeout: seconds one attempt may take (connection, request and answer).
    """

    attempts: int = 5
    backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 60.0
    max_retry_after: float = 120.0
    jitter: float = 0.1
    timeout: float = 10.0

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1, 2...), jitter included."""
        base = min(self.backoff * self.multiplier ** (attempt - 1), self.max_backoff)
        return base * (1 + random.uniform(0, self.jitter)) if self.jitter else base


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds (Discord sends fractions) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN: ignored


class _TryAgain(Exception):
    """A retryable attempt failure; ``retry_after`` when the receiver asked for a wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _GiveUp(Exception):
    """A permanent attempt failure."""


class _RetryAfterTooLong(stop_base):
    """Stops when the receiver asked for a longer wait than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(exc, _TryAgain) and exc.retry_after is not None and exc.retry_after > self.limit


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a notification URL, or None when it can (http or https, with a host)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "not a valid URL"
    if parsed.scheme not in ("http", "https"):
        return f"only http and https URLs are allowed, not {parsed.scheme or 'none'!r}"
    if not parsed.host:
        return "the URL names no host"
    return None


class HttpDelivery:
    """POSTs bodies to users' URLs under an :class:`HttpPolicy` and a :class:`RetryPolicy`.

    It keeps one guarded client (and its connections) from the first ``post`` until
    :meth:`aclose`; use it as ``async with`` or close it when the owner stops.
    """

    def __init__(
        self,
        policy: HttpPolicy,
        retry: RetryPolicy | None = None,
        *,
        resolver: Resolver | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        """``resolver`` replaces DNS (tests); ``sleep`` the waits between attempts (tests record them)."""
        self.retry = retry or RetryPolicy()
        self.policy = replace(policy, timeout=self.retry.timeout, max_bytes=MAX_RESPONSE_BYTES)
        self.resolver = resolver
        self.sleep: Sleep = sleep or asyncio.sleep
        self._client: SafeClient | None = None

    async def __aenter__(self) -> HttpDelivery:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _http(self) -> SafeClient:
        """The guarded client, made on first use (making one costs ~0.1 s: its TLS context) and
        kept for its connections until :meth:`aclose`."""
        if self._client is None:
            self._client = SafeClient(self.policy, resolver=self.resolver)
        return self._client

    async def aclose(self) -> None:
        """Close the connections (the next ``post`` opens new ones)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @classmethod
    def from_settings(
        cls, settings: Settings, retry: RetryPolicy | None = None, **options: Any
    ) -> HttpDelivery:
        """A delivery under the ``WORKBENCH_HTTP_*`` outbound policy."""
        return cls(HttpPolicy.from_settings(settings), retry, **options)

    async def post(
        self,
        channel: ChannelName,
        url: str,
        body: bytes,
        headers: Callable[[], Mapping[str, str]] | None = None,
        *,
        delivery_id: str | None = None,
    ) -> DeliveryReport:
        """POST ``body`` (JSON) to ``url`` until it is accepted or retrying is pointless.

        ``headers()`` is asked before each attempt (a signature is made afresh, with its timestamp).
        """
        delivery_id = delivery_id or uuid.uuid4().hex
        target = describe_url(url)
        problem = check_url(url)
        if problem is not None:
            return DeliveryReport(channel, target, delivery_id, error=problem)
        attempts: list[Attempt] = []
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts) | _RetryAfterTooLong(self.retry.max_retry_after),
            wait=self._wait,
            retry=retry_if_exception_type(_TryAgain),
            sleep=self.sleep,
            reraise=True,
        )
        error: str | None = None
        retryable = False
        retry_after: float | None = None
        client = self._http()
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    extra = dict(headers() if headers is not None else {})
                    request_headers = {
                        "Content-Type": "application/json",
                        "User-Agent": USER_AGENT,
                        DELIVERY_HEADER: delivery_id,
                        ATTEMPT_HEADER: str(number),
                        **extra,
                    }
                    await self._attempt(client, url, target, body, request_headers, number, attempts)
        except _TryAgain as exc:
            error, retryable, retry_after = str(exc), True, exc.retry_after
        except _GiveUp as exc:
            error = str(exc)
        delivered = error is None
        if delivered:
            log.info(
                "%s delivery %s to %s: delivered (%d attempts)", channel, delivery_id, target, len(attempts)
            )
        else:
            log.warning("%s delivery %s to %s failed: %s", channel, delivery_id, target, error)
        return DeliveryReport(
            channel, target, delivery_id, tuple(attempts), delivered, retryable, error, retry_after
        )

    async def _attempt(
        self,
        client: SafeClient,
        url: str,
        target: str,
        body: bytes,
        headers: dict[str, str],
        number: int,
        attempts: list[Attempt],
    ) -> None:
        """One POST: returns when accepted, raises _TryAgain or _GiveUp, records the attempt."""
        clock = AttemptClock(number)
        try:
            result = await client.request(
                "POST",
                url,
                content=body,
                headers=headers,
                follow_redirects=False,
                idempotency_key=headers[DELIVERY_HEADER],
            )
        except BlockedAddress as exc:
            attempts.append(clock.done(error=_scrub(exc, url, target)))
            raise _GiveUp(attempts[-1].error or "refused") from exc
        except RequestTimeout as exc:
            attempts.append(clock.done(error=_scrub(exc, url, target), retryable=True))
            raise _TryAgain(attempts[-1].error or "timed out") from exc
        except HttpError as exc:
            # Connection refused or reset, DNS failure, a broken answer: worth another try. An
            # answer past MAX_RESPONSE_BYTES is not (the receiver will answer the same).
            retryable = not isinstance(exc, ResponseTooLarge)
            attempts.append(clock.done(error=_scrub(exc, url, target), retryable=retryable))
            if retryable:
                raise _TryAgain(attempts[-1].error or "failed") from exc
            raise _GiveUp(attempts[-1].error or "failed") from exc
        status = result.status_code
        if 200 <= status < 300:
            attempts.append(clock.done(status=status))
            return
        error = f"HTTP {status}{_snippet(result.text)}"
        if 300 <= status < 400:
            error += " (a redirect: notification URLs must answer themselves)"
        retryable = status in RETRYABLE_STATUSES or status >= 500
        attempts.append(clock.done(status=status, error=error, retryable=retryable))
        if retryable:
            wait = retry_after_seconds(result.headers.get("retry-after")) if status in (429, 503) else None
            raise _TryAgain(error, wait)
        raise _GiveUp(error)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _TryAgain) and exc.retry_after is not None:
            return exc.retry_after
        return self.retry.wait(state.attempt_number)


def _scrub(exc: Exception, url: str, target: str) -> str:
    """The error's message with the URL cut to its origin (its path may be a secret), redacted."""
    text = str(exc) or type(exc).__name__
    for form in {url, str(httpx.URL(url))}:
        text = text.replace(form, target)
    return redact(text)


def _snippet(text: str, limit: int = 200) -> str:
    """``: <the answer's first line(s)>`` for an error message, short and redacted; empty for none."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    return ": " + redact(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def encode_json(payload: Any) -> bytes:
    """``payload`` as compact UTF-8 JSON: the exact bytes sent (and signed)."""
    return orjson.dumps(payload, default=str)


class HttpSender:
    """A channel that POSTs a JSON rendering of each notification to the target URL.

    Subclasses set :attr:`channel` and :meth:`payload`, and may add :meth:`headers`.
    """

    channel: ClassVar[ChannelName]

    def __init__(self, delivery: HttpDelivery) -> None:
        self.delivery = delivery

    async def aclose(self) -> None:
        """Close the delivery's connections."""
        await self.delivery.aclose()

    @property
    def name(self) -> ChannelName:
        """The channel this sender serves."""
        return self.channel

    @classmethod
    def from_settings(cls, settings: Settings, retry: RetryPolicy | None = None, **options: Any) -> Self:
        """A sender under the ``WORKBENCH_HTTP_*`` outbound policy."""
        return cls(HttpDelivery.from_settings(settings, retry, **options))

    def payload(self, notification: Notification, delivery_id: str) -> Any:
        """The JSON value sent for ``notification``."""
        raise NotImplementedError

    def headers(self, target: Target, notification: Notification, body: bytes) -> dict[str, str]:
        """Headers of one attempt (asked again for each)."""
        return {}

    def refusal(self, target: Target, notification: Notification) -> str | None:
        """Why this sender will not send ``notification`` to ``target`` (None: it will)."""
        if notification.kind in ACCOUNT_KINDS:
            return f"{notification.kind.value} notifications go by email only (they carry a secret link)"
        return None

    async def send(self, target: Target, notification: Notification) -> DeliveryReport:
        """POST ``notification`` to ``target.address``; every attempt is in the report."""
        delivery_id = target.delivery_id or uuid.uuid4().hex
        refusal = self.refusal(target, notification)
        if refusal is not None:
            return DeliveryReport(self.channel, describe_url(target.address), delivery_id, error=refusal)
        body = encode_json(self.payload(notification, delivery_id))
        return await self.delivery.post(
            self.channel,
            target.address,
            body,
            lambda: self.headers(target, notification, body),
            delivery_id=delivery_id,
        )
