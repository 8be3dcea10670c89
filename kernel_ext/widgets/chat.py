"""The chat widget: a conversation with a graph that takes a message and yields a reply.

Each message runs the graph with its ``message`` input (and, if the graph has one, its ``history``
input: the conversation so far as ``[{"role": "user" | "assistant", "text": ...}]``) and shows the
reply as it streams (the tokens of the node linked to the ``reply`` output, in ``partial``), then the
last value of its ``reply`` output. The input and output names are parameters. The rules are the Chat
page's (:mod:`workbench.services.chat`). Its display carries an HTML snapshot of the conversation for
exports, brought up to date after each reply.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Dict, List, Unicode

from kernel_ext.widgets.fallback import StaticFallback
from workbench.block.registry import default_registry
from workbench.client.base import GraphRef, as_graph
from workbench.client.portal import Client
from workbench.client.text import html_name, isolate
from workbench.engine.plan import Plan
from workbench.errors import InputError
from workbench.runtime.events import ExecutionEvent
from workbench.services.chat import (
    ReplyTracker,
    block_names,
    chat_pins,
    history_value,
    plan_io,
    reply_sources,
)


class ChatWidget(StaticFallback, widgets.VBox):
    """Talk to a graph; ``messages`` is the conversation, ``busy`` while a reply is coming, ``partial``
    the reply so far while it streams."""

    messages = List(Dict()).tag(sync=True)
    busy = Bool(False).tag(sync=True)
    partial = Unicode("").tag(sync=True)

    def __init__(
        self,
        client: Client,
        graph: GraphRef,
        *,
        message: str = "message",
        reply: str = "reply",
        history: str = "history",
        **kwargs: Any,
    ) -> None:
        saved = client.load_graph(graph) if isinstance(graph, str) else client.save_graph(as_graph(graph))
        plan = Plan(saved, default_registry(), 600.0)
        inputs, outputs = plan_io(plan)
        self.pins = chat_pins(saved.name, inputs, outputs, message=message, reply=reply, history=history)
        self._sources = reply_sources(plan, reply)
        self._names = block_names(plan)
        self.client = client
        self.graph_id = saved.id
        self.graph_name = saved.name
        self.message_input, self.reply_output = message, reply
        self.history_input = self.pins.history
        self.transcript = widgets.HTML()
        self.text = widgets.Text(placeholder="Message", layout=widgets.Layout(width="70%"))
        self.send_button = widgets.Button(description="Send", button_style="primary")
        self.send_button.on_click(lambda _b: self._send_typed())
        self._replied = threading.Condition()
        super().__init__([self.transcript, widgets.HBox([self.text, self.send_button])], **kwargs)
        self._render()

    def _render(self) -> None:
        lines = []
        for m in self.messages:
            who = "you" if m["role"] == "user" else ("error" if m["role"] == "error" else "agent")
            colour = {"you": "#1565c0", "agent": "#2e7d32", "error": "#c62828"}[who]
            lines.append(f"<div><b style='color:{colour}'>{who}:</b> {html_name(m['text'])}</div>")
        if self.busy:
            so_far = html_name(self.partial) if self.partial else ""
            lines.append(f"<div><b style='color:#2e7d32'>agent:</b> {so_far}<i>…</i></div>")
        self.transcript.value = "".join(lines)

    def _send_typed(self) -> None:
        text = self.text.value.strip()
        if text and not self.busy:
            self.text.value = ""
            self._start(text)

    def _start(self, text: str) -> None:
        """Start a reply (returns at once; the reply arrives in the client's thread)."""
        inputs: dict[str, Any] = {self.message_input: text}
        if self.history_input:
            inputs[self.history_input] = history_value(self.messages)
        with self.hold_sync():
            self.messages = [*self.messages, {"role": "user", "text": text}]
            self.busy = True
            self.partial = ""
            self._render()
        try:
            handle = self.client.start(self.graph_id, inputs)
        except Exception as exc:
            self._answer({"role": "error", "text": str(exc)})
            return

        tracker = ReplyTracker(self.pins, self._sources, self._names)

        def on_event(event: ExecutionEvent) -> None:
            if (token := tracker.token(event)) is not None:
                with self.hold_sync():
                    self.partial += token
                    self._render()
                return
            tracker.step(event)
            if event.is_final:
                outcome = tracker.outcome(event)
                self._answer({"role": "assistant" if outcome.ok else "error", "text": outcome.text})

        handle.add_listener(on_event)

    def _answer(self, message: dict[str, Any]) -> None:
        with self.hold_sync():
            self.messages = [*self.messages, message]
            self.busy = False
            self.partial = ""
            self._render()
        self.refresh_displays()  # before waking send(): the update belongs to the cell that waits
        with self._replied:
            self._replied.notify_all()

    def snapshot_html(self) -> str:
        """The conversation so far, as static HTML."""
        return (
            "<div class='wb-chat' style='border:1px solid #ccd;border-radius:4px;padding:6px 10px'>"
            f"<div><b>Chat with {html_name(self.graph_name)}</b></div>{self.transcript.value}</div>"
        )

    def snapshot_text(self) -> str:
        """One line: the graph and the number of messages."""
        return f"Chat with {isolate(self.graph_name)}: {len(self.messages)} messages"

    def send(self, text: str, timeout: float = 60.0) -> str:
        """Send a message and wait for the reply (what typing and pressing Send does, blocking)."""
        with self._replied:
            count = len(self.messages)
        # Not holding the lock while starting: the previous reply's callback, on the client's
        # thread, may need it, and the start waits for that thread. wait_for checks before it
        # waits, so a reply that lands in between is not missed.
        self._start(text)
        with self._replied:
            if not self._replied.wait_for(lambda: len(self.messages) >= count + 2, timeout):
                raise TimeoutError(f"no reply within {timeout:g}s")
        last = self.messages[-1]
        if last["role"] == "error":
            raise InputError(str(last["text"]))
        return str(last["text"])
