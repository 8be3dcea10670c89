"""The widgets in a real kernel: the live run widget (state after a run, updates while the kernel is
free, a clock that moves while a slow node works, cancel by a click and the button's final state, the
graph's name in the header, an HTML snapshot in the display), the chat widget's replies, the block
palette's search."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from tests.kernel.harness import Kernel

SLOW_GRAPH = """
import asyncio
from workbench import block
from workbench.graph.builder import GraphBuilder

@block
async def slow_reverse(text: str, delay: float = 0.5) -> str:
    "Reverse a text after a pause."
    await asyncio.sleep(delay)
    return text[::-1]

def slow_graph(delay):
    g = GraphBuilder(f"Slow {delay}")
    text = g.input("text")
    rev = g.add(slow_reverse, delay=delay)
    text.result >> rev.text
    rev.result >> g.output("out").value
    return g
"""

NEXT_CELL = "<td style='text-align:left;vertical-align:top'>"
"""How a table cell of the displays opens."""


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``condition`` until it is truthy (returned), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_live_widget_updates_while_the_kernel_runs_other_cells(kernel: Kernel) -> None:
    kernel.execute(SLOW_GRAPH + "\ng = slow_graph(0.8)")
    cell = kernel.execute("w = %wb run g text=hello\nw")
    assert cell.data("application/vnd.jupyter.widget-view+json"), "the cell displays the widget"
    widget_id = kernel.json("w.model_id")
    # The kernel is free: this cell runs and returns while the run is still going.
    wait_for(lambda: kernel.json("w.nodes.get('slow_reverse_1', {}).get('status')") == "RUNNING", timeout=5)
    assert kernel.json("w.status") == "RUNNING"
    # The frontend then receives the remaining updates without any cell running.
    final = wait_for(
        lambda: [s for _, s in kernel.updates_of(widget_id) if s.get("status") == "COMPLETED"], timeout=20
    )
    assert final
    state = kernel.json("w.state()")
    assert state["status"] == "COMPLETED"
    assert state["outputs"] == {"out": ["olleh"]}
    assert state["cancel_disabled"] is True
    assert {n: v["status"] for n, v in state["nodes"].items()} == {
        "input_text": "COMPLETED",
        "slow_reverse_1": "COMPLETED",
        "output_out": "COMPLETED",
    }
    assert state["nodes"]["slow_reverse_1"]["ms"] >= 700  # its own timing, not the run's
    assert state["nodes"]["slow_reverse_1"]["outputs"] == [["result", "olleh"]]  # the text, not JSON
    assert state["graph_name"] == "Slow 0.8"  # the graph's name, not the variable's ("g")
    assert 0.8 <= state["elapsed"] < 10
    assert kernel.json("w.result.outputs") == {"out": ["olleh"]}
    # Node states arrived as separate updates, as they happened (not all at the end).
    statuses = [s["status"] for _, s in kernel.updates_of(widget_id) if "status" in s]
    assert statuses[-1] == "COMPLETED" and "RUNNING" in statuses


def test_the_clock_moves_while_a_slow_node_works(kernel: Kernel) -> None:
    kernel.execute(SLOW_GRAPH + "\ng3 = slow_graph(3)")
    kernel.execute("w3 = %wb run g3 text=tick\nw3")
    header_id = kernel.json("w3.header.model_id")
    assert "<b><bdi>Slow 3</bdi></b>" in kernel.json("w3.header.value")
    wait_for(lambda: kernel.json("w3.nodes.get('slow_reverse_1', {}).get('status')") == "RUNNING", timeout=5)
    events = kernel.json("w3.events_seen")
    time.sleep(1.6)  # the node sleeps 3 s: no event in the meantime
    assert kernel.json("w3.events_seen") == events
    clocks = [
        float(m)
        for _, s in kernel.updates_of(header_id)
        for m in re.findall(r"([\d.]+) s ·", s.get("value", ""))
    ]
    assert len(clocks) >= 3 and clocks == sorted(clocks) and clocks[-1] >= 1.0, clocks  # sent to the frontend
    assert kernel.json("w3.wait(30).status") == "COMPLETED"
    final = kernel.json("w3.header.value")
    assert re.search(r"\b3\.\d s\b", final), final
    time.sleep(1.2)
    assert kernel.json("w3.header.value") == final  # stopped with the run


def test_cancel_button_stops_the_run(kernel: Kernel) -> None:
    kernel.execute(SLOW_GRAPH)
    kernel.execute("g30 = slow_graph(30)\nw2 = %wb run g30 text=stop\nw2")
    widget_id, button_id = kernel.json("[w2.model_id, w2.cancel_button.model_id]")
    wait_for(lambda: kernel.json("w2.nodes.get('slow_reverse_1', {}).get('status')") == "RUNNING", timeout=5)
    started = time.monotonic()
    kernel.click(button_id)  # what the browser sends when the button is clicked
    wait_for(lambda: [s for _, s in kernel.updates_of(widget_id) if s.get("status") == "CANCELLED"])
    assert time.monotonic() - started < 10
    state = kernel.json("w2.state()")
    assert state["status"] == "CANCELLED"
    assert state["nodes"]["slow_reverse_1"]["status"] in ("CANCELLED", "FAILED")
    assert kernel.json("str(wb.execution(w2.execution_id).status)") == "CANCELLED"
    # The button ends on the outcome, not on "Cancelling…", and the frontend was told.
    assert (state["cancel_label"], state["cancel_disabled"]) == ("Cancelled", True)
    labels = [s["description"] for _, s in kernel.updates_of(button_id) if "description" in s]
    assert labels[-1] == "Cancelled" and "Cancelling…" in labels


def test_the_widget_display_carries_an_html_snapshot(kernel: Kernel) -> None:
    kernel.execute(SLOW_GRAPH + "\ng4 = slow_graph(0.1)")
    cell = kernel.execute("w4 = %wb run g4 text=Grace --wait\nw4")
    (shown,) = [o for o in cell.outputs if "application/vnd.jupyter.widget-view+json" in o["data"]]
    assert shown["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] == kernel.json("w4.model_id")
    html = shown["data"]["text/html"]
    assert "COMPLETED" in html and "<bdi>Slow 0.1</bdi>" in html
    assert f"<b><bdi>out</bdi></b></td>{NEXT_CELL}<bdi>ecarG</bdi></td>" in html
    assert "Run of" in shown["data"]["text/plain"] and "ecarG" in shown["data"]["text/plain"]
    assert shown["transient"]["display_id"]  # so the snapshot can be brought up to date later


CHAT_GRAPH = """
from workbench.graph.builder import GraphBuilder
from kernel_ext.widgets import ChatWidget

c = GraphBuilder("Echo chat")
message, history = c.input("message"), c.input("history", default=[])
reply = c.add("FillTextTemplateBlock", format="You said {{ message }} (turn {{ history|length // 2 + 1 }})")
message.result >> reply.values["message"]
history.result >> reply.values["history"]
reply.output >> c.output("reply").value
chat = ChatWidget(wb, c)
chat
"""


def test_chat_widget_holds_a_conversation(kernel: Kernel) -> None:
    cell = kernel.execute(CHAT_GRAPH)
    assert cell.data("application/vnd.jupyter.widget-view+json")
    chat_id, text_id, send_id = kernel.json("[chat.model_id, chat.text.model_id, chat.send_button.model_id]")
    kernel.type_text(text_id, "hello")  # typing and clicking Send, as the browser does
    kernel.click(send_id)
    replies = wait_for(
        lambda: [
            s["messages"]
            for _, s in kernel.updates_of(chat_id)
            if any(m["role"] == "assistant" for m in s.get("messages", []))
        ]
    )
    assert replies[-1] == [
        {"role": "user", "text": "hello"},
        {"role": "assistant", "text": "You said hello (turn 1)"},
    ]
    # The graph sees the conversation so far: the second turn knows it is the second.
    assert kernel.json("chat.send('again')") == "You said again (turn 2)"
    assert kernel.json("len(chat.messages)") == 4
    assert kernel.json("chat.busy") is False


def test_chat_widget_refuses_a_graph_without_message_and_reply(kernel: Kernel) -> None:
    cell = kernel.execute(SLOW_GRAPH + "\nChatWidget(wb, slow_graph(0.1))", allow_error=True)
    assert cell.error is not None
    assert "no input 'message' (its inputs: text)" in cell.error["evalue"]
    assert "no output 'reply' (its outputs: out)" in cell.error["evalue"]


def test_palette_searches_by_name_and_category(kernel: Kernel) -> None:
    kernel.execute("p = %wb palette\np")
    search_id = kernel.json("p.search_box.model_id")
    kernel.type_text(search_id, "template")
    matches = wait_for(lambda: kernel.json("p.matches if p.query == 'template' else []"))
    assert "FillTextTemplateBlock" in matches
    assert all(
        "template" in n.lower() or "template" in d.lower()
        for n, d in kernel.json("[(n, p.catalogue[n].description) for n in p.matches]")
    )
    kernel.execute("p.block_list.value = 'FillTextTemplateBlock'")  # picking one in the list
    assert kernel.json("p.selected") == "FillTextTemplateBlock"
    detail = kernel.json("p.detail.value")
    assert "format" in detail and "values" in detail and "output" in detail
    both = kernel.json("p.search('', 'TEXT')")
    assert both and all("TEXT" in c for c in kernel.json("[p.catalogue[n].categories for n in p.matches]"))
    assert kernel.json("p.search('no such block at all')") == []
    assert "no block matches" in kernel.json("p.detail.value")
