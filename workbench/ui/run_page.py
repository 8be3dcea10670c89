"""One run's page (``/monitor/run?id=<run id>``): a timeline of its node executions, each node's inputs,
outputs and error, the Cancel and Re-run buttons, and a form for each human review it waits for.

- :class:`RunTimeline`: a Gantt chart (HoloViews ``Segments``), one bar per node execution from its
  start to its end (to now while it runs), colored by status;
- :class:`NodeTable`: the node executions in a table, values shown as text a person reads (a text as
  itself, a small dict as ``key: value``), each row unfolding to the full inputs and outputs;
- :class:`ReviewForms`: what each waiting review is about, its data (editable as JSON when the review
  allows it), a message, Approve and Reject;
- :class:`RunPage`: all of it under the run's summary and actions, re-read as the run's events arrive.

The data is a :class:`~workbench.ui.monitor_data.RunStore`; actions go through the monitor service
(``wb.executions.cancel`` / ``submit`` as the logged-in user).
"""

from __future__ import annotations

import asyncio
import html
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param
from bokeh.models import DatetimeTickFormatter
from panel.viewable import Viewer

from workbench.runtime.events import ExecutionEvent
from workbench.services.executions import NodeExecution
from workbench.services.monitor import MonitorService, RunDetail
from workbench.ui.context import UiContext
from workbench.ui.monitor_data import (
    STATUS_BADGES,
    STATUS_COLORS,
    EventFeed,
    RunStore,
    format_seconds,
    format_time,
    run_href,
    short_id,
)

CELL_CHARS = 160
"""Longest text a table cell shows (the unfolded row shows everything)."""
TIME_TICKS = DatetimeTickFormatter(
    milliseconds="%H:%M:%S.%3N",
    seconds="%H:%M:%S",
    minsec="%H:%M:%S",
    minutes="%H:%M",
    hourmin="%H:%M",
    hours="%H:%M",
    context=None,
)
"""Clock times on the timeline's axis, whatever the run's length."""
MIN_BAR = 0.004
"""The shortest bar of the timeline, as a share of the run's span (instant nodes stay visible)."""
NODE_COLUMNS = [
    "node",
    "block",
    "status",
    "started",
    "ended",
    "duration",
    "inputs",
    "outputs",
    "error",
    "index",
]


def readable(value: Any) -> str:
    """A value as a person reads it: texts and numbers as themselves, a flat list or dict as
    ``a, b`` or ``key: value`` lines, anything deeper as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return ", ".join(readable(v) for v in value)
    if isinstance(value, dict) and all(_scalar(v) for v in value.values()):
        return "\n".join(f"{k}: {readable(v)}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False, default=str)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def readable_outputs(outputs: list[tuple[str, Any]]) -> str:
    """What a node yielded, one ``pin: value`` line per output."""
    return "\n".join(f"{pin}: {readable(value)}" for pin, value in outputs)


def _clip(text: str) -> str:
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def node_label(node: NodeExecution) -> str:
    """How the timeline and the table name a node execution: ``block (node id) #seq``."""
    seq = f" #{node.seq}" if node.seq else ""
    return f"{node.block_name or node.block_id} ({node.node_id}){seq}"


def node_frame(detail: RunDetail | None) -> pd.DataFrame:
    """The node executions of a run as the table shows them, in the order they were queued."""
    rows = []
    for i, node in enumerate(detail.result.node_executions if detail else []):
        rows.append(
            {
                "node": node.node_id,
                "block": node.block_name or node.block_id,
                "status": str(node.status),
                "started": format_time(node.started_at),
                "ended": format_time(node.ended_at),
                "duration": format_seconds(node.duration),
                "inputs": _clip(readable(node.inputs)),
                "outputs": _clip(readable_outputs(node.outputs)),
                "error": node.error or "",
                "index": i,
            }
        )
    return pd.DataFrame(rows, columns=NODE_COLUMNS)


def timeline_frame(detail: RunDetail | None, now: datetime | None = None) -> pd.DataFrame:
    """One bar per node execution that started: label, start, end (now while running; at least a
    sliver of the run's span, so an instant node shows), status, and the real duration as text."""
    now = now or datetime.now(UTC)
    started = [n for n in (detail.result.node_executions if detail else []) if n.started_at is not None]
    shortest = timedelta(0)
    if started:
        first = min(n.started_at for n in started if n.started_at is not None)
        last = max(n.ended_at or now for n in started)
        shortest = (last - first) * MIN_BAR  # an instant node still shows as a sliver
    rows = [
        {
            "node": node_label(n),
            "start": n.started_at,
            "end": max(n.ended_at or now, n.started_at + shortest),
            "status": str(n.status),
            "duration": format_seconds(((n.ended_at or now) - n.started_at).total_seconds()),
        }
        for n in started
        if n.started_at is not None
    ]
    frame = pd.DataFrame(rows, columns=["node", "start", "end", "status", "duration"])
    for column in ("start", "end"):  # bokeh draws naive datetimes; these are UTC
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
    return frame


class RunTimeline(Viewer):
    """A Gantt chart of a run's node executions."""

    store = param.ClassSelector(class_=RunStore, doc="The run drawn.")
    row_height = param.Integer(default=28, doc="Pixels per node execution.")

    @param.depends("store.detail")
    def __panel__(self) -> pn.viewable.Viewable:
        """The chart, or a line saying there is nothing to draw yet."""
        frame = timeline_frame(self.store.detail)
        if frame.empty:
            return pn.pane.Markdown("No node has started yet.")
        labels = list(dict.fromkeys(frame["node"]))[::-1]  # first started on top
        segments = hv.Segments(
            frame, kdims=["start", "node", "end", "node"], vdims=["status", "duration"]
        ).opts(
            color="status",
            cmap=STATUS_COLORS,
            line_width=min(18, self.row_height - 8),
            height=110 + self.row_height * len(labels),
            xformatter=TIME_TICKS,
            responsive=True,
            tools=["hover"],
            xlabel="time (UTC)",
            ylabel="",
            title="Timeline",
            toolbar=None,
            show_legend=False,
        )
        chart = segments.redim.values(node=labels)
        return pn.pane.HoloViews(chart, sizing_mode="stretch_width", name="timeline")


class NodeTable(Viewer):
    """The node executions of a run: status, timings, inputs, outputs and error."""

    store = param.ClassSelector(class_=RunStore, doc="The run shown.")
    height = param.Integer(default=420, doc="Height of the table in pixels.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._table = pn.widgets.Tabulator(
            node_frame(self.store.detail),
            show_index=False,
            disabled=True,
            selectable=False,
            hidden_columns=["index"],
            row_content=self._full,
            embed_content=False,
            formatters={
                "status": {"type": "lookup", **STATUS_BADGES},
                "inputs": {"type": "textarea"},
                "outputs": {"type": "textarea"},
                "error": {"type": "textarea"},
            },
            widths={"inputs": 280, "outputs": 280, "error": 220},
            configuration={"columnDefaults": {"headerSort": False}, "placeholder": "No node executions."},
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            height=self.height,
        )

    @param.depends("store.detail", watch=True)
    def _update(self) -> None:
        self._table.value = node_frame(self.store.detail)

    def _full(self, row: pd.Series) -> pn.viewable.Viewable:
        """Everything about one node execution, unfolded under its row."""
        detail = self.store.detail
        if detail is None or row["index"] >= len(detail.result.node_executions):
            return pn.pane.Markdown("")
        node = detail.result.node_executions[int(row["index"])]
        parts = [("Inputs", readable(node.inputs)), ("Outputs", readable_outputs(node.outputs))]
        if node.error:
            parts.append(("Error", node.error))
        if node.stats:
            parts.append(("Stats", readable(node.stats)))
        body = "".join(
            f"<h4 style='margin:6px 0 2px'>{title}</h4><pre style='white-space:pre-wrap;margin:0'>"
            f"{html.escape(text) or '(none)'}</pre>"
            for title, text in parts
        )
        return pn.pane.HTML(body, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        """The table."""
        return self._table


REVIEW_STYLE = {
    "border": "1px solid #e0b252",
    "border-left": "6px solid #b7791f",
    "border-radius": "6px",
    "background": "#fffaf0",
    "padding": "2px 10px 10px",
}
"""The review form's look (an amber panel: the run waits for the person reading it)."""


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


class ReviewForms(Viewer):
    """The run's reviews waiting for the user: what each is about, its data, a message, Approve, Reject."""

    store = param.ClassSelector(class_=RunStore, doc="The run whose reviews are shown and answered.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._forms: dict[str, pn.viewable.Viewable] = {}
        """The form of each review shown, kept while it waits: what the person typed survives the
        run's other events."""

    @param.depends("store.detail")
    def __panel__(self) -> pn.viewable.Viewable:
        """One form per waiting review (nothing when none waits)."""
        detail = self.store.detail
        reviews = detail.reviews if detail is not None else ()
        self._forms = {r.id: self._forms.get(r.id) or self._form(r) for r in reviews}
        if not self._forms:
            return pn.Spacer(height=0)
        return pn.Column(*self._forms.values(), sizing_mode="stretch_width")

    def _form(self, review: Any) -> pn.viewable.Viewable:
        facts = [f"node {review.node_id}"]
        if review.expires_at is not None:
            facts.append(f"{review.default_decision} by default at {format_time(review.expires_at)} UTC")
        head = pn.pane.HTML(
            "<div style='font-size:17px;font-weight:600;color:#78350f;margin:8px 0 2px'>Waiting for your "
            f"review: {html.escape(review.name or 'data')}</div>"
            f"<div style='color:#4b5563;font-size:13px'>{html.escape(' · '.join(facts))}</div>",
            sizing_mode="stretch_width",
        )
        text = _json_text(review.data)
        data: pn.viewable.Viewable
        if review.editable:
            data = pn.widgets.TextAreaInput(
                name="Data (JSON: change it before approving if you like)",
                value=text,
                height=min(320, 60 + 18 * text.count("\n")),
                sizing_mode="stretch_width",
            )
        else:
            data = pn.pane.HTML(
                "<pre style='background:#f3f4f6;padding:8px 10px;border-radius:4px;white-space:pre-wrap;"
                f"margin:4px 0;max-height:320px;overflow:auto'>{html.escape(text)}</pre>",
                sizing_mode="stretch_width",
            )
        message = pn.widgets.TextInput(
            name="Message (optional: passed on to the agent)",
            placeholder="Why, or what to do next",
            sizing_mode="stretch_width",
        )
        approve = pn.widgets.Button(label="Approve", color="success", width=120)
        reject = pn.widgets.Button(label="Reject", color="danger", width=120)

        async def answer(decision: str) -> None:
            approve.disabled = reject.disabled = True
            edited = data.value if isinstance(data, pn.widgets.TextAreaInput) else None
            await self.store.decide(review.id, decision, data_text=edited, message=message.value or "")
            approve.disabled = reject.disabled = False

        async def on_approve(_event: param.parameterized.Event) -> None:
            await answer("approve")

        async def on_reject(_event: param.parameterized.Event) -> None:
            await answer("reject")

        approve.on_click(on_approve)
        reject.on_click(on_reject)
        return pn.Column(
            head,
            data,
            message,
            pn.Row(approve, reject),
            css_classes=["wb-review"],
            styles=REVIEW_STYLE,
            sizing_mode="stretch_width",
            margin=(8, 10),
        )


class RunPage(Viewer):
    """One run: its summary, Cancel and Re-run, its reviews, the timeline and the node table; live."""

    store = param.ClassSelector(class_=RunStore, doc="The run shown and its actions.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._cancel = pn.widgets.Button(label="Cancel run", color="danger", width=120, disabled=True)
        self._rerun = pn.widgets.Button(
            label="Re-run with the same inputs", color="primary", width=220, disabled=True
        )
        self._cancel.on_click(self._on_cancel)
        self._rerun.on_click(self._on_rerun)
        self.feed: EventFeed | None = None
        self._loading = pn.pane.Markdown("Loading…")
        self._run = pn.Column(
            self._summary,
            pn.Row(self._cancel, self._rerun),
            ReviewForms(store=self.store),
            RunTimeline(store=self.store),
            NodeTable(store=self.store),
            sizing_mode="stretch_width",
        )
        self._buttons()
        self._shown()

    async def _on_cancel(self, _event: param.parameterized.Event) -> None:
        await self.store.cancel()

    async def _on_rerun(self, _event: param.parameterized.Event) -> None:
        await self.store.rerun()

    @param.depends("store.detail", watch=True)
    def _buttons(self) -> None:
        detail = self.store.detail
        self._rerun.disabled = detail is None
        self._cancel.disabled = detail is None or detail.result.status.is_final

    async def start(self, bus: Any, user_id: str) -> None:
        """Follow the run's events, and read it (listening first: nothing falls between the two)."""
        self.feed = EventFeed(bus, user_id, self.handle_events, execution_id=self.store.execution_id or None)
        await self.store.refresh()
        if self.store.detail is None:  # no such run of this user: nothing to follow
            await self.close()

    async def handle_events(self, events: list[ExecutionEvent]) -> None:
        """Read the run again when its events arrive."""
        await self.store.apply_events(events)

    async def close(self) -> None:
        """Stop following events."""
        if self.feed is not None:
            await self.feed.close()
            self.feed = None

    @param.depends("store.detail")
    def _summary(self) -> pn.viewable.Viewable:
        detail = self.store.detail
        if detail is None:
            return pn.Spacer(height=0)
        result = detail.result
        color = STATUS_COLORS.get(str(result.status), "#333")
        facts = [
            ("Agent", detail.agent),
            ("Run", result.execution_id),
            ("Started", format_time(result.started_at or result.created_at)),
            ("Duration", format_seconds(result.duration) or _not_ended(str(result.status))),
            ("Inputs", readable(result.inputs) or "(none)"),
        ]
        if result.error:
            where = f" (node {result.error_node_id})" if result.error_node_id else ""
            facts.append(("Error", result.error + where))
        items = "".join(
            f"<tr><th style='text-align:left;padding-right:14px;vertical-align:top'>{html.escape(k)}</th>"
            f"<td style='white-space:pre-wrap'>{html.escape(v)}</td></tr>"
            for k, v in facts
        )
        return pn.pane.HTML(
            f"<div style='font-size:20px;font-weight:600'>{html.escape(detail.agent)} "
            f"<span style='color:{color}'>{html.escape(str(result.status).lower())}</span></div>"
            f"<table style='margin-top:6px'>{items}</table>",
            sizing_mode="stretch_width",
        )

    @param.depends("store.error", "store.notice", "store.rerun_id")
    def _messages(self) -> pn.viewable.Viewable:
        parts: list[pn.viewable.Viewable] = []
        if self.store.error:
            parts.append(pn.pane.Alert(html.escape(self.store.error), alert_type="danger"))
        if self.store.notice:
            text = html.escape(self.store.notice)
            if self.store.rerun_id:
                text += f' <a href="{html.escape(run_href(self.store.rerun_id))}">Open run {short_id(self.store.rerun_id)}</a>'
            parts.append(pn.pane.Alert(text, alert_type="info"))
        return pn.Column(*parts, sizing_mode="stretch_width")

    @param.depends("store.detail", "store.error", watch=True)
    def _shown(self) -> None:
        """When the run cannot be read, only the way back and the message show. While it is being
        read the (empty) run shows under "Loading…": a Tabulator first drawn in a hidden container
        may never draw its rows once shown."""
        self._run.visible = self.store.detail is not None or not self.store.error
        self._loading.visible = self.store.detail is None and not self.store.error

    def __panel__(self) -> pn.viewable.Viewable:
        """Summary and actions, messages, timeline, nodes."""
        return pn.Column(
            pn.pane.HTML('<a href="/monitor">← All runs</a>'),
            self._loading,
            self._messages,
            self._run,
            sizing_mode="stretch_width",
        )


def _not_ended(status: str) -> str:
    return "waiting for a review" if status == "REVIEW" else "running"


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """The page of the run named by ``?id=`` for one browser session of ``ctx.user_id``."""
    pn.extension("tabulator")
    hv.extension("bokeh", logo=False)
    raw = (pn.state.session_args or {}).get("id") or [b""]
    execution_id = raw[0].decode("utf-8", "replace") if isinstance(raw[0], bytes) else str(raw[0])
    service = MonitorService.from_workbench(ctx.wb)
    page = RunPage(store=RunStore(service, ctx.user_id, execution_id=execution_id.strip()))

    async def start() -> None:
        await page.start(ctx.wb.bus, ctx.user_id)

    pn.state.onload(start)
    pn.state.on_session_destroyed(lambda _context: asyncio.ensure_future(page.close()))
    return page
