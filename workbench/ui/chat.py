"""Chat (``/chat``): talk to one of your agents that takes a message and gives a reply.

The sidebar lists the user's conversations (new, rename, delete; stored, so they are there after a
restart); the agent picker lists the user's agents, and one that does not follow the convention
(``message`` in, ``reply`` out, optional ``history``) says why and lets the user map its pins. Replies
stream token by token, each with its run's node steps folded under it; Stop cancels the run, Retry
sends the last message again. ``?agent=<graph id>`` opens the page on that agent.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from workbench.errors import StoreError, StoreUnavailable, WorkbenchError
from workbench.services.chat import ChatAgent, ChatUpdate, NodeStep
from workbench.store.chat import ChatMessageRecord, ChatSessionRecord
from workbench.store.database import UNREACHABLE
from workbench.ui.chat_store import ChatStore
from workbench.ui.context import UiContext

log = logging.getLogger(__name__)

USER = "You"
STEPS_CSS = """
details > summary { cursor: pointer; font-weight: 600; color: #111827; padding: 0.3rem 0; }
details.wb-step { border-top: 1px solid #e5e7eb; padding: 0.25rem 0; }
details.wb-step summary { cursor: pointer; color: #111827; }
.wb-step pre { white-space: pre-wrap; word-break: break-word; background: #f9fafb; padding: 0.4rem;
  margin: 0.25rem 0; max-height: 16rem; overflow: auto; font-size: 0.8rem; }
.wb-step-COMPLETED { color: #166534; font-weight: 600; }
.wb-step-FAILED { color: #991b1b; font-weight: 600; }
.wb-step-CANCELLED { color: #6b21a8; font-weight: 600; }
.wb-step-REVIEW { color: #92400e; font-weight: 600; }
.wb-step-RUNNING, .wb-step-QUEUED { color: #1e40af; font-weight: 600; }
.wb-step-error { color: #991b1b; }
"""
ERROR_CSS = """
.wb-error { color: #7f1d1d; background: #fee2e2; border: 1px solid #fca5a5; border-radius: 4px;
  padding: 0.5rem 0.75rem; }
"""
PREVIEW = 2_000


def _json(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, indent=1, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= PREVIEW else text[:PREVIEW] + " …"


def why(exc: BaseException) -> str:
    """What went wrong, as a person reads it: a database that cannot be reached is said so."""
    if isinstance(exc, StoreUnavailable) or (
        isinstance(exc, StoreError) and isinstance(exc.__cause__, UNREACHABLE)
    ):
        return f"the database cannot be reached right now ({exc}); try again in a moment"
    if isinstance(exc, StoreError):
        return f"the database failed ({exc})"
    return str(exc)


def steps_html(steps: Sequence[NodeStep]) -> str:
    """A reply's node steps as HTML: one foldable line per step (name, status, time), opening to its
    inputs, outputs and error."""
    if not steps:
        return "<p>No steps recorded.</p>"
    parts = []
    for step in steps:
        status = html.escape(step.status)
        took = "" if step.duration is None else f" · {step.duration:.2f} s"
        at = (
            ""
            if step.started_at is None
            else " · " + datetime.fromtimestamp(step.started_at).astimezone().strftime("%H:%M:%S")
        )
        body = [
            f"<div>Inputs</div><pre>{html.escape(_json(step.inputs))}</pre>",
            f"<div>Outputs</div><pre>{html.escape(_json(step.outputs))}</pre>",
        ]
        if step.error:
            body.append(f'<div class="wb-step-error">Error: {html.escape(step.error)}</div>')
        parts.append(
            f'<details class="wb-step"><summary>{html.escape(step.block_name)} '
            f"(<code>{html.escape(step.node_id)}</code>) · "
            f'<span class="wb-step-{status}">{status}</span>{took}{at}</summary>{"".join(body)}</details>'
        )
    return "".join(parts)


class ReplyView(Viewer):
    """One reply of the agent: its text (growing as tokens arrive), the error when its run failed or
    was stopped (below what had arrived), and its node steps folded under it."""

    text = param.String(default="", doc="The reply so far.")
    error = param.String(default=None, allow_None=True, doc="Why the run gave no reply (None: it did).")
    steps = param.List(default=[], item_type=NodeStep, doc="The run's node steps so far.")
    running = param.Boolean(default=False, doc="Whether the run is going on.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # No stretching sizing modes here: inside a chat message they make the message as tall as
        # the feed. The error is a styled pane rather than an Alert, which a message shows even hidden.
        self._text = pn.pane.Markdown(self.text, css_classes=["wb-reply"], margin=(0, 5))
        self._error = pn.pane.HTML(
            "", stylesheets=[ERROR_CSS], css_classes=["wb-reply-error"], visible=False, margin=(5, 5)
        )
        self._steps = pn.pane.HTML("", stylesheets=[STEPS_CSS], css_classes=["wb-steps"], margin=(0, 5))
        self._layout = pn.Column(self._text, self._error, self._steps)
        self._show_text()
        self._show_steps()

    def _title(self) -> str:
        count = len(self.steps)
        suffix = " (running…)" if self.running else ""
        return f"Run steps: {count} node{'s' if count != 1 else ''}{suffix}"

    @param.depends("text", "error", watch=True)
    def _show_text(self) -> None:
        self._text.object = self.text
        self._text.visible = bool(self.text) or self.error is None
        self._error.object = f'<div class="wb-error">{html.escape(self.error or "")}</div>'
        self._error.visible = self.error is not None

    @param.depends("steps", "running", watch=True)
    def _show_steps(self) -> None:
        self._steps.object = (
            f'<details><summary class="wb-steps-title">{html.escape(self._title())}</summary>'
            f"{steps_html(self.steps)}</details>"
        )
        self._steps.visible = bool(self.steps) or self.running

    def __panel__(self) -> pn.viewable.Viewable:
        """The reply and its steps."""
        return self._layout

    def message(self) -> pn.viewable.Viewable:
        """What a chat message holds: the layout itself (a Viewer there is sized as tall as the feed)."""
        return self._layout


def _query_agent() -> str | None:
    """The ``agent`` query parameter of the page's URL."""
    args = getattr(pn.state, "session_args", None) or {}
    values = args.get("agent") or []
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class ChatPage(Viewer):
    """Chat: the user's conversations in a sidebar, an agent picker, and the conversation."""

    store = param.ClassSelector(class_=ChatStore, doc="Where the data comes from (the user's own).")
    agent_id = param.String(default=None, allow_None=True, doc="The agent picked (graph id).")
    session_id = param.String(default=None, allow_None=True, doc="The conversation shown.")
    execution_id = param.String(default=None, allow_None=True, doc="The run of the reply coming, if any.")
    busy = param.Boolean(default=False, doc="A reply is coming.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._agents: dict[str, ChatAgent] = {}
        self._quiet = False  # the picker is being set by the page, not the user
        self._showing = 0  # bumped by each choice of what to show; a slower earlier load gives way
        self._sessions: list[ChatSessionRecord] = []
        self._problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self._notice = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self._agent_select = pn.widgets.Select(name="Agent", options={}, sizing_mode="stretch_width")
        self._agent_select.param.watch(self._on_agent, "value")
        self._map_message = pn.widgets.Select(name="Message input", options=[], width=180)
        self._map_reply = pn.widgets.Select(name="Reply output", options=[], width=180)
        self._map_history = pn.widgets.Select(name="History input", options=[], width=180)
        self._map_button = pn.widgets.Button(name="Chat with these pins", button_type="primary", align="end")
        self._map_button.on_click(self._on_map)
        self._mapping = pn.Row(
            self._map_message, self._map_reply, self._map_history, self._map_button, visible=False
        )
        self._session_list = pn.Column(sizing_mode="stretch_width", css_classes=["wb-sessions"])
        self._new_button = pn.widgets.Button(name="New conversation", icon="plus", button_type="primary")
        self._new_button.on_click(self._on_new)
        self._title_input = pn.widgets.TextInput(name="Title", sizing_mode="stretch_width")
        self._rename_button = pn.widgets.Button(name="Rename", icon="pencil")
        self._rename_button.on_click(self._on_rename)
        self._delete_button = pn.widgets.Button(name="Delete", icon="trash", button_type="danger")
        self._delete_button.on_click(self._on_delete)
        self._stop_button = pn.widgets.Button(name="Stop", icon="player-stop", disabled=True, align="end")
        self._stop_button.on_click(self._on_stop)
        self._retry_button = pn.widgets.Button(name="Retry", icon="repeat", disabled=True, align="end")
        self._retry_button.on_click(self._on_retry)
        self._interface = pn.chat.ChatInterface(
            callback=self._on_message,
            callback_user="Agent",
            user=USER,
            show_rerun=False,
            show_undo=False,
            show_clear=False,
            show_stop=False,
            show_button_name=True,
            placeholder_threshold=0,
            message_params={"show_avatar": False, "show_reaction_icons": False},
            widgets=pn.chat.ChatAreaInput(placeholder="Message the agent (Enter sends)"),
            disabled=True,
            visible=False,  # until there is an agent to talk to
            height=560,
            sizing_mode="stretch_width",
        )
        for widget in (self._rename_button, self._delete_button, self._title_input):
            widget.disabled = True  # until a conversation is open
        self._layout = self._build()

    def _build(self) -> pn.viewable.Viewable:
        sidebar = pn.Column(
            pn.pane.Markdown("### Conversations"),
            self._new_button,
            self._session_list,
            self._title_input,
            pn.Row(self._rename_button, self._delete_button),
            width=300,
            styles={"border-right": "1px solid #e5e7eb"},
        )
        main = pn.Column(
            self._problem,
            pn.Row(self._agent_select, self._stop_button, self._retry_button, sizing_mode="stretch_width"),
            self._notice,
            self._mapping,
            self._interface,
            sizing_mode="stretch_width",
        )
        return pn.Row(sidebar, main, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        """The page."""
        return self._layout

    # ---- loading -------------------------------------------------------------------------------

    def _show_problem(self, message: str | None) -> None:
        self._problem.object = message or ""
        self._problem.visible = message is not None

    def _show_notice(self, message: str | None) -> None:
        self._notice.object = message or ""
        self._notice.visible = message is not None

    async def load(self, agent_id: str | None = None, session_id: str | None = None) -> None:
        """Read the user's agents and conversations; open ``agent_id`` (its latest conversation, or
        ``session_id`` if that is one of the agent's)."""
        try:
            agents = await self.store.agents()
            self._sessions = await self.store.sessions()
        except Exception as exc:  # the page's boundary: say what happened rather than show nothing
            if isinstance(exc, StoreError | OSError):
                self._show_problem(
                    f"The database cannot be reached right now ({exc}); reload the page in a moment."
                )
            else:
                log.exception("the Chat page could not load")
                self._show_problem(f"Your agents and conversations could not be loaded: {exc}")
            return
        self._show_problem(None)
        self._agents = {a.id: a for a in agents}
        self._refresh_sessions()
        if not agents:
            self._show_notice(
                "You have no agents yet: run the quick start on Home, or build one in a notebook."
            )
            return
        wanted = agent_id if agent_id in self._agents else None
        if agent_id is not None and wanted is None:
            self._show_notice(f"No agent of yours has the id {agent_id!r}; pick one from the list.")
        if wanted is None:
            wanted = next((a.id for a in agents if a.pins is not None), agents[0].id)
        self._quietly_pick(wanted, {self._agent_label(a): a.id for a in agents})
        chosen = next((s.id for s in self._sessions if s.id == session_id and s.graph_id == wanted), None)
        if chosen is not None:
            self.agent_id = wanted  # before the picker's watcher runs (later: it is async)
            await self.open_session(chosen)
            return
        await self._pick_agent(wanted)

    @staticmethod
    def _agent_label(agent: ChatAgent) -> str:
        return agent.name if agent.pins is not None else f"{agent.name} (needs its pins mapped)"

    def _refresh_sessions(self) -> None:
        """The sidebar's list: one button per conversation, the one shown marked."""
        names = {a.id: a.name for a in self._agents.values()}
        buttons = []
        for s in self._sessions:
            button = pn.widgets.Button(
                name=s.title,
                description=f"With {names.get(s.graph_id, 'an agent that is gone')}",
                button_type="primary" if s.id == self.session_id else "default",
                sizing_mode="stretch_width",
                css_classes=["wb-session"],
            )
            button.on_click(self._opener(s.id))
            buttons.append(button)
        if not buttons:
            buttons.append(pn.pane.Markdown("No conversations yet."))
        self._session_list.objects = buttons

    def _opener(self, session_id: str) -> Any:
        async def open_it(_event: object) -> None:
            if session_id != self.session_id and not self.busy:
                await self.open_session(session_id)

        return open_it

    async def _pick_agent(self, graph_id: str) -> None:
        self.agent_id = graph_id
        self._showing += 1  # whatever conversation was loading is not wanted any more
        agent = self._agents.get(graph_id)
        if agent is None:
            return
        if agent.pins is None:
            problem = agent.problem or f"agent {agent.name!r} cannot chat"
            self._show_notice(
                f"{problem[:1].upper()}{problem[1:]}. Chat needs a text input and a text output: map them below, "
                "or pick another agent."
            )
            self._map_message.options = agent.inputs
            self._map_reply.options = agent.outputs
            self._map_history.options = ["(none)", *agent.inputs]
            self._mapping.visible = bool(agent.inputs and agent.outputs)
            self._open(None)
            return
        self._show_notice(None)
        self._mapping.visible = False
        latest = next((s for s in self._sessions if s.graph_id == graph_id), None)
        if latest is not None:
            await self.open_session(latest.id)
        else:
            self._open(None)

    def _open(self, session: ChatSessionRecord | None) -> None:
        self.session_id = session.id if session else None
        self._title_input.value = session.title if session else ""
        self._interface.clear()
        self._interface.disabled = session is None and not self._can_start()
        self._interface.visible = session is not None or self._can_start()
        for widget in (self._rename_button, self._delete_button, self._title_input):
            widget.disabled = session is None
        self._retry_button.disabled = session is None
        self._refresh_sessions()

    def _can_start(self) -> bool:
        agent = self._agents.get(self.agent_id or "")
        return agent is not None and agent.pins is not None

    async def open_session(self, session_id: str) -> None:
        """Show a stored conversation (its replies with their steps); a later choice made while
        this one loads wins."""
        session = next((s for s in self._sessions if s.id == session_id), None)
        if session is None:
            return
        self._showing += 1
        mine = self._showing
        try:
            messages = await self.store.messages(session_id)
            entries = await self._entries(messages)
        except WorkbenchError as exc:
            self._show_problem(f"The conversation cannot be read: {why(exc)}")
            return
        if mine != self._showing:
            return
        if session.graph_id != self.agent_id and session.graph_id in self._agents:
            self.agent_id = session.graph_id
            self._quietly_pick(session.graph_id)
        self._open(session)
        self._interface.disabled = False
        name = self._agent_name()
        for entry in entries:
            if isinstance(entry, ReplyView):
                self._interface.send(entry.message(), user=name, respond=False)
            else:
                self._interface.send(entry, user=USER, respond=False)

    async def _entries(self, messages: Sequence[ChatMessageRecord]) -> list[str | ReplyView]:
        """A stored conversation as the feed shows it: the user's texts and the replies (a reply that
        partly arrived before its error is one reply)."""
        entries: list[str | ReplyView] = []
        previous: tuple[str | None, ReplyView] | None = None
        for m in messages:
            if m.role == "user":
                entries.append(m.text)
                previous = None
                continue
            if (
                m.role == "error"
                and previous is not None
                and m.execution_id
                and previous[0] == m.execution_id
            ):
                previous[1].error = m.text
                continue
            steps: list[NodeStep] = []
            if m.execution_id:
                try:
                    steps = await self.store.steps(m.execution_id)
                except StoreError:  # the database, not the run: the conversation cannot be shown
                    raise
                except WorkbenchError:
                    steps = []  # the run was deleted: the reply stands without its steps
            reply = (
                ReplyView(error=m.text, steps=steps)
                if m.role == "error"
                else ReplyView(text=m.text, steps=steps)
            )
            entries.append(reply)
            previous = (m.execution_id, reply)
        return entries

    def _quietly_pick(self, graph_id: str, options: dict[str, str] | None = None) -> None:
        """Set the picker (and its options) without its watcher acting on it."""
        self._quiet = True
        try:
            if options is not None:
                self._agent_select.options = options
            self._agent_select.value = graph_id
        finally:
            self._quiet = False

    def _agent_name(self) -> str:
        agent = self._agents.get(self.agent_id or "")
        return agent.name if agent else "Agent"

    # ---- talking -------------------------------------------------------------------------------

    async def _ensure_session(self) -> str | None:
        if self.session_id is not None:
            return self.session_id
        if self.agent_id is None:
            return None
        session = await self.store.create(self.agent_id)
        self._sessions.insert(0, session)
        self.session_id = session.id
        self._title_input.value = session.title
        self._refresh_sessions()
        for widget in (self._rename_button, self._delete_button, self._title_input):
            widget.disabled = False
        return session.id

    async def _on_message(self, contents: Any, user: str, instance: pn.chat.ChatInterface) -> None:
        try:
            session_id = await self._ensure_session()
        except WorkbenchError as exc:
            self._show_problem(f"The conversation cannot start: {why(exc)}")
            return
        if session_id is None:
            self._show_problem("Pick an agent first.")
            return
        await self.reply(self.store.send(session_id, str(contents)))

    async def reply(self, updates: AsyncIterator[ChatUpdate]) -> None:
        """Show a reply as its updates come: tokens into the text, steps under it, the stored end."""
        view = ReplyView(running=True)
        self.busy = True
        self._stop_button.disabled = False
        self._retry_button.disabled = True
        self._interface.send(view.message(), user=self._agent_name(), respond=False)
        try:
            async for update in updates:
                if update.kind == "started":
                    self.execution_id = update.execution_id
                elif update.kind == "token":
                    view.text += update.text
                elif update.kind == "step" and update.step is not None:
                    view.steps = [*view.steps, update.step]
                elif update.kind == "reply":
                    if update.message is None or update.message.role == "error":
                        view.error = update.text
                    else:
                        view.text = update.text
        except WorkbenchError as exc:
            view.error = f"The message could not be sent: {why(exc)}"
        except Exception as exc:  # the page's boundary: the reply says it failed, never hangs
            log.exception("a Chat reply failed")
            view.error = f"The reply failed: {type(exc).__name__}: {exc}"
        finally:
            view.running = False
            self.busy = False
            self.execution_id = None
            self._stop_button.disabled = True
            self._retry_button.disabled = self.session_id is None
        self._touch_session()

    def _touch_session(self) -> None:
        """Move the current conversation to the top of the sidebar (it is the most recent)."""
        current = next((s for s in self._sessions if s.id == self.session_id), None)
        if current is not None:
            self._sessions.remove(current)
            self._sessions.insert(0, current)
            self._refresh_sessions()

    async def stop(self) -> None:
        """Cancel the run of the reply coming."""
        if self.execution_id is None:
            return
        try:
            await self.store.stop(self.execution_id)
        except WorkbenchError as exc:
            self._show_problem(f"The run could not be stopped: {why(exc)}")

    async def retry(self) -> None:
        """Send the conversation's last message again."""
        if self.session_id is None or self.busy:
            return
        self._interface.disabled = True
        try:
            await self.reply(self.store.retry(self.session_id))
        finally:
            self._interface.disabled = False

    # ---- sidebar and picker --------------------------------------------------------------------

    async def _on_agent(self, event: param.parameterized.Event) -> None:
        if not self._quiet and event.new is not None and event.new != self.agent_id:
            await self._pick_agent(event.new)

    async def _on_new(self, _event: object) -> None:
        if self.agent_id is None or self.busy:
            return
        try:
            session = await self.store.create(self.agent_id)
        except WorkbenchError as exc:
            self._show_notice(why(exc))
            return
        self._sessions.insert(0, session)
        self._refresh_sessions()
        self._open(session)
        self._interface.disabled = False

    async def _on_rename(self, _event: object) -> None:
        if self.session_id is None:
            return
        try:
            renamed = await self.store.rename(self.session_id, self._title_input.value)
        except WorkbenchError as exc:
            self._show_problem(f"The conversation cannot be renamed: {why(exc)}")
            return
        self._show_problem(None)
        self._sessions = [renamed if s.id == renamed.id else s for s in self._sessions]
        self._refresh_sessions()

    async def _on_delete(self, _event: object) -> None:
        if self.session_id is None or self.busy:
            return
        try:
            await self.store.delete(self.session_id)
        except WorkbenchError as exc:
            self._show_problem(f"The conversation cannot be deleted: {why(exc)}")
            return
        self._sessions = [s for s in self._sessions if s.id != self.session_id]
        self._open(None)

    async def _on_map(self, _event: object) -> None:
        if self.agent_id is None:
            return
        history = self._map_history.value
        pins = {
            "message": self._map_message.value,
            "reply": self._map_reply.value,
            "history": None if history in (None, "(none)") else history,
        }
        try:
            session = await self.store.create(self.agent_id, pins)
        except WorkbenchError as exc:
            self._show_notice(why(exc))
            return
        self._show_notice(None)
        self._mapping.visible = False
        self._sessions.insert(0, session)
        self._refresh_sessions()
        self._open(session)
        self._interface.disabled = False

    async def _on_stop(self, _event: object) -> None:
        await self.stop()

    async def _on_retry(self, _event: object) -> None:
        await self.retry()


def create(ctx: UiContext) -> pn.viewable.Viewable:
    """Chat for one browser session; it loads once the page is shown (``?agent=`` picks the agent)."""
    page = ChatPage(store=ChatStore(ctx))
    agent = _query_agent()

    async def load() -> None:
        await page.load(agent)

    pn.state.onload(load)
    return page
