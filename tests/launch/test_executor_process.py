"""``workbench executor`` as a real process (RabbitMQ, embedded PostgreSQL): it serves ``/health`` and
``/metrics`` while consuming, and SIGTERM stops it gracefully with exit code 0."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.worker_process import start_worker


@pytest.mark.slow
def test_executor_serves_health_and_metrics_and_stops_on_sigterm(
    workbench_home: Path, amqp_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {"WORKBENCH_HOME": str(workbench_home), "AMQP_URL": amqp_url}
    log = tmp_path / "executor.log"
    proc = start_worker("executor", port, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"executor exited {proc.returncode}:\n{log.read_text()}"
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no /health after 60 s:\n{log.read_text()}"
            time.sleep(0.1)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "ok" and body["database"] == {"ok": True} and body["running"] == 0
        assert body["queue"]["ok"] and set(body["queue"]["depth"]) == {"high", "normal", "low"}
        samples = dict(
            line.rsplit(" ", 1)
            for line in httpx.get(f"{base}/metrics").text.splitlines()
            if not line.startswith("#")
        )
        assert samples["workbench_executions_running"] == "0"
        assert 'workbench_queue_messages_ready{queue="execution.normal"}' in samples
        assert httpx.get(f"{base}/nope").status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert f"executor: health and metrics on http://127.0.0.1:{port}" in text
    assert "Application shutdown complete" in text
