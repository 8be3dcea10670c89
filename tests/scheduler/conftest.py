"""Fixtures of the scheduler tests: the schedule service on the test run's database, graphs, users."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.graph.autogpt import parse_graph
from workbench.graph.model import Graph
from workbench.services.schedules import ScheduleService

ROOT = Path(__file__).resolve().parents[2]
HELLO = json.loads((ROOT / "examples" / "hello_agent.json").read_text())
INPUT_BLOCK = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
OUTPUT_BLOCK = "363ae599-353e-4804-937e-b2ee3cef3da4"


@pytest.fixture
async def service(wb: Workbench) -> AsyncIterator[ScheduleService]:
    """The schedule service, with schedules allowed to fire every second (the runtime tests need
    fires to come quickly; ``WORKBENCH_SCHEDULE_MIN_INTERVAL`` is 60 by default); every schedule is
    deleted afterwards (so no later scheduler fires it)."""
    yield ScheduleService.of(wb, wb.settings.with_(schedule_min_interval=1))
    assert wb.db is not None
    await wb.db.pool.execute("DELETE FROM schedules")


def hello_doc(**changes: Any) -> dict[str, Any]:
    """examples/hello_agent.json (input ``name``, outputs ``greeting`` and ``length``), a fresh id."""
    doc = copy.deepcopy(HELLO)
    doc["id"] = str(uuid.uuid4())
    doc.update(changes)
    return doc


async def hello_graph(wb: Workbench, user_id: str = LOCAL_USER_ID) -> Graph:
    """A stored hello graph of the user."""
    return await wb.graphs.create(parse_graph(hello_doc()), user_id)


async def required_input_graph(wb: Workbench, user_id: str = LOCAL_USER_ID) -> Graph:
    """A stored graph with one required input ``who`` (no default), echoed to output ``out``."""
    doc = {
        "id": str(uuid.uuid4()),
        "name": "Echo",
        "nodes": [
            {"id": "who", "block_id": INPUT_BLOCK, "input_default": {"name": "who"}},
            {"id": "out", "block_id": OUTPUT_BLOCK, "input_default": {"name": "out"}},
        ],
        "links": [{"source_id": "who", "source_name": "result", "sink_id": "out", "sink_name": "value"}],
    }
    return await wb.graphs.create(parse_graph(doc), user_id)


async def new_user(wb: Workbench, timezone: str = "UTC") -> str:
    """Another user."""
    assert wb.db is not None
    return str(
        await wb.db.pool.fetchval(
            "INSERT INTO users (email, timezone) VALUES ($1, $2) RETURNING id",
            f"sched-{uuid.uuid4().hex[:10]}@example.com",
            timezone,
        )
    )
