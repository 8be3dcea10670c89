"""The Builder: palette, canvas, and the panels around them (node, problems, run, versions,
import/export, assistant), for one editor and one backend. The web page (:mod:`.page`) and the
notebook (``%wb build``) show the same view.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Mapping
from typing import Any

import panel as pn
from panel.viewable import Viewer

from workbench.errors import GraphValidationError, Problem, WorkbenchError
from workbench.graph.diff import diff
from workbench.graph.model import Graph, Node
from workbench.runtime.events import EventType
from workbench.services.template_snapshot import credential_needs
from workbench.ui.builder.backend import BuilderBackend
from workbench.ui.builder.canvas import Canvas
from workbench.ui.builder.editor import Editor, EditRefused
from workbench.ui.builder.palette import Palette, block_doc
from workbench.ui.schema_form import CredentialChoice, SchemaForm
from workbench.ui.tables import TABLE_CSS, html_table, status_badge

log = logging.getLogger(__name__)

SIDE_WIDTH = 340
NODE_TAB, PROBLEMS_TAB, RUN_TAB = 0, 1, 2
MAX_IMPORT_BYTES = 5_000_000
"""The largest document the page imports (parsing runs on the server's loop)."""
STATUS_FLUSH_S = 0.1
"""Node states reach the canvas at most this often while a run goes (a redraw sends every node)."""


def problems_html(problems: list[Problem], editor: Editor) -> str:
    """The problems as a table: node (its block's name), pin, message."""
    rows = []
    for problem in problems:
        where = ""
        if problem.node_id:
            block = None
            try:
                block = editor.block_of(problem.node_id)
            except EditRefused:
                block = None
            where = f"{block.name if block else 'node'} <small>{html.escape(problem.node_id[:8])}</small>"
        rows.append([where, html.escape(problem.pin or ""), html.escape(problem.message)])
    return html_table(["Node", "Pin", "Problem"], rows, "No problems: the agent can be saved and run.")


def describe_error(exc: BaseException) -> str:
    """What went wrong, for a person: a validation error lists its located problems."""
    if isinstance(exc, GraphValidationError):
        parts = []
        for problem in exc.problems[:8]:
            where = ".".join(p for p in (problem.node_id, problem.pin) if p)
            parts.append(f"{where}: {problem.message}" if where else problem.message)
        more = len(exc.problems) - 8
        return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
    if isinstance(exc, WorkbenchError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class BuilderView(Viewer):
    """The whole Builder for one agent at a time."""

    def __init__(self, backend: BuilderBackend, editor: Editor | None = None, *, height: int = 640) -> None:
        super().__init__()
        self.backend = backend
        self.editor = editor or Editor(backend.registry)
        self.selected: str | None = None
        self._credentials: list[CredentialChoice] = []
        self._history: list[dict[str, str]] = []
        self._statuses: dict[str, str] = {}
        self._outputs: dict[str, list[list[Any]]] = {}
        self._flush: asyncio.Task[None] | None = None
        self._execution: str | None = None
        self._message = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-builder-message"])
        self.canvas = Canvas(self.editor, on_message=self.say, on_select=self._select, height=height)
        blocks = sorted(backend.registry, key=lambda block: block.name.lower())
        self.palette = Palette(blocks, on_add=self._add_block)
        self._build_toolbar()
        self._build_side()
        self.editor.listeners.append(self._edited)
        self._refresh_after_edit()
        self._select(None)

    # ---- layout --------------------------------------------------------------------------------

    def _button(
        self, name: str, handler: Callable[..., Any], kind: str = "default", **kw: Any
    ) -> pn.widgets.Button:
        button = pn.widgets.Button(
            name=name, button_type=kind, css_classes=[f"wb-{name.lower().replace(' ', '-')}"], **kw
        )
        button.on_click(handler)
        return button

    def _build_toolbar(self) -> None:
        self.name_input = pn.widgets.TextInput(name="Agent name", value=self.editor.graph.name, width=220)
        self.name_input.param.watch(lambda e: self.editor.rename(e.new), "value")
        self.agent_select = pn.widgets.Select(name="Open agent", options={}, width=220)
        self.agent_select.param.watch(self._open_selected, "value")
        self.version_select = pn.widgets.Select(name="Version", options={}, width=170)
        self.version_select.param.watch(self._switch_version, "value")
        self.note_input = pn.widgets.TextInput(
            name="Note for this version", placeholder="What changed?", width=220, css_classes=["wb-note"]
        )
        self.undo_button = self._button("Undo", lambda _e: self.undo())
        self.redo_button = self._button("Redo", lambda _e: self.redo())
        self.save_button = self._button("Save", self.save, "primary")
        toolbar_top = pn.Row(
            self.agent_select,
            self._button("New", lambda _e: self.new_agent(), align="end"),
            self.name_input,
            self.version_select,
            self._button("Activate", self.activate, align="end"),
            self.note_input,
            pn.Column(pn.Spacer(height=18), self.save_button),
            pn.Column(pn.Spacer(height=18), self._button("Run", self.run, "success")),
            sizing_mode="stretch_width",
        )
        toolbar_edit = pn.Row(
            self.undo_button,
            self.redo_button,
            self._button("Copy", self.copy),
            self._button("Paste", lambda _e: self.paste()),
            self._button("Delete", self.delete_selected),
            self._button("Auto layout", lambda _e: (self.editor.layout(), self.canvas.fit())),
            self._button("Fit view", lambda _e: self.canvas.fit()),
            sizing_mode="stretch_width",
        )
        self.toolbar = pn.Column(toolbar_top, toolbar_edit, sizing_mode="stretch_width")

    def _build_side(self) -> None:
        self.node_panel = pn.Column(sizing_mode="stretch_width")
        self.problems_pane = pn.pane.HTML("", stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self.run_form_box = pn.Column(sizing_mode="stretch_width")
        self.run_button = self._button("Start", self.start, "success")
        self.stop_button = self._button("Stop", self.stop, "warning", disabled=True)
        self.run_status = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[TABLE_CSS])
        self.versions_pane = pn.pane.HTML("", stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self.compare_select = pn.widgets.Select(name="Compare with", options={}, sizing_mode="stretch_width")
        self.compare_select.param.watch(self._compare, "value")
        self.compare_pane = pn.pane.HTML("", sizing_mode="stretch_width")
        self.import_text = pn.widgets.TextAreaInput(
            name="Paste an agent's JSON (an AutoGPT export)",
            height=140,
            sizing_mode="stretch_width",
            css_classes=["wb-import-text"],
        )
        self.import_file = pn.widgets.FileInput(accept=".json,application/json", sizing_mode="stretch_width")
        self.import_file.param.watch(self._import_file, "value")
        self.export_button = pn.widgets.FileDownload(
            callback=self._export_file,
            filename="agent.json",
            label="Export (AutoGPT JSON)",
            button_type="default",
            sizing_mode="stretch_width",
        )
        self.ask_input = pn.widgets.TextAreaInput(
            name="Describe the agent, or a change",
            placeholder="e.g. summarise each URL in a list",
            height=90,
            sizing_mode="stretch_width",
            css_classes=["wb-ask-input"],
        )
        self.ask_credential = pn.widgets.Select(
            name="Model (your LLM credential)", options={}, sizing_mode="stretch_width"
        )
        self.ask_log = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-assistant-log"])
        self.ask_button = self._button("Ask", self.ask, "primary")
        self.tabs = pn.Tabs(
            ("Node", self.node_panel),
            ("Problems", self.problems_pane),
            ("Run", pn.Column(self.run_form_box, pn.Row(self.run_button, self.stop_button), self.run_status)),
            ("Versions", pn.Column(self.versions_pane, self.compare_select, self.compare_pane)),
            (
                "Import",
                pn.Column(
                    self.import_file,
                    self.import_text,
                    self._button("Import", self.import_pasted),
                    self.export_button,
                ),
            ),
            ("Assistant", pn.Column(self.ask_log, self.ask_credential, self.ask_input, self.ask_button)),
            width=SIDE_WIDTH,
            dynamic=False,
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.toolbar,
            self._message,
            pn.Row(self.palette, self.canvas.flow, self.tabs, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            css_classes=["wb-builder"],
        )

    # ---- messages ------------------------------------------------------------------------------

    def say(self, text: str, ok: bool = True) -> None:
        """Show one line above the canvas (green when ``ok``, red otherwise); ``text`` is HTML-escaped
        by the caller when it holds user text."""
        kind = "ok" if ok else "error"
        color = "#1e6b3a" if ok else "#b02a1f"
        self._message.object = f"<div class='wb-say wb-say-{kind}' style='color:{color};font-size:13px;padding:2px 4px'>{text}</div>"

    # ---- loading -------------------------------------------------------------------------------

    async def load_agents(self, selected: str | None = None) -> None:
        """Fill the agent picker (``selected``: the agent shown)."""
        agents = await self.backend.agents()
        options = {"(this canvas)": ""}
        options.update({f"{a.name} · v{a.version}": a.id for a in agents})
        self._loading = True
        try:
            self.agent_select.options = options
            self.agent_select.value = selected if selected in options.values() else ""
        finally:
            self._loading = False
        try:
            self._credentials = await self.backend.credentials()
        except WorkbenchError:
            self._credentials = []
        self.ask_credential.options = {
            "The environment's default": "",
            **{f"{c.title} ({c.provider})": c.id for c in self._credentials},
        }

    async def open(self, graph_id: str, version: int | None = None) -> None:
        """Edit a stored agent (the active version by default)."""
        try:
            graph = await self.backend.load(graph_id, version)
        except WorkbenchError as exc:
            self.say(html.escape(describe_error(exc)), False)
            return
        self.editor.replace(graph, saved=True, record=False)
        self.canvas.fit()
        self.name_input.value = graph.name
        await self._load_versions()
        self.say(f"Opened {html.escape(graph.name)} (version {graph.version}).")

    def new_agent(self) -> None:
        """Start an empty agent (the previous canvas stays one Undo away)."""
        self.editor.replace(Graph(name="Untitled agent"))
        self.name_input.value = self.editor.graph.name
        self.version_select.options = {}
        self.versions_pane.object = ""
        self.say("A new, empty agent: drag blocks from the palette.")

    async def _open_selected(self, event: Any) -> None:
        if getattr(self, "_loading", False) or not event.new or event.new == self.editor.graph.id:
            return  # set by the page itself (async watchers run after its flag is down), or shown
        await self.open(event.new)

    async def _load_versions(self) -> None:
        found = await self.backend.versions(self.editor.graph.id)
        self._versions = found
        self._loading = True
        try:
            self.version_select.options = {
                f"v{v.version}{' (active)' if v.is_active else ''}": v.version for v in found
            }
            if any(v.version == self.editor.graph.version for v in found):
                self.version_select.value = self.editor.graph.version
            self.compare_select.options = {
                "(choose a version)": 0,
                **{f"v{v.version}": v.version for v in found if v.version != self.editor.graph.version},
            }
        finally:
            self._loading = False
        rows = [
            [
                f"v{v.version}",
                "active" if v.is_active else "",
                html.escape(v.note),
                v.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                str(v.node_count),
            ]
            for v in found
        ]
        self.versions_pane.object = html_table(
            ["Version", "", "Note", "Saved", "Blocks"], rows, "Not saved yet."
        )

    async def _switch_version(self, event: Any) -> None:
        if getattr(self, "_loading", False) or not event.new or event.new == self.editor.graph.version:
            return
        await self.open(self.editor.graph.id, int(event.new))

    async def _compare(self, event: Any) -> None:
        if getattr(self, "_loading", False) or not event.new:
            self.compare_pane.object = ""
            return
        try:
            other = await self.backend.load(self.editor.graph.id, int(event.new))
        except WorkbenchError as exc:
            self.compare_pane.object = html.escape(describe_error(exc))
            return
        older, newer = (
            (other, self.editor.graph)
            if other.version < self.editor.graph.version
            else (self.editor.graph, other)
        )
        changes = diff(older, newer)
        names = {b.id: b.name for b in self.backend.registry}
        lines = changes.lines(names) or ["no changes to the agent (positions aside)"]
        self.compare_pane.object = (
            f"<p><b>v{older.version} → v{newer.version}</b></p><ul class='wb-diff'>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
            + "</ul>"
        )

    # ---- edits ---------------------------------------------------------------------------------

    def _add_block(self, block_id: str) -> None:
        try:
            node = self.editor.add_node(block_id)
        except EditRefused as exc:
            self.say(html.escape(str(exc)), False)
            return
        self.say(f"Added {html.escape(self.canvas.model.node_label(node))}.")

    def undo(self) -> None:
        """Take the last edit back."""
        self.say("Undone." if self.editor.undo() else "Nothing to undo.")

    def redo(self) -> None:
        """Make the last undone edit again."""
        self.say("Redone." if self.editor.redo() else "Nothing to redo.")

    def copy(self, _event: Any = None) -> None:
        """Copy the selected nodes."""
        chosen = self.canvas.flow.selection.get("nodes") or ([self.selected] if self.selected else [])
        count = self.editor.copy(chosen)
        self.say(f"Copied {count} node(s)." if count else "Select nodes to copy first.", bool(count))

    def paste(self) -> list[str]:
        """Paste the copied nodes (new ids, shifted)."""
        added = self.editor.paste()
        self.say(f"Pasted {len(added)} node(s)." if added else "Nothing copied yet.", bool(added))
        return added

    def delete_selected(self, _event: Any = None) -> None:
        """Remove the selected nodes and links."""
        selection = self.canvas.flow.selection
        self.editor.remove(selection.get("nodes") or [], selection.get("edges") or [])

    def _edited(self, _editor: Editor) -> None:
        self._refresh_after_edit()

    def _refresh_after_edit(self) -> None:
        problems = self.editor.problems()
        self.problems_pane.object = problems_html(problems, self.editor)
        self.undo_button.disabled = not self.editor.can_undo
        self.redo_button.disabled = not self.editor.can_redo
        if self.name_input.value != self.editor.graph.name:
            self.name_input.value = self.editor.graph.name
        if self.selected and not any(n.id == self.selected for n in self.editor.graph.nodes):
            self._select(None)
        elif self.selected and self.editor.last_change != "edit":
            self._select(self.selected, again=True)  # its values may have changed under the form
        elif self.selected and self._form is not None:
            self._form.set_errors(self._pin_errors(self.selected))
            self._form.set_linked(self._linked(self.selected))

    # ---- the selected node ---------------------------------------------------------------------

    _form: SchemaForm | None = None

    def _pin_errors(self, node_id: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for problem in self.editor.problems():
            if problem.node_id == node_id and problem.pin:
                found.setdefault(problem.pin, problem.message)
        return found

    def _linked(self, node_id: str) -> set[str]:
        return {link.sink_name for link in self.editor.graph.links if link.sink_id == node_id}

    def _select(self, node_id: str | None, *, again: bool = False) -> None:
        if node_id is not None and node_id == self.selected and self._form is not None and not again:
            return  # the same node: keep its form (and what is being typed in it)
        self.selected = node_id
        self._form = None
        if node_id is None:
            self.node_panel.objects = [pn.pane.Markdown("Select a node on the canvas to edit its inputs.")]
            return
        node = next(n for n in self.editor.graph.nodes if n.id == node_id)
        block = self.editor.block_of(node_id)
        if block is None:
            self.node_panel.objects = [pn.pane.Markdown(f"Block `{node.block_id}` is not installed.")]
            return

        def changed(pin: str, value: Any) -> None:
            try:
                self.editor.set_default(node_id, pin, value)
            except EditRefused as exc:
                self.say(html.escape(str(exc)), False)

        self._form = SchemaForm(
            node_schema(block, node, self.backend.registry),
            node.input_default,
            credentials=self._credentials,
            linked=self._linked(node_id),
            on_change=changed,
        )
        self._form.set_errors(self._pin_errors(node_id))
        pin_name = pin_name_input = pn.widgets.TextInput(placeholder="values_#_name", width=150)
        output_box = pn.widgets.Checkbox(name="output", value=False, width=70)

        def add_pin(_event: Any) -> None:
            try:
                self.editor.add_pin(node_id, pin_name_input.value.strip(), output=output_box.value)
            except EditRefused as exc:
                self.say(html.escape(str(exc)), False)
                return
            self.say(f"Added pin {html.escape(pin_name.value)}.")

        outputs = self._outputs.get(node_id)
        shown = [
            pn.pane.HTML(
                f"<b>{html.escape(block.name)}</b> <small style='color:#5b6675'>{html.escape(node_id[:8])}</small>"
                f"<p style='font-size:12px;color:#3d4652'>{html.escape(block.description)}</p>",
                sizing_mode="stretch_width",
            ),
            self._form,
            pn.Row(pin_name_input, output_box, self._button("Add pin", add_pin)),
        ]
        if outputs is not None:
            rows = [[html.escape(str(pin)), html.escape(_short(value))] for pin, value in outputs]
            shown.append(
                pn.pane.HTML(
                    "<b>Last run's outputs</b>" + html_table(["Pin", "Value"], rows, "No output."),
                    stylesheets=[TABLE_CSS],
                    sizing_mode="stretch_width",
                    css_classes=["wb-node-outputs"],
                )
            )
        self.node_panel.objects = shown
        self.tabs.active = NODE_TAB

    # ---- save, activate ------------------------------------------------------------------------

    async def save(self, _event: Any = None) -> Graph | None:
        """Store the canvas as a new version (with the note); refused while it has problems."""
        problems = self.editor.problems()
        if problems:
            self.tabs.active = PROBLEMS_TAB
            self.say(f"Not saved: the agent has {len(problems)} problem(s), listed under Problems.", False)
            return None
        self.save_button.loading = True
        try:
            stored = await self.backend.save(self.editor.graph, self.note_input.value.strip())
        except WorkbenchError as exc:
            self.say(f"Not saved: {html.escape(describe_error(exc))}", False)
            return None
        finally:
            self.save_button.loading = False
        self.editor.mark_saved(stored)
        self.note_input.value = ""
        await self._load_versions()
        await self.load_agents(stored.id)
        self.say(f"Saved {html.escape(stored.name)} as version {stored.version}.")
        return stored

    async def activate(self, _event: Any = None) -> None:
        """Make the shown version the one runs use."""
        try:
            await self.backend.activate(self.editor.graph.id, self.editor.graph.version)
        except WorkbenchError as exc:
            self.say(html.escape(describe_error(exc)), False)
            return
        await self._load_versions()
        self.say(f"Version {self.editor.graph.version} is now the active one.")

    # ---- run -----------------------------------------------------------------------------------

    async def prepare_run(self) -> None:
        """Show the Run tab's input form for the saved agent (saving it first when it changed)."""
        unsaved = self.editor.dirty or not await self.backend.versions(self.editor.graph.id)
        if unsaved and await self.save() is None:
            return
        schema = await self.backend.input_schema(self.editor.graph.id, self.editor.graph.version)
        self._run_form = SchemaForm(
            schema, {}, credentials=self._credentials, title="Inputs", upload=self.backend.upload
        )
        self.run_form_box.objects = (
            [self._run_form]
            if schema.get("properties")
            else [pn.pane.Markdown("This agent takes no inputs.")]
        )

    _run_form: SchemaForm | None = None

    async def run(self, _event: Any = None) -> None:
        """Get the agent ready to run (saved, its input form under Run); it starts at once when it
        needs no input, else when the person presses Start."""
        await self.prepare_run()
        if self._run_form is None:
            return
        self.tabs.active = RUN_TAB
        if self._run_form_schema_required():
            self.say("Fill in the inputs under Run, then press Start.")
            return
        await self.start()

    async def start(self, _event: Any = None) -> None:
        """Run the saved agent with the form's inputs and show each node's state on the canvas."""
        if self._run_form is None or self.editor.dirty:
            await self.run()
            return
        inputs = dict(self._run_form.values)
        self._statuses = {}
        self._outputs = {}
        self.canvas.show_status({})
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.tabs.active = RUN_TAB
        final = None
        try:
            async for event in self.backend.run(self.editor.graph.id, self.editor.graph.version, inputs):
                self._execution = event.execution_id
                if event.node_id:
                    self._statuses[event.node_id] = event.status
                    if event.type == EventType.NODE_EXECUTED:
                        self._outputs[event.node_id] = event.data.get("outputs") or []
                    self._schedule_flush()
                if event.is_final:
                    final = event
        except WorkbenchError as exc:
            self.say(f"The run could not start: {html.escape(describe_error(exc))}", False)
        finally:
            self.run_button.disabled = False
            self.stop_button.disabled = True
            self._flush_now()
        if final is not None:
            error = final.data.get("error") if isinstance(final.data, Mapping) else None
            self.run_status.object = (
                f"<p>Run <code>{html.escape(final.execution_id[:8])}</code>: {status_badge(final.status)}"
                + (f"<br>{html.escape(str(error))}" if error else "")
                + "</p><p style='font-size:12px'>Click a node to see its outputs.</p>"
            )
            self.say(f"The run ended {html.escape(final.status)}.", final.status == "COMPLETED")
            if self.selected:
                self._select(self.selected, again=True)

    def _run_form_schema_required(self) -> bool:
        return bool(
            self._run_form and any(spec.required for spec in getattr(self._run_form, "_specs", {}).values())
        )

    async def stop(self, _event: Any = None) -> None:
        """Stop the run shown."""
        if self._execution:
            await self.backend.cancel(self._execution)

    def _schedule_flush(self) -> None:
        if self._flush is None or self._flush.done():
            self._flush = asyncio.ensure_future(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(STATUS_FLUSH_S)
        self._flush_now()

    def _flush_now(self) -> None:
        self.canvas.show_status(self._statuses)
        done = sum(1 for s in self._statuses.values() if s == "COMPLETED")
        self.run_status.object = f"<p>{done} of {len(self.editor.graph.nodes)} node(s) completed…</p>"

    # ---- import, export ------------------------------------------------------------------------

    def import_document(self, text: str | bytes) -> bool:
        """Replace the canvas with an imported agent; False (and the located error shown) when it is
        not one. The previous canvas stays one Undo away."""
        if len(text) > MAX_IMPORT_BYTES:
            self.say(
                f"Import failed: the document is {len(text) / 1e6:.1f} MB; the Builder imports agents "
                f"of up to {MAX_IMPORT_BYTES // 1_000_000} MB (POST /api/v1/graphs takes larger ones)",
                False,
            )
            return False
        try:
            graph = self.editor.import_text(text)
        except GraphValidationError as exc:
            self.say(f"Import failed: {html.escape(describe_error(exc))}", False)
            return False
        self.canvas.fit()
        self.version_select.options = {}
        self.say(
            f"Imported {html.escape(graph.name)}: {len(graph.nodes)} node(s), {len(graph.links)} link(s). "
            "Save to store it."
        )
        return True

    def import_pasted(self, _event: Any = None) -> None:
        """Import the pasted JSON."""
        self.import_document(self.import_text.value or "")

    def _import_file(self, event: Any) -> None:
        if event.new:
            self.import_document(event.new)

    def _export_file(self) -> Any:
        import io

        from workbench.jsonutil import dumps

        self.export_button.filename = f"{_slug(self.editor.graph.name)}.json"
        return io.StringIO(dumps(self.editor.graph.export()))

    # ---- assistant -----------------------------------------------------------------------------

    async def ask(self, _event: Any = None) -> None:
        """Send the request to the drafting assistant; a valid proposal replaces the canvas (Undo
        takes it back); an invalid one leaves the canvas as it was."""
        request = (self.ask_input.value or "").strip()
        if not request:
            self.say("Describe what the agent should do first.", False)
            return
        self._history.append({"role": "user", "text": request})
        self._render_log()
        self.ask_button.loading = True
        try:
            proposal = await self.backend.propose(
                request, self.editor.graph, self._history[:-1], self.ask_credential.value or None
            )
        except WorkbenchError as exc:
            self._history.append({"role": "assistant", "text": f"(failed) {describe_error(exc)}"})
            self._render_log()
            self.say(f"The assistant failed: {html.escape(describe_error(exc))}", False)
            return
        finally:
            self.ask_button.loading = False
        self.ask_input.value = ""
        reply = proposal.reply or ""
        if proposal.accepted:
            self.editor.replace(proposal.graph.model_copy(deep=True))
            summary = "; ".join(proposal.changes) or "no change"
            self._history.append({"role": "assistant", "text": reply or summary})
            self.say(
                f"The assistant's proposal is on the canvas ({html.escape(summary)}). "
                "Keep editing, Save to keep it, or Undo to take it back."
            )
        else:
            problems = "; ".join(p.message for p in proposal.problems) or "it did not propose a valid agent"
            self._history.append({"role": "assistant", "text": f"{reply} (not applied: {problems})"})
            self.say(f"The proposal was not applied: {html.escape(problems)}", False)
        self._render_log()

    def _render_log(self) -> None:
        parts = []
        for turn in self._history[-20:]:
            who = "You" if turn["role"] == "user" else "Assistant"
            parts.append(
                f"<p class='wb-turn wb-turn-{turn['role']}'><b>{who}:</b> {html.escape(turn['text'])}</p>"
            )
        self.ask_log.object = "".join(parts)


def node_schema(block: Any, node: Node, registry: Any) -> dict[str, Any]:
    """The block's input schema for this node's form; a credentials field says which providers it
    takes (from the block, or for an LLM block from the node's model), so the form offers only
    the user's credentials for them."""
    schema = block.input_schema()
    props = schema.get("properties") or {}
    if "credentials" not in props:
        return schema
    providers = [need["provider"] for need in credential_needs([Graph(nodes=[node])], registry)]
    if not providers:
        return schema
    schema = {**schema, "properties": {**props}}
    schema["properties"]["credentials"] = {**props["credentials"], "credentials_provider": providers}
    return schema


def _slug(name: str) -> str:
    text = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return text[:60] or "agent"


def _short(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["BuilderView", "block_doc", "describe_error", "problems_html"]
