"""The live run widget: per-node status, timing and outputs as they arrive, and a cancel button.

It follows a :class:`~workbench.client.RunHandle`: the run goes on in the client's thread and each
event updates the widget from there, so the kernel stays free for other cells. The state is also kept
in synced traits (``status``, ``nodes``, ``outputs``, ``error``) that the frontend receives and tests
read.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

import ipywidgets as widgets
from traitlets import Dict, Int, Unicode

from kernel_ext.reprs import badge, short, table
from workbench import jsonutil
from workbench.client.portal import RunHandle
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.executions import ExecutionResult

MAX_OUTPUTS_PER_NODE = 20
STREAM_LIMIT = 2000


class RunWidget(widgets.VBox):
    """Shows one run live; ``cancel_button`` stops it."""

    execution_id = Unicode("").tag(sync=True)
    status = Unicode("STARTING").tag(sync=True)
    nodes = Dict().tag(sync=True)
    """node id -> {block, status, runs, started_at, ended_at, ms, outputs, error, stream}."""
    outputs = Dict().tag(sync=True)
    error = Unicode("").tag(sync=True)
    events_seen = Int(0).tag(sync=True)

    def __init__(self, handle: RunHandle, title: str = "", **kwargs: Any) -> None:
        self.handle = handle
        self.title = title
        self.latencies: list[float] = []
        """Seconds from each node's end (engine clock) to this widget having sent the update."""
        self.header = widgets.HTML()
        self.node_table = widgets.HTML()
        self.output_view = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel", button_style="danger", icon="stop")
        self.cancel_button.on_click(self._cancel_clicked)
        super().__init__([self.header, self.cancel_button, self.node_table, self.output_view], **kwargs)
        self.execution_id = handle.execution_id or ""
        self._started = time.time()
        self._render()
        handle.add_listener(self._on_event)

    # ---- events (in the client's thread) -----------------------------------------------------------

    def _on_event(self, event: ExecutionEvent) -> None:
        with self.hold_sync():
            self.events_seen += 1
            if event.node_id is not None:
                self._node_event(event)
            elif event.type != EventType.NODE_STREAM:
                self.status = event.status
                if event.is_final:
                    self.outputs = jsonutil.normalize(dict(event.data.get("outputs") or {}))
                    self.error = event.data.get("error") or ""
                    self.cancel_button.disabled = True
            self._render()
        if event.type == EventType.NODE_EXECUTED and event.data.get("ended_at"):
            self.latencies.append(time.time() - float(event.data["ended_at"]))

    def _node_event(self, event: ExecutionEvent) -> None:
        assert event.node_id is not None
        nodes = dict(self.nodes)
        node = dict(nodes.get(event.node_id) or {"runs": 0, "outputs": [], "ms": 0.0})
        node["block"] = event.data.get("block_name", node.get("block", ""))
        if event.type == EventType.NODE_STREAM:
            chunk = event.data.get("chunk")
            node["stream"] = (node.get("stream", "") + (chunk if isinstance(chunk, str) else short(chunk)))[
                -STREAM_LIMIT:
            ]
        else:
            node["status"] = event.status
        if event.type == EventType.NODE_EXECUTED:
            data = event.data
            node["runs"] += 1
            node["started_at"], node["ended_at"] = data.get("started_at"), data.get("ended_at")
            if node["started_at"] and node["ended_at"]:
                node["ms"] = round(node["ms"] + (node["ended_at"] - node["started_at"]) * 1000, 3)
            outputs = node["outputs"] + [[pin, short(value, 200)] for pin, value in data.get("outputs") or []]
            node["outputs"] = outputs[-MAX_OUTPUTS_PER_NODE:]
            node["error"] = data.get("error")
        nodes[event.node_id] = node
        self.nodes = nodes
        if not self.execution_id:
            self.execution_id = event.execution_id

    def _render(self) -> None:
        elapsed = time.time() - self._started
        title = f"<b>{escape(self.title)}</b> · " if self.title else ""
        self.header.value = (
            f"{title}run <code>{escape(self.execution_id or '…')}</code> {badge(self.status)} "
            f"<small>{elapsed:.2f} s · {self.events_seen} events</small>"
        )
        rows = [
            (
                f"<code>{escape(node_id)}</code>",
                escape(str(n.get("block", ""))[:40]),
                badge(str(n.get("status", ""))),
                str(n.get("runs", 0)),
                f"{n.get('ms', 0):.1f} ms",
                escape(short([o[1] for o in n.get("outputs", [])][-3:], 120))
                + (f"<br><i>{escape(n['stream'][-200:])}</i>" if n.get("stream") else "")
                + (f"<br><span style='color:#c62828'>{escape(n['error'])}</span>" if n.get("error") else ""),
            )
            for node_id, n in self.nodes.items()
        ]
        self.node_table.value = table(["node", "block", "status", "runs", "time", "outputs"], rows)
        parts = [f"<b>{escape(k)}</b>: {escape(short(v, 300))}" for k, v in self.outputs.items()]
        if self.error:
            parts.append(f"<span style='color:#c62828'>error: {escape(self.error)}</span>")
        self.output_view.value = "<br>".join(parts)

    # ---- control ---------------------------------------------------------------------------------

    def _cancel_clicked(self, _button: Any = None) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Ask the platform to stop the run (the widget shows CANCELLED when it has stopped)."""
        self.cancel_button.disabled = True
        self.cancel_button.description = "Cancelling…"
        handle = self.handle
        if handle.execution_id is not None:
            handle.client.portal.submit(handle.client.inner.cancel(handle.execution_id))

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        """Block until the run ends; its result."""
        return self.handle.result(timeout)

    @property
    def result(self) -> ExecutionResult | None:
        """The result once the run has ended."""
        return self.handle.result() if self.handle.done else None

    def state(self) -> dict[str, Any]:
        """The widget's state as plain data (what the frontend sees)."""
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "nodes": self.nodes,
            "outputs": self.outputs,
            "error": self.error,
            "events_seen": self.events_seen,
            "cancel_disabled": self.cancel_button.disabled,
        }
