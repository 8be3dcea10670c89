"""Failed logins slow down the next attempts on the same account address.

A password guesser gets ``FREE_FAILURES`` tries in a window of ``WINDOW`` seconds; after that each
attempt on the address must wait a delay that doubles with every further failure (1 s, 2 s, 4 s, ...
up to ``MAX_DELAY``), counted from the last failure; a correct password clears the count. The check
comes before the password hash is computed, so a flood of guesses costs the server a lookup, not a
hash. Counts live in this process (each API replica counts on its own) and are forgotten ``WINDOW``
seconds after the last failure. Not per client address: behind a proxy, or on loopback, every client
has the same one, and one guesser would lock everybody out.
"""

from __future__ import annotations

import math
import time

from cachetools import TTLCache

from workbench.errors import TooManyAttempts

FREE_FAILURES = 5
WINDOW = 15 * 60.0
MAX_DELAY = 15 * 60.0
MAX_KEYS = 100_000


class LoginThrottle:
    """Counts failed logins per key (an account's address) and says how long to wait."""

    def __init__(
        self, free: int = FREE_FAILURES, window: float = WINDOW, max_delay: float = MAX_DELAY
    ) -> None:
        self.free = free
        self.max_delay = max_delay
        self._failures: TTLCache[str, tuple[int, float]] = TTLCache(MAX_KEYS, window, timer=time.monotonic)
        """Key -> (failures in the window, monotonic time of the last one)."""

    def wait(self, key: str) -> float:
        """Seconds before ``key`` may try again (0: now)."""
        count, last = self._failures.get(key, (0, 0.0))
        if count < self.free:
            return 0.0
        delay = min(2.0 ** (count - self.free), self.max_delay)
        return max(0.0, last + delay - time.monotonic())

    def check(self, *keys: str) -> None:
        """Raise TooManyAttempts when any of ``keys`` must wait."""
        wait = max((self.wait(k) for k in keys), default=0.0)
        if wait > 0:
            seconds = math.ceil(wait)
            raise TooManyAttempts(f"too many failed logins: try again in {seconds} s", retry_after=seconds)

    def failed(self, *keys: str) -> None:
        """Count a failure for each of ``keys``."""
        now = time.monotonic()
        for key in keys:
            count, _ = self._failures.get(key, (0, 0.0))
            self._failures[key] = (count + 1, now)

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self._failures.pop(key, None)
