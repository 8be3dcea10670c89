"""How much of the server's event loop the live pages may take.

The web apps run on the loop the API runs on (:mod:`workbench.ui.server`). A page that follows runs
(the Monitor, a run page) does its work there each time events reach it: re-read its rows, update its
Bokeh models, send the patch to the browser. With one page open that is nothing; with twenty open
while the API answers hundreds of runs a second, it would be most of the loop. So the pages share a
budget:

- :class:`UpdateBudget` is a token bucket of loop time: it fills at ``share`` seconds per second, up
  to ``burst`` seconds; a page hands events over only while the bucket holds time, then pays what the
  hand-over took. A quiet server shows a change at once; a busy one shows it a little later, each
  page less often the more pages are open, and the API keeps its speed. The debt is bounded: however
  costly a hand-over was (a page's first, a garbage collection), the pages wait at most
  ``max_wait`` seconds, so a page under load still shows what happened every few seconds.
- :class:`Metered` runs a coroutine and counts only the time its own steps take on the loop (from one
  ``await`` to the next), not the time it spends waiting for the database while other work runs:
  what a hand-over costs the loop, however loaded the loop is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UpdateBudget:
    """A token bucket of event-loop time shared by the live pages of one process."""

    def __init__(self, share: float = 0.04, burst: float = 0.1, max_wait: float = 10.0) -> None:
        if not 0 < share < 1 or burst <= 0 or max_wait <= 0:
            raise ValueError("UpdateBudget: share must be in (0, 1), burst and max_wait positive")
        self.share = share
        """Fraction of the loop's time the pages may take together."""
        self.burst = burst
        """Seconds of work the pages may do at once after a quiet spell."""
        self.max_wait = max_wait
        """The longest the pages wait for their turn, whatever they owe."""
        self._level = burst
        self._at = time.monotonic()
        self.spent = 0.0
        """Seconds paid so far (for the benchmarks and tests)."""

    def _refill(self) -> float:
        now = time.monotonic()
        self._level = min(self.burst, self._level + (now - self._at) * self.share)
        self._at = now
        return self._level

    def wait(self) -> float:
        """Seconds until the bucket holds time again (0: go ahead now)."""
        level = self._refill()
        return 0.0 if level > 0 else -level / self.share + 1e-3

    def reset(self) -> None:
        """Full again, nothing spent (a fresh start: for tests and benchmarks)."""
        self._level, self._at, self.spent = self.burst, time.monotonic(), 0.0

    async def turn(self) -> None:
        """Return once the bucket holds time (at once when it does)."""
        while (wait := self.wait()) > 0:  # noqa: ASYNC110  (a time to wait until, no event to wait on)
            await asyncio.sleep(wait)

    def pay(self, seconds: float) -> None:
        """Take ``seconds`` of loop time out of the bucket."""
        self._refill()
        self._level = max(self._level - seconds, -self.share * self.max_wait)
        self.spent += seconds


PAGE_UPDATES = UpdateBudget()
"""The budget the live pages of this process share (Monitor, run pages, the notebook's Monitor)."""


class Metered(Generic[T]):
    """Awaitable wrapper of a coroutine that adds up the time of its steps in ``spent`` (seconds)."""

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro
        self.spent = 0.0

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro
        send: Any = None
        error: BaseException | None = None
        while True:
            began = time.perf_counter()
            try:
                yielded = coro.throw(error) if error is not None else coro.send(send)
            except StopIteration as stop:
                self.spent += time.perf_counter() - began
                return stop.value
            except BaseException:
                self.spent += time.perf_counter() - began
                raise
            self.spent += time.perf_counter() - began
            send, error = None, None
            try:
                send = yield yielded
            except BaseException as exc:  # cancellation and the like go on to the coroutine
                error = exc
