"""``workbench notifier`` as a real process (RabbitMQ, embedded PostgreSQL): runs executed by another
process publish their end to the ``notifications`` queue and the notifier process turns them into
notifications; it serves ``/health`` and ``/metrics`` and stops on SIGTERM with exit code 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.notifications.conftest import eventually, failing_graph, new_user
from tests.support.servers import free_port
from tests.support.worker_process import start_worker
from workbench.app import Workbench
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.services.notifications.service import NotificationService


def _wait_health(base: str, proc: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"notifier exited {proc.returncode}:\n{log.read_text()}"
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"no /health after 60 s:\n{log.read_text()}"
        time.sleep(0.1)


async def test_the_notifier_process_tells_about_runs_of_other_processes(
    workbench_home: Path,
    settings: Settings,
    registry: BlockRegistry,
    wb: Workbench,
    amqp_vhosts: Callable[[], str],
    tmp_path: Path,
) -> None:
    amqp_url = amqp_vhosts()
    port = free_port()
    env = {"WORKBENCH_HOME": str(workbench_home), "AMQP_URL": amqp_url}
    log = tmp_path / "notifier.log"
    proc = start_worker("notifier", port, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        health = await asyncio.to_thread(_wait_health, base, proc, log)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "ok" and body["database"] == {"ok": True}
        assert body["queue"]["kind"] == "rabbitmq"
        assert set(body["queue"]["depth"]) == {"notifications", "notifications.retry", "notifications.dlq"}

        user = await new_user(wb)
        graph = await failing_graph(wb, user, "Remote failure")
        # an executor of the distributed layout: no notifier of its own, events go to RabbitMQ
        async with Workbench(settings.with_(amqp_url=amqp_url), registry=registry, consume=True) as executor:
            assert executor.notifier is None
            result = await executor.executions.run(graph, {}, user_id=user, timeout=30)
        assert result.status == "FAILED"
        service = NotificationService.of(wb)
        (note,) = await eventually(lambda: service.inbox(user), timeout=15)
        assert note.kind == "run_failed" and note.execution_id == result.execution_id

        metrics = await asyncio.to_thread(httpx.get, f"{base}/metrics")
        samples = dict(line.rsplit(" ", 1) for line in metrics.text.splitlines() if not line.startswith("#"))
        assert float(samples["workbench_notifier_events_total"]) >= 1
        assert float(samples["workbench_notifier_notifications_total"]) >= 1
        assert float(samples["workbench_notifier_queue_handled_total"]) >= 1
        assert 'workbench_notifier_queue_messages_ready{queue="notifications.dlq"}' in samples
        assert "process_resident_memory_bytes" in samples
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert f"notifier: health and metrics on http://127.0.0.1:{port}" in text
