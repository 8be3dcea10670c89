"""WebSocket ``/ws``: live execution events for the caller's runs.

Protocol (JSON text frames). The client sends::

    {"action": "subscribe", "execution_id": "..."}   # one run; its current state comes first
    {"action": "subscribe", "graph_id": "..."}       # every run of a graph
    {"action": "subscribe"}                          # all of the caller's runs
    {"action": "unsubscribe", ...same keys...}
    {"action": "ping"}

The server sends ``{"type": "subscribed" | "unsubscribed" | "pong" | "heartbeat" | "error", ...}``,
``{"type": "EXECUTION_STATE", "execution": {...}}`` on subscribing to a run, and the seed's events
(``EXECUTION_STARTED``, ``EXECUTION_UPDATED``, ``EXECUTION_COMPLETED``, ``EXECUTION_FAILED``,
``NODE_EXECUTED``) as ``ExecutionEvent.to_dict()``. A client that cannot keep up loses its oldest
events (the execution never waits for it); one that stops reading is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from workbench import jsonutil
from workbench.app import Workbench
from workbench.auth import Principal
from workbench.errors import NotFoundError
from workbench.runtime.bus import Subscription

log = logging.getLogger(__name__)
HEARTBEAT = 15.0
SEND_TIMEOUT = 10.0
BUFFER = 1000


class _Interest:
    """What one connection wants to hear about."""

    def __init__(self) -> None:
        self.everything = False
        self.executions: set[str] = set()
        self.graphs: set[str] = set()

    def wants(self, event: dict[str, Any]) -> bool:
        return self.everything or event["execution_id"] in self.executions or event["graph_id"] in self.graphs


def _uuid(value: Any, name: str) -> str:
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise ValueError(f"{name} must be a UUID") from None


async def _send(socket: WebSocket[Any, Any, Any], doc: dict[str, Any]) -> None:
    await asyncio.wait_for(socket.send_text(jsonutil.dumps(doc)), SEND_TIMEOUT)


async def _handle(
    socket: WebSocket[Any, Any, Any], wb: Workbench, principal: Principal, interest: _Interest, msg: Any
) -> None:
    if not isinstance(msg, dict) or msg.get("action") not in ("subscribe", "unsubscribe", "ping"):
        await _send(
            socket,
            {"type": "error", "message": 'expected {"action": "subscribe" | "unsubscribe" | "ping", ...}'},
        )
        return
    action = msg["action"]
    if action == "ping":
        await _send(socket, {"type": "pong"})
        return
    try:
        execution_id = _uuid(msg["execution_id"], "execution_id") if msg.get("execution_id") else None
        graph_id = _uuid(msg["graph_id"], "graph_id") if msg.get("graph_id") else None
    except ValueError as exc:
        await _send(socket, {"type": "error", "message": str(exc)})
        return
    principal.require("graphs:read")
    adding = action == "subscribe"
    if execution_id:
        if adding:
            try:
                state = await wb.executions.get(execution_id, principal.user_id)
            except NotFoundError:
                await _send(socket, {"type": "error", "message": f"execution {execution_id} not found"})
                return
            interest.executions.add(execution_id)
            await _send(socket, {"type": "subscribed", "execution_id": execution_id})
            await _send(socket, {"type": "EXECUTION_STATE", "execution": _state(state)})
        else:
            interest.executions.discard(execution_id)
            await _send(socket, {"type": "unsubscribed", "execution_id": execution_id})
    elif graph_id:
        if adding:
            try:
                await wb.graphs.versions(graph_id, principal.user_id)
            except NotFoundError:
                await _send(socket, {"type": "error", "message": f"graph {graph_id} not found"})
                return
            interest.graphs.add(graph_id)
        else:
            interest.graphs.discard(graph_id)
        await _send(socket, {"type": "subscribed" if adding else "unsubscribed", "graph_id": graph_id})
    else:
        interest.everything = adding
        await _send(socket, {"type": "subscribed" if adding else "unsubscribed", "all": True})


def _state(result: Any) -> dict[str, Any]:
    return {
        "id": result.execution_id,
        "graph_id": result.graph_id,
        "graph_version": result.graph_version,
        "status": str(result.status),
        "outputs": result.outputs,
        "error": result.error,
        "node_executions": result.node_executions,
    }


async def _pump(socket: WebSocket[Any, Any, Any], sub: Subscription, interest: _Interest) -> None:
    while True:
        try:
            event = await sub.get(timeout=HEARTBEAT)
        except TimeoutError:
            await _send(socket, {"type": "heartbeat"})
            continue
        doc = event.to_dict()
        if interest.wants(doc):
            await _send(socket, doc)


@websocket("/ws")
async def websocket_handler(socket: WebSocket[Any, Any, Any]) -> None:
    """Live events of the caller's executions."""
    principal: Principal = socket.user
    wb: Workbench = socket.app.state.workbench
    await socket.accept()
    interest = _Interest()
    sub = wb.bus.subscribe(user_id=principal.user_id, maxsize=BUFFER)
    pump = asyncio.create_task(_pump(socket, sub, interest))
    try:
        while True:
            receive = asyncio.ensure_future(socket.receive_text())
            done, _ = await asyncio.wait({receive, pump}, return_when=asyncio.FIRST_COMPLETED)
            if pump in done:
                receive.cancel()
                pump.result()  # re-raise why the sender stopped (slow or gone client)
                return
            try:
                msg = jsonutil.loads(receive.result())
            except ValueError:
                await _send(socket, {"type": "error", "message": "frames must be JSON"})
                continue
            try:
                await _handle(socket, wb, principal, interest, msg)
            except Exception as exc:  # a bad message never takes the connection down
                await _send(socket, {"type": "error", "message": str(exc)})
    except (WebSocketDisconnect, TimeoutError, ConnectionError):
        pass
    finally:
        sub.close()
        pump.cancel()
        with contextlib.suppress(BaseException):
            await pump
        with contextlib.suppress(Exception):
            await socket.close()
