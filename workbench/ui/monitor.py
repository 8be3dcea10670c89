"""The Monitor page (``/monitor``): a live table of the user's runs and the dashboards.

- :class:`ExecutionsTable`: filters (agent, status, time), the runs of one page in a Tabulator, and
  paging done in SQL (keyset: Newest / Newer / Older). Runs change in place as their events arrive
  on the bus; each run links to its own page (:mod:`workbench.ui.run_page`).
- :class:`Dashboards`: runs per minute by status, success rate, duration percentiles per agent and
  per block, tokens and cost per agent and day (HoloViews through hvPlot, from aggregates computed in
  PostgreSQL), and the queue and executors of the runtime.
- :class:`MonitorPage`: both in tabs, fed by one subscription to the user's events.

The data comes from :mod:`workbench.ui.monitor_data`; nothing here computes anything about runs.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd
import panel as pn
import param
from panel.viewable import Viewer

from workbench.runtime.events import ExecutionEvent
from workbench.services.monitor import MonitorService, Window
from workbench.store.monitor import STATUSES
from workbench.ui.context import UiContext
from workbench.ui.monitor_data import (
    STATUS_COLORS,
    TIME_RANGES,
    DashboardStore,
    EventFeed,
    ExecutionsStore,
)
from workbench.ui.tables import TABLE_CSS, html_table, status_badge

RUNS_CSS = """
:host { overflow-y: auto; }
.wb-table td[data-field="run"] { font-family: ui-monospace, monospace; }
"""
RUN_COLUMNS = ["run", "agent", "status", "started", "duration", "nodes", "tokens", "cost", "error"]


def runs_html(frame: pd.DataFrame, empty: str = "No runs match.") -> str:
    """The executions table's page of runs as an HTML table: each run links to its page, statuses
    are colored badges, user text (agent names, errors) is escaped; ``empty`` when there are none."""
    rows = [
        [
            f'<a href="{html.escape(r["href"])}" title="{html.escape(r["id"])}">{html.escape(r["run"])}</a>',
            html.escape(str(r["agent"])),
            status_badge(str(r["status"])),
            html.escape(str(r["started"])),
            html.escape(str(r["duration"])),
            str(r["nodes"]),
            f"{r['tokens']:,}" if r["tokens"] else "",
            html.escape(str(r["cost"])),
            html.escape(str(r["error"])),
        ]
        for r in frame.to_dict("records")
    ]
    return html_table(
        ["Run", "Agent", "Status", "Started", "Duration", "Nodes", "Tokens", "Cost", "Error"],
        rows,
        empty,
        fields=RUN_COLUMNS,
        classes={"nodes": "wb-num", "tokens": "wb-num", "cost": "wb-num", "error": "wb-wrap"},
        row_ids=[str(i) for i in frame["id"]],
    )


def _alert(text: str) -> str:
    return html.escape(text)


def _not_available() -> pn.viewable.Viewable:
    return pn.pane.Markdown("Not available right now: see the message above.")


class ExecutionsTable(Viewer):
    """The user's runs, newest first, with filters and paging; live while the page is open."""

    store = param.ClassSelector(class_=ExecutionsStore, doc="The runs shown and the filters.")
    height = param.Integer(
        default=None, allow_None=True, doc="Height of the table in pixels (None: its rows')."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        store = self.store
        self._agent = pn.widgets.Select(label="Agent", options=self._agent_options(), width=220)
        self._status = pn.widgets.MultiChoice(label="Status", options=list(STATUSES), width=320)
        self._range = pn.widgets.Select(label="Started", options=list(TIME_RANGES), width=150)
        self._custom = pn.widgets.DatetimeRangePicker(label="From - to (UTC)", width=320, visible=False)
        self._table = pn.pane.HTML(
            "",
            stylesheets=[TABLE_CSS, RUNS_CSS],
            sizing_mode="stretch_width",
            height=self.height,
            margin=(5, 10),
        )
        """One HTML string: a change sends one property and the browser swaps the markup (a
        Tabulator's data source re-laid out in twenty open tabs took the machine's second core)."""
        self._newest = pn.widgets.Button(label="Newest", color="light", width=90)
        self._newer = pn.widgets.Button(label="← Newer", color="light", width=90)
        self._older = pn.widgets.Button(label="Older →", color="light", width=90)
        self._newest.on_click(self._on_newest)
        self._newer.on_click(self._on_newer)
        self._older.on_click(self._on_older)
        self._agent.param.watch(self._filters_changed, "value")
        self._status.param.watch(self._filters_changed, "value")
        self._range.param.watch(self._filters_changed, "value")
        self._custom.param.watch(self._filters_changed, "value")
        store.param.watch(lambda _e: setattr(self._agent, "options", self._agent_options()), "agents")
        self._summary = pn.pane.HTML("", margin=(12, 10))
        """One pane whose text changes (a new pane per change makes Bokeh walk the whole page)."""
        self._paging()
        self._show_rows()
        self._update_summary()

    def _agent_options(self) -> dict[str, str]:
        return {"All agents": "", **{name: graph_id for graph_id, name in self.store.agents}}

    async def _on_newest(self, _event: param.parameterized.Event) -> None:
        await self.store.newest()

    async def _on_newer(self, _event: param.parameterized.Event) -> None:
        await self.store.newer()

    async def _on_older(self, _event: param.parameterized.Event) -> None:
        await self.store.older()

    async def _filters_changed(self, _event: param.parameterized.Event) -> None:
        store = self.store
        self._custom.visible = self._range.value == "Custom"
        since, until = self._custom.value or (None, None)
        store.param.update(
            agent=self._agent.value or "",
            statuses=list(self._status.value),
            time_range=self._range.value,
            since=since,
            until=until,
        )
        await store.newest()

    @param.depends("store.frame", "store.error", "store.read", watch=True)
    def _show_rows(self) -> None:
        store = self.store
        if not store.frame.empty:
            markup = runs_html(store.frame)
        elif not store.read and not store.error:
            markup = runs_html(store.frame, "Loading…")
        elif store.error:  # not "no runs": they cannot be read (the alert above says why)
            markup = runs_html(store.frame, "Runs cannot be read right now.")
        elif store.filters().active:
            markup = runs_html(store.frame, "No runs match these filters.")
        else:
            markup = runs_html(store.frame, "No runs yet.")
        if self._table.object != markup:
            self._table.object = markup

    @param.depends("store.total", "store.position", "store.frame", "store.total_capped", watch=True)
    def _update_summary(self) -> None:
        store = self.store
        shown = len(store.frame)
        total = f"{store.total:,}" + ("+" if store.total_capped else "")
        text = f"Runs {store.position + 1:,} to {store.position + shown:,} of {total}" if shown else ""
        if self._summary.object != text:
            self._summary.object = text

    @param.depends("store.error")
    def _error(self) -> pn.viewable.Viewable:
        if not self.store.error:
            return pn.Spacer(height=0)
        return pn.pane.Alert(_alert(self.store.error), alert_type="danger", sizing_mode="stretch_width")

    @param.depends("store.has_older", "store.position", watch=True)
    def _paging(self) -> None:
        self._older.disabled = not self.store.has_older
        self._newer.disabled = self.store.position == 0
        self._newest.disabled = self.store.position == 0

    def __panel__(self) -> pn.viewable.Viewable:
        """Filters, the table, paging."""
        return pn.Column(
            pn.Row(self._agent, self._status, self._range, self._custom),
            self._error,
            self._table,
            pn.Row(self._newest, self._newer, self._older, self._summary),
            sizing_mode="stretch_width",
        )


class Dashboards(Viewer):
    """Charts of the user's runs over a window, drawn from aggregates computed in PostgreSQL."""

    store = param.ClassSelector(class_=DashboardStore, doc="The aggregates and the window.")
    chart_height = param.Integer(default=260, doc="Height of each chart in pixels.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._window = pn.widgets.RadioButtonGroup(
            label="Window", options={w.label: w for w in Window}, value=self.store.window, color="light"
        )
        self._refresh = pn.widgets.Button(label="Refresh", color="light", width=90)
        self._refresh.on_click(self._on_refresh)
        self._window.param.watch(self._window_changed, "value")

    async def _on_refresh(self, _event: param.parameterized.Event) -> None:
        await self.store.refresh()

    async def _window_changed(self, event: param.parameterized.Event) -> None:
        self.store.window = event.new
        await self.store.refresh()

    def _opts(self) -> dict[str, Any]:
        return {"height": self.chart_height, "responsive": True, "toolbar": None}

    @staticmethod
    def _titled(title: str, chart: Any) -> pn.viewable.Viewable:
        """A chart under its title (page text, so a person's find and a screen reader see it)."""
        return pn.Column(
            pn.pane.HTML(f'<h3 class="wb-chart-title" style="margin:8px 0 0">{html.escape(title)}</h3>'),
            pn.pane.HoloViews(chart, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def _percentile_chart(self, frame: pd.DataFrame, name: str) -> hv.Overlay:
        """One row per ``name``: a line from p50 to p99 with a mark at p50, p90 and p99 (seconds)."""
        labels = list(frame[name])[::-1]  # the busiest on top
        ranges = hv.Segments(frame, kdims=["p50 s", name, "p99 s", name]).opts(color="#9aa5b1", line_width=3)
        marks = [
            hv.Scatter(frame, kdims=[column], vdims=[name], label=column.removesuffix(" s")).opts(
                color=color, size=9, marker="circle", tools=["hover"]
            )
            for column, color in (("p50 s", "#2f6fde"), ("p90 s", "#c48a12"), ("p99 s", "#d64545"))
        ]
        return (
            (ranges * hv.Overlay(marks))
            .redim.values(**{name: labels})
            .opts(
                height=max(self.chart_height, 70 + 26 * len(labels)),
                responsive=True,
                toolbar=None,
                xlabel="seconds",
                ylabel="",
                legend_position="bottom_right",
            )
        )

    def _unreadable(self) -> bool:
        """Nothing read yet and the last read failed (the alert above says why)."""
        return self.store.dashboard is None and bool(self.store.error)

    @param.depends("store.dashboard", "store.error")
    def _headline(self) -> pn.viewable.Viewable:
        if self._unreadable():
            return _not_available()
        board = self.store.dashboard
        if board is None:
            return pn.pane.Markdown("Loading…")
        totals = board.totals
        rate = "n/a" if totals.success_rate is None else f"{100 * totals.success_rate:.1f} %"
        runtime = board.runtime
        waiting = f"{runtime.waiting:,} waiting ({runtime.queue_kind})"
        executors = f"{len(runtime.executors)} alive" if runtime.distributed else "in this process"
        cards = [
            ("Runs", f"{totals.runs:,}"),
            ("Success rate", rate),
            ("Running now", f"{totals.running + totals.queued:,}"),
            ("Waiting for review", f"{totals.waiting:,}"),
            ("Queue", waiting),
            ("Executors", executors),
        ]
        return pn.Row(
            *(
                pn.pane.HTML(
                    f'<div style="font-size:12px;color:#666">{html.escape(label)}</div>'
                    f'<div style="font-size:22px;font-weight:600">{html.escape(value)}</div>',
                    margin=(5, 25, 5, 0),
                )
                for label, value in cards
            )
        )

    @param.depends("store.dashboard", "store.error")
    def _rate_chart(self) -> pn.viewable.Viewable:
        if self._unreadable():
            return _not_available()
        frame = self.store.rate_frame()
        if frame.empty:
            return pn.pane.Markdown("No runs in this window.")
        chart = frame.hvplot.area(
            x="time",
            y=list(STATUSES),
            stacked=True,
            color=[STATUS_COLORS[s] for s in STATUSES],
            ylabel="runs per minute",
            xlabel="",
            legend="top",
            line_width=0,
            **self._opts(),
        )
        return self._titled(f"Runs per minute by status ({self.store.window.label})", chart)

    @param.depends("store.dashboard", "store.error")
    def _agent_charts(self) -> pn.viewable.Viewable:
        if self._unreadable():
            return _not_available()
        frame = self.store.agent_frame()
        if frame.empty:
            return pn.pane.Markdown("No agent ran in this window.")
        success = frame.hvplot.barh(
            x="agent",
            y="success %",
            color="#1e9e5a",
            xlabel="",
            ylim=(0, 100),
            **self._opts(),
        )
        percentiles = self._percentile_chart(frame, "agent")
        return pn.Row(
            self._titled("Success rate per agent (%)", success),
            self._titled("Run duration per agent (p50, p90, p99)", percentiles),
            sizing_mode="stretch_width",
        )

    @param.depends("store.dashboard", "store.error")
    def _block_chart(self) -> pn.viewable.Viewable:
        if self._unreadable():
            return _not_available()
        frame = self.store.block_frame()
        if frame.empty:
            return pn.pane.Markdown("No block ran in this window.")
        chart = self._percentile_chart(frame, "block")
        board = self.store.dashboard
        over = f"; the latest {board.block_runs:,} runs" if board is not None and board.blocks_capped else ""
        return self._titled(f"Node duration per block (p50, p90, p99; the 15 busiest{over})", chart)

    @param.depends("store.dashboard", "store.error")
    def _usage_charts(self) -> pn.viewable.Viewable:
        if self._unreadable():
            return _not_available()
        frame = self.store.usage_frame()
        if frame.empty or not (frame["tokens"].any() or frame["cost $"].any()):
            return pn.pane.Markdown("No tokens or cost reported by finished runs in the last days.")
        tokens = frame.hvplot.bar(x="day", y="tokens", by="agent", stacked=True, xlabel="", **self._opts())
        cost = frame.hvplot.bar(x="day", y="cost $", by="agent", stacked=True, xlabel="", **self._opts())
        return pn.Row(
            self._titled("Tokens per agent per day", tokens),
            self._titled("Cost per agent per day (USD)", cost),
            sizing_mode="stretch_width",
        )

    @param.depends("store.dashboard")
    def _executors(self) -> pn.viewable.Viewable:
        board = self.store.dashboard
        if board is None or not board.runtime.distributed:
            return pn.Spacer(height=0)
        rows = [
            {"executor": e.get("id", ""), "running": e.get("running", 0), "started": e.get("started_at")}
            for e in board.runtime.executors
        ]
        frame = pd.DataFrame(rows, columns=["executor", "running", "started"])
        if not frame.empty:
            frame["started"] = pd.to_datetime(frame["started"], unit="s", utc=True).dt.strftime(
                "%Y-%m-%d %H:%M:%S"
            )
        depth = ", ".join(f"{k}: {v}" for k, v in board.runtime.queue_depth.items()) or "empty"
        return pn.Column(
            pn.pane.Markdown(f"**Queue** ({board.runtime.queue_kind}): {depth}"),
            pn.widgets.Tabulator(
                frame, show_index=False, disabled=True, height=160, sizing_mode="stretch_width"
            ),
            sizing_mode="stretch_width",
        )

    @param.depends("store.error")
    def _error(self) -> pn.viewable.Viewable:
        if not self.store.error:
            return pn.Spacer(height=0)
        return pn.pane.Alert(_alert(self.store.error), alert_type="danger", sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        """The window, headline numbers, then the charts."""
        return pn.Column(
            pn.Row(self._window, self._refresh),
            self._error,
            self._headline,
            self._rate_chart,
            self._agent_charts,
            self._block_chart,
            self._usage_charts,
            self._executors,
            sizing_mode="stretch_width",
        )


class MonitorPage(Viewer):
    """The Monitor: the runs table and the dashboards, kept live by the user's events."""

    executions = param.ClassSelector(class_=ExecutionsStore, doc="The table's data.")
    dashboards = param.ClassSelector(class_=DashboardStore, doc="The dashboards' data.")
    active = param.Integer(default=0, doc="The tab shown: 0 runs, 1 dashboards.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._tabs = pn.Tabs(
            ("Runs", ExecutionsTable(store=self.executions)),
            ("Dashboards", Dashboards(store=self.dashboards)),
            dynamic=True,
            sizing_mode="stretch_width",
        )
        self._tabs.param.watch(self._tab_changed, "active")
        self.feed: EventFeed | None = None

    async def start(self, bus: Any, user_id: str) -> None:
        """Follow the user's events and read the first page and the agents (listening first: no run
        changes unseen between the read and the subscription)."""
        self.feed = EventFeed(bus, user_id, self.handle_events)
        await self.executions.load_agents()
        await self.executions.newest()

    async def handle_events(self, events: list[ExecutionEvent]) -> None:
        """Update the table from a batch of events; the dashboards too when runs ended."""
        await self.executions.apply_events(events)
        if self.active == 1 and any(e.is_final for e in events):
            await self.dashboards.runs_changed()

    async def _tab_changed(self, event: param.parameterized.Event) -> None:
        self.active = event.new
        if event.new == 1:
            await self.dashboards.refresh()

    async def close(self) -> None:
        """Stop following events."""
        self.dashboards.close()
        if self.feed is not None:
            await self.feed.close()
            self.feed = None

    def __panel__(self) -> pn.viewable.Viewable:
        """The tabs."""
        return self._tabs


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """The Monitor for one browser session of ``ctx.user_id``."""
    pn.extension("tabulator")
    hv.extension("bokeh", logo=False)
    service = MonitorService.from_workbench(ctx.wb)
    page = MonitorPage(
        executions=ExecutionsStore(service, ctx.user_id),
        dashboards=DashboardStore(service, ctx.user_id),
    )

    async def start() -> None:
        await page.start(ctx.wb.bus, ctx.user_id)

    pn.state.onload(start)
    pn.state.on_session_destroyed(lambda _context: asyncio.ensure_future(page.close()))
    return page
