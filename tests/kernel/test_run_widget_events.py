"""The live run widget driven by a run's events (with their timestamps), without a kernel: values shown
once-encoded under their pin names, the graph's name in the header, a clock that moves while the run
goes on and stops at its end, an HTML snapshot in the display, names isolated."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from kernel_ext.widgets import run as run_module
from kernel_ext.widgets.run import RunWidget
from workbench.client.portal import RunHandle
from workbench.runtime.events import EventType, ExecutionEvent

EXECUTION = "9f0c3b7e-2d1a-4c5b-8e6f-7a8b9c0d1e2f"
GRAPH = "6d2b1c1e-6c55-4a8e-9a7c-1f3f0d9f0a11"
VIEW = "application/vnd.jupyter.widget-view+json"
FSI, PDI = "\u2068", "\u2069"  # FIRST STRONG ISOLATE, POP DIRECTIONAL ISOLATE

NEXT_CELL = "<td style='text-align:left;vertical-align:top'>"
"""How a table cell of the displays opens."""


def event(kind: EventType, status: str, at: float, node_id: str | None = None, **data: Any) -> ExecutionEvent:
    """An event as the engine publishes it."""
    return ExecutionEvent(kind, EXECUTION, GRAPH, 1, "user", status, node_id=node_id, data=data, at=at)


def greeting_run(start: float) -> list[ExecutionEvent]:
    """The events of the quickstart's greeter run (name=Grace), starting at ``start``."""
    node = "fill_text_template_1"
    return [
        event(EventType.EXECUTION_STARTED, "RUNNING", start),
        event(EventType.EXECUTION_UPDATED, "RUNNING", start + 0.1, node, block_name="FillTextTemplateBlock"),
        event(
            EventType.NODE_EXECUTED, "COMPLETED", start + 0.2, node, block_name="FillTextTemplateBlock",
            outputs=[["output", "Hello, Grace!"], ["output", {"n": 1, "ok": True}]],
            started_at=start + 0.1, ended_at=start + 0.2, error=None,
        ),
        event(
            EventType.EXECUTION_COMPLETED, "COMPLETED", start + 7.3,
            outputs={"greeting": ["Hello, Grace!"]}, error=None, error_node_id=None,
        ),
    ]  # fmt: skip


def live(title: str = "Greeter") -> tuple[RunHandle, RunWidget]:
    """A widget following a run handle that events are fed to, as the client's thread does."""
    handle = RunHandle(client=None)  # type: ignore[arg-type]  # no client needed: nothing is cancelled
    return handle, RunWidget(handle, title=title)


def test_outputs_are_shown_once_encoded_under_their_pin_names() -> None:
    handle, widget = live()
    for e in greeting_run(time.time()):
        handle._record(e)
    node = widget.nodes["fill_text_template_1"]
    assert node["outputs"] == [["output", "Hello, Grace!"], ["output", '{"n":1,"ok":true}']]
    assert widget.outputs == {"greeting": ["Hello, Grace!"]}
    html = widget.node_table.value + widget.output_view.value
    assert "&quot;Hello" not in html and "\\" not in html  # a string is not JSON-quoted, let alone twice
    assert "<bdi>output</bdi></span>: <bdi>Hello, Grace!</bdi>" in widget.node_table.value
    # Anything else is compact JSON, encoded once (then HTML-escaped).
    assert "<bdi>{&quot;n&quot;:1,&quot;ok&quot;:true}</bdi>" in widget.node_table.value
    # The run's outputs: a row per value, the pin name then the value as itself.
    assert (
        f"<b><bdi>greeting</bdi></b></td>{NEXT_CELL}<bdi>Hello, Grace!</bdi></td>" in widget.output_view.value
    )


def test_header_shows_the_graph_name_and_a_clock_on_the_run_timestamps() -> None:
    handle, widget = live("Greeter")
    start = time.time() - 5.0  # the run started five seconds ago (engine clock)
    events = greeting_run(start)
    for e in events[:3]:
        handle._record(e)
    assert "<b><bdi>Greeter</bdi></b>" in widget.header.value
    assert widget.status == "RUNNING"
    assert 5.0 <= widget.elapsed < 6.0
    assert re.search(r"\b5\.\d s\b", widget.header.value), widget.header.value
    handle._record(events[3])
    assert widget.elapsed == pytest.approx(7.3)
    assert "7.3 s" in widget.header.value and "4 events" in widget.header.value


def test_the_clock_moves_while_no_event_comes_and_stops_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "TICK", 0.05)
    handle, widget = live()
    start = time.time()
    events = greeting_run(start)
    handle._record(events[0])
    seen = {widget.header.value}
    deadline = time.monotonic() + 3
    while len(seen) < 4 and time.monotonic() < deadline:  # a slow node: no event, the clock still moves
        time.sleep(0.02)
        seen.add(widget.header.value)
    clocks = sorted(float(m) for h in seen for m in re.findall(r"([\d.]+) s ·", h))
    assert len(clocks) >= 3 and clocks[-1] >= 0.1, seen
    handle._record(events[3].__class__(**{**_fields(events[3]), "at": start + 0.4}))
    final = widget.header.value
    assert "0.4 s" in final
    time.sleep(0.2)
    assert widget.header.value == final  # stopped


def _fields(e: ExecutionEvent) -> dict[str, Any]:
    return {f: getattr(e, f) for f in e.__dataclass_fields__}


def test_the_button_shows_the_final_status() -> None:
    for final, label in [("COMPLETED", "Completed"), ("FAILED", "Failed"), ("CANCELLED", "Cancelled")]:
        handle, widget = live()
        widget.cancel_button.description = "Cancelling…"  # as after a click
        handle._record(event(EventType.EXECUTION_STARTED, "RUNNING", time.time()))
        kind = EventType.EXECUTION_COMPLETED if final == "COMPLETED" else EventType.EXECUTION_FAILED
        handle._record(event(kind, final, time.time(), outputs={}, error=None))
        assert widget.cancel_button.description == label
        assert widget.cancel_button.disabled
        widget.cancel()  # too late: nothing changes
        assert widget.cancel_button.description == label


def test_the_display_carries_an_html_snapshot_of_the_state() -> None:
    handle, widget = live()
    for e in greeting_run(time.time()):
        handle._record(e)
    bundle = widget._repr_mimebundle_()
    assert bundle[VIEW]["model_id"] == widget.model_id  # the live widget, for frontends that run it
    html = bundle["text/html"]
    assert "COMPLETED" in html and "<bdi>Greeter</bdi>" in html
    assert f"<bdi>greeting</bdi></b></td>{NEXT_CELL}<bdi>Hello, Grace!</bdi>" in html
    assert "fill_text_template_1" in html and "7.3 s" in html
    assert "style=" in html and "<script" not in html  # self-contained, no CSS or script needed
    assert (
        bundle["text/plain"]
        == f"Run of {FSI}Greeter{PDI} {EXECUTION}: COMPLETED · {FSI}greeting{PDI}: {FSI}Hello, Grace!{PDI}"
    )
    widget.close()  # a closed widget still leaves its snapshot
    assert VIEW not in widget.mimebundle() and "Hello, Grace!" in widget.mimebundle()["text/html"]


def test_bidi_controls_in_names_are_isolated() -> None:
    evil = "invoice\u202egnp.exe"
    handle, widget = live(evil)
    start = time.time()
    handle._record(event(EventType.EXECUTION_STARTED, "RUNNING", start))
    handle._record(
        event(
            EventType.NODE_EXECUTED, "COMPLETED", start, f"node{evil}", block_name=evil,
            outputs=[[f"pin{evil}", f"value{evil}"]], started_at=start, ended_at=start, error=None,
        )
    )  # fmt: skip
    html = widget.snapshot_html()
    # Every occurrence of the override sits inside a <bdi> that closes right after the name.
    for m in re.finditer("\u202e", html):
        opened, closed = html.rfind("<bdi>", 0, m.start()), html.rfind("</bdi>", 0, m.start())
        assert opened > closed, html[max(0, m.start() - 60) : m.start() + 20]
    assert f"<bdi>{evil}</bdi>" in widget.header.value
    assert f"<bdi>node{evil}</bdi>" in widget.node_table.value
    text = widget.snapshot_text()
    assert "\u202e" not in text and f"{FSI}invoice\\u202egnp.exe{PDI}" in text
