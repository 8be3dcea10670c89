"""Fixtures of the notifier tests: users of their own, graphs that complete or fail, and the shared
Workbench's notifier sending through real local peers (an HTTP receiver, an SMTP server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.notify.conftest import FAST
from workbench.app import Workbench
from workbench.config import Settings
from workbench.graph.autogpt import parse_graph
from workbench.graph.model import Graph
from workbench.notify.http_delivery import HttpDelivery
from workbench.notify.senders import default_senders
from workbench.services.notifications.notifier import Notifier
from workbench.services.notifications.service import NotificationService

INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"
FAIL_BLOCK = "9e6f2d40-1c3b-4a7e-8f25-6d0c9b1a3e22"


async def new_user(wb: Workbench, timezone: str = "UTC") -> str:
    """A user of the test's own (nobody else's notifications reach it)."""
    assert wb.db is not None
    return str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email, timezone) VALUES ($1, $2) RETURNING id",
            f"notify-{uuid.uuid4().hex[:10]}@example.com",
            timezone,
        )
    )


async def echo_graph(wb: Workbench, user_id: str, name: str = "Echo agent") -> Graph:
    """input ``who`` -> output ``out``: completes."""
    doc = {
        "name": name,
        "nodes": [
            {"id": "who", "block_id": INPUT_BLOCK, "input_default": {"name": "who"}},
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "out"}},
        ],
        "links": [{"source_id": "who", "source_name": "result", "sink_id": "out", "sink_name": "value"}],
    }
    return await wb.graphs.create(parse_graph(doc), user_id)


async def failing_graph(wb: Workbench, user_id: str, name: str = "Failing agent") -> Graph:
    """One node (``fetch``) that raises ``HTTP 503 from upstream``: the run fails there."""
    doc = {
        "name": name,
        "nodes": [
            {
                "id": "fetch",
                "block_id": FAIL_BLOCK,
                "input_default": {"how": "raise", "message": "HTTP 503 from upstream"},
                "metadata": {"customized_name": "Fetch prices"},
            }
        ],
        "links": [],
    }
    return await wb.graphs.create(parse_graph(doc), user_id)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (its value), or fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {check}")
        await asyncio.sleep(0.05)


@pytest.fixture
def service(wb: Workbench) -> NotificationService:
    """The user-facing notification service of the shared Workbench."""
    return NotificationService.of(wb)


@pytest.fixture
def notifier(wb: Workbench) -> Notifier:
    """The shared Workbench's notifier (it runs there: no AMQP_URL)."""
    assert wb.notifier is not None
    return wb.notifier


@pytest.fixture
async def loopback_notifier(wb: Workbench, tmp_path: Any) -> AsyncIterator[Notifier]:
    """The shared notifier, sending for one test as an operator who allowed 127.0.0.1 would, with
    quick retries inside each send (the local receivers are the tests' peers)."""
    assert wb.notifier is not None
    settings = Settings.from_env({"WORKBENCH_HOME": str(tmp_path), "WORKBENCH_HTTP_ALLOW": "127.0.0.1"})
    before = wb.notifier.senders
    wb.notifier.senders = default_senders(settings, delivery=HttpDelivery.from_settings(settings, FAST))
    yield wb.notifier
    await wb.notifier.senders.aclose()
    wb.notifier.senders = before
