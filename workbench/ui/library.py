"""Library (``/library``): the user's agents with their versions, schedules, recent runs and success
rate; schedules created (with a preview of their next fire times), paused, resumed and deleted; webhook
triggers made (the secret shown once, with a curl example), rotated and deleted; an agent deleted
(refused while it has live runs, the rule of every front door).

- :func:`agents_table`: every agent as an HTML row (the name links to ``?agent=<id>``, which selects it);
- :class:`~workbench.ui.library_schedules.ScheduleForm` (its own module): a new schedule, previewed;
- :class:`~workbench.ui.library_triggers.TriggerSection` (its own module): the agent's triggers;
- :class:`LibraryPage`: the table, a search box, an agent picker and the picked agent's detail.

The data and every action are a :class:`~workbench.ui.library_store.LibraryStore` (the services, as
the logged-in user): no rule lives here.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from workbench.services.agent_tools import AgentTool
from workbench.store.executions import ExecutionRecord
from workbench.store.graphs import GraphSummary
from workbench.store.schedules import ScheduleRecord
from workbench.ui.context import UiContext
from workbench.ui.library_schedules import SCHEDULE_CSS, ScheduleForm, describe_when, fire_time, text_of
from workbench.ui.library_store import RECENT_RUNS, LibraryAgent, LibraryStore
from workbench.ui.library_triggers import TriggerSection, TriggerStore
from workbench.ui.monitor_data import describe_error, format_seconds, run_href, short_id
from workbench.ui.tables import TABLE_CSS, html_table, status_badge

BUILDER = "/builder"
LIBRARY_CSS = (
    TABLE_CSS
    + """
.wb-table th { position: static; }
.wb-grid { display: grid; column-gap: 0.6rem; align-items: center; padding: 0.35rem 0.6rem;
           border-bottom: 1px solid #d1d5db; font-size: 0.95rem; color: #111827; min-height: 1.6rem; }
.wb-grid.wb-head { background: #f3f4f6; color: #374151; font-weight: 600; }
.wb-grid > span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.wb-muted { color: #4b5563; font-size: 0.85rem; }
"""
    + SCHEDULE_CSS
)
"""The tables' style, plus the rows that carry buttons (a CSS grid with the columns' widths)."""
VERSION_COLUMNS = (("Version", 70), ("Created", 160), ("Blocks", 60), ("Note", 220), ("", 60), ("", 130))
SCHEDULE_COLUMNS = (("Name", 150), ("When", 190), ("Timezone", 130), ("Status", 80), ("Next fire", 250))


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def success_cell(agent: LibraryAgent) -> str:
    """``60 %`` with how many finished runs it covers, or a dash before any finished."""
    if agent.success_rate is None:
        return '<span class="wb-muted">—</span>'
    title = f"{agent.completed} of the last {agent.finished} finished runs completed"
    return (
        f'<span title="{title}">{100 * agent.success_rate:.0f} %</span> '
        f'<span class="wb-muted">of {agent.finished}</span>'
    )


def agents_table(agents: Sequence[LibraryAgent], selected: str | None = None) -> str:
    """The agents as an HTML table; each name selects its agent (``?agent=<id>``)."""
    rows = []
    for a in agents:
        name = html.escape(a.name or "(unnamed)")
        mark = " ▸" if a.id == selected else ""
        link = f'<a href="?agent={html.escape(a.id)}" title="Show this agent">{name}</a>{mark}'
        schedules = (
            f"{a.schedules} <span class='wb-muted'>({a.active_schedules} active)</span>"
            if a.schedules
            else "0"
        )
        runs = f"{a.runs}" + (f" <span class='wb-muted'>({a.live} live)</span>" if a.live else "")
        rows.append(
            [link, f"v{a.version}", str(a.versions), schedules, runs, success_cell(a), _local(a.last_run_at)]
        )
    return html_table(
        ["Agent", "Active", "Versions", "Schedules", "Runs", "Success", "Last run"],
        rows,
        "No agents match.",
        fields=["name", "version", "versions", "schedules", "runs", "success", "last_run"],
        classes={"versions": "wb-num", "runs": "wb-num"},
        row_ids=[a.id for a in agents],
    )


def runs_table(runs: Sequence[ExecutionRecord]) -> str:
    """An agent's recent runs, each linked to its page."""
    rows = []
    for r in runs:
        duration = (r.ended_at - r.started_at).total_seconds() if r.started_at and r.ended_at else None
        rows.append(
            [
                f'<a href="{run_href(html.escape(r.id))}">{html.escape(short_id(r.id))}</a>',
                status_badge(r.status),
                f"v{r.graph_version}",
                _local(r.created_at),
                format_seconds(duration),
                html.escape((r.error or "")[:200]),
            ]
        )
    return html_table(
        ["Run", "Status", "Version", "Started", "Duration", "Error"],
        rows,
        "No runs yet.",
        fields=["run", "status", "version", "started", "duration", "error"],
        classes={"error": "wb-wrap"},
        row_ids=[r.id for r in runs],
    )


def grid_row(
    cells: Sequence[str], columns: Sequence[tuple[str, int]], *, head: bool = False, ident: str = ""
) -> str:
    """One row of a table whose rows carry buttons: cells (HTML) in a grid of the columns' widths."""
    template = " ".join(f"{width}px" for _, width in columns)
    kind = "wb-grid wb-head" if head else "wb-grid wb-row"
    data = f' data-id="{html.escape(ident)}"' if ident else ""
    spans = "".join(f"<span>{cell}</span>" for cell in cells)
    return f'<div class="{kind}"{data} style="grid-template-columns: {template}">{spans}</div>'


def _width(columns: Sequence[tuple[str, int]]) -> int:
    return sum(width for _, width in columns) + 10 * len(columns) + 20


class LibraryPage(Viewer):
    """The Library: the agents table, a search box, an agent picker, the picked agent's detail."""

    store = param.ClassSelector(class_=LibraryStore, doc="Where the data comes from (the user's own).")
    selected = param.String(default=None, allow_None=True, doc="The agent shown (graph id).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._agents: list[LibraryAgent] = []
        self._loaded = False
        self._problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self._notice = pn.pane.Alert("", alert_type="success", visible=False, sizing_mode="stretch_width")
        self._search = pn.widgets.TextInput(label="Search", placeholder="part of a name", width=260)
        self._search.param.watch(self._on_search, "value_input")
        self._picker = pn.widgets.Select(label="Agent", options={"Pick an agent…": ""}, width=340)
        self._picker.param.watch(self._on_pick, "value")
        self._reload = pn.widgets.Button(label="Reload", icon="refresh", width=110, align="end")
        self._reload.on_click(self._on_reload)
        self._table = pn.pane.HTML(
            "<p class='wb-empty'>Loading…</p>", stylesheets=[LIBRARY_CSS], sizing_mode="stretch_width"
        )
        self._title = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._versions = pn.Column(sizing_mode="stretch_width")
        self._versions_message = _alert()
        self._schedules = pn.Column(sizing_mode="stretch_width")
        self._schedules_message = _alert()
        self._form_slot = pn.Column(sizing_mode="stretch_width")
        self._form: ScheduleForm | None = None
        self._triggers_slot = pn.Column(sizing_mode="stretch_width")
        self._trigger_section: TriggerSection | None = None
        self._runs = pn.pane.HTML("", stylesheets=[LIBRARY_CSS], sizing_mode="stretch_width")
        self._tool_switch = pn.widgets.Checkbox(
            label="Serve this agent as an MCP tool at /mcp", width=360, css_classes=["wb-mcp-switch"]
        )
        self._tool_switch.param.watch(self._on_tool_switch, "value")
        self._tool_state = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._tool_message = _alert()
        self._showing_tool = False
        self._delete = pn.widgets.Button(
            label="Delete agent", icon="trash", color="danger", variant="outline", width=150
        )
        self._delete.on_click(self._on_delete)
        self._confirm_text = pn.pane.Markdown("", width=520)
        self._confirm = pn.widgets.Button(label="Delete for good", color="danger", width=150)
        self._confirm.on_click(self._on_confirm)
        self._keep = pn.widgets.Button(label="Keep it", width=100)
        self._keep.on_click(self._on_keep)
        self._confirm_row = pn.Row(self._confirm_text, self._confirm, self._keep, visible=False)
        self._delete_message = _alert()
        self._detail = pn.Column(
            self._title,
            pn.pane.Markdown("### Versions"),
            self._versions_message,
            self._versions,
            pn.pane.Markdown("### Schedules"),
            self._schedules_message,
            self._schedules,
            self._form_slot,
            pn.pane.Markdown(
                "### Triggers\nWebhook URLs that start this agent when another system calls them."
            ),
            self._triggers_slot,
            pn.pane.Markdown(
                f"### Recent runs\nThe latest ten; the success rate counts the last {RECENT_RUNS} finished."
            ),
            self._runs,
            pn.pane.Markdown("### As an MCP tool"),
            self._tool_message,
            self._tool_switch,
            self._tool_state,
            pn.pane.Markdown("### Delete"),
            self._delete_message,
            pn.Row(self._delete, self._confirm_row),
            visible=False,
            sizing_mode="stretch_width",
        )
        self._layout = pn.Column(
            self._problem,
            self._notice,
            pn.pane.Markdown("## Your agents"),
            pn.Row(self._search, self._picker, self._reload),
            self._table,
            self._detail,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        """The page."""
        return self._layout

    # ---- the agents ------------------------------------------------------------------------------

    def _show_problem(self, message: str | None) -> None:
        self._problem.object = message or ""
        self._problem.visible = message is not None

    async def refresh(self) -> None:
        """Read the agents again (the search applied); a failure is said above the table."""
        try:
            self._agents = await self.store.agents(text_of(self._search) or None)
        except Exception as exc:  # the page's boundary
            self._show_problem(describe_error(exc))
            if not self._loaded:
                self._table.object = "<p class='wb-empty'>Your agents cannot be read right now.</p>"
            return
        self._loaded = True
        self._show_problem(None)
        if not self._agents and not text_of(self._search):
            self._table.object = (
                "<p class='wb-empty'>No agents yet: save one from the Builder, a notebook or the API.</p>"
            )
        else:
            self._table.object = agents_table(self._agents, self.selected)
        options = {"Pick an agent…": ""}
        options.update({f"{a.name} ({a.id[:8]})": a.id for a in self._agents})
        if self.selected and self.selected not in options.values():
            options[f"(selected) {self.selected[:8]}"] = self.selected
        self._picker.options = options
        self._picker.value = self.selected or ""

    async def _on_search(self, _event: object) -> None:
        await self.refresh()

    async def _on_reload(self, _event: object) -> None:
        await self.refresh()
        if self.selected:
            await self.load_detail()

    async def _on_pick(self, event: param.parameterized.Event) -> None:
        if (event.new or None) != self.selected:
            await self.select(event.new or None)

    async def select(self, graph_id: str | None) -> None:
        """Show one agent's detail (None: none)."""
        self.selected = graph_id
        self._notice.visible = False
        self._confirm_row.visible = False
        self._delete_message.visible = False
        self._table.object = agents_table(self._agents, graph_id) if self._agents else self._table.object
        if self._picker.value != (graph_id or ""):
            if graph_id and graph_id not in self._picker.options.values():
                self._picker.options = {**self._picker.options, f"(selected) {graph_id[:8]}": graph_id}
            self._picker.value = graph_id or ""
        if not graph_id:
            self._detail.visible = False
            return
        self._form_slot.objects = []
        self._triggers_slot.objects = []
        await self.load_detail(new_form=True)

    def _agent(self) -> LibraryAgent | None:
        return next((a for a in self._agents if a.id == self.selected), None)

    # ---- the detail ------------------------------------------------------------------------------

    async def load_detail(self, *, new_form: bool = False) -> None:
        """Read the selected agent's versions, schedules and runs and show them."""
        graph_id = self.selected
        if not graph_id:
            return
        try:
            versions = await self.store.versions(graph_id)
            schedules = await self.store.schedules(graph_id)
            runs = await self.store.runs(graph_id)
            tool = await self.store.agent_tool(graph_id)
            inputs = await self.store.input_template(graph_id) if new_form else {}
        except Exception as exc:  # the page's boundary
            self._title.object = f"## Agent {html.escape(graph_id[:8])}"
            self._versions_message.object = describe_error(exc)
            self._versions_message.visible = True
            self._versions.objects, self._schedules.objects, self._form_slot.objects = [], [], []
            self._triggers_slot.objects = []
            self._runs.object = ""
            self._detail.visible = True
            return
        self._versions_message.visible = False
        active = next((v for v in versions if v.is_active), versions[0])
        builder = f"{BUILDER}?graph={html.escape(graph_id)}&version={active.version}"
        self._title.object = (
            f"## {html.escape(active.name or '(unnamed)')}\n"
            f"Agent {graph_id} · active version v{active.version} · "
            f'<a href="{builder}">Open in Builder</a>'
        )
        self._versions.objects = self._version_rows(graph_id, versions)
        self._schedules.objects = self._schedule_rows(schedules)
        if new_form:
            form = ScheduleForm(
                store=self.store,
                graph_id=graph_id,
                versions=[v.version for v in versions],
                inputs=inputs,
                on_saved=self._schedules_changed,
            )
            self._form = form
            self._form_slot.objects = [form]
            await form.refresh_preview()
            section = TriggerSection(store=TriggerStore(self.store.ctx), graph_id=graph_id, inputs=inputs)
            self._trigger_section = section
            self._triggers_slot.objects = [section]
        if self._trigger_section is not None:
            await self._trigger_section.refresh()
        self._runs.object = runs_table(runs)
        self._show_tool(tool)
        self._detail.visible = True

    def _version_rows(self, graph_id: str, versions: Sequence[GraphSummary]) -> list[Any]:
        rows: list[Any] = [
            _grid_pane(grid_row([c for c, _ in VERSION_COLUMNS], VERSION_COLUMNS, head=True), VERSION_COLUMNS)
        ]
        for v in versions:
            href = f"{BUILDER}?graph={html.escape(graph_id)}&version={v.version}"
            marker = "<span class='wb-active'>active</span>" if v.is_active else ""
            cells = [
                f"v{v.version}",
                _local(v.created_at),
                str(v.node_count),
                html.escape(getattr(v, "note", "") or ""),
                marker,
                f'<a href="{href}">Open in Builder</a>',
            ]
            row: list[Any] = [
                _grid_pane(grid_row(cells, VERSION_COLUMNS, ident=str(v.version)), VERSION_COLUMNS)
            ]
            if not v.is_active:
                button = pn.widgets.Button(label="Activate", width=100, margin=(2, 5))

                async def activate(_event: object, version: int = v.version) -> None:
                    await self._act(self._versions_message, self.store.activate(graph_id, version))

                button.on_click(activate)
                row.append(button)
            rows.append(pn.Row(*row, css_classes=["wb-version-row", f"wb-version-{v.version}"]))
        return rows

    def _schedule_rows(self, schedules: Sequence[ScheduleRecord]) -> list[Any]:
        if not schedules:
            return [
                pn.pane.HTML(
                    "<p class='wb-empty'>No schedules yet: add one below.</p>", stylesheets=[LIBRARY_CSS]
                )
            ]
        rows: list[Any] = [
            _grid_pane(
                grid_row([c for c, _ in SCHEDULE_COLUMNS], SCHEDULE_COLUMNS, head=True), SCHEDULE_COLUMNS
            )
        ]
        for s in schedules:
            upcoming = self.store.next_runs(s, 3)
            nxt = html.escape(fire_time(upcoming[0], s.timezone)) if upcoming else "—"
            later = "\n".join(fire_time(t, s.timezone) for t in upcoming[1:])
            status = f"<span class='wb-{s.status}'>{s.status}</span>"
            cells = [
                html.escape(s.name or "—"),
                html.escape(describe_when(s)),
                html.escape(s.timezone),
                status,
                f'<span title="{html.escape("then " + later) if later else ""}">{nxt}</span>',
            ]
            toggle = pn.widgets.Button(
                label="Resume" if s.status != "active" else "Pause",
                icon="player-play" if s.status != "active" else "player-pause",
                width=100,
                margin=(2, 5),
            )
            remove = pn.widgets.Button(
                label="Delete",
                icon="trash",
                color="danger",
                variant="outline",
                width=100,
                margin=(2, 5),
            )

            async def flip(_event: object, sid: str = s.id, active: bool = s.status == "active") -> None:
                action = self.store.pause(sid) if active else self.store.resume(sid)
                await self._act(self._schedules_message, action)

            async def drop(_event: object, sid: str = s.id) -> None:
                await self._act(self._schedules_message, self.store.delete_schedule(sid))

            toggle.on_click(flip)
            remove.on_click(drop)
            rows.append(
                pn.Row(
                    _grid_pane(grid_row(cells, SCHEDULE_COLUMNS, ident=s.id), SCHEDULE_COLUMNS),
                    toggle,
                    remove,
                    css_classes=["wb-schedule-row", f"wb-schedule-{s.id}"],
                )
            )
        return rows

    def _show_tool(self, tool: AgentTool | None) -> None:
        self._showing_tool = True
        try:
            self._tool_switch.value = tool is not None
        finally:
            self._showing_tool = False
        self._tool_state.object = (
            f"Served as `{tool.name}`: MCP clients connected to `/mcp` with your credentials can call it."
            if tool is not None
            else "Not served: MCP clients do not see it."
        )

    async def _on_tool_switch(self, event: param.parameterized.Event) -> None:
        if self._showing_tool or not self.selected:
            return
        self._tool_message.visible = False
        try:
            tool = await self.store.serve_as_tool(self.selected, bool(event.new))
        except Exception as exc:  # the page's boundary
            self._tool_message.object = describe_error(exc)
            self._tool_message.visible = True
            tool = await self._tool_or_none()
        self._show_tool(tool)

    async def _tool_or_none(self) -> AgentTool | None:
        try:
            return await self.store.agent_tool(self.selected or "")
        except Exception:  # already said above
            return None

    async def _act(self, message: pn.pane.Alert, action: Awaitable[Any]) -> None:
        """Do an action; its refusal is said in ``message``; then the detail and the table are read again."""
        try:
            await action
        except Exception as exc:  # the page's boundary
            message.object = describe_error(exc)
            message.visible = True
            return
        message.visible = False
        if self._form is not None:
            self._form.saved.visible = False  # the last save's word no longer describes the list
        await self.load_detail()
        await self.refresh()

    async def _schedules_changed(self) -> None:
        self._schedules_message.visible = False
        await self.load_detail()
        await self.refresh()

    # ---- deleting the agent ----------------------------------------------------------------------

    async def _on_delete(self, _event: object) -> None:
        agent = self._agent()
        name = agent.name if agent else (self.selected or "")[:8]
        counts = f" with its {agent.versions} version(s) and {agent.runs} run(s)" if agent else ""
        self._confirm_text.object = f"Delete **{html.escape(name)}**{counts}? This cannot be undone."
        self._delete_message.visible = False
        self._confirm_row.visible = True

    async def _on_keep(self, _event: object) -> None:
        self._confirm_row.visible = False

    async def _on_confirm(self, _event: object) -> None:
        await self.delete_selected()

    async def delete_selected(self) -> bool:
        """Delete the selected agent through the graph service; its refusal (runs still live) is shown."""
        graph_id = self.selected
        if not graph_id:
            return False
        agent = self._agent()
        self._confirm_row.visible = False
        try:
            await self.store.delete_agent(graph_id)
        except Exception as exc:  # the page's boundary
            self._delete_message.object = f"The agent was not deleted: {describe_error(exc)}"
            self._delete_message.visible = True
            await self.refresh()
            await self.load_detail()  # the runs that hold it show below
            return False
        await self.select(None)
        await self.refresh()
        self._notice.object = f"Deleted {agent.name if agent else graph_id}, with its versions and runs."
        self._notice.visible = True
        return True


def _alert() -> pn.pane.Alert:
    return pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")


def _grid_pane(markup: str, columns: Sequence[tuple[str, int]]) -> pn.pane.HTML:
    return pn.pane.HTML(markup, stylesheets=[LIBRARY_CSS], width=_width(columns), margin=(0, 5))


def _query_agent() -> str | None:
    """The ``agent`` query parameter of the page's URL."""
    values = (getattr(pn.state, "session_args", None) or {}).get("agent") or []
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """The Library for one browser session of ``ctx.user_id``; ``?agent=<id>`` opens that agent."""
    page = LibraryPage(store=LibraryStore(ctx))
    wanted = _query_agent()

    async def start() -> None:
        await page.refresh()
        if wanted:
            await page.select(wanted)

    pn.state.onload(start)
    return page
