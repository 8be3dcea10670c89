"""The Monitor pages' data stores: what the views show, read through the monitor service, kept live by
the event bus.

- :class:`ExecutionsStore`: one page of the user's runs with the filters, as a DataFrame for the
  table; it applies execution events as they arrive (a run's status, its node count) and reads the
  database again only when it must (a new run on the first page, a run that ended);
- :class:`DashboardStore`: the dashboards' aggregates for a window, as DataFrames for the charts;
- :class:`RunStore`: one run and its node executions, with cancel, re-run and the answers to its
  human reviews;
- :class:`EventFeed`: the user's events from the bus, handed over in batches (no polling: it waits
  on the subscription, and what arrives while a batch is handled forms the next one), within the
  live pages' share of the loop (:mod:`workbench.ui.budget`).

A store never raises into a page: a failure lands in its ``error`` parameter (what went wrong, in
words) and the next successful read clears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import param

from workbench import jsonutil
from workbench.errors import StoreError, StoreUnavailable, UserError
from workbench.runtime.bus import EventBus, Subscription
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.services.monitor import Dashboard, MonitorService, RunDetail, Window
from workbench.services.reviews import UNCHANGED
from workbench.store.monitor import STATUSES, Cursor, ExecutionFilter, ExecutionPage, ExecutionRow
from workbench.ui.budget import PAGE_UPDATES, Metered, UpdateBudget

log = logging.getLogger(__name__)

TIME_RANGES: dict[str, timedelta | None] = {
    "Any time": None,
    "Last hour": timedelta(hours=1),
    "Last day": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Custom": None,
}
"""The time filter's choices ("Custom" uses the store's ``since``/``until``)."""
STATUS_COLORS = {
    "QUEUED": "#8a8f98",
    "RUNNING": "#2f6fde",
    "REVIEW": "#b7791f",
    "COMPLETED": "#1e9e5a",
    "FAILED": "#d64545",
    "CANCELLED": "#c48a12",
    "INCOMPLETE": "#8a8f98",
}
"""One color per status, in the tables and the charts alike."""
STATUS_BADGES = {
    s: f'<span style="color:{c};font-weight:600">{s.lower()}</span>' for s, c in STATUS_COLORS.items()
}
"""A status as the tables show it (Tabulator ``lookup`` formatter: fixed HTML, never user text)."""
FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
TABLE_COLUMNS = [
    "run",
    "agent",
    "status",
    "started",
    "duration",
    "nodes",
    "tokens",
    "cost",
    "error",
    "href",
    "id",
]
"""The executions table's columns (``href`` and ``id`` are hidden: the link target and the full id)."""


def describe_error(exc: BaseException) -> str:
    """What a person should read about a failed read or action."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, StoreError):
        reason = exc.__cause__ if isinstance(exc, StoreUnavailable) and exc.__cause__ is not None else exc
        return f"The database cannot be reached right now ({reason}). This page recovers when it is back."
    return f"Something went wrong: {type(exc).__name__}: {exc}"


def short_id(execution_id: str) -> str:
    """The first block of a run id: enough to tell runs apart in a table."""
    return execution_id.split("-", 1)[0]


def format_seconds(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``1 h 02 min``; '' when unknown."""
    if seconds is None or math.isnan(seconds):
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def format_time(value: datetime | None) -> str:
    """A UTC timestamp as ``2026-12-02 10:31:05``; '' when unknown."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def run_href(execution_id: str) -> str:
    """The run page of one execution."""
    return f"/monitor/run?id={execution_id}"


async def guarded(store: param.Parameterized, call: Awaitable[Any]) -> Any:
    """Await ``call``; on failure put the reason in ``store.error`` and return None."""
    try:
        result = await call
    except (UserError, StoreError, OSError) as exc:
        store.error = describe_error(exc)
        return None
    except Exception as exc:  # a page must show what failed, never go blank
        log.exception("monitor read failed")
        store.error = describe_error(exc)
        return None
    store.error = ""
    return result


class EventFeed:
    """Hands the events of one user's runs to ``handle`` in batches until closed (``execution_id``:
    one run's only; ``types``: those event types only)."""

    def __init__(
        self,
        bus: EventBus,
        user_id: str,
        handle: Callable[[list[ExecutionEvent]], Awaitable[None]],
        *,
        execution_id: str | None = None,
        types: Iterable[EventType] | None = None,
        min_interval: float = 0.25,
        budget: UpdateBudget = PAGE_UPDATES,
    ) -> None:
        self._bus = bus
        self._handle = handle
        self.budget = budget
        """Loop time shared with the other live pages: a hand-over waits for its share."""
        self.min_interval = min_interval
        """Seconds between two hand-overs, at least, while runs keep changing: a quiet
        page shows a change at once, a busy one re-reads a few times a second, not once per event
        (every open page re-reads on the server's loop, which the API shares)."""
        self._last = float("-inf")
        self._sub: Subscription = bus.subscribe(user_id=user_id, execution_id=execution_id, types=types)
        self._task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(
            self._run(), name=f"monitor-feed-{user_id}"
        )
        self.handled = 0
        """Events handed over so far."""

    async def _run(self) -> None:
        gaps = self._bus.gaps
        while True:
            try:
                batch = [await self._sub.get()]
            except StopAsyncIteration:
                return
            rest = self._last + self.min_interval - time.monotonic()
            if rest > 0:  # busy: let more events gather, then hand them over together
                await asyncio.sleep(rest)
            await self.budget.turn()  # the live pages share a part of the loop
            while True:  # what else is waiting joins this batch
                try:
                    batch.append(await self._sub.get(timeout=0))
                except (TimeoutError, StopAsyncIteration):
                    break
            if self._bus.gaps != gaps or self._sub.lagged:
                gaps, self._sub.lagged = self._bus.gaps, 0
                batch.append(_RESYNC)  # events were missed: the handler reads everything again
            handling = Metered(self._handle(batch))
            try:
                await handling
            except Exception:
                log.exception("monitor: handling execution events failed")
            self.budget.pay(handling.spent)
            self._last = time.monotonic()
            self.handled += len(batch)

    async def close(self) -> None:
        """Stop listening."""
        self._sub.close()
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


_RESYNC = ExecutionEvent(EventType.EXECUTION_UPDATED, "", "", 0, "", "RESYNC")
"""Stands for "events may have been missed" in a batch."""


class ExecutionsStore(param.Parameterized):
    """One page of the user's runs, newest first, filtered; live through :meth:`apply_events`."""

    agent = param.String(default="", doc="Graph id of the one agent shown; '' for every agent.")
    statuses = param.ListSelector(default=[], objects=list(STATUSES), doc="Statuses shown; none: all.")
    time_range = param.Selector(default="Any time", objects=list(TIME_RANGES), doc="Created within.")
    since = param.Date(default=None, allow_None=True, doc="Start of a Custom time range (UTC).")
    until = param.Date(default=None, allow_None=True, doc="End of a Custom time range (UTC).")
    page_size = param.Integer(default=50, bounds=(1, 500), doc="Runs per page.")

    agents = param.List(default=[], doc="The user's agents as (graph id, name), for the agent filter.")
    frame = param.DataFrame(
        default=pd.DataFrame(columns=TABLE_COLUMNS), doc="The page, as the table shows it."
    )
    total = param.Integer(default=0, doc="Runs matching the filters (counted up to a cap).")
    total_capped = param.Boolean(default=False, doc="Whether more than ``total`` runs match.")
    position = param.Integer(default=0, doc="How many newer runs come before this page.")
    has_older = param.Boolean(default=False, doc="Whether an older page exists.")
    error = param.String(default="", doc="Why the last read failed ('' when it worked).")
    loading = param.Boolean(default=False, doc="A read is going on.")
    read = param.Boolean(default=False, doc="Whether a page of runs has been read (before: loading).")

    def __init__(self, service: MonitorService, user_id: str, **params: Any) -> None:
        super().__init__(**params)
        self.service = service
        self.user_id = user_id
        self._rows: list[ExecutionRow] = []
        self._cursors: list[Cursor | None] = [None]
        """The cursor each page was read after, this one last (keyset paging back and forth)."""
        self._next: Cursor | None = None
        self._agents_read = False
        self._live: dict[str, dict[str, Any]] = {}
        """Runs whose final event has not come: status and node execution ids the events told."""

    # ---- reading -------------------------------------------------------------------------------

    def filters(self) -> ExecutionFilter:
        """The filter the parameters describe."""
        since = until = None
        span = TIME_RANGES[self.time_range]
        if span is not None:
            since = datetime.now(UTC) - span
        elif self.time_range == "Custom":
            since, until = _aware(self.since), _aware(self.until)
        return ExecutionFilter(self.agent or None, tuple(self.statuses), since, until)

    async def load_agents(self) -> None:
        """Read the user's agents for the agent filter."""
        found = await guarded(self, self.service.agents(self.user_id))
        if found is not None:
            self.agents = found
            self._agents_read = True

    async def refresh(self) -> None:
        """Read the current page again."""
        await self._read(self._cursors[-1])

    async def newest(self) -> None:
        """Go to the first page (after a filter change too)."""
        self._cursors = [None]
        self.position = 0
        await self._read(None)

    async def older(self) -> None:
        """Go to the next older page."""
        if self._next is None:
            return
        self._cursors.append(self._next)
        self.position += len(self._rows)
        await self._read(self._next)

    async def newer(self) -> None:
        """Go back one page."""
        if len(self._cursors) <= 1:
            return
        self._cursors.pop()
        self.position = max(0, self.position - self.page_size)
        await self._read(self._cursors[-1])

    @property
    def on_first_page(self) -> bool:
        """Whether the newest runs are shown (where new runs appear)."""
        return len(self._cursors) == 1

    async def _read(self, after: Cursor | None) -> None:
        self.loading = True
        try:
            page: ExecutionPage | None = await guarded(
                self, self.service.page(self.user_id, self.filters(), after=after, limit=self.page_size)
            )
        finally:
            self.loading = False
        if page is None:
            return
        if not self._agents_read:  # they could not be read before (the database was away)
            await self.load_agents()
        self._rows = page.rows
        self._next = page.next_cursor
        for row in page.rows:
            if row.status in FINAL:
                self._live.pop(row.id, None)
        with param.parameterized.batch_call_watchers(self):
            self.total, self.total_capped, self.has_older = (
                page.total,
                page.total_capped,
                page.next_cursor is not None,
            )
            self._publish()
            self.read = True

    # ---- live ----------------------------------------------------------------------------------

    async def apply_events(self, events: list[ExecutionEvent]) -> None:
        """Show what ``events`` tell: statuses and node counts at once, from memory; a new run on the
        first page, or a run that ended, by reading the page again (the final state is stored before
        the final event is sent)."""
        shown = {r.id for r in self._rows}
        reread = False
        for event in events:
            if event is _RESYNC:
                reread = True
                continue
            if event.type in (EventType.NODE_STREAM, EventType.NOTIFICATION):  # not about runs' states
                continue
            if event.is_final:
                self._live.pop(event.execution_id, None)
                reread = reread or event.execution_id in shown or self.on_first_page
                continue
            live = self._live.setdefault(event.execution_id, {"status": None, "nodes": set()})
            if event.node_id is None:
                live["status"] = event.status
            elif event.type == EventType.NODE_EXECUTED and event.node_execution_id:
                live["nodes"].add(event.node_execution_id)
            if event.execution_id not in shown and self.on_first_page:
                reread = True
        if reread:
            await self.refresh()
        else:
            self._publish()

    def _publish(self) -> None:
        """Set ``frame`` from the page's rows with what the events told on top."""
        records = []
        for row in self._rows:
            live = self._live.get(row.id)
            status, nodes = row.status, row.nodes
            if live is not None and row.status not in FINAL:
                status = live["status"] or status
                nodes = max(nodes, len(live["nodes"]))
            records.append(
                {
                    "run": short_id(row.id),
                    "agent": row.agent,
                    "status": status,
                    "started": format_time(row.started_at or row.created_at),
                    "duration": format_seconds(row.duration_s) or ("" if status in FINAL else status.lower()),
                    "nodes": nodes,
                    "tokens": round(row.tokens),
                    "cost": f"${row.cost_usd:.4f}" if row.cost_usd else "",
                    "error": row.error or "",
                    "href": run_href(row.id),
                    "id": row.id,
                }
            )
        frame = pd.DataFrame(records, columns=TABLE_COLUMNS)
        if not frame.equals(self.frame):  # an unchanged table costs the page nothing
            self.frame = frame


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class DashboardStore(param.Parameterized):
    """The dashboards' aggregates for one window, as DataFrames the charts draw."""

    window = param.Selector(default=Window.HOUR, objects=list(Window), doc="The time window shown.")
    dashboard = param.Parameter(default=None, doc="The last :class:`Dashboard` read (None before).")
    error = param.String(default="", doc="Why the last read failed ('' when it worked).")
    min_interval = param.Number(default=5.0, bounds=(0, None), doc="Seconds between two event-driven reads.")

    def __init__(self, service: MonitorService, user_id: str, **params: Any) -> None:
        super().__init__(**params)
        self.service = service
        self.user_id = user_id
        self._last = 0.0
        self._pending: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read every aggregate again."""
        board = await guarded(self, self.service.dashboard(self.user_id, self.window))
        self._last = asyncio.get_running_loop().time()
        if board is not None:
            self.dashboard = board

    async def runs_changed(self) -> None:
        """Runs ended: read again, at most once per ``min_interval`` (the rest is folded into one read)."""
        if self._pending is not None and not self._pending.done():
            return
        wait = self._last + self.min_interval - asyncio.get_running_loop().time()
        if wait <= 0:
            await self.refresh()
            return

        async def later() -> None:
            await asyncio.sleep(wait)
            await self.refresh()

        self._pending = asyncio.get_running_loop().create_task(later())

    def close(self) -> None:
        """Drop a pending read."""
        if self._pending is not None:
            self._pending.cancel()

    # ---- the charts' data ----------------------------------------------------------------------

    def rate_frame(self) -> pd.DataFrame:
        """Runs per minute by status, one row per bucket (columns: time, then one per status)."""
        board: Dashboard | None = self.dashboard
        if board is None:
            return pd.DataFrame(columns=["time", *STATUSES])
        minutes = board.window.bucket.total_seconds() / 60
        return pd.DataFrame(
            [{"time": b.start, **{s: b.counts[s] / minutes for s in STATUSES}} for b in board.rate],
            columns=["time", *STATUSES],
        )

    def agent_frame(self) -> pd.DataFrame:
        """Per agent: runs, success rate (%), duration percentiles (s), tokens, cost."""
        board: Dashboard | None = self.dashboard
        rows = [
            {
                "agent": a.agent,
                "runs": a.runs,
                "success %": None if a.success_rate is None else round(100 * a.success_rate, 1),
                "p50 s": a.durations.p50,
                "p90 s": a.durations.p90,
                "p99 s": a.durations.p99,
                "tokens": a.tokens,
                "cost $": a.cost_usd,
            }
            for a in (board.agents if board else [])
        ]
        return pd.DataFrame(
            rows, columns=["agent", "runs", "success %", "p50 s", "p90 s", "p99 s", "tokens", "cost $"]
        )

    def block_frame(self, top: int = 15) -> pd.DataFrame:
        """Per block (the ``top`` busiest): executions, failures, duration percentiles (s)."""
        board: Dashboard | None = self.dashboard
        rows = [
            {
                "block": b.block_name or b.block_id,
                "executions": b.executions,
                "failed": b.failed,
                "p50 s": b.durations.p50,
                "p90 s": b.durations.p90,
                "p99 s": b.durations.p99,
            }
            for b in (board.blocks[:top] if board else [])
        ]
        return pd.DataFrame(rows, columns=["block", "executions", "failed", "p50 s", "p90 s", "p99 s"])

    def usage_frame(self) -> pd.DataFrame:
        """Tokens and cost per agent per day."""
        board: Dashboard | None = self.dashboard
        rows = [
            {
                "day": u.day.strftime("%Y-%m-%d"),
                "agent": u.agent,
                "runs": u.runs,
                "tokens": u.tokens,
                "cost $": u.cost_usd,
            }
            for u in (board.usage if board else [])
        ]
        return pd.DataFrame(rows, columns=["day", "agent", "runs", "tokens", "cost $"])


class RunStore(param.Parameterized):
    """One run of the user and its node executions; cancel and re-run it, answer its reviews."""

    execution_id = param.String(default="", doc="The run shown.")
    detail = param.Parameter(default=None, doc="The last :class:`RunDetail` read (None before).")
    error = param.String(default="", doc="Why the last read or action failed ('' when it worked).")
    notice = param.String(default="", doc="What the last action did, in words.")
    rerun_id = param.String(default="", doc="The run the last Re-run started.")

    def __init__(self, service: MonitorService, user_id: str, **params: Any) -> None:
        super().__init__(**params)
        self.service = service
        self.user_id = user_id

    async def refresh(self) -> None:
        """Read the run again."""
        if not self.execution_id:
            self.error = (
                "No run chosen: open a run from the Monitor's table (the address needs ?id=<run id>)."
            )
            return
        detail: RunDetail | None = await guarded(self, self.service.run(self.user_id, self.execution_id))
        if detail is not None:
            self.detail = detail

    async def apply_events(self, events: list[ExecutionEvent]) -> None:
        """Read the run again when one of ``events`` is about it."""
        if any(
            e is _RESYNC or (e.execution_id == self.execution_id and e.type != EventType.NODE_STREAM)
            for e in events
        ):
            await self.refresh()

    async def cancel(self) -> None:
        """Ask the run to stop."""
        status = await guarded(self, self.service.cancel(self.user_id, self.execution_id))
        if status is not None:
            self.notice = f"Cancel requested: the run is {status}."
            await self.refresh()

    async def decide(
        self, review_id: str, decision: str, *, data_text: str | None = None, message: str = ""
    ) -> None:
        """Answer one of the run's reviews: ``data_text`` is the data as JSON text (an editable review's
        form; passed on instead when it differs from the data asked about)."""
        waiting = {r.id: r for r in (self.detail.reviews if self.detail is not None else ())}
        data: Any = UNCHANGED
        asked = waiting.get(review_id)
        if decision == "approve" and data_text is not None and asked is not None and asked.editable:
            try:
                value = json.loads(data_text)
            except ValueError as exc:
                self.error = f"The data is not valid JSON ({exc}): correct it, or approve it as it was."
                return
            if jsonutil.normalize(value) != jsonutil.normalize(asked.data):
                data = value
        done = await guarded(
            self,
            self.service.decide(
                self.user_id, review_id, decision, data=data, message=message.strip() or None
            ),
        )
        if done is not None:
            verdict = "Approved" if done.status == "APPROVED" else "Rejected"
            self.notice = f"{verdict} “{done.name}”: the run goes on."
            await self.refresh()

    async def rerun(self) -> None:
        """Start the same agent again with the same inputs."""
        new_id = await guarded(self, self.service.rerun(self.user_id, self.execution_id))
        if new_id is not None:
            self.rerun_id = new_id
            self.notice = f"Started again as run {short_id(new_id)}."
