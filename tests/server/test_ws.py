"""WebSocket /ws with a real client (``websockets``) against real ``workbench serve`` processes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import server.ws as ws_module
from tests.support.servers import ServerProcess, start_server, stop_server
from workbench.auth import LOCAL_PRINCIPAL, LOCAL_USER_ID
from workbench.engine.state import ExecutionStatus
from workbench.runtime.bus import LocalBus
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.executions import ExecutionResult, NodeExecution

INPUT = "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b"
TEMPLATE = "db7d8f02-2f44-4c55-ab7a-eae0941f0c30"
OUTPUT = "363ae599-353e-4804-937e-b2ee3cef3da4"
GET_LIST_ITEM = "262ca24c-1025-43cf-a578-534e23234e97"
COUNTDOWN = "d67a9c52-5e4e-11e2-bcfd-0800200c9a71"
HEARTBEAT = 0.3

GREETER = {
    "name": "ws greeter",
    "nodes": [
        {"id": "in", "block_id": INPUT, "input_default": {"name": "name"}},
        {"id": "tpl", "block_id": TEMPLATE, "input_default": {"format": "Hello, {{ name }}!"}},
        {"id": "out", "block_id": OUTPUT, "input_default": {"name": "greeting"}},
    ],
    "links": [
        {"source_id": "in", "source_name": "result", "sink_id": "tpl", "sink_name": "values_#_name"},
        {"source_id": "tpl", "source_name": "output", "sink_id": "out", "sink_name": "value"},
    ],
}
FAILING = {
    "name": "ws failing",
    "nodes": [
        {"id": "items", "block_id": INPUT, "input_default": {"name": "items", "value": [1, 2]}},
        {"id": "pick", "block_id": GET_LIST_ITEM, "input_default": {"index": 5}},
        {"id": "out", "block_id": OUTPUT, "input_default": {"name": "item"}},
    ],
    "links": [
        {"source_id": "items", "source_name": "result", "sink_id": "pick", "sink_name": "list"},
        {"source_id": "pick", "source_name": "item", "sink_id": "out", "sink_name": "value"},
    ],
}
SLOW = {
    "name": "ws slow",
    "nodes": [
        {"id": "in", "block_id": INPUT, "input_default": {"name": "msg"}},
        {"id": "wait", "block_id": COUNTDOWN, "input_default": {"seconds": 2}},
        {"id": "out", "block_id": OUTPUT, "input_default": {"name": "msg"}},
    ],
    "links": [
        {"source_id": "in", "source_name": "result", "sink_id": "wait", "sink_name": "input_message"},
        {"source_id": "wait", "source_name": "output_message", "sink_id": "out", "sink_name": "value"},
    ],
}


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``--auth accounts`` with a short heartbeat and send timeout."""
    server = start_server(
        tmp_path_factory.mktemp("srv-ws") / "home",
        "accounts",
        {
            "WORKBENCH_RATE_LIMIT": "off",
            "WORKBENCH_WS_HEARTBEAT": str(HEARTBEAT),
            "WORKBENCH_WS_SEND_TIMEOUT": "1",
        },
    )
    yield server
    stop_server(server)


@dataclass
class User:
    """A signed-up user of a server, with an HTTP client carrying its token."""

    server: ServerProcess
    token: str
    http: httpx.Client

    def ws(self, **kwargs: Any) -> AbstractAsyncContextManager[ClientConnection]:
        """A WebSocket connection authenticated with the token in the query string."""
        return connect(f"{self.server.ws_url}?token={self.token}", open_timeout=10, **kwargs)

    def graph(self, doc: dict[str, Any]) -> str:
        r = self.http.post("/api/v1/graphs", json=doc)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def execute(self, graph_id: str, inputs: dict[str, Any] | None = None, wait: float = 0) -> dict[str, Any]:
        r = self.http.post(
            f"/api/v1/graphs/{graph_id}/execute", params={"wait": wait}, json={"inputs": inputs or {}}
        )
        assert r.status_code in (200, 202), r.text
        return r.json()


def signup(server: ServerProcess) -> User:
    http = server.client()
    email = f"ws-{uuid.uuid4().hex[:10]}@example.com"
    credentials = {"email": email, "password": "correct horse"}
    r = http.post("/api/v1/auth/signup", json=credentials)
    assert r.status_code in (201, 202), r.text
    r = http.post("/api/v1/auth/login", json=credentials)  # sign-up answers without tokens
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return User(server, token, http)


@pytest.fixture(scope="module")
def alice(ws_server: ServerProcess) -> Iterator[User]:
    user = signup(ws_server)
    yield user
    user.http.close()


@pytest.fixture(scope="module")
def bob(ws_server: ServerProcess) -> Iterator[User]:
    user = signup(ws_server)
    yield user
    user.http.close()


async def recv(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    """The next message that is not a heartbeat, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        doc = json.loads(await asyncio.wait_for(ws.recv(), max(deadline - time.monotonic(), 0.001)))
        if doc["type"] != "heartbeat":
            return doc


async def recv_until(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """Messages (heartbeats left out) up to and including the first for which ``done`` holds."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        doc = await recv(ws, max(deadline - time.monotonic(), 0.01))
        got.append(doc)
        if done(doc):
            return got


async def request(ws: ClientConnection, doc: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(doc))
    return await recv(ws)


def final(doc: dict[str, Any]) -> bool:
    return doc["type"] in ("EXECUTION_COMPLETED", "EXECUTION_FAILED")


def ws_open(server: ServerProcess) -> int:
    return httpx.get(server.base_url + "/api/v1/health", timeout=5).json()["bus"]["websockets"]


async def wait_ws_open(server: ServerProcess, expected: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (count := await asyncio.to_thread(ws_open, server)) != expected:
        assert time.monotonic() < deadline, f"{count} WebSocket connections open, expected {expected}"
        await asyncio.sleep(0.1)


# ---- authentication ------------------------------------------------------------------------------


async def test_a_connection_needs_a_valid_token_or_api_key(ws_server: ServerProcess, alice: User) -> None:
    for url in (
        ws_server.ws_url,
        f"{ws_server.ws_url}?token=not-a-token",
        f"{ws_server.ws_url}?api_key=wbk_x",
    ):
        with pytest.raises(InvalidStatus) as info:
            async with connect(url, open_timeout=10):
                pass
        assert info.value.response.status_code == 403, url
    with pytest.raises(InvalidStatus):
        async with connect(ws_server.ws_url, additional_headers={"Authorization": "Bearer nope"}):
            pass

    # The token in the query string, in the Authorization header; an API key in X-API-Key.
    async with alice.ws() as ws:
        assert await request(ws, {"action": "ping"}) == {"type": "pong"}
    async with connect(ws_server.ws_url, additional_headers={"Authorization": f"Bearer {alice.token}"}) as ws:
        assert await request(ws, {"action": "ping"}) == {"type": "pong"}
    r = alice.http.post("/api/v1/api-keys", json={"name": "ws", "scopes": ["graphs:read"]})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    async with connect(ws_server.ws_url, additional_headers={"X-API-Key": key}) as ws:
        assert (await request(ws, {"action": "subscribe"}))["type"] == "subscribed"
    async with connect(f"{ws_server.ws_url}?api_key={key}") as ws:
        assert (await request(ws, {"action": "subscribe"}))["type"] == "subscribed"

    # A key without graphs:read may connect but not subscribe.
    r = alice.http.post("/api/v1/api-keys", json={"name": "ws-blocks", "scopes": ["blocks:read"]})
    async with connect(ws_server.ws_url, additional_headers={"X-API-Key": r.json()["key"]}) as ws:
        doc = await request(ws, {"action": "subscribe"})
        assert doc["type"] == "error" and "graphs:read" in doc["message"]


async def test_local_mode_needs_no_token(local_server: ServerProcess) -> None:
    async with connect(local_server.ws_url, open_timeout=10) as ws:
        assert await request(ws, {"action": "subscribe"}) == {"type": "subscribed", "all": True}
        r = await asyncio.to_thread(local_server.client().post, "/api/v1/graphs", json=GREETER)
        gid = r.json()["id"]
        r = await asyncio.to_thread(
            local_server.client().post, f"/api/v1/graphs/{gid}/execute", json={"inputs": {"name": "Lo"}}
        )
        events = await recv_until(ws, final)
        assert events[-1]["type"] == "EXECUTION_COMPLETED"
        assert events[-1]["data"]["outputs"] == {"greeting": ["Hello, Lo!"]}


# ---- subscriptions -------------------------------------------------------------------------------


async def test_graph_and_all_subscriptions_receive_every_event_of_a_run(alice: User) -> None:
    gid = alice.graph(GREETER)
    async with alice.ws() as by_graph, alice.ws() as by_all:
        assert await request(by_graph, {"action": "subscribe", "graph_id": gid}) == {
            "type": "subscribed",
            "graph_id": gid,
        }
        assert await request(by_all, {"action": "subscribe"}) == {"type": "subscribed", "all": True}
        eid = (await asyncio.to_thread(alice.execute, gid, {"name": "Ada"}))["id"]
        for ws in (by_graph, by_all):
            events = await recv_until(ws, final)
            assert all(e["execution_id"] == eid and e["graph_id"] == gid for e in events)
            types = [e["type"] for e in events]
            assert types[0] == "EXECUTION_STARTED"
            assert types[-1] == "EXECUTION_COMPLETED"
            nodes = [e for e in events if e["type"] == "NODE_EXECUTED"]
            assert sorted(e["node_id"] for e in nodes) == ["in", "out", "tpl"]
            assert all(e["status"] == "COMPLETED" for e in nodes)
            tpl = next(e for e in nodes if e["node_id"] == "tpl")
            assert tpl["data"]["outputs"] == [["output", "Hello, Ada!"]]
            assert events[-1]["status"] == "COMPLETED"
            assert events[-1]["data"]["outputs"] == {"greeting": ["Hello, Ada!"]}

        # Unsubscribing stops the flow; a run of another graph never reaches a graph subscription.
        assert (await request(by_all, {"action": "unsubscribe"}))["type"] == "unsubscribed"
        other = alice.graph(GREETER)
        await asyncio.to_thread(alice.execute, other, {"name": "B"}, 10)
        assert await request(by_all, {"action": "ping"}) == {"type": "pong"}
        assert await request(by_graph, {"action": "ping"}) == {"type": "pong"}


async def test_a_failing_run_ends_with_execution_failed(alice: User) -> None:
    gid = alice.graph(FAILING)
    async with alice.ws() as ws:
        await request(ws, {"action": "subscribe", "graph_id": gid})
        eid = (await asyncio.to_thread(alice.execute, gid))["id"]
        events = await recv_until(ws, final)
    assert events[0]["type"] == "EXECUTION_STARTED"
    last = events[-1]
    assert last["type"] == "EXECUTION_FAILED" and last["execution_id"] == eid
    assert last["status"] == "FAILED"
    assert "pick" in last["data"]["error"] and "Index out of range" in last["data"]["error"]
    assert last["data"]["error_node_id"] == "pick"
    pick = next(e for e in events if e["type"] == "NODE_EXECUTED" and e["node_id"] == "pick")
    assert pick["status"] == "FAILED" and "Index out of range" in pick["data"]["error"]


async def test_subscribing_to_a_started_run_gives_its_state_first(alice: User) -> None:
    gid = alice.graph(SLOW)
    eid = (await asyncio.to_thread(alice.execute, gid, {"msg": "late"}))["id"]
    await asyncio.sleep(0.3)  # the countdown node runs for two seconds
    async with alice.ws() as ws:
        await ws.send(json.dumps({"action": "subscribe", "execution_id": eid}))
        assert await recv(ws) == {"type": "subscribed", "execution_id": eid}
        state = await recv(ws)
        assert state["type"] == "EXECUTION_STATE"
        assert state["execution"]["id"] == eid and state["execution"]["graph_id"] == gid
        assert state["execution"]["status"] == "RUNNING"
        seen = {n["node_id"]: n["status"] for n in state["execution"]["node_executions"]}
        assert seen["in"] == "COMPLETED" and seen["wait"] == "RUNNING"
        events = await recv_until(ws, final)
        assert events[-1]["type"] == "EXECUTION_COMPLETED"
        assert events[-1]["data"]["outputs"] == {"msg": ["late"]}
        # Events the state already showed are not repeated.
        assert "in" not in [e["node_id"] for e in events if e["type"] == "NODE_EXECUTED"]
        assert {e["node_id"] for e in events if e["type"] == "NODE_EXECUTED"} == {"wait", "out"}

        # A finished run: its final state, then nothing more of it.
        assert (await request(ws, {"action": "unsubscribe", "execution_id": eid}))["type"] == "unsubscribed"
        await ws.send(json.dumps({"action": "subscribe", "execution_id": eid}))
        assert (await recv(ws))["type"] == "subscribed"
        state = await recv(ws)
        assert state["execution"]["status"] == "COMPLETED"
        assert state["execution"]["outputs"] == {"msg": ["late"]}


async def test_another_users_runs_stay_private(alice: User, bob: User) -> None:
    gid = alice.graph(GREETER)
    async with bob.ws() as ws:
        assert await request(ws, {"action": "subscribe"}) == {"type": "subscribed", "all": True}
        doc = await request(ws, {"action": "subscribe", "graph_id": gid})
        assert doc["type"] == "error" and "not found" in doc["message"]
        eid = (await asyncio.to_thread(alice.execute, gid, {"name": "secret"}, 10))["id"]
        doc = await request(ws, {"action": "subscribe", "execution_id": eid})
        assert doc == {"type": "error", "message": f"execution {eid} not found", "execution_id": eid}
        # Another of alice's runs while bob listens to everything he may see: nothing reaches him.
        await asyncio.to_thread(alice.execute, gid, {"name": "secret"}, 10)
        assert await request(ws, {"action": "ping"}) == {"type": "pong"}
        with pytest.raises(TimeoutError):
            await recv(ws, timeout=0.5)


async def test_bad_frames_get_errors_and_the_connection_stays(alice: User) -> None:
    async with alice.ws() as ws:
        assert (await request(ws, {"action": "dance"}))["type"] == "error"
        assert (await request(ws, {"action": "subscribe", "execution_id": "nope"}))["message"] == (
            "execution_id must be a UUID"
        )
        assert (await request(ws, ["subscribe"]))["type"] == "error"
        await ws.send("{not json")
        assert (await recv(ws))["message"].startswith("frames must be JSON: ")
        await ws.send(b"\x00\x01")
        assert (await recv(ws))["type"] == "error"
        missing = str(uuid.uuid4())
        assert (await request(ws, {"action": "subscribe", "execution_id": missing}))["type"] == "error"
        assert await request(ws, {"action": "ping"}) == {"type": "pong"}


async def test_heartbeats_flow_while_idle(alice: User) -> None:
    async with alice.ws() as ws:
        started = time.monotonic()
        beats = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
        elapsed = time.monotonic() - started
    assert [b["type"] for b in beats] == ["heartbeat"] * 3
    assert 2 * HEARTBEAT * 0.8 <= elapsed < 3 * HEARTBEAT + 1.5


# ---- slow and dead clients -----------------------------------------------------------------------


def raw_ws_client(server: ServerProcess, token: str) -> socket.socket:
    """A WebSocket client on a bare socket with a tiny receive buffer, for a client that never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = server.base_url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"action": "subscribe"}).encode()
    mask = os.urandom(4)
    sock.sendall(
        bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )
    return sock


async def test_a_client_that_never_reads_does_not_slow_runs_and_is_dropped(
    ws_server: ServerProcess, alice: User
) -> None:
    await wait_ws_open(ws_server, 0)
    # Big values make every event big: the socket buffers fill after a few runs.
    gid = alice.graph(GREETER)
    big = "x" * 200_000
    stuck = await asyncio.to_thread(raw_ws_client, ws_server, alice.token)
    try:
        await wait_ws_open(ws_server, 1)
        async with httpx.AsyncClient(
            base_url=ws_server.base_url, headers={"Authorization": f"Bearer {alice.token}"}, timeout=30
        ) as http:

            async def run() -> float:
                started = time.monotonic()
                r = await http.post(
                    f"/api/v1/graphs/{gid}/execute", params={"wait": 10}, json={"inputs": {"name": big}}
                )
                assert r.status_code == 200 and r.json()["status"] == "COMPLETED", r.text[:300]
                return time.monotonic() - started

            started = time.monotonic()
            times = [t for _ in range(6) for t in await asyncio.gather(*(run() for _ in range(5)))]
            elapsed = time.monotonic() - started
        assert max(times) < 2.0, times
        assert elapsed < 8, elapsed
        # The server gave up on the stuck client (send timeout 1 s) although its socket is still open.
        await wait_ws_open(ws_server, 0, timeout=10)
        health = (await asyncio.to_thread(httpx.get, ws_server.base_url + "/api/v1/health")).json()
        assert health["status"] == "ok"
        assert health["bus"]["websockets_dropped"] >= 1
    finally:
        stuck.close()
    # And others are served as before.
    async with alice.ws() as ws:
        assert await request(ws, {"action": "ping"}) == {"type": "pong"}


async def test_a_dropped_connection_is_cleaned_up(ws_server: ServerProcess, alice: User) -> None:
    await wait_ws_open(ws_server, 0)
    ws = await connect(f"{ws_server.ws_url}?token={alice.token}")
    assert await request(ws, {"action": "subscribe"}) == {"type": "subscribed", "all": True}
    await wait_ws_open(ws_server, 1)
    # Vanish without a closing handshake: reset the TCP connection.
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()
    await wait_ws_open(ws_server, 0)
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    # Runs go on as usual and a new client gets their events.
    gid = alice.graph(GREETER)
    async with alice.ws() as ws2:
        await request(ws2, {"action": "subscribe", "graph_id": gid})
        await asyncio.to_thread(alice.execute, gid, {"name": "again"})
        assert (await recv_until(ws2, final))[-1]["type"] == "EXECUTION_COMPLETED"


async def test_unknown_path_is_not_a_websocket(ws_server: ServerProcess, alice: User) -> None:
    with pytest.raises(InvalidStatus):
        async with connect(ws_server.ws_url.replace("/ws", "/wsx") + f"?token={alice.token}"):
            pass


def test_health_reports_websocket_counts(ws_server: ServerProcess) -> None:
    bus = httpx.get(ws_server.base_url + "/api/v1/health").json()["bus"]
    assert {"websockets", "websockets_total", "websockets_dropped"} <= set(bus)
    assert bus["websockets_total"] >= bus["websockets"] >= 0


# ---- the connection's buffering, in process (deterministic: a socket whose sends we hold back) -------


class HeldSocket:
    """Stands in for the Litestar WebSocket: sends wait while ``gate`` is closed."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[str] = asyncio.Queue()

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(json.loads(text))

    async def receive_text(self) -> str:
        return await self.inbox.get()


def event(n: int, user: str = LOCAL_USER_ID) -> ExecutionEvent:
    return ExecutionEvent(EventType.NODE_EXECUTED, f"e{n}", "g", 1, user, "COMPLETED", node_id=str(n))


async def until(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_a_client_that_falls_behind_loses_the_oldest_events_and_is_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ws_module, "BUFFER", 50)
    bus = LocalBus()
    sock = HeldSocket()
    conn = ws_module._Connection(sock, SimpleNamespace(bus=bus), LOCAL_PRINCIPAL)  # type: ignore[arg-type]
    serving = asyncio.create_task(conn.serve())
    await sock.inbox.put(json.dumps({"action": "subscribe"}))
    await until(lambda: sock.sent == [{"type": "subscribed", "all": True}])

    sock.gate.clear()  # the client stops reading
    started = time.perf_counter()
    for n in range(1000):
        bus.publish(event(n))
    bus.publish(event(-1, user="someone else"))
    assert time.perf_counter() - started < 0.5  # publishing never waits for the client
    await asyncio.sleep(0.05)
    sock.gate.set()  # and reads again
    await until(lambda: any(d["type"] == "NODE_EXECUTED" and d["node_id"] == "999" for d in sock.sent))
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving

    lagged = [d for d in sock.sent if d["type"] == "lagged"]
    nodes = [int(d["node_id"]) for d in sock.sent if d["type"] == "NODE_EXECUTED"]
    assert len(lagged) == 1
    assert lagged[0]["dropped"] + len(nodes) == 1000
    assert nodes == sorted(nodes) and nodes[-50:] == list(range(950, 1000))  # the newest kept, in order
    assert -1 not in nodes
    assert not bus.active  # the subscription went with the connection


async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout() -> None:
    bus = LocalBus()
    sock = HeldSocket()
    conn = ws_module._Connection(sock, SimpleNamespace(bus=bus), LOCAL_PRINCIPAL)  # type: ignore[arg-type]
    conn.send_timeout = 0.2
    serving = asyncio.create_task(conn.serve())
    await sock.inbox.put(json.dumps({"action": "subscribe"}))
    await until(lambda: len(sock.sent) == 1)
    sock.gate.clear()
    bus.publish(event(1))
    assert await asyncio.wait_for(serving, 5) == ws_module.TRY_AGAIN_LATER
    assert not bus.active


async def test_a_runs_state_goes_out_before_its_later_events_and_older_ones_are_skipped() -> None:
    bus = LocalBus()
    sock = HeldSocket()
    eid = str(uuid.uuid4())

    def run_event(node: str, at: float) -> ExecutionEvent:
        return ExecutionEvent(
            EventType.NODE_EXECUTED, eid, "g", 1, LOCAL_USER_ID, "COMPLETED", node_id=node, at=at
        )

    class Executions:
        async def get(self, execution_id: str, user_id: str) -> Any:
            # While the state is read: an event the state already holds, and one that happens after.
            bus.publish(run_event("before", time.time() - 60))
            await asyncio.sleep(0.05)  # the pump has every chance to run meanwhile
            bus.publish(run_event("after", time.time() + 1))
            before = NodeExecution("n1", "before", "b", 0, ExecutionStatus.COMPLETED, inputs={})
            return ExecutionResult(
                execution_id=execution_id, graph_id="g", graph_version=1, status=ExecutionStatus.RUNNING,
                outputs={}, node_executions=[before],
            )  # fmt: skip

    wb = SimpleNamespace(bus=bus, executions=Executions())
    conn = ws_module._Connection(sock, wb, LOCAL_PRINCIPAL)  # type: ignore[arg-type]
    serving = asyncio.create_task(conn.serve())
    await sock.inbox.put(json.dumps({"action": "subscribe", "execution_id": eid}))
    await until(lambda: len(sock.sent) >= 3)
    await asyncio.sleep(0.05)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert [d["type"] for d in sock.sent] == ["subscribed", "EXECUTION_STATE", "NODE_EXECUTED"]
    assert sock.sent[1]["execution"]["status"] == "RUNNING"
    assert sock.sent[2]["node_id"] == "after"
