"""WebSocket ``/ws``: live execution events for the caller's runs.

Authentication is the API's (a bearer token or API key; browsers, which cannot set headers on a
WebSocket, pass ``?token=`` or ``?api_key=``); without it the handshake is refused (HTTP 403).

Protocol (JSON text frames). The client sends::

    {"action": "subscribe", "execution_id": "..."}   # one run; its current state comes first
    {"action": "subscribe", "graph_id": "..."}       # every run of a graph
    {"action": "subscribe"}                          # all of the caller's runs
    {"action": "unsubscribe", ...same keys...}
    {"action": "ping"}

The server sends ``{"type": "subscribed" | "unsubscribed" | "pong" | "heartbeat" | "error" |
"lagged", ...}``, ``{"type": "EXECUTION_STATE", "execution": {...}}`` right after subscribing to a
run (before any later event of it), and the seed's events (``EXECUTION_STARTED``,
``EXECUTION_UPDATED``, ``EXECUTION_COMPLETED``, ``EXECUTION_FAILED``, ``NODE_EXECUTED``) as
``ExecutionEvent.to_dict()``. Every connection also gets the user's new in-app notifications, without
subscribing: ``{"type": "NOTIFICATION", "data": {...the notification...}, ...}``. A heartbeat goes out whenever nothing else was sent for
``WORKBENCH_WS_HEARTBEAT`` seconds (15 by default). When the event bus may have lost events (Redis
was unreachable from this replica or from an executor), the server sends ``{"type": "resync"}`` and
then a fresh ``EXECUTION_STATE`` of every run subscribed to by id; clients following a whole graph or
all runs re-read what they show.

A slow or dead client never slows an execution: publishing never waits, each connection has a
bounded buffer (a client that cannot keep up loses its oldest events and is told so with
``{"type": "lagged", "dropped": n}``), and a client that stops reading for ``WORKBENCH_WS_SEND_TIMEOUT``
seconds (10 by default) is disconnected. A connection lives as long as its credential: every
``REAUTH`` seconds it is checked again, and when the account was deactivated, its sessions were ended
(password reset, log out everywhere) or the API key was revoked, the server sends
``{"type": "error", "message": "signed out: ..."}`` and closes with 1008. ``ws_info`` reports the open connections (``/api/v1/health``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import reprlib
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Litestar, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from server.routes.executions import execution_out
from workbench import jsonutil
from workbench.app import Workbench
from workbench.auth import Principal
from workbench.errors import NotFoundError, WorkbenchError
from workbench.runtime.bus import Subscription
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.executions import ExecutionResult

log = logging.getLogger(__name__)
HEARTBEAT = 15.0
"""Default seconds of silence after which a heartbeat is sent (``WORKBENCH_WS_HEARTBEAT``)."""
SEND_TIMEOUT = 10.0
"""Default seconds a send may wait on a client that does not read (``WORKBENCH_WS_SEND_TIMEOUT``)."""
GAP_CHECK = 1.0
"""Seconds between checks of the bus for a gap (lost events), at most."""
BUFFER = 1000
"""Events buffered per connection; beyond that the oldest are dropped."""
CLOSE_TIMEOUT = 1.0
POLICY_VIOLATION = 1008
REAUTH = 5.0
"""Seconds between checks that the connection's credential is still good."""
TRY_AGAIN_LATER = 1013


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %s", name, raw, default)
        return default
    return value if value > 0 else default


@dataclass
class WsStats:
    """Connection counts of one application."""

    open: int = 0
    total: int = 0
    dropped_slow: int = 0


def ws_stats(app: Litestar) -> WsStats:
    """The connection counters of ``app`` (created on first use)."""
    stats = app.state.get("ws_stats")
    if stats is None:
        stats = app.state["ws_stats"] = WsStats()
    return stats


def ws_info(app: Litestar) -> dict[str, int]:
    """What the health endpoint reports about WebSockets."""
    stats = ws_stats(app)
    return {
        "websockets": stats.open,
        "websockets_total": stats.total,
        "websockets_dropped": stats.dropped_slow,
    }


class _SlowClient(Exception):
    """The client did not take a frame within the send timeout."""


class _Interest:
    """What one connection wants to hear about."""

    def __init__(self) -> None:
        self.everything = False
        self.executions: dict[str, float] = {}
        """execution id -> when its state was read: older events of it are already in that state."""
        self.graphs: set[str] = set()

    def wants(self, event: ExecutionEvent) -> bool:
        if event.type is EventType.NOTIFICATION:
            return True  # the user's own inbox: every connection of theirs hears of it
        if self.everything or event.graph_id in self.graphs:
            return True
        since = self.executions.get(event.execution_id)
        return since is not None and event.at >= since


def _uuid(value: Any, name: str) -> str:
    if not isinstance(value, str):  # never str() a client's value: it may be nested 1,000 deep
        raise ValueError(f"{name} must be a UUID (a string)")
    try:
        return str(UUID(value))
    except ValueError:
        raise ValueError(f"{name} must be a UUID") from None


def _state(result: ExecutionResult) -> dict[str, Any]:
    """A run's state as ``GET /api/v1/executions/{id}`` gives it."""
    return execution_out(result).model_dump(mode="json")


class _SignedOut(Exception):
    """The connection's credential stopped being valid."""


class _Connection:
    """One client: a reader of its requests and a pump of its events, sharing one send path."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        wb: Workbench,
        principal: Principal,
        credential: str | None = None,
    ) -> None:
        self.socket = socket
        self.wb = wb
        self.principal = principal
        self.credential = credential
        self.interest = _Interest()
        self.heartbeat = _seconds("WORKBENCH_WS_HEARTBEAT", HEARTBEAT)
        self.send_timeout = _seconds("WORKBENCH_WS_SEND_TIMEOUT", SEND_TIMEOUT)
        # Subscribed before anything else: every event of the caller from now on is buffered.
        self.sub: Subscription = wb.bus.subscribe(user_id=principal.user_id, maxsize=BUFFER)
        # Held while a frame is sent, and while a subscription reads a run's state and answers, so the
        # state always goes out before that run's later events.
        self.lock = asyncio.Lock()
        self.last_sent = time.monotonic()
        self.lagged_reported = 0
        self.gaps_seen = wb.bus.gaps

    async def send(self, doc: dict[str, Any]) -> None:
        """Send one frame (the caller holds ``lock``); _SlowClient if the client does not take it."""
        try:
            await asyncio.wait_for(self.socket.send_text(jsonutil.dumps(doc)), self.send_timeout)
        except TimeoutError:
            raise _SlowClient from None
        self.last_sent = time.monotonic()

    async def reply(self, doc: dict[str, Any]) -> None:
        async with self.lock:
            await self.send(doc)

    # ---- events to the client ------------------------------------------------------------------

    async def pump(self) -> None:
        while True:
            if self.wb.bus.gaps != self.gaps_seen:
                await self.resync()
            wait = self.last_sent + self.heartbeat - time.monotonic()
            try:
                event = await self.sub.get(timeout=min(max(wait, 0.001), GAP_CHECK))
            except TimeoutError:
                async with self.lock:
                    if time.monotonic() - self.last_sent >= self.heartbeat:
                        await self.send({"type": "heartbeat", "at": time.time()})
                continue
            except StopAsyncIteration:
                return
            async with self.lock:
                if self.sub.lagged > self.lagged_reported:
                    dropped = self.sub.lagged - self.lagged_reported
                    self.lagged_reported = self.sub.lagged
                    await self.send({"type": "lagged", "dropped": dropped})
                if self.interest.wants(event):
                    await self.send(event.to_dict())

    async def resync(self) -> None:
        """Events may have been lost: say so, and send the current state of each run followed by id."""
        self.gaps_seen = self.wb.bus.gaps
        async with self.lock:
            await self.send({"type": "resync", "reason": "the event bus lost events; states follow"})
            for execution_id in list(self.interest.executions):
                since = time.time()
                try:
                    state = await self.wb.executions.get(execution_id, self.principal.user_id)
                except NotFoundError:
                    continue
                self.interest.executions[execution_id] = since
                await self.send({"type": "EXECUTION_STATE", "execution": _state(state)})

    # ---- requests from the client --------------------------------------------------------------

    async def read(self) -> None:
        while True:
            raw = await self.socket.receive_text()
            try:
                msg = jsonutil.loads(raw)
            except ValueError as exc:  # malformed, or nested deeper than the parser goes
                await self.reply({"type": "error", "message": f"frames must be JSON: {exc}"})
                continue
            except RecursionError:
                await self.reply({"type": "error", "message": "frames must be JSON: nested too deeply"})
                continue
            try:
                await self.handle(msg)
            except (_SlowClient, WebSocketDisconnect, OSError):
                raise
            except WorkbenchError as exc:  # a bad request never takes the connection down
                await self.reply({"type": "error", "message": str(exc)})
            except Exception:
                log.exception("websocket request failed: %s", reprlib.repr(msg))
                await self.reply({"type": "error", "message": "internal error"})

    async def handle(self, msg: Any) -> None:
        if not isinstance(msg, dict) or msg.get("action") not in ("subscribe", "unsubscribe", "ping"):
            await self.reply(
                {"type": "error", "message": 'expected {"action": "subscribe" | "unsubscribe" | "ping", ...}'}
            )
            return
        action = msg["action"]
        if action == "ping":
            await self.reply({"type": "pong"})
            return
        try:
            execution_id = _uuid(msg["execution_id"], "execution_id") if msg.get("execution_id") else None
            graph_id = _uuid(msg["graph_id"], "graph_id") if msg.get("graph_id") else None
        except ValueError as exc:
            await self.reply({"type": "error", "message": str(exc)})
            return
        self.principal.require("graphs:read")
        adding = action == "subscribe"
        user_id = self.principal.user_id
        interest = self.interest
        if execution_id:
            if not adding:
                interest.executions.pop(execution_id, None)
                await self.reply({"type": "unsubscribed", "execution_id": execution_id})
                return
            async with self.lock:  # the pump waits: nothing of this run goes out before its state
                since = time.time()
                try:
                    state = await self.wb.executions.get(execution_id, user_id)
                except NotFoundError:
                    await self.send(
                        {
                            "type": "error",
                            "message": f"execution {execution_id} not found",
                            "execution_id": execution_id,
                        }
                    )
                    return
                interest.executions[execution_id] = since
                await self.send({"type": "subscribed", "execution_id": execution_id})
                await self.send({"type": "EXECUTION_STATE", "execution": _state(state)})
        elif graph_id:
            if adding:
                try:
                    await self.wb.graphs.versions(graph_id, user_id)
                except NotFoundError:
                    await self.reply(
                        {"type": "error", "message": f"graph {graph_id} not found", "graph_id": graph_id}
                    )
                    return
                interest.graphs.add(graph_id)
            else:
                interest.graphs.discard(graph_id)
            await self.reply({"type": "subscribed" if adding else "unsubscribed", "graph_id": graph_id})
        else:
            interest.everything = adding
            await self.reply({"type": "subscribed" if adding else "unsubscribed", "all": True})

    # ---- lifetime ------------------------------------------------------------------------------

    async def watch(self) -> None:
        """Return never while the credential stays good; raise _SignedOut (after telling the
        client why) once it is not. Only for connections opened with a credential (accounts)."""
        accounts = self.wb.accounts
        assert accounts is not None and self.credential is not None
        while True:
            await asyncio.sleep(REAUTH)
            reason = await accounts.connection_ended(self.principal, self.credential)
            if reason is not None:
                with contextlib.suppress(Exception):
                    await self.reply({"type": "error", "message": f"signed out: {reason}"})
                raise _SignedOut(reason)

    async def serve(self) -> int:
        """Run until the client leaves or falls behind; the close code to send."""
        tasks = [asyncio.create_task(self.pump()), asyncio.create_task(self.read())]
        if self.credential is not None:
            tasks.append(asyncio.create_task(self.watch()))
        code = 1000
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if isinstance(exc, _SignedOut):
                    code = POLICY_VIOLATION
                elif isinstance(exc, _SlowClient):
                    code = TRY_AGAIN_LATER
                elif exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
                    log.error("websocket connection failed", exc_info=exc)
                    code = 1011
        finally:
            self.sub.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
        return code


@websocket("/ws")
async def websocket_handler(socket: WebSocket[Any, Any, Any]) -> None:
    """Live events of the caller's executions (see the module documentation for the protocol)."""
    principal: Principal = socket.user
    wb: Workbench = socket.app.state.workbench
    stats = ws_stats(socket.app)
    await socket.accept()
    stats.open += 1
    stats.total += 1
    code = 1000
    try:
        credential = socket.auth if isinstance(socket.auth, str) else None
        conn = _Connection(socket, wb, principal, credential)
        code = await conn.serve()
        if code == TRY_AGAIN_LATER:
            stats.dropped_slow += 1
            log.warning("websocket client of user %s stopped reading; disconnected", principal.user_id)
    finally:
        stats.open -= 1
        # A client that does not read cannot take the close frame either: do not wait for it.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(socket.close(code=code), CLOSE_TIMEOUT)
