"""The Chat page's pieces without a browser: a reply's steps as foldable HTML (escaped), and a reply
that streams, then fails or is stopped, keeping what had arrived."""

from __future__ import annotations

from workbench.services.chat import NodeStep
from workbench.ui.chat import ReplyView, steps_html


def step(**changes: object) -> NodeStep:
    values: dict[str, object] = {
        "node_id": "gen",
        "block_name": "AITextGeneratorBlock",
        "status": "COMPLETED",
        "started_at": 100.0,
        "ended_at": 102.5,
        "inputs": {"prompt": "<b>hi</b>"},
        "outputs": [["response", "hello"]],
        "error": None,
    }
    values.update(changes)
    return NodeStep(**values)


def test_steps_fold_with_name_status_time_and_escaped_values() -> None:
    shown = steps_html(
        [step(), step(node_id="t", status="FAILED", error="<script>x</script>", ended_at=None)]
    )
    assert shown.count("<details") == 2
    assert "AITextGeneratorBlock (<code>gen</code>)" in shown and "2.50 s" in shown
    assert "&lt;b&gt;hi&lt;/b&gt;" in shown and "<b>hi</b>" not in shown
    assert "Error: &lt;script&gt;x&lt;/script&gt;" in shown and "<script>" not in shown
    assert 'class="wb-step-FAILED"' in shown
    assert steps_html([]) == "<p>No steps recorded.</p>"


def test_a_reply_grows_then_keeps_its_text_when_stopped() -> None:
    view = ReplyView(running=True)
    view.text += "Once "
    view.text += "upon"
    view.steps = [step()]
    view.error = "Stopped: the run was cancelled."
    view.running = False
    text, error, steps = view.message().objects
    assert text.object == "Once upon" and text.visible
    assert error.visible and "Stopped: the run was cancelled." in error.object
    assert "Run steps: 1 node<" in steps.object and "running" not in steps.object
