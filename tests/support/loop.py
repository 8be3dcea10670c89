"""Watching the event loop while CPU-heavy work runs elsewhere: does the loop keep turning?"""

from __future__ import annotations

import asyncio
import itertools
import time
from types import TracebackType


class LoopWatch:
    """``async with LoopWatch() as watch:`` ticks the event loop every ``interval`` seconds while the
    body runs; afterwards ``ticks`` (their times), ``elapsed`` and ``longest_pause`` (the longest time
    the loop did not turn, the body's start and end included) say whether something blocked it."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.ticks: list[float] = []
        self.started = self.ended = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.ticks.append(time.monotonic())

    async def __aenter__(self) -> LoopWatch:
        self.started = time.monotonic()
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        self.ended = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds the body took."""
        return self.ended - self.started

    @property
    def longest_pause(self) -> float:
        """The longest gap between two turns of the loop while the body ran."""
        times = [self.started, *self.ticks, self.ended]
        return max(b - a for a, b in itertools.pairwise(times))
