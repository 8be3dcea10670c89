"""The live run widget and human reviews: a node waiting for a review shows a form (its name, the data
as JSON to change when the review allows it, a message, Approve and Reject) that goes when the node
moves on; answering from the form sends the decision through the client and the run completes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from blocks.human import HumanInTheLoopBlock
from kernel_ext.widgets.run import ReviewForm, RunWidget
from tests.engine.graphs import graph, inp, link, node, out
from tests.kernel.test_run_widget_events import EXECUTION, event
from workbench.client import Client, LocalClient
from workbench.client.portal import RunHandle
from workbench.runtime.events import EventType

REVIEW = {
    "review_id": "0d6f7f52-9a0b-4c1e-8f3a-2b5c6d7e8f90",
    "node_id": "check",
    "name": "Invoice <total>",
    "data": {"total": 120},
    "editable": True,
    "default_decision": "reject",
    "expires_at": None,
}


def test_a_waiting_node_shows_a_form_until_it_moves_on() -> None:
    handle = RunHandle(client=None)  # type: ignore[arg-type]
    widget = RunWidget(handle, title="Invoices")
    start = time.time()
    handle._record(event(EventType.EXECUTION_STARTED, "RUNNING", start))
    handle._record(event(EventType.EXECUTION_UPDATED, "REVIEW", start + 0.1, "check", review=REVIEW))
    handle._record(event(EventType.EXECUTION_UPDATED, "REVIEW", start + 0.2, reviews=[REVIEW]))
    assert widget.status == "REVIEW"
    assert list(widget.reviews) == [REVIEW["review_id"]]
    [form] = widget.review_box.children
    assert isinstance(form, ReviewForm) and form.editable
    assert json.loads(form.data.value) == {"total": 120}
    assert "Invoice &lt;total&gt;" in form.title.value  # the name is text, never markup
    assert widget.state()["reviews"][REVIEW["review_id"]]["name"] == "Invoice <total>"
    assert not widget.cancel_button.disabled  # a waiting run can be cancelled

    # Answered elsewhere: the node runs again and completes; the form goes.
    handle._record(event(EventType.EXECUTION_UPDATED, "RUNNING", start + 5, "check"))
    assert widget.review_box.children == () and widget.reviews == {}
    handle._record(
        event(
            EventType.NODE_EXECUTED, "COMPLETED", start + 5.1, "check",
            outputs=[["approved_data", {"total": 120}]], started_at=start + 5, ended_at=start + 5.1,
        )
    )  # fmt: skip
    assert widget.nodes["check"]["status"] == "COMPLETED"
    assert EXECUTION in widget.snapshot_text()


def test_a_form_that_cannot_change_the_data_shows_it() -> None:
    handle = RunHandle(client=None)  # type: ignore[arg-type]
    widget = RunWidget(handle)
    fixed = {
        **REVIEW,
        "editable": False,
        "expires_at": "2026-12-24T10:00:00+00:00",
        "default_decision": "approve",
    }
    handle._record(event(EventType.EXECUTION_UPDATED, "REVIEW", time.time(), "check", review=fixed))
    [form] = widget.review_box.children
    assert not form.editable and "&quot;total&quot;: 120" in form.data.value
    assert "approve by default at 2026-12-24" in form.title.value


def test_approving_from_the_widget_completes_the_run(workbench_home: Path) -> None:
    g = graph(
        [
            inp("amount", "amount"),
            node("check", HumanInTheLoopBlock, name="Refund"),
            out("ok", "approved"),
            out("msg", "message"),
        ],
        [
            link("amount.result", "check.data"),
            link("check.approved_data", "ok.value"),
            link("check.review_message", "msg.value"),
        ],
        name="refund check",
    )
    client = Client(LocalClient(workbench_home))
    try:
        client.open()
        handle = client.start(g, {"amount": {"eur": 40}})
        widget = RunWidget(handle)
        deadline = time.monotonic() + 30
        while not widget.reviews:
            assert time.monotonic() < deadline, widget.state()
            time.sleep(0.02)
        [form] = widget.review_box.children
        assert isinstance(form, ReviewForm)
        form.data.value = json.dumps({"eur": 35})
        form.message.value = "minus the fee"
        form.data.value = "{broken"
        form.approve_button.click()  # refused here: nothing is sent
        assert "not valid JSON" in form.status.value and not form.approve_button.disabled
        form.data.value = json.dumps({"eur": 35})
        form.approve_button.click()
        result = handle.result(timeout=30)
        assert result.ok, result.error
        assert result.outputs == {"approved": [{"eur": 35}], "message": ["minus the fee"]}
        deadline = time.monotonic() + 10
        while widget.review_box.children:  # the node moved on: its form went
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert widget.status == "COMPLETED"
        assert "approved" in form.status.value
    finally:
        client.close()
