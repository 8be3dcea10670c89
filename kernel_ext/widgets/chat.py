"""The chat widget: a conversation with a graph that takes a message and yields a reply.

Each message runs the graph with its ``message`` input (and, if the graph has one, its ``history``
input: the conversation so far as ``[{"role": "user" | "assistant", "text": ...}]``) and shows the
last value of its ``reply`` output. The input and output names are parameters. Its display carries
an HTML snapshot of the conversation for exports, brought up to date after each reply.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Dict, List

from kernel_ext.widgets.fallback import StaticFallback
from workbench.block.registry import default_registry
from workbench.client.base import GraphRef, as_graph
from workbench.client.portal import Client
from workbench.client.text import html_name, isolate
from workbench.engine.plan import Plan
from workbench.errors import InputError
from workbench.graph.model import Graph
from workbench.runtime.events import ExecutionEvent


def graph_io(graph: Graph) -> tuple[list[str], list[str]]:
    """A graph's input names and output names."""
    plan = Plan(graph, default_registry(), 600.0)
    return list(plan.input_schema()["properties"]), list(plan.output_schema()["properties"])


class ChatWidget(StaticFallback, widgets.VBox):
    """Talk to a graph; ``messages`` is the conversation, ``busy`` while a reply is coming."""

    messages = List(Dict()).tag(sync=True)
    busy = Bool(False).tag(sync=True)

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
        inputs, outputs = graph_io(saved)
        problems = []
        if message not in inputs:
            problems.append(f"no input {message!r} (its inputs: {', '.join(inputs) or 'none'})")
        if reply not in outputs:
            problems.append(f"no output {reply!r} (its outputs: {', '.join(outputs) or 'none'})")
        if problems:
            raise InputError(f"graph {saved.name!r} cannot chat: " + "; ".join(problems))
        self.client = client
        self.graph_id = saved.id
        self.graph_name = saved.name
        self.message_input, self.reply_output = message, reply
        self.history_input = history if history in inputs else None
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
            lines.append("<div><i>…</i></div>")
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
            inputs[self.history_input] = [dict(m) for m in self.messages if m["role"] != "error"]
        with self.hold_sync():
            self.messages = [*self.messages, {"role": "user", "text": text}]
            self.busy = True
            self._render()
        try:
            handle = self.client.start(self.graph_id, inputs)
        except Exception as exc:
            self._answer({"role": "error", "text": str(exc)})
            return

        def on_event(event: ExecutionEvent) -> None:
            if not event.is_final:
                return
            values = (event.data.get("outputs") or {}).get(self.reply_output) or []
            if event.status == "COMPLETED" and values:
                self._answer({"role": "assistant", "text": values[-1]})
            else:
                error = event.data.get("error") or f"the graph gave no {self.reply_output!r}"
                self._answer({"role": "error", "text": f"{event.status}: {error}"})

        handle.add_listener(on_event)

    def _answer(self, message: dict[str, Any]) -> None:
        with self.hold_sync():
            self.messages = [*self.messages, message]
            self.busy = False
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
