"""Recording a fire retries while the database hiccups (and only then), until the scheduler stops
(or the grace period ends)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from workbench.scheduler import runtime
from workbench.scheduler.runtime import Scheduler

FIRE = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class FlakyRepo:
    """A schedule repository whose ``claim`` raises each of ``failures`` in turn, then succeeds."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def claim(self, schedule: Any, fire_time: datetime, **kwargs: Any) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return f"run-{fire_time:%H%M}-{kwargs['status']}"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "CLAIM_RETRY", 0.01)


def scheduler(repo: FlakyRepo) -> Scheduler:
    s = Scheduler(wb=None)
    s._repo = repo  # type: ignore[assignment]
    return s


SCHEDULE = SimpleNamespace(id="s1", misfire_grace_seconds=60)


async def test_a_hiccup_is_retried_until_the_fire_is_recorded(caplog: pytest.LogCaptureFixture) -> None:
    repo = FlakyRepo(ConnectionResetError("reset"), asyncpg.InterfaceError("closed"), TimeoutError())
    run_id = await scheduler(repo)._claim(SCHEDULE, FIRE, status="PENDING")  # type: ignore[arg-type]
    assert (run_id, repo.calls) == ("run-0900-PENDING", 4)
    retries = [r for r in caplog.records if "recording the fire" in r.getMessage()]
    assert len(retries) == 3 and "reset" in retries[0].getMessage()


async def test_other_errors_are_not_retried() -> None:
    repo = FlakyRepo(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await scheduler(repo)._claim(SCHEDULE, FIRE, status="PENDING")  # type: ignore[arg-type]
    assert repo.calls == 1


async def test_a_stopping_scheduler_gives_up_at_once() -> None:
    repo = FlakyRepo(*[ConnectionRefusedError("down")] * 5)
    s = scheduler(repo)
    s._stopping = True
    with pytest.raises(ConnectionRefusedError):
        await s._claim(SCHEDULE, FIRE, status="PENDING")  # type: ignore[arg-type]
    assert repo.calls == 1
