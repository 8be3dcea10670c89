"""The event bus: one contract for every implementation, then what only the Redis bus does.

The contract runs three ways: the in-process bus, a Redis bus publishing to its own subscribers, and
two Redis buses on one key prefix (two replicas: published on one, heard on the other). Every Redis
bus of a test gets a fresh random key prefix, so test runs never hear each other. Redis is the
machine's (``REDIS_URL``, default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from server import ws as ws_module
from tests.engine.graphs import graph, inp, link, node, out
from tests.support.blocks import EchoBlock, SleepBlock
from workbench.app import Workbench
from workbench.auth import LOCAL_PRINCIPAL, LOCAL_USER_ID
from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.runtime.bus import EventBus, LocalBus, Subscription
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.runtime.redis_bus import RedisBus

LOCAL = "http://127.0.0.1"
"""In-process clients address the server as loopback (a foreign Host is refused)."""

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
FAST = {"min_backoff": 0.05, "max_backoff": 0.3}
"""Reconnection delays short enough for tests."""


def redis_settings(settings: Settings, prefix: str | None = None, url: str = REDIS_URL) -> Settings:
    return settings.with_(redis_url=url, key_prefix=prefix or f"wb-test-{uuid.uuid4().hex[:12]}")


def event(
    n: int = 0,
    *,
    execution: str = "e1",
    graph_id: str = "g1",
    user: str = "alice",
    kind: EventType = EventType.NODE_EXECUTED,
) -> ExecutionEvent:
    return ExecutionEvent(
        kind,
        execution,
        graph_id,
        1,
        user,
        "COMPLETED",
        node_id=f"n{n}",
        node_execution_id=f"ne{n}",
        block_id="b",
        data={"seq": n, "outputs": [["out", {"x": [1, 2.5, None, "é"]}]]},
    )


async def until(check: Callable[[], bool], timeout: float = 5, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def health_becomes(bus: EventBus, *, ok: bool, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while (await bus.health())["ok"] is not ok:
        assert time.monotonic() < deadline, f"health did not become ok={ok}"
        await asyncio.sleep(0.01)


def closed_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Buses:
    """Where a contract test publishes and where it subscribes (the same bus, or two replicas)."""

    pub: EventBus
    sub: EventBus
    distributed: bool

    async def settle(self) -> None:
        """Return once everything published so far reached ``sub``'s subscribers."""
        if self.pub is self.sub:
            return  # delivery to this process's subscribers is immediate
        # One publisher's messages arrive in order: when a marker is in, so is all before it.
        marker = event(execution=f"marker-{uuid.uuid4().hex}", user="settle")
        async with self.sub.subscribe(execution_id=marker.execution_id) as seen:
            self.pub.publish(marker)
            assert await seen.get(timeout=5) == marker

    async def take(self, sub: Subscription) -> list[ExecutionEvent]:
        """Everything ``sub`` received so far (markers left out)."""
        await self.settle()
        got = []
        while True:
            try:
                got.append(await sub.get(timeout=0.001))
            except TimeoutError:
                return [e for e in got if e.user_id != "settle"]


@pytest.fixture(params=["local", "redis", "redis-two-replicas"])
async def buses(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Buses]:
    if request.param == "local":
        bus = LocalBus()
        await bus.start()
        yield Buses(bus, bus, distributed=False)
        await bus.stop()
        return
    shared = redis_settings(settings)
    a = RedisBus(shared, **FAST)
    b = RedisBus(shared, **FAST) if request.param == "redis-two-replicas" else a
    for bus in {a, b}:
        await bus.start()
    yield Buses(a, b, distributed=True)
    for bus in {a, b}:
        await bus.stop()


# ---- the contract ------------------------------------------------------------------------------


async def test_subscribers_get_the_events_their_filters_match(buses: Buses) -> None:
    by_execution = buses.sub.subscribe(execution_id="e1")
    by_graph = buses.sub.subscribe(graph_id="g2")
    by_user = buses.sub.subscribe(user_id="bob")
    combined = buses.sub.subscribe(graph_id="g1", user_id="alice")
    everything = buses.sub.subscribe()
    sent = [
        event(1, execution="e1", graph_id="g1", user="alice"),
        event(2, execution="e2", graph_id="g2", user="alice"),
        event(3, execution="e3", graph_id="g1", user="bob"),
        event(4, execution="e1", graph_id="g1", user="alice", kind=EventType.EXECUTION_COMPLETED),
        event(5, execution="e4", graph_id="g2", user="bob"),
    ]
    for e in sent:
        buses.pub.publish(e)
    assert await buses.take(by_execution) == [sent[0], sent[3]]
    assert await buses.take(by_graph) == [sent[1], sent[4]]
    assert await buses.take(by_user) == [sent[2], sent[4]]
    assert await buses.take(combined) == [sent[0], sent[3]]
    assert await buses.take(everything) == sent  # equal in every field, after Redis too
    for sub in (by_execution, by_graph, by_user, combined, everything):
        sub.close()


async def test_events_arrive_in_publication_order(buses: Buses) -> None:
    sub = buses.sub.subscribe(user_id="alice")
    for n in range(2000):
        buses.pub.publish(event(n, execution=f"e{n % 7}"))
    got = await buses.take(sub)
    assert [e.data["seq"] for e in got] == list(range(2000))
    sub.close()


async def test_only_events_published_after_subscribing_arrive(buses: Buses) -> None:
    buses.pub.publish(event(1))
    await buses.settle()
    sub = buses.sub.subscribe(user_id="alice")
    buses.pub.publish(event(2))
    assert [e.data["seq"] for e in await buses.take(sub)] == [2]
    sub.close()


async def test_a_slow_subscriber_keeps_the_newest_events_and_counts_the_lost(buses: Buses) -> None:
    slow = buses.sub.subscribe(user_id="alice", maxsize=5)
    fast = buses.sub.subscribe(user_id="alice")
    started = time.perf_counter()
    for n in range(12):
        buses.pub.publish(event(n))
    assert time.perf_counter() - started < 0.05  # publishing never waits for a subscriber
    assert [e.data["seq"] for e in await buses.take(slow)] == [7, 8, 9, 10, 11]
    assert slow.lagged == 7
    assert len(await buses.take(fast)) == 12 and fast.lagged == 0
    slow.close()
    fast.close()


async def test_closing_ends_iteration_and_delivery(buses: Buses) -> None:
    sub = buses.sub.subscribe(execution_id="e1")
    got: list[int] = []

    async def consume() -> None:
        async for e in sub:
            got.append(e.data["seq"])

    consumer = asyncio.create_task(consume())
    buses.pub.publish(event(1))
    await until(lambda: got == [1], what="the first event")
    sub.close()  # ends the pending iteration
    await asyncio.wait_for(consumer, 1)
    buses.pub.publish(event(2))
    await buses.settle()
    assert got == [1]
    with pytest.raises(StopAsyncIteration):
        await sub.get(timeout=0.1)

    async with buses.sub.subscribe(execution_id="e1") as scoped:
        buses.pub.publish(event(3))
        assert (await scoped.get(timeout=5)).data["seq"] == 3
    with pytest.raises(StopAsyncIteration):
        await scoped.get()


async def test_a_subscription_by_type_gets_those_types_only(buses: Buses) -> None:
    notifications = buses.sub.subscribe(user_id="alice", types=[EventType.NOTIFICATION])
    note = ExecutionEvent(EventType.NOTIFICATION, "", "", 0, "alice", "NEW", data={"id": "n1"})
    sent = [event(1), note, event(2, kind=EventType.EXECUTION_COMPLETED), event(3, user="bob")]
    for e in sent:
        buses.pub.publish(e)
    buses.pub.publish(ExecutionEvent(EventType.NOTIFICATION, "", "", 0, "bob", "NEW"))
    buses.pub.publish(note)
    assert await buses.take(notifications) == [note, note]
    notifications.close()


async def test_active_says_whether_anyone_may_listen(buses: Buses) -> None:
    sub = buses.sub.subscribe()
    assert buses.sub.active
    sub.close()
    # A subscription to notifications alone does not ask for execution events.
    bell = buses.sub.subscribe(types=[EventType.NOTIFICATION])
    assert buses.sub.active is buses.distributed
    bell.close()
    # The in-process bus is idle without subscribers; a started distributed bus never is: other
    # processes may listen.
    assert buses.sub.active is buses.distributed
    assert buses.pub.active is buses.distributed


async def test_health_reports_ok_and_kind(buses: Buses) -> None:
    health = await buses.sub.health()
    assert health["ok"] is True
    assert health["kind"] == ("redis" if buses.distributed else "in-process")


# ---- Redis: replicas ---------------------------------------------------------------------------


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two buses on one key prefix, as two API replicas or an executor and an API."""
    shared = redis_settings(settings)
    a, b = RedisBus(shared, **FAST), RedisBus(shared, **FAST)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def test_replicas_hear_each_other_exactly_once(replicas: tuple[RedisBus, RedisBus]) -> None:
    a, b = replicas
    on_a, on_b = a.subscribe(), b.subscribe()
    for n in range(3):
        a.publish(event(n, execution="from-a"))
        b.publish(event(n, execution="from-b"))
    expected = {(x, n) for x in ("from-a", "from-b") for n in range(3)}
    for sub in (on_a, on_b):
        got = [await sub.get(timeout=5) for _ in range(6)]
        assert {(e.execution_id, e.data["seq"]) for e in got} == expected
        with pytest.raises(TimeoutError):  # Redis's copy of a bus's own events is not delivered again
            await sub.get(timeout=0.2)
        sub.close()
    assert a.received == b.received == 3


async def test_other_key_prefixes_are_not_heard(
    replicas: tuple[RedisBus, RedisBus], settings: Settings
) -> None:
    a, _ = replicas
    other = RedisBus(redis_settings(settings, prefix=a.prefix + "-other"))
    glob = RedisBus(redis_settings(settings, prefix="wb-test-*"))  # a glob in a prefix is literal
    await other.start()
    await glob.start()
    try:
        sub = a.subscribe()
        other.publish(event(1))
        glob.publish(event(2))
        with pytest.raises(TimeoutError):
            await sub.get(timeout=0.3)
    finally:
        await other.stop()
        await glob.stop()


async def test_a_malformed_message_is_ignored(replicas: tuple[RedisBus, RedisBus]) -> None:
    a, b = replicas
    sub = b.subscribe()
    redis = Redis.from_url(REDIS_URL)
    async with redis:
        for junk in (b"not json", b'{"origin": "x"}', b'{"origin": "x", "event": {"type": "NOPE"}}'):
            await redis.publish(f"{a.prefix}:events:alice", junk)
    a.publish(event(1))
    assert (await sub.get(timeout=5)).data["seq"] == 1
    assert (await b.health())["ok"]


async def test_a_bad_url_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        RedisBus(settings.with_(redis_url="http://127.0.0.1:6379"))
    with pytest.raises(ConfigError, match="REDIS_URL"):
        RedisBus(settings)  # none set
    parts = urlsplit(REDIS_URL)
    refused = RedisBus(redis_settings(settings, url=f"{parts.scheme}://{parts.netloc}/999"))  # no such db
    with pytest.raises(ConfigError, match="REDIS_URL"):
        await refused.start()


# ---- Redis: outages ----------------------------------------------------------------------------


async def test_redis_unreachable_never_blocks_publishing(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    bus = RedisBus(redis_settings(settings, url=f"redis://127.0.0.1:{closed_port()}/0"), **FAST)
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="workbench.runtime.redis_bus"):
        await bus.start()  # degraded, not refused: executions must not depend on Redis
        assert time.perf_counter() - started < 1
        sub = bus.subscribe(maxsize=2000)
        started = time.perf_counter()
        for n in range(1000):
            bus.publish(event(n))
        assert time.perf_counter() - started < 0.05
        await asyncio.sleep(0.5)  # a few reconnection attempts
        health = await bus.health()
        assert health == {"ok": False, "kind": "redis", "dropped": 1000}
        assert len(await Buses(bus, bus, False).take(sub)) == 1000  # this process's subscribers have all
        assert bus.active  # executions keep publishing: Redis may come back any moment
        started = time.perf_counter()
        await bus.stop()
        assert time.perf_counter() - started < 1
    warnings = [r for r in caplog.records if r.name == "workbench.runtime.redis_bus"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once per outage, not per event
    assert "REDIS_URL" in warnings[0].getMessage()


async def client_ids(redis: Redis, name: str) -> list[int]:
    """Ids of the pub/sub connections of the client called ``name``."""
    lines = (await redis.execute_command("CLIENT", "LIST", "TYPE", "pubsub")).decode().splitlines()
    fields = [dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv) for line in lines]
    return [int(f["id"]) for f in fields if f.get("name") == name]


async def test_the_listener_reconnects_after_its_connection_is_killed(
    replicas: tuple[RedisBus, RedisBus],
) -> None:
    a, b = replicas
    sub = b.subscribe(user_id="alice")
    admin = Redis.from_url(REDIS_URL)
    async with admin:
        [killed] = await client_ids(admin, b.client_name)
        await admin.execute_command("CLIENT", "KILL", "ID", killed)
        # Delivery resumes by itself (what was published while b was away is lost).
        deadline = time.monotonic() + 5
        n = 0
        while True:
            a.publish(event(n := n + 1, user="alice"))
            try:
                await sub.get(timeout=0.05)
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "delivery did not resume"
        assert (await client_ids(admin, b.client_name)) not in ([], [killed])
    assert b.gaps == 1 and a.gaps == 0  # b knows it may have missed events; a missed nothing
    await Buses(a, b, True).take(sub)  # in-flight probes
    for m in range(5):
        a.publish(event(100 + m, user="alice"))
    got = await Buses(a, b, True).take(sub)
    assert [e.data["seq"] for e in got] == [100, 101, 102, 103, 104]  # exactly once, in order
    assert (await b.health())["ok"]


class Proxy:
    """A TCP proxy to Redis that can be cut and restored: Redis going away and coming back."""

    def __init__(self, url: str) -> None:
        target = urlsplit(url)
        self.target = (target.hostname or "127.0.0.1", target.port or 6379)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.conns:
            writer.transport.abort()
        self.conns.clear()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.conns |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, RuntimeError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_redis_going_away_and_coming_back(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    proxy = Proxy(REDIS_URL)
    await proxy.start()
    prefix = f"wb-test-{uuid.uuid4().hex[:12]}"
    url = f"redis://127.0.0.1:{proxy.port}/{urlsplit(REDIS_URL).path.strip('/') or 0}"
    a = RedisBus(redis_settings(settings, prefix, url=url), **FAST)  # reaches Redis through the proxy
    b = RedisBus(redis_settings(settings, prefix), **FAST)
    await a.start()
    await b.start()
    try:
        on_a, on_b = a.subscribe(user_id="bob"), b.subscribe(user_id="alice")
        a.publish(event(0, user="alice"))
        assert (await on_b.get(timeout=5)).data["seq"] == 0

        with caplog.at_level(logging.INFO, logger="workbench.runtime.redis_bus"):
            await proxy.stop()  # Redis is gone, for a
            started = time.perf_counter()
            for n in range(1, 1001):
                a.publish(event(n, user="alice"))
            assert time.perf_counter() - started < 0.05
            await until(lambda: a.dropped == 1000, what="the events to be counted as dropped")
            await health_becomes(a, ok=False)
            assert (await b.health())["ok"]

            await proxy.start()  # and back
            await health_becomes(a, ok=True)
        messages = [r.getMessage() for r in caplog.records if r.name == "workbench.runtime.redis_bus"]
        assert len(messages) == 2, messages  # one line when it went, one when it came back
        assert "unreachable" in messages[0] and "1000 events" in messages[1]

        assert await Buses(a, b, True).take(on_b) == []  # what was dropped stays dropped
        # ...but it is announced: a's listener came back, and a's publisher told b it dropped events.
        await until(lambda: a.gaps >= 1 and b.gaps == 1, what="the gap to be counted on both sides")
        a.publish(event(2000, user="alice"))
        b.publish(event(3000, user="bob"))
        assert [e.data["seq"] for e in await Buses(a, b, True).take(on_b)] == [2000]
        assert [e.data["seq"] for e in await Buses(b, a, True).take(on_a)] == [3000]
        assert (await a.health()) == {"ok": True, "kind": "redis", "dropped": 1000}
    finally:
        await a.stop()
        await b.stop()
        await proxy.stop()


# ---- end to end: two Workbench processes ---------------------------------------------------------


class FakeSocket:
    """Stands in for the Litestar WebSocket of one client."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[str] = asyncio.Queue()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def receive_text(self) -> str:
        return await self.inbox.get()


async def test_a_run_on_one_workbench_is_seen_on_another(settings: Settings, registry: Any) -> None:
    shared = redis_settings(settings)
    async with (
        Workbench(shared, registry=registry, resume=False) as runner,
        Workbench(shared, registry=registry, resume=False) as api,
    ):
        assert isinstance(runner.bus, RedisBus) and isinstance(api.bus, RedisBus)
        # A WebSocket client on the other replica, subscribed to all of its runs.
        sock = FakeSocket()
        conn = ws_module._Connection(sock, api, LOCAL_PRINCIPAL)  # type: ignore[arg-type]
        serving = asyncio.create_task(conn.serve())
        await sock.inbox.put(json.dumps({"action": "subscribe"}))
        await until(lambda: sock.sent == [{"type": "subscribed", "all": True}], what="subscribed")

        execution_id = str(uuid.uuid4())
        remote = api.bus.subscribe(execution_id=execution_id)
        local = runner.bus.subscribe(execution_id=execution_id)
        g = graph(
            [inp("in", "x"), node("e", EchoBlock), out("o", "y")],
            [link("in.result", "e.value"), link("e.output", "o.value")],
        )
        result = await runner.executions.run(g, {"x": "hi"}, execution_id=execution_id, timeout=10)
        assert result.status == "COMPLETED"

        seen_here = []
        while not seen_here or not seen_here[-1].is_final:
            seen_here.append(await local.get(timeout=5))
        seen_there = []
        while not seen_there or not seen_there[-1].is_final:
            seen_there.append(await remote.get(timeout=5))
        assert seen_there == seen_here  # every event, once, in order
        assert seen_there[-1].data["outputs"] == {"y": ["hi"]}
        with pytest.raises(TimeoutError):
            await remote.get(timeout=0.2)

        await until(lambda: bool(sock.sent) and sock.sent[-1]["type"] == "EXECUTION_COMPLETED", what="ws")
        frames = [d for d in sock.sent[1:] if d["execution_id"] == execution_id]
        assert frames == [e.to_dict() for e in seen_here]
        assert all(d["user_id"] == LOCAL_USER_ID for d in frames)
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving


async def test_health_is_503_while_the_bus_cannot_reach_redis(settings: Settings, registry: Any) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    down = RedisBus(redis_settings(settings, url=f"redis://127.0.0.1:{closed_port()}/0"), **FAST)
    for bus, status in ((down, 503), (RedisBus(redis_settings(settings)), 200)):
        wb = Workbench(settings, registry=registry, bus=bus, resume=False)
        app = create_app(workbench=wb, enable_scheduler=False)
        async with AsyncTestClient(app, base_url=LOCAL) as client:
            response = await client.get("/api/v1/health")
        assert response.status_code == status, response.text
        body = response.json()
        assert body["bus"]["ok"] is (status == 200) and body["bus"]["kind"] == "redis"
        assert {"dropped", "websockets", "websockets_total", "websockets_dropped"} <= set(body["bus"])
        assert body["database"]["ok"] is True


async def test_a_websocket_client_is_resynced_after_events_were_lost(
    settings: Settings, registry: Any
) -> None:
    proxy = Proxy(REDIS_URL)
    await proxy.start()
    prefix = f"wb-test-{uuid.uuid4().hex[:12]}"
    url = f"redis://127.0.0.1:{proxy.port}/{urlsplit(REDIS_URL).path.strip('/') or 0}"
    runner_bus = RedisBus(redis_settings(settings, prefix, url=url), **FAST)
    try:
        async with (
            Workbench(settings, registry=registry, bus=runner_bus, resume=False) as runner,
            Workbench(redis_settings(settings, prefix), registry=registry, resume=False) as api,
        ):
            g = graph(
                [inp("in", "x"), node("s", SleepBlock, seconds=0.5), out("o", "y")],
                [link("in.result", "s.value"), link("s.output", "o.value")],
            )
            execution_id = await runner.executions.submit(g, {"x": "late"})
            sock = FakeSocket()
            conn = ws_module._Connection(sock, api, LOCAL_PRINCIPAL)  # type: ignore[arg-type]
            serving = asyncio.create_task(conn.serve())
            await sock.inbox.put(json.dumps({"action": "subscribe", "execution_id": execution_id}))
            await until(lambda: any(d["type"] == "EXECUTION_STATE" for d in sock.sent), what="state")

            await proxy.stop()  # the runner's Redis goes away: the rest of the run's events are lost
            assert (await runner.executions.wait(execution_id, timeout=10)).status == "COMPLETED"
            await runner.writer.flush()
            assert not any(d["type"] == "EXECUTION_COMPLETED" for d in sock.sent)
            await proxy.start()  # back: the runner announces the gap, the API replica resyncs its client

            await until(lambda: any(d["type"] == "resync" for d in sock.sent), timeout=10, what="resync")
            await until(lambda: sock.sent[-1]["type"] == "EXECUTION_STATE", what="the fresh state")
            assert sock.sent[-1]["execution"]["status"] == "COMPLETED"
            assert sock.sent[-1]["execution"]["outputs"] == {"y": ["late"]}
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await serving
    finally:
        await proxy.stop()
