"""``workbench reviews`` and ``workbench review ID --approve/--reject``, run for real in subprocesses on
the test run's data folder (without RabbitMQ the answered run goes on in the command, which waits for it)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

from tests.reviews.test_api import review_graph
from tests.reviews.test_pause_resume import PROFILE, until_review
from tests.test_cli import REPO, workbench
from workbench.app import Workbench
from workbench.errors import EXIT_USER
from workbench.graph.autogpt import parse_graph


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WORKBENCH_DEBUG")}
    return {**env, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(REPO)}


async def test_list_and_answer_from_the_command_line(wb: Workbench, workbench_home: Path) -> None:
    env = cli_env(workbench_home)
    # Built-in blocks only: the command runs the answered run with its own (default) catalogue.
    g = parse_graph({**review_graph(name=f"cli {uuid.uuid4().hex[:6]}"), "id": str(uuid.uuid4())})
    execution_id = await wb.executions.submit(g, {"order": PROFILE})
    review = await until_review(wb, execution_id)

    listed = await asyncio.to_thread(workbench, env, "reviews", "--json")
    assert listed.returncode == 0, listed.stderr
    assert review.id in {r["id"] for r in json.loads(listed.stdout)["reviews"]}
    text = await asyncio.to_thread(workbench, env, "reviews")
    assert f"{review.id}  WAITING    run {execution_id}  {g.name}: Order to send" in text.stdout

    shown = await asyncio.to_thread(workbench, env, "review", review.id)
    assert shown.returncode == 0 and "review " + review.id + ": WAITING" in shown.stdout

    refused = await asyncio.to_thread(workbench, env, "review", review.id, "--approve", "--data", "{nope")
    assert refused.returncode == EXIT_USER and "--data must be JSON" in refused.stderr
    answered = await asyncio.to_thread(
        workbench, env, "review", review.id, "--approve", "--data", '{"name": "Jo"}', "-m", "short", "--json"
    )
    assert answered.returncode == 0, answered.stderr
    doc = json.loads(answered.stdout)
    assert doc["status"] == "APPROVED" and doc["reviewed_data"] == {"name": "Jo"}
    assert doc["run_status"] == "COMPLETED"  # it went on in the command, which waited for it
    result = await wb.executions.wait(execution_id, timeout=30)
    assert result.outputs == {"approved": [{"name": "Jo"}], "message": ["short"]}

    again = await asyncio.to_thread(workbench, env, "review", review.id, "--reject")
    assert again.returncode == EXIT_USER and "approved already" in again.stderr
    waiting = await asyncio.to_thread(workbench, env, "executions", "--status", "waiting", "--json")
    assert waiting.returncode == 0 and execution_id not in waiting.stdout
