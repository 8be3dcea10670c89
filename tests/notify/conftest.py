"""Fixtures of the notification tests: a certificate, settings that allow 127.0.0.1, fast retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.notify.peers import SelfSigned, self_signed
from workbench.config import Settings
from workbench.notify.http_delivery import HttpDelivery, RetryPolicy

FAST = RetryPolicy(attempts=4, backoff=0.01, multiplier=2.0, max_backoff=0.05, jitter=0.0, timeout=2.0)
"""Retries for tests: tiny waits, no jitter (deterministic)."""


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSigned:
    """A self-signed certificate for 127.0.0.1, made for this test run."""
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def loopback_settings(tmp_path: Path) -> Settings:
    """Settings whose outbound guard allows 127.0.0.1, as an operator would allow it."""
    return Settings.from_env({"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_HTTP_ALLOW": "127.0.0.1"})


class RecordingSleep:
    """Stands in for ``asyncio.sleep`` between attempts: records each wait, waits not at all."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    """The waits between attempts of a delivery made with :func:`delivery`."""
    return RecordingSleep()


@pytest.fixture
async def delivery(loopback_settings: Settings, sleeps: RecordingSleep) -> AsyncIterator[HttpDelivery]:
    """HTTP delivery allowed to reach 127.0.0.1, with fast retries and recorded waits."""
    async with HttpDelivery.from_settings(loopback_settings, FAST, sleep=sleeps) as http:
        yield http
