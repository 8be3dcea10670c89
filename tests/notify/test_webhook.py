"""Signed webhooks to a real local receiver, through the outbound guard: retries, backoff,
Retry-After, no retry on other 4xx, and the refusal of private addresses without an allow setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.notify.conftest import FAST, RecordingSleep
from tests.notify.peers import Answer, free_port, receiving
from workbench.config import Settings
from workbench.notify.channel import ChannelName, Target
from workbench.notify.http_delivery import HttpDelivery, RetryPolicy, retry_after_seconds
from workbench.notify.message import Notification, password_reset, run_completed, run_failed
from workbench.notify.report import PermanentDelivery, RetryableDelivery
from workbench.notify.webhook import EVENT_HEADER, WebhookSender, webhook_payload

SECRET = "s3cret"


def notification() -> Notification:
    return run_failed(agent_name="Mailer", run_id="run-7", node="send", error="SMTP said no")


async def test_500_twice_then_200_makes_three_signed_attempts(
    delivery: HttpDelivery, sleeps: RecordingSleep
) -> None:
    with receiving([Answer(500, body=b"boom"), Answer(502)], secret=SECRET) as receiver:
        report = await WebhookSender(delivery).send(Target(receiver.url, SECRET), notification())

    assert report.delivered and report.error is None
    assert [a.number for a in report.attempts] == [1, 2, 3]
    assert [a.status for a in report.attempts] == [500, 502, 200]
    assert [a.retryable for a in report.attempts] == [True, True, False]
    assert report.attempts[0].error == "HTTP 500: boom"
    assert all(a.duration >= 0 and a.at.tzinfo is UTC for a in report.attempts)
    assert sleeps.waits == [0.01, 0.02]  # exponential backoff
    assert [r.signature_ok for r in receiver.requests] == [True, True, True]
    assert {r.headers["x-workbench-delivery"] for r in receiver.requests} == {report.delivery_id}
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {report.delivery_id}
    assert [r.headers["x-workbench-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    first = receiver.requests[0]
    assert first.headers[EVENT_HEADER.lower()] == "run_failed"
    assert first.headers["content-type"] == "application/json"
    assert first.json() == {
        "id": report.delivery_id,
        "event": "run_failed",
        "created_at": first.json()["created_at"],
        "dedupe_key": "run_failed:run-7",
        "title": "Run of Mailer failed",
        "text": first.json()["text"],
        "data": {
            "agent_name": "Mailer",
            "run_id": "run-7",
            "node": "send",
            "error": "SMTP said no",
            "run_url": None,
        },
    }
    assert report.target == f"http://127.0.0.1:{receiver.port}/…"  # the path may be a secret
    assert "secret-path" not in str(report.to_dict())


async def test_a_400_is_not_retried(delivery: HttpDelivery, sleeps: RecordingSleep) -> None:
    with receiving([Answer(400, body=b"invalid_payload")]) as receiver:
        report = await WebhookSender(delivery).send(Target(receiver.url, SECRET), notification())

    assert not report.delivered and not report.retryable
    assert len(receiver.requests) == 1 and sleeps.waits == []
    assert [(a.status, a.error) for a in report.attempts] == [(400, "HTTP 400: invalid_payload")]
    with pytest.raises(PermanentDelivery, match="HTTP 400"):
        report.raise_for_failure()


async def test_a_redirect_is_not_followed(delivery: HttpDelivery) -> None:
    with receiving([Answer(302, headers={"location": "http://127.0.0.1:1/elsewhere"})]) as receiver:
        report = await WebhookSender(delivery).send(Target(receiver.url, SECRET), notification())
    assert not report.delivered and not report.retryable and len(receiver.requests) == 1
    assert "a redirect" in (report.error or "")


async def test_retry_after_of_a_429_is_honoured(delivery: HttpDelivery, sleeps: RecordingSleep) -> None:
    with receiving([Answer(429, headers={"Retry-After": "7"})]) as receiver:
        report = await WebhookSender(delivery).send(Target(receiver.url, SECRET), notification())

    assert report.delivered
    assert [a.status for a in report.attempts] == [429, 200]
    assert sleeps.waits == [7.0]  # the receiver's wait, not the 0.01 s backoff
    assert len(receiver.requests) == 2


async def test_a_retry_after_beyond_the_bound_ends_the_delivery_for_later(
    loopback_settings: Settings, sleeps: RecordingSleep
) -> None:
    bounded = RetryPolicy(attempts=4, backoff=0.01, jitter=0, max_retry_after=30)
    with receiving([Answer(429, headers={"Retry-After": "3600"})]) as receiver:
        async with HttpDelivery.from_settings(loopback_settings, bounded, sleep=sleeps) as http:
            report = await WebhookSender(http).send(Target(receiver.url, SECRET), notification())

    assert not report.delivered and report.retryable and report.retry_after == 3600
    assert len(report.attempts) == 1 and sleeps.waits == [] and len(receiver.requests) == 1
    with pytest.raises(RetryableDelivery):
        report.raise_for_failure()


async def test_5xx_until_the_last_attempt_is_retryable(
    delivery: HttpDelivery, sleeps: RecordingSleep
) -> None:
    with receiving([Answer(503)] * FAST.attempts) as receiver:
        report = await WebhookSender(delivery).send(Target(receiver.url, SECRET), notification())

    assert not report.delivered and report.retryable
    assert len(report.attempts) == len(receiver.requests) == FAST.attempts
    assert sleeps.waits == [0.01, 0.02, 0.04]


async def test_timeouts_and_refused_connections_are_retried(
    loopback_settings: Settings, sleeps: RecordingSleep
) -> None:
    quick = RetryPolicy(attempts=2, backoff=0.01, jitter=0, timeout=0.15)
    sender = WebhookSender(HttpDelivery.from_settings(loopback_settings, quick, sleep=sleeps))
    with receiving([Answer(200, delay=1.0), Answer(200, delay=1.0)]) as receiver:
        slow = await sender.send(Target(receiver.url, SECRET), notification())
    assert not slow.delivered and slow.retryable and len(slow.attempts) == 2
    assert all("took longer than 0.15 s" in (a.error or "") for a in slow.attempts)
    assert "secret-path" not in (slow.error or "")

    refused = await sender.send(Target(f"http://127.0.0.1:{free_port()}/hook", SECRET), notification())
    await sender.aclose()
    assert not refused.delivered and refused.retryable and len(refused.attempts) == 2


async def test_a_private_address_is_refused_before_any_connection(tmp_path: Path) -> None:
    guarded = Settings.from_env({"WORKBENCH_HOME": str(tmp_path)})  # no WORKBENCH_HTTP_ALLOW
    with receiving() as receiver:
        async with HttpDelivery.from_settings(guarded, FAST) as http:
            report = await WebhookSender(http).send(Target(receiver.url, SECRET), notification())

    assert receiver.connections == 0 and receiver.requests == []
    assert not report.delivered and not report.retryable and len(report.attempts) == 1
    assert "127.0.0.1: a loopback address" in (report.error or "")
    assert "WORKBENCH_HTTP_ALLOW" in (report.error or "")


async def test_what_is_refused_before_sending(delivery: HttpDelivery) -> None:
    sender = WebhookSender(delivery)
    with receiving() as receiver:
        unsigned = await sender.send(Target(receiver.url), notification())
        account = await sender.send(
            Target(receiver.url, SECRET), password_reset(link="https://wb.example/reset?token=t")
        )
        ftp = await sender.send(Target("ftp://127.0.0.1/hook", SECRET), notification())
    assert receiver.connections == 0
    assert unsigned.error == "a webhook needs its signing secret"
    assert account.error == "password_reset notifications go by email only (they carry a secret link)"
    assert ftp.error == "only http and https URLs are allowed, not 'ftp'"
    for report in (unsigned, account, ftp):
        assert not report.delivered and not report.retryable and report.attempts == ()
        assert report.channel is ChannelName.WEBHOOK


def test_retry_after_values() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("0.25") == 0.25
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0
    for bad in (None, "", "soon", "nan"):
        assert retry_after_seconds(bad) is None


def test_backoff_grows_to_its_bound_with_bounded_jitter() -> None:
    policy = RetryPolicy(backoff=1, multiplier=2, max_backoff=5, jitter=0)
    assert [policy.wait(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    jittered = RetryPolicy(backoff=1, jitter=0.1)
    assert all(1 <= jittered.wait(1) <= 1.1 for _ in range(50))


def test_payload_carries_the_facts() -> None:
    n = run_completed(agent_name="A", run_id="r1", duration=3.5, tokens=10, cost=0.5)
    payload = webhook_payload(n, "d1")
    assert payload["event"] == "run_completed" and payload["id"] == "d1"
    assert payload["data"] == {
        "agent_name": "A",
        "run_id": "r1",
        "run_url": None,
        "duration": 3.5,
        "tokens": 10,
        "cost": 0.5,
    }
