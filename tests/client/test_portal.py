"""The blocking client's event loop thread (anyio's blocking portal): calls, background work, the
deadlock guard and stopping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from workbench.client.portal import Portal


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal()
    yield p
    p.stop()


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def test_a_call_runs_in_the_portals_thread_and_returns(portal: Portal) -> None:
    async def where() -> str:
        return threading.current_thread().name

    assert portal.call(double(21)) == 42
    assert portal.call(where()) != threading.current_thread().name


def test_errors_come_back_as_they_were_raised(portal: Portal) -> None:
    async def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        portal.call(fail())


def test_work_goes_on_in_the_background_and_shares_one_loop(portal: Portal) -> None:
    async def make() -> asyncio.Event:
        return asyncio.Event()  # bound to the portal's loop

    event = portal.call(make())

    async def wait() -> str:
        await event.wait()
        return "woken"

    waiting = portal.submit(wait())
    assert not waiting.done()

    async def wake() -> None:
        event.set()

    portal.call(wake())
    assert waiting.result(timeout=5) == "woken"


def test_a_blocking_call_from_the_portals_own_thread_is_refused(portal: Portal) -> None:
    async def nested() -> str:
        with pytest.raises(RuntimeError, match="would deadlock"):
            portal.call(double(1))
        return "refused"

    assert portal.call(nested(), timeout=5) == "refused"


def test_stop_cancels_what_still_runs_and_ends_the_thread() -> None:
    portal = Portal()

    async def its_thread() -> threading.Thread:
        return threading.current_thread()

    thread = portal.call(its_thread())
    forever = portal.submit(asyncio.sleep(3600))
    portal.stop()
    assert forever.cancelled()
    assert not portal.running and not thread.is_alive()
    with pytest.raises(RuntimeError, match="the client is closed"):
        portal.call(double(1))
    portal.stop()  # twice is harmless
