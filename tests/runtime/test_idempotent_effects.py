"""kill -9 of an executor while a node is inside an HTTP request: the executor that takes the run
over sends the request again with the same ``Idempotency-Key``, so a receiver that deduplicates
applies it once (real processes, real RabbitMQ and PostgreSQL, a local HTTP receiver)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from blocks.web import SendWebRequestBlock
from tests.engine.graphs import graph, link, node, out
from tests.runtime.test_executor_crash import _executor
from tests.support.http_receiver import Receiver, receiving
from tests.support.servers import ROOT
from workbench.app import Workbench
from workbench.block.context import RunContext
from workbench.config import Settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver holding its first request unanswered."""
    with receiving(hold_first=True) as rec:
        yield rec


@pytest.mark.slow
async def test_a_request_repeated_after_an_executor_dies_carries_the_same_idempotency_key(
    tmp_path: Path, amqp_url: str, receiver: Receiver
) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "WORKBENCH_HOME": str(home),
        "AMQP_URL": amqp_url,
        "WORKBENCH_HTTP_ALLOW": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DATABASE_URL", None)
    g = graph(
        [
            node("post", SendWebRequestBlock, url=receiver.url, method="POST", body={"order": 7}),
            out("reply", "reply"),
        ],
        [link("post.response", "reply.value")],
        name="posts once",
    )
    first = await asyncio.to_thread(_executor, env)
    second: subprocess.Popen[str] | None = None
    settings = Settings.from_env({"WORKBENCH_HOME": str(home), "AMQP_URL": amqp_url})
    try:
        async with Workbench(settings) as api:
            execution_id = await api.executions.submit(g, {})
            assert await asyncio.to_thread(receiver.first_arrived.wait, 30), "the request never arrived"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            second = await asyncio.to_thread(_executor, env)  # RabbitMQ redelivers the unacked message
            result = await api.executions.wait(execution_id, timeout=60)
            assert api.db is not None
            rows = await api.db.pool.fetchval(
                "SELECT count(*) FROM node_executions WHERE graph_execution_id = $1::uuid AND node_id = 'post'",
                execution_id,
            )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
    assert result.status == "COMPLETED", result.error
    assert result.outputs == {"reply": [{"applied": True}]}  # completed once
    assert rows == 1
    expected = RunContext.idempotency_key_for(execution_id, "post", 0)
    assert receiver.keys == [expected, expected]
