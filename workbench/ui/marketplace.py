"""Marketplace (``/marketplace``): everyone's published agents to search, look at and fork; publishing
one's own; the block catalogue with each block's pins and an example.

Three tabs: **Templates** (a search box, a table of templates; *View* shows one's description, what
it needs and its graph, read-only, with a *Fork* button whose result links to the Builder),
**Publish** (one of your agents and a description; your templates with *Unpublish*), **Blocks**
(search by name or description, a category filter, each block's inputs, outputs and example).
``?template=<id>`` opens a template directly. Every action goes through the marketplace service
(``workbench.services.marketplace``), so the page follows the API's rules.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from workbench.client.render import graph_svg
from workbench.client.types import PinInfo
from workbench.errors import StoreError, UserError
from workbench.services.marketplace import MissingCredentials, TemplateDetail
from workbench.store.templates import TemplateRecord
from workbench.ui.action_table import ACTION_CSS, ActionTable, action_button
from workbench.ui.context import UiContext
from workbench.ui.marketplace_store import BlockDoc, MarketplaceStore, catalogue, categories
from workbench.ui.tables import TABLE_CSS, html_table

log = logging.getLogger(__name__)

ALL = "All categories"
PAGE_CSS = """
.wb-muted { color: #4b5563; }
.wb-ok { color: #166534; font-weight: 600; }
.wb-missing { color: #991b1b; font-weight: 600; }
.wb-message { padding: 0.5rem 0.75rem; border-radius: 4px; margin: 0.25rem 0; }
.wb-message-ok { background: #f0fdf4; border: 1px solid #86efac; color: #14532d; }
.wb-message-bad { background: #fef2f2; border: 1px solid #fca5a5; color: #7f1d1d; }
.wb-message a { color: #1d4ed8; font-weight: 600; }
.wb-description { white-space: pre-wrap; margin: 0.5rem 0 0.75rem; color: #111827; }
details.wb-block { border: 1px solid #d1d5db; border-radius: 6px; margin: 0.4rem 0; padding: 0.35rem 0.7rem; }
details.wb-block[open] { background: #fcfcfd; }
details.wb-block summary { cursor: pointer; }
details.wb-block summary .wb-cats { color: #4b5563; font-size: 0.85rem; margin-left: 0.4rem; }
details.wb-block h4 { margin: 0.7rem 0 0.3rem; font-size: 0.95rem; }
.wb-block .wb-table td { white-space: normal; }
pre.wb-example { background: #f3f4f6; color: #111827; padding: 0.5rem; border-radius: 4px;
  font-size: 0.85rem; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.2rem 0; }
.wb-graph svg { max-width: 100%; height: auto; }
"""
"""The page's own small print, messages and block cards (readable contrast on white)."""


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _names(names: Sequence[str], shown: int = 3) -> str:
    head = ", ".join(names[:shown])
    return head + (f" +{len(names) - shown} more" if len(names) > shown else "")


def templates_table(templates: Sequence[TemplateRecord], block_name: Any, empty: str) -> str:
    """The templates as an HTML table, a *View* button per row."""
    rows = []
    for t in templates:
        blocks = sorted({block_name(b) for b in t.block_ids})
        providers = [str(c["provider"]) for c in t.credentials]
        rows.append(
            [
                f"<strong>{html.escape(t.name)}</strong>",
                html.escape(t.publisher),
                f'<span title="{html.escape(", ".join(blocks))}">{len(blocks)}: {html.escape(_names(blocks))}</span>',
                html.escape(", ".join(providers)) if providers else '<span class="wb-muted">none</span>',
                str(t.fork_count),
                _when(t.published_at),
                action_button("view", t.id, "View", title=f"Show {t.name}"),
            ]
        )
    return html_table(
        ["Template", "Publisher", "Blocks", "Credentials needed", "Forks", "Published", ""],
        rows,
        empty,
        fields=["name", "publisher", "blocks", "credentials", "forks", "published", "actions"],
        row_ids=[t.id for t in templates],
    )


def mine_table(templates: Sequence[TemplateRecord]) -> str:
    """The user's own templates, an *Unpublish* button per row."""
    rows = [
        [
            f"<strong>{html.escape(t.name)}</strong>",
            f"v{t.graph_version}",
            str(t.fork_count),
            _when(t.published_at),
            action_button("unpublish", t.id, "Unpublish", danger=True, title=f"Unpublish {t.name}"),
        ]
        for t in templates
    ]
    return html_table(
        ["Template", "Version", "Forks", "Published", ""],
        rows,
        "You have published nothing yet.",
        fields=["name", "version", "forks", "published", "actions"],
        row_ids=[t.id for t in templates],
    )


def detail_html(
    detail: TemplateDetail, block_name: Any, missing: Sequence[str], links: Mapping[str, str]
) -> str:
    """A template's description, blocks and credentials (each marked present or missing)."""
    t = detail.template
    profile = links.get("Profile", "/profile")
    counts: dict[str, int] = {}
    for graph in [detail.graph, *detail.graph.sub_graphs]:
        for node in graph.nodes:
            name = block_name(node.block_id)
            counts[name] = counts.get(name, 0) + 1
    blocks = html_table(
        ["Block", "Nodes"], [[html.escape(n), str(c)] for n, c in sorted(counts.items())], "No blocks."
    )
    creds = []
    for need in t.credentials:
        provider = str(need["provider"])
        have = (
            f'<span class="wb-missing">missing: add one on your <a href="{html.escape(profile)}">Profile page</a></span>'
            if provider in missing
            else '<span class="wb-ok">you have one</span>'
        )
        creds.append([html.escape(provider), html.escape(", ".join(need.get("blocks") or [])), have])
    credentials = html_table(["Provider", "Needed by", "You"], creds, "None: it runs without credentials.")
    subs = detail.graph.sub_graphs
    sub_line = (
        f"<p class='wb-muted'>Runs {len(subs)} sub-graph(s): {html.escape(', '.join(s.name for s in subs))}</p>"
        if subs
        else ""
    )
    return (
        f"<h3>{html.escape(t.name)}</h3>"
        f'<p class="wb-muted">by {html.escape(t.publisher)} · published {_when(t.published_at)} · '
        f"version {t.graph_version} · {t.node_count} nodes · {t.fork_count} forks</p>"
        f'<p class="wb-description">{html.escape(t.description) or "<em>No description.</em>"}</p>'
        f"{sub_line}<h4>Blocks</h4>{blocks}<h4>Credentials needed</h4>{credentials}"
    )


def _pins_table(pins: Sequence[PinInfo], empty: str, *, inputs: bool) -> str:
    headers = ["Pin", "Type", "Required", "Description"] if inputs else ["Pin", "Type", "Description"]
    rows = []
    for p in pins:
        cells = [f"<code>{html.escape(p.name)}</code>", html.escape(p.type)]
        if inputs:
            cells.append("yes" if p.required else "")
        rows.append([*cells, html.escape(p.description)])
    return html_table(headers, rows, empty)


def _test_label(runs: int) -> str:
    if runs <= 1:
        return "Input (the block's own test):"
    shown = min(runs, 3)
    return f"Inputs of the block's own test, one per run ({shown} of {runs} shown):"


def block_cards(blocks: Sequence[BlockDoc], total: int) -> str:
    """The catalogue: one folding card per block with its pins and example."""
    cards = []
    for b in blocks:
        example = f'<pre class="wb-example">{html.escape(b.example_input)}</pre>'
        if b.example_output is not None:
            example = (
                f"<p class='wb-muted'>{_test_label(b.example_runs)}</p>" + example + "<p class='wb-muted'>"
                f'Yields, in order:</p><pre class="wb-example">{html.escape(b.example_output)}</pre>'
            )
        else:
            example = "<p class='wb-muted'>A minimal input (its required pins):</p>" + example
        cards.append(
            f'<details class="wb-block" data-block="{html.escape(b.name)}"><summary><strong>'
            f"{html.escape(b.name)}</strong><span class='wb-cats'>{html.escape(', '.join(b.categories))}"
            f"</span><br><span class='wb-muted'>{html.escape(b.description)}</span></summary>"
            f"<p class='wb-muted'>id <code>{html.escape(b.id)}</code></p>"
            f"<h4>Inputs</h4>{_pins_table(b.inputs, 'No inputs.', inputs=True)}"
            f"<h4>Outputs</h4>{_pins_table(b.outputs, 'No outputs.', inputs=False)}"
            f"<h4>Example</h4>{example}</details>"
        )
    head = f"<p class='wb-muted'>{len(blocks)} of {total} blocks.</p>"
    return head + ("".join(cards) or "<p class='wb-empty'>No block matches.</p>")


def problem_text(exc: BaseException, doing: str) -> str:
    """What a person reads when an action failed: the rule's own words, the database gone, or a bug
    (logged with its traceback, which the page never shows)."""
    if isinstance(exc, StoreError):
        return f"The database cannot be reached right now ({exc}); try again in a moment."
    if isinstance(exc, UserError):
        return str(exc)
    log.error("Marketplace: %s failed", doing, exc_info=exc)
    return f"Something went wrong while {doing} ({type(exc).__name__}); try again in a moment."


def _message(text: str, ok: bool, extra: str = "") -> str:
    kind = "wb-message-ok" if ok else "wb-message-bad"
    return f'<div class="wb-message {kind}" role="status">{html.escape(text)}{extra}</div>'


class MarketplacePage(Viewer):
    """The Marketplace: templates, publishing, the block catalogue."""

    store = param.ClassSelector(class_=MarketplaceStore, doc="Reads and actions, as the user.")
    links = param.Dict(default={}, doc="Label -> URL of the pages (UiContext.links).")
    selected = param.String(default="", doc="The template shown (its id), if any.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        css = [TABLE_CSS, ACTION_CSS, PAGE_CSS]
        self._problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        # Templates
        self._search = pn.widgets.TextInput(
            name="Search templates", placeholder="a word of the name or description", width=360
        )
        self._search.param.watch(self._on_search, "value")
        self._search_button = pn.widgets.Button(name="Search", button_type="primary", width=100, align="end")
        self._search_button.on_click(self._on_search)
        self._templates = ActionTable(
            on_action=self._on_template_action, html="<p class='wb-empty'>Loading…</p>"
        )
        self._detail = pn.pane.HTML("", stylesheets=css, sizing_mode="stretch_width")
        self._graph = pn.pane.HTML("", css_classes=["wb-graph"], stylesheets=css, sizing_mode="stretch_width")
        self._fork_button = pn.widgets.Button(name="Fork into my library", button_type="primary", width=220)
        self._fork_button.on_click(self._on_fork)
        self._fork_result = pn.pane.HTML("", stylesheets=css, sizing_mode="stretch_width")
        self._detail_box = pn.Column(
            self._detail,
            self._fork_button,
            self._fork_result,
            pn.pane.Markdown("#### Graph (read-only)"),
            self._graph,
            visible=False,
            sizing_mode="stretch_width",
        )
        # Publish
        self._agent = pn.widgets.Select(name="Agent", options={}, width=360)
        self._description = pn.widgets.TextAreaInput(
            name="Description",
            placeholder="What it does, what it needs, how to use it",
            height=110,
            sizing_mode="stretch_width",
        )
        self._publish_button = pn.widgets.Button(name="Publish", button_type="primary", width=140)
        self._publish_button.on_click(self._on_publish)
        self._publish_result = pn.pane.HTML("", stylesheets=css, sizing_mode="stretch_width")
        self._mine = ActionTable(on_action=self._on_mine_action, html="<p class='wb-empty'>Loading…</p>")
        # Blocks
        self._block_search = pn.widgets.TextInput(
            name="Search blocks", placeholder="a word of the name or description", width=360
        )
        self._block_search.param.watch(self._draw_blocks, "value_input")
        self._category = pn.widgets.Select(
            name="Category", options=[ALL, *categories(self.store.registry)], width=240
        )
        self._category.param.watch(self._draw_blocks, "value")
        self._blocks = pn.pane.HTML("", stylesheets=css, sizing_mode="stretch_width")
        self._draw_blocks()
        self._tabs = pn.Tabs(
            ("Templates", self._templates_tab()),
            ("Publish", self._publish_tab()),
            ("Blocks", self._blocks_tab()),
            dynamic=True,  # only the tab shown is drawn (and sizes the page)
            sizing_mode="stretch_width",
        )
        self._tabs.param.watch(self._on_tab, "active")
        self._layout = pn.Column(self._problem, self._tabs, sizing_mode="stretch_width")

    def _templates_tab(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "Agents other people published. **View** one to see what it needs and its graph, then "
                "fork it into your library."
            ),
            pn.Row(self._search, self._search_button),
            self._templates,
            self._detail_box,
            sizing_mode="stretch_width",
        )

    def _publish_tab(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "Publish one of your agents as a template. Its active version is copied as it is now; "
                "the credentials chosen in its nodes stay private. Publishing it again replaces the "
                "template."
            ),
            self._agent,
            self._description,
            self._publish_button,
            self._publish_result,
            pn.pane.Markdown("### Your templates"),
            self._mine,
            sizing_mode="stretch_width",
        )

    def _blocks_tab(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self._block_search, self._category),
            self._blocks,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        """The page."""
        return self._layout

    def _show_problem(self, message: str | None) -> None:
        self._problem.object = message or ""
        self._problem.visible = message is not None

    # ---- templates -------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the templates (and the template named in the URL, if any)."""
        await self.refresh_templates()
        if self.selected:
            await self.show(self.selected)

    async def refresh_templates(self) -> None:
        """Read the templates matching the search box."""
        text = self._search.value.strip()
        try:
            found, total = await self.store.templates(text)
        except Exception as exc:  # the page's boundary
            self._show_problem(problem_text(exc, "reading the templates"))
            return
        self._show_problem(None)
        empty = f"No template matches {text!r}." if text else "No templates yet: publish one of your agents."
        table = templates_table(found, self.store.block_name, empty)
        more = (
            f"<p class='wb-muted'>The newest {len(found)} of {total}: search to narrow.</p>"
            if total > len(found)
            else ""
        )
        self._templates.html = table + more

    async def _on_search(self, _event: object) -> None:
        await self.refresh_templates()

    def _on_template_action(self, action: str, template_id: str) -> None:
        if action == "view":

            async def view() -> None:
                await self.show(template_id)

            pn.state.execute(view)

    async def show(self, template_id: str) -> None:
        """Show one template: description, needs, graph, the Fork button."""
        try:
            detail = await self.store.detail(template_id)
            missing = await self.store.missing(detail.template)
        except Exception as exc:  # the page's boundary
            self._show_problem(problem_text(exc, "reading the template"))
            return
        self._show_problem(None)
        self.selected = template_id
        self._detail.object = detail_html(detail, self.store.block_name, missing, self.links)
        self._graph.object = graph_svg(detail.graph, self.store.registry, max_width=1150)
        self._fork_result.object = ""
        self._detail_box.visible = True

    async def _on_fork(self, _event: object) -> None:
        await self.fork()

    async def fork(self) -> None:
        """Fork the template shown into the user's library; say where the copy is (or why not)."""
        if not self.selected:
            return
        self._fork_button.loading = True
        try:
            graph = await self.store.fork(self.selected)
        except MissingCredentials as exc:
            profile = html.escape(self.links.get("Profile", "/profile"))
            self._fork_result.object = _message(
                str(exc), False, f' <a href="{profile}">Open your Profile page</a>'
            )
            return
        except Exception as exc:  # the page's boundary
            self._fork_result.object = _message(problem_text(exc, "forking the template"), False)
            return
        finally:
            self._fork_button.loading = False
        builder = html.escape(self.links.get("Builder", "/builder"))
        await self.refresh_templates()  # its fork count
        await self.show(self.selected)
        self._fork_result.object = _message(
            f"Forked: “{graph.name}” is now in your library.",
            True,
            f' <a class="wb-open-fork" href="{builder}?graph={html.escape(graph.id)}">Open it in the Builder</a>',
        )

    # ---- publishing ------------------------------------------------------------------------------

    async def _on_tab(self, event: param.parameterized.Event) -> None:
        if event.new == 1:
            await self.refresh_publish()

    async def refresh_publish(self) -> None:
        """Read the user's agents and templates."""
        try:
            agents = await self.store.agents()
            mine = await self.store.mine()
        except Exception as exc:  # the page's boundary
            self._show_problem(problem_text(exc, "reading your agents"))
            return
        self._show_problem(None)
        current = self._agent.value
        self._agent.options = {f"{a.name} (v{a.version})": a.id for a in agents}
        if current in self._agent.options.values():
            self._agent.value = current
        self._mine.html = mine_table(mine)

    async def _on_publish(self, _event: object) -> None:
        await self.publish()

    async def publish(self) -> None:
        """Publish the chosen agent with the description given."""
        if not self._agent.value:
            self._publish_result.object = _message("Choose one of your agents first.", False)
            return
        self._publish_button.loading = True
        try:
            t = await self.store.publish(self._agent.value, self._description.value or "")
        except Exception as exc:  # the page's boundary
            self._publish_result.object = _message(problem_text(exc, "publishing"), False)
            return
        finally:
            self._publish_button.loading = False
        needs = ", ".join(str(c["provider"]) for c in t.credentials) or "no credentials"
        self._publish_result.object = _message(
            f"Published “{t.name}” (version {t.graph_version}); it needs {needs}.", True
        )
        await self.refresh_publish()
        await self.refresh_templates()

    def _on_mine_action(self, action: str, template_id: str) -> None:
        if action == "unpublish":

            async def unpublish() -> None:
                await self.unpublish(template_id)

            pn.state.execute(unpublish)

    async def unpublish(self, template_id: str) -> None:
        """Unpublish one of the user's templates."""
        try:
            await self.store.unpublish(template_id)
        except Exception as exc:  # the page's boundary
            self._publish_result.object = _message(problem_text(exc, "unpublishing"), False)
            return
        self._publish_result.object = _message("Unpublished: forks made from it stay.", True)
        if self.selected == template_id:
            self.selected = ""
            self._detail_box.visible = False
        await self.refresh_publish()
        await self.refresh_templates()

    # ---- blocks ----------------------------------------------------------------------------------

    def _draw_blocks(self, *_events: object) -> None:
        category = "" if self._category.value == ALL else str(self._category.value)
        text = self._block_search.value_input or ""
        found = catalogue(self.store.registry, text.strip(), category)
        self._blocks.object = block_cards(found, len(self.store.registry))


def _arg(name: str) -> str:
    raw = (pn.state.session_args or {}).get(name) or [b""]
    value = raw[0]
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)).strip()


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """The Marketplace for one browser session; its data loads once the page is shown."""
    if ctx.wb.db is None:
        return pn.pane.Alert(
            "The marketplace needs the database, and this server has none.",
            alert_type="danger",
            sizing_mode="stretch_width",
        )
    page = MarketplacePage(store=MarketplaceStore(ctx), links=dict(ctx.links), selected=_arg("template"))
    pn.state.onload(page.load)
    return page
