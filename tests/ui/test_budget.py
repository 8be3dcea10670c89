"""The live pages' share of the loop: :class:`Metered` counts a coroutine's own steps, the
:class:`UpdateBudget` keeps many busy pages to their share without starving any, and an
:class:`EventFeed` waits for its turn, then hands over everything that gathered meanwhile."""

from __future__ import annotations

import asyncio
import time

import pytest

from workbench.runtime.bus import LocalBus
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.ui.budget import Metered, UpdateBudget
from workbench.ui.monitor_data import EventFeed


def busy(seconds: float) -> None:
    """Hold the loop for ``seconds`` (what a page's update does between two awaits)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def test_metered_counts_its_own_steps_not_its_waits() -> None:
    async def work() -> str:
        busy(0.02)
        await asyncio.sleep(0.2)  # the database answering: other work runs meanwhile
        busy(0.02)
        return "done"

    metered = Metered(work())
    began = time.perf_counter()
    assert await metered == "done"
    assert time.perf_counter() - began >= 0.2
    assert 0.04 <= metered.spent < 0.1


async def test_metered_passes_errors_and_cancellation_through() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        await Metered(fails())

    cleaned = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.set()

    async def run() -> None:
        await Metered(slow())

    task = asyncio.get_running_loop().create_task(run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned.is_set()


async def test_budget_keeps_busy_pages_to_their_share_and_starves_none() -> None:
    budget = UpdateBudget(share=0.1, burst=0.01, max_wait=1.0)
    turns = [0] * 5
    gaps: list[float] = []
    began = time.monotonic()

    async def page(i: int) -> None:
        last = time.monotonic()
        while time.monotonic() - began < 2.0:
            await budget.turn()
            now = time.monotonic()
            if turns[i]:
                gaps.append(now - last)
            last = now
            busy(0.005)  # 5 ms of work a turn
            budget.pay(0.005)
            turns[i] += 1
            await asyncio.sleep(0)

    await asyncio.gather(*(page(i) for i in range(5)))
    elapsed = time.monotonic() - began
    # Without the budget each page would take a turn every 25 ms (80 turns in 2 s each).
    assert budget.spent <= 0.1 * elapsed + 0.01 + 5 * 0.005 + 0.01
    assert all(n >= 2 for n in turns), turns
    assert max(gaps) <= 1.0 + 0.2


async def test_budget_debt_is_bounded_by_max_wait() -> None:
    budget = UpdateBudget(share=0.05, burst=0.01, max_wait=0.3)
    budget.pay(5.0)  # a hand-over that took ages (a page's first, a garbage collection)
    assert 0.25 <= budget.wait() <= 0.31
    began = time.monotonic()
    await budget.turn()
    assert 0.25 <= time.monotonic() - began < 0.6
    budget.reset()
    assert budget.wait() == 0 and budget.spent == 0


def event(n: int, *, final: bool = False) -> ExecutionEvent:
    return ExecutionEvent(
        EventType.EXECUTION_COMPLETED if final else EventType.NODE_EXECUTED,
        f"e{n}",
        "g1",
        1,
        "alice",
        "COMPLETED",
        node_id=None if final else "n",
        node_execution_id=None if final else f"ne{n}",
    )


async def test_feed_waits_for_its_turn_and_hands_over_what_gathered() -> None:
    bus = LocalBus()
    budget = UpdateBudget(share=0.05, burst=0.01, max_wait=0.4)
    batches: list[tuple[float, list[str]]] = []

    async def handle(events: list[ExecutionEvent]) -> None:
        busy(0.002)
        batches.append((time.monotonic(), [e.execution_id for e in events]))

    feed = EventFeed(bus, "alice", handle, min_interval=0.0, budget=budget)
    try:
        await asyncio.sleep(0)
        began = time.monotonic()
        bus.publish(event(1))
        await asyncio.sleep(0.05)
        assert [ids for _, ids in batches] == [["e1"]]  # a quiet feed hands over at once
        assert batches[0][0] - began < 0.05
        budget.pay(1.0)  # the other pages used the share: this one waits (at most max_wait)
        for n in range(2, 6):
            bus.publish(event(n))
        await asyncio.sleep(0.1)
        assert len(batches) == 1
        deadline = time.monotonic() + 2
        while len(batches) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert batches[1][1] == ["e2", "e3", "e4", "e5"]  # everything that gathered, in one batch
        assert 0.3 <= batches[1][0] - began <= 1.0
        bus.publish(event(9, final=True))
        await asyncio.sleep(0.5)
        assert budget.spent >= 1.0 + 0.004 and feed.handled == 6
    finally:
        await feed.close()
