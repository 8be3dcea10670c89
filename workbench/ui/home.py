"""Home (``/``): the user's recent agents and runs, a quick start, and where to go next."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import panel as pn
import param
from panel.viewable import Viewer

from workbench.errors import StoreError, WorkbenchError
from workbench.ui.context import UiContext
from workbench.ui.home_store import AgentRow, HomeStore, QuickStartResult, RunRow
from workbench.ui.tables import TABLE_CSS, html_table, status_badge

log = logging.getLogger(__name__)

RUN_PAGE = "/monitor/run"
UNREAD = "<p class='wb-empty'>Not available right now: see the message at the top.</p>"
"""What a table says when it could not be read."""


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def agents_table(agents: Sequence[AgentRow], links: Mapping[str, str]) -> str:
    """The recent agents as an HTML table (a Chat link per agent when Chat is there)."""
    chat = links.get("Chat")
    rows = []
    for agent in agents:
        name = html.escape(agent.name)
        if chat:
            name = f'<a href="{chat}?agent={html.escape(agent.id)}" title="Open in Chat">{name}</a>'
        rows.append([name, str(agent.version), str(agent.nodes), _when(agent.updated_at)])
    return html_table(
        ["Agent", "Version", "Blocks", "Changed"], rows, "No agents yet: the quick start adds one."
    )


def runs_table(runs: Sequence[RunRow], links: Mapping[str, str]) -> str:
    """The recent runs as an HTML table (each linked to its page when Monitor is there)."""
    rows = []
    for run in runs:
        ident = html.escape(run.id[:8])
        if "Monitor" in links:
            ident = f'<a href="{RUN_PAGE}?id={html.escape(run.id)}">{ident}</a>'
        rows.append(
            [
                ident,
                html.escape(run.agent),
                status_badge(run.status),
                _when(run.created_at),
                "" if run.duration is None else f"{run.duration:.2f} s",
            ]
        )
    return html_table(["Run", "Agent", "Status", "Started", "Duration"], rows, "No runs yet.")


def quick_start_message(result: QuickStartResult, links: Mapping[str, str]) -> str:
    """What the quick start says after a run, as HTML."""
    parts = []
    if result.status == "COMPLETED":
        parts.append(
            f"<p><strong>{html.escape(str(result.greeting))}</strong> "
            f"({result.length} letters): the run completed.</p>"
        )
    else:
        parts.append(
            f'<p class="wb-status wb-status-FAILED">The run ended {html.escape(result.status)}: '
            f"{html.escape(result.error or 'no error message')}</p>"
        )
    more = []
    if "Monitor" in links:
        more.append(f'<a href="{RUN_PAGE}?id={html.escape(result.execution_id)}">See the run</a>')
    if "Chat" in links:
        more.append(
            f'<a href="{links["Chat"]}?agent={html.escape(result.graph_id)}">Open the agent in Chat</a>'
        )
    if more:
        parts.append('<p class="wb-links">' + " · ".join(more) + "</p>")
    return "".join(parts)


def where_to_go(links: Mapping[str, str]) -> str:
    """The list of places: each page, the API docs, the notebooks."""
    described = {
        "Chat": "talk to an agent that takes a message and answers",
        "Monitor": "every run, live, with its steps and timings",
        "API docs": "every route of the REST API, to read and try",
        "Notebooks": "JupyterLab on the lessons (start it with <code>make lab</code>)",
    }
    items = [
        f'<li><a href="{html.escape(href)}">{html.escape(label)}</a>: {described[label]}</li>'
        for label, href in links.items()
        if label in described
    ]
    return '<ul class="wb-links">' + "".join(items) + "</ul>"


def failure_message(exc: BaseException, then: str) -> str:
    """What a person reads about a failed read: the database gone (a StoreError), or something else
    (logged with its traceback, which the page never shows); ``then`` says what to do."""
    if isinstance(exc, StoreError):
        return f"The database cannot be reached right now ({exc}); {then}."
    log.error("Home: %s", exc, exc_info=exc)
    return f"Something went wrong ({type(exc).__name__}: {exc}); {then}."


class Home(Viewer):
    """Home: recent agents and runs of the user, the quick start, the places to go."""

    store = param.ClassSelector(class_=HomeStore, doc="Where the data comes from (the user's own).")
    links = param.Dict(default={}, doc="Label -> URL of the pages and outside places (UiContext.links).")
    person = param.String(default="World", doc="Who the quick start's agent greets.")
    busy = param.Boolean(default=False, doc="A quick start run is going on.")

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._agents = pn.pane.HTML(
            "<p class='wb-empty'>Loading…</p>", stylesheets=[TABLE_CSS], sizing_mode="stretch_width"
        )
        self._runs = pn.pane.HTML(
            "<p class='wb-empty'>Loading…</p>", stylesheets=[TABLE_CSS], sizing_mode="stretch_width"
        )
        self._loaded = False  # the tables have been read once (until then they say Loading…)
        self._result = pn.pane.HTML("", stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self._name_input = pn.widgets.TextInput.from_param(
            self.param.person, name="Name", description=None, width=240
        )
        self._run_button = pn.widgets.Button(
            name="Run the example agent", icon="player-play", button_type="primary", width=220, align="end"
        )
        self._run_button.on_click(self._on_run)
        self._layout = self._build()

    def _build(self) -> pn.viewable.Viewable:
        quick = pn.Column(
            pn.pane.Markdown(
                "## Quick start\nRun the example agent (*examples/hello_agent.json*): it greets someone "
                "and counts the letters of the greeting."
            ),
            pn.Row(self._name_input, self._run_button),
            self._result,
            sizing_mode="stretch_width",
        )
        places = pn.Column(
            pn.pane.Markdown("## Where to go"),
            pn.pane.HTML(where_to_go(self.links), stylesheets=[TABLE_CSS], sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            self._problem,
            pn.Row(quick, places, sizing_mode="stretch_width"),
            pn.pane.Markdown("## Your recent agents"),
            self._agents,
            pn.pane.Markdown("## Your recent runs"),
            self._runs,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        """The page."""
        return self._layout

    def _show_problem(self, message: str | None) -> None:
        self._problem.object = message or ""
        self._problem.visible = message is not None

    async def refresh(self) -> None:
        """Read the recent agents and runs again; a failure is said above them (never raised: the
        page would stay as it was, saying nothing)."""
        try:
            agents = await self.store.recent_agents()
            runs = await self.store.recent_runs()
        except Exception as exc:  # the page's boundary
            self._show_problem(failure_message(exc, "reload the page in a moment"))
            if not self._loaded:  # what was shown before stays; "Loading…" would never end
                self._agents.object = self._runs.object = UNREAD
            return
        self._loaded = True
        self._show_problem(None)
        self._agents.object = agents_table(agents, self.links)
        self._runs.object = runs_table(runs, self.links)

    async def _on_run(self, _event: object) -> None:
        await self.run_quick_start()

    async def run_quick_start(self) -> None:
        """Run the example agent with :attr:`person`, show the result, refresh the tables."""
        name = self.person.strip() or "World"
        self.busy = True
        self._run_button.loading = True
        self._result.object = "<p>Running…</p>"
        try:
            result = await self.store.quick_start(name)
        except TimeoutError:
            self._result.object = "<p>The run is taking longer than expected: it goes on; see Monitor.</p>"
        except Exception as exc:  # the page's boundary
            why = (
                str(exc)
                if isinstance(exc, WorkbenchError) and not isinstance(exc, StoreError)
                else failure_message(exc, "try again in a moment")
            )
            self._result.object = f'<p class="wb-status wb-status-FAILED">The example agent could not run: {html.escape(why)}</p>'
        else:
            self._result.object = quick_start_message(result, self.links)
        finally:
            self.busy = False
            self._run_button.loading = False
        await self.refresh()


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """Home for one browser session; its tables load once the page is shown."""
    home = Home(store=HomeStore(ctx), links=dict(ctx.links))
    pn.state.onload(home.refresh)
    return home
