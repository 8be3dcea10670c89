"""The live run widget: per-node status, timing and outputs as they arrive, a clock, a cancel button,
and a form for each human review the run waits for (Approve / Reject, a message, the data as JSON when
the review lets it be changed).

It follows a :class:`~workbench.client.RunHandle`: the run goes on in the client's thread and each
event updates the widget from there, so the kernel stays free for other cells. While the run goes on a
small thread moves the clock every :data:`TICK` seconds (no event may come for a long time while a
slow node works). The state is also kept in synced traits (``status``, ``nodes``, ``outputs``,
``error``) that the frontend receives and tests read. Values are shown as a reader wants them under
their pin names (a string as itself, anything else as compact JSON); names are isolated
(:mod:`workbench.client.text`). Its display carries an HTML snapshot for exports
(:mod:`kernel_ext.widgets.fallback`), brought up to date when the run ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from html import escape
from typing import Any

import ipywidgets as widgets
from traitlets import Dict, Int, Unicode

from kernel_ext.reprs import badge, table
from kernel_ext.widgets.fallback import StaticFallback
from workbench import jsonutil
from workbench.client.portal import RunHandle
from workbench.client.text import display_value, html_name, html_value, isolate
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.executions import ExecutionResult
from workbench.services.reviews import UNCHANGED

log = logging.getLogger(__name__)

MAX_OUTPUTS_PER_NODE = 20
STREAM_LIMIT = 2000
TICK = 0.5
"""Seconds between two moves of the clock while the run goes on."""
FINAL_BUTTON = {
    "COMPLETED": ("Completed", "check"),
    "FAILED": ("Failed", "times"),
    "CANCELLED": ("Cancelled", "ban"),
}
"""What the cancel button says (and its icon) once the run has ended, by final status."""


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``12.3 s``, ``2 min 05 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


class RunWidget(StaticFallback, widgets.VBox):
    """Shows one run live; ``cancel_button`` stops it."""

    execution_id = Unicode("").tag(sync=True)
    graph_name = Unicode("").tag(sync=True)
    status = Unicode("STARTING").tag(sync=True)
    nodes = Dict().tag(sync=True)
    """node id -> {block, status, runs, started_at, ended_at, ms, outputs: [[pin, text]], error, stream}."""
    outputs = Dict().tag(sync=True)
    """The run's outputs once it has ended: output name -> list of values (JSON)."""
    error = Unicode("").tag(sync=True)
    notice = Unicode("").tag(sync=True)
    """A problem of the widget itself (a cancel request or an answer that failed)."""
    events_seen = Int(0).tag(sync=True)
    reviews = Dict().tag(sync=True)
    """The reviews the run waits for: review id -> what the engine told of it (name, data, editable...)."""

    def __init__(self, handle: RunHandle, title: str = "", **kwargs: Any) -> None:
        self.handle = handle
        self.latencies: list[float] = []
        """Seconds from each node's end (engine clock) to this widget having sent the update."""
        self.started_at: float | None = None
        """When the run started (the first event's time, engine clock)."""
        self.ended_at: float | None = None
        """When it ended (the final event's time)."""
        self._lock = threading.RLock()
        self._final = False
        self._stop_clock = threading.Event()
        self.header = widgets.HTML()
        self.node_table = widgets.HTML()
        self.output_view = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel", button_style="danger", icon="stop")
        self.cancel_button.on_click(self._cancel_clicked)
        self.review_box = widgets.VBox([])
        self._review_forms: dict[str, ReviewForm] = {}
        super().__init__(
            [self.header, self.cancel_button, self.review_box, self.node_table, self.output_view], **kwargs
        )
        self.graph_name = title or self._graph_name(handle)
        self.execution_id = handle.execution_id or ""
        self._render()
        handle.add_listener(self._on_event)
        if not self._final:
            threading.Thread(target=self._run_clock, name="wb-run-clock", daemon=True).start()

    @staticmethod
    def _graph_name(handle: RunHandle) -> str:
        """The graph's name, looked up by the id the run's first event carries ('' if unknown)."""
        first = handle.history[0] if handle.history else None
        if first is None:
            return ""
        try:
            return handle.client.load_graph(first.graph_id).name
        except Exception as exc:  # a title is not worth failing the widget for
            log.debug("no name for graph %s: %s", first.graph_id, exc)
            return ""

    # ---- events (in the client's thread) -----------------------------------------------------------

    def _on_event(self, event: ExecutionEvent) -> None:
        with self._lock, self.hold_sync():
            self.events_seen += 1
            if self.started_at is None:
                self.started_at = event.at
            if event.node_id is not None:
                self._node_event(event)
            elif event.type != EventType.NODE_STREAM:
                self.status = event.status
                if event.is_final:
                    self._finish(event)
            self._sync_reviews()
            self._render()
        if event.type == EventType.NODE_EXECUTED and event.data.get("ended_at"):
            self.latencies.append(time.time() - float(event.data["ended_at"]))
        if event.is_final:
            self.refresh_displays()

    def _finish(self, event: ExecutionEvent) -> None:
        self._final = True
        self._stop_clock.set()
        self.ended_at = event.at
        self.outputs = jsonutil.normalize(dict(event.data.get("outputs") or {}))
        self.error = event.data.get("error") or ""
        description, icon = FINAL_BUTTON.get(event.status, (event.status.title(), "flag"))
        self.cancel_button.disabled = True
        self.cancel_button.description = description
        self.cancel_button.icon = icon
        self.cancel_button.button_style = ""

    def _node_event(self, event: ExecutionEvent) -> None:
        assert event.node_id is not None
        nodes = dict(self.nodes)
        node = dict(nodes.get(event.node_id) or {"runs": 0, "outputs": [], "ms": 0.0})
        node["block"] = event.data.get("block_name", node.get("block", ""))
        if event.type == EventType.NODE_STREAM:
            chunk = event.data.get("chunk")
            text = chunk if isinstance(chunk, str) else display_value(chunk)
            node["stream"] = (node.get("stream", "") + text)[-STREAM_LIMIT:]
        else:
            node["status"] = event.status
            review = event.data.get("review")
            if event.status == "REVIEW" and isinstance(review, dict) and review.get("review_id"):
                node["review"] = jsonutil.normalize(review)
            else:
                node.pop("review", None)
        if event.type == EventType.NODE_EXECUTED:
            data = event.data
            node["runs"] += 1
            node["started_at"], node["ended_at"] = data.get("started_at"), data.get("ended_at")
            if node["started_at"] and node["ended_at"]:
                node["ms"] = round(node["ms"] + (node["ended_at"] - node["started_at"]) * 1000, 3)
            shown = [[str(pin), display_value(value, 200)] for pin, value in data.get("outputs") or []]
            node["outputs"] = (node["outputs"] + shown)[-MAX_OUTPUTS_PER_NODE:]
            node["error"] = data.get("error")
        nodes[event.node_id] = node
        self.nodes = nodes
        if not self.execution_id:
            self.execution_id = event.execution_id

    # ---- human reviews ------------------------------------------------------------------------------

    def _sync_reviews(self) -> None:
        """One form per review a node waits for; a form goes when its node moves on or the run ends."""
        waiting = {}
        if not self._final:
            for n in self.nodes.values():
                review = n.get("review")
                if n.get("status") == "REVIEW" and review:
                    waiting[str(review["review_id"])] = review
        if waiting == self.reviews:
            return
        self.reviews = waiting
        for review_id in [r for r in self._review_forms if r not in waiting]:
            self._review_forms.pop(review_id).close()
        for review_id, review in waiting.items():
            if review_id not in self._review_forms:
                self._review_forms[review_id] = ReviewForm(review, self._answer)
        self.review_box.children = tuple(self._review_forms.values())

    def _answer(self, form: ReviewForm, decision: str, data: Any, message: str | None) -> None:
        """Send a form's answer through the client (in its thread); the form says how it went."""
        handle = self.handle
        kwargs: dict[str, Any] = {"message": message}
        if data is not UNCHANGED:
            kwargs["data"] = data
        future = handle.client.portal.submit(
            handle.client.inner.decide_review(form.review_id, decision, **kwargs)
        )
        future.add_done_callback(form.answered)

    # ---- the clock --------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Seconds the run has taken so far (its whole time once ended)."""
        if self.started_at is None:
            return 0.0
        end = self.ended_at if self.ended_at is not None else time.time()
        return max(0.0, end - self.started_at)

    def _run_clock(self) -> None:
        while not self._stop_clock.wait(TICK):
            with self._lock:
                if self._final:
                    return
                self.header.value = self._header_html()

    # ---- rendering ---------------------------------------------------------------------------------

    def _header_html(self) -> str:
        title = f"<b>{html_name(self.graph_name)}</b> · " if self.graph_name else ""
        return (
            f"{title}run <code>{escape(self.execution_id or '…')}</code> {badge(self.status)} "
            f"<small class='wb-clock'>{format_seconds(self.elapsed)} · {self.events_seen} events</small>"
        )

    def _nodes_html(self) -> str:
        rows = []
        for node_id, n in self.nodes.items():
            lines = [
                f"<span style='color:#555'>{html_name(pin)}</span>: {html_name(text)}"
                for pin, text in n.get("outputs", [])[-3:]
            ]
            if n.get("stream"):
                lines.append(f"<i>{html_name(n['stream'][-200:])}</i>")
            if n.get("error"):
                lines.append(f"<span style='color:#c62828'>{html_name(n['error'])}</span>")
            rows.append(
                (
                    f"<code>{html_name(node_id)}</code>",
                    html_name(str(n.get("block", ""))[:40]),
                    badge(str(n.get("status", ""))),
                    str(n.get("runs", 0)),
                    f"{n.get('ms', 0):.1f} ms",
                    "<br>".join(lines),
                )
            )
        return table(["node", "block", "status", "runs", "time", "outputs"], rows) if rows else ""

    def _outputs_html(self) -> str:
        parts = []
        rows = [
            (f"<b>{html_name(pin)}</b>", html_value(v, 300)) for pin, vs in self.outputs.items() for v in vs
        ]
        if rows:
            parts.append(table(["output", "value"], rows))
        if self.error:
            parts.append(f"<div style='color:#c62828'>error: {html_name(self.error)}</div>")
        if self.notice:
            parts.append(f"<div style='color:#c62828'>{html_name(self.notice)}</div>")
        return "".join(parts)

    def _render(self) -> None:
        with self._lock:
            self.header.value = self._header_html()
            self.node_table.value = self._nodes_html()
            self.output_view.value = self._outputs_html()

    def snapshot_html(self) -> str:
        """The run as static HTML: header, node table, outputs (what an export shows)."""
        with self._lock:
            body = self._header_html(), self._nodes_html(), self._outputs_html()
        return (
            "<div class='wb-run' style='border:1px solid #ccd;border-radius:4px;padding:6px 10px'>"
            f"<div>{body[0]}</div>{body[1]}{body[2]}</div>"
        )

    def snapshot_text(self) -> str:
        """``Run of <graph> <id>: STATUS · output: value ...`` in one line."""
        with self._lock:
            outs = "; ".join(
                f"{isolate(pin)}: {isolate(display_value(v, 80))}"
                for pin, vs in self.outputs.items()
                for v in vs
            )
            name = f" of {isolate(self.graph_name)}" if self.graph_name else ""
            return f"Run{name} {self.execution_id}: {self.status}" + (f" · {outs}" if outs else "")

    # ---- control ---------------------------------------------------------------------------------

    def _cancel_clicked(self, _button: Any = None) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Ask the platform to stop the run (the button then shows the final status)."""
        handle = self.handle
        with self._lock:
            if self._final or handle.execution_id is None:
                return
            self.cancel_button.disabled = True
            self.cancel_button.description = "Cancelling…"
        future = handle.client.portal.submit(handle.client.inner.cancel(handle.execution_id))
        future.add_done_callback(self._cancel_done)

    def _cancel_done(self, future: Future[str]) -> None:
        exc = future.exception()
        if exc is None:
            return
        with self._lock, self.hold_sync():
            if self._final:
                return
            self.notice = f"cancel failed: {exc}"
            self.cancel_button.description = "Cancel"
            self.cancel_button.disabled = False
            self._render()

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        """Block until the run ends; its result."""
        return self.handle.result(timeout)

    @property
    def result(self) -> ExecutionResult | None:
        """The result once the run has ended."""
        return self.handle.result() if self.handle.done else None

    def close(self) -> None:
        """Stop the clock and close the widget."""
        self._stop_clock.set()
        self.handle.remove_listener(self._on_event)
        super().close()

    def state(self) -> dict[str, Any]:
        """The widget's state as plain data (what the frontend sees)."""
        with self._lock:
            return {
                "execution_id": self.execution_id,
                "graph_name": self.graph_name,
                "status": self.status,
                "nodes": self.nodes,
                "outputs": self.outputs,
                "error": self.error,
                "notice": self.notice,
                "events_seen": self.events_seen,
                "elapsed": self.elapsed,
                "cancel_disabled": self.cancel_button.disabled,
                "cancel_label": self.cancel_button.description,
                "reviews": self.reviews,
            }


class ReviewForm(widgets.VBox):
    """One review the run waits for: its name and data, a message box, Approve and Reject."""

    def __init__(self, review: dict[str, Any], send: Any) -> None:
        self.review_id = str(review["review_id"])
        self.review = review
        self._send = send
        self._asked = review.get("data")
        text = json.dumps(self._asked, indent=2, ensure_ascii=False, default=str)
        due = ""
        if review.get("expires_at"):
            due = f" · {escape(str(review.get('default_decision')))} by default at {escape(str(review['expires_at']))}"
        self.title = widgets.HTML(
            f"<b>Waiting for your review:</b> {html_name(str(review.get('name') or 'data'))} "
            f"<small>(node <code>{html_name(str(review.get('node_id') or ''))}</code>{due})</small>"
        )
        self.editable = bool(review.get("editable"))
        if self.editable:
            self.data = widgets.Textarea(
                value=text,
                description="Data",
                rows=min(12, text.count("\n") + 2),
                layout=widgets.Layout(width="100%"),
            )
        else:
            self.data = widgets.HTML(f"<pre style='margin:0'>{escape(text)}</pre>")
        self.message = widgets.Text(
            value="",
            description="Message",
            placeholder="optional: passed on to the agent",
            layout=widgets.Layout(width="100%"),
        )
        self.approve_button = widgets.Button(description="Approve", button_style="success", icon="check")
        self.reject_button = widgets.Button(description="Reject", button_style="danger", icon="times")
        self.approve_button.on_click(lambda _b: self.submit("approve"))
        self.reject_button.on_click(lambda _b: self.submit("reject"))
        self.status = widgets.HTML("")
        super().__init__(
            [
                self.title,
                self.data,
                self.message,
                widgets.HBox([self.approve_button, self.reject_button]),
                self.status,
            ],
            layout=widgets.Layout(border="1px solid #e0b252", padding="4px 10px", margin="4px 0"),
        )

    def submit(self, decision: str) -> None:
        """Send the answer (the data only when it was changed, on an approval)."""
        data: Any = UNCHANGED
        if decision == "approve" and self.editable:
            try:
                value = json.loads(self.data.value)
            except ValueError as exc:
                self.status.value = (
                    f"<span style='color:#c62828'>the data is not valid JSON: {escape(str(exc))}</span>"
                )
                return
            if jsonutil.normalize(value) != jsonutil.normalize(self._asked):
                data = value
        self.approve_button.disabled = self.reject_button.disabled = True
        self.status.value = "<i>sending…</i>"
        self._send(self, decision, data, self.message.value.strip() or None)

    def answered(self, future: Future[Any]) -> None:
        """The answer went through (the run goes on and the form goes with its node) or failed."""
        exc = future.exception()
        if exc is None:
            decided = future.result()
            self.status.value = f"<b>{escape(str(decided.status).lower())}</b>: the run goes on"
            return
        self.status.value = f"<span style='color:#c62828'>{escape(str(exc))}</span>"
        self.approve_button.disabled = self.reject_button.disabled = False
