"""The done-when of human in the loop: a run waiting for a review survives kill -9 of its executor and
completes after the answer, on another executor, without running again what ran before the pause
(real processes: ``workbench serve`` and ``workbench executor`` on RabbitMQ and the embedded
PostgreSQL; the node before the pause posts to a local receiver that counts what it gets)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.api_support import INPUT_BLOCK, OUTPUT_BLOCK, api, wait_status
from tests.support.http_receiver import Receiver, receiving
from tests.support.servers import ROOT, ServerProcess, free_port, start_server, stop_server

HITL_BLOCK = "8b2a7b3c-6e9d-4a5f-8c1b-2e3f4a5b6c7d"
WEB_REQUEST_BLOCK = "6595ae1f-b924-42cb-9a41-551a0611c4b4"


def posting_graph(url: str) -> dict:
    """order -> POST to ``url`` -> review of the answer -> approved / message; order -> echo (a branch
    that ends before the pause)."""
    return {
        "name": "post, then ask",
        "nodes": [
            {"id": "order", "block_id": INPUT_BLOCK, "input_default": {"name": "order"}},
            {"id": "post", "block_id": WEB_REQUEST_BLOCK, "input_default": {"url": url, "method": "POST"}},
            {"id": "review", "block_id": HITL_BLOCK, "input_default": {"name": "What the shop answered"}},
            {"id": "ok", "block_id": OUTPUT_BLOCK, "input_default": {"name": "approved"}},
            {"id": "msg", "block_id": OUTPUT_BLOCK, "input_default": {"name": "message"}},
            {"id": "echo", "block_id": OUTPUT_BLOCK, "input_default": {"name": "order"}},
        ],
        "links": [
            {"source_id": "order", "source_name": "result", "sink_id": "post", "sink_name": "body"},
            {"source_id": "post", "source_name": "response", "sink_id": "review", "sink_name": "data"},
            {"source_id": "review", "source_name": "approved_data", "sink_id": "ok", "sink_name": "value"},
            {"source_id": "review", "source_name": "review_message", "sink_id": "msg", "sink_name": "value"},
            {"source_id": "order", "source_name": "result", "sink_id": "echo", "sink_name": "value"},
        ],
    }


class Executor:
    """A ``workbench executor`` process, up once its health endpoint answers."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        port = free_port()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "launch.cli", "executor", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"executor exited:\n{log.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no executor after 60 s:\n{log.read_text()}"
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.mark.slow
def test_a_waiting_run_survives_kill_9_of_its_executor_and_completes_after_the_answer(
    tmp_path: Path, amqp_vhosts: Callable[[], str], receiver: Receiver
) -> None:
    home = tmp_path / "home"
    extra = {
        "AMQP_URL": amqp_vhosts(),  # a vhost of its own: no other test's executor takes its runs
        "WORKBENCH_HTTP_ALLOW": "127.0.0.1",
        "WORKBENCH_RATE_LIMIT": "off",
        "WORKBENCH_SCHEDULER": "off",
    }
    server: ServerProcess = start_server(home, "none", extra)
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT), **extra}
    env.pop("DATABASE_URL", None)
    first = second = None
    try:
        first = Executor(env, tmp_path / "executor-1.log")
        client = api(server)
        graph = client.post("/graphs", json=posting_graph(receiver.url)).json()
        r = client.post(f"/graphs/{graph['id']}/execute", json={"inputs": {"order": {"chairs": 2}}})
        assert r.status_code == 202, r.text
        execution_id = r.json()["id"]
        paused = wait_status(client, execution_id, {"REVIEW", "FAILED"}, timeout=60)
        assert paused["status"] == "REVIEW", paused["error"]
        assert len(receiver.requests) == 1

        first.kill()  # while the run waits: it holds nothing, so it loses nothing
        assert wait_status(client, execution_id, {"REVIEW"})["status"] == "REVIEW"
        second = Executor(env, tmp_path / "executor-2.log")

        [review] = client.get("/reviews", params={"status": "WAITING"}).json()["items"]
        assert review["execution_id"] == execution_id and review["data"] == {"applied": True}
        r = client.post(f"/reviews/{review['id']}", json={"decision": "approve", "message": "go"})
        assert r.status_code == 200, r.text

        done = wait_status(client, execution_id, {"COMPLETED", "FAILED"}, timeout=60)
        assert done["status"] == "COMPLETED", done["error"]
        assert done["outputs"] == {
            "order": [{"chairs": 2}],
            "approved": [{"applied": True}],
            "message": ["go"],
        }
        assert len(receiver.requests) == 1  # the request before the pause was not sent again
        per_node: dict[str, int] = {}
        for n in done["node_executions"]:
            per_node[n["node_id"]] = per_node.get(n["node_id"], 0) + 1
        assert per_node == {"order": 1, "post": 1, "review": 1, "ok": 1, "msg": 1, "echo": 1}
        client.close()
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.stop()
        stop_server(server)
