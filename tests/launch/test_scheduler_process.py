"""The ``workbench scheduler`` process's app (launch.scheduler), in this process on the test database: the
scheduler runs while the app does, ``/health`` is 200 while it leads or stands by and 503 once it has
stopped, and ``/metrics`` says whether it leads."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from launch.scheduler import SchedulerProcess
from workbench.config import Settings


async def test_health_and_metrics_follow_the_scheduler(settings: Settings) -> None:
    process = SchedulerProcess(settings)
    ok, body = await process.health()
    assert (ok, body) == (False, {"status": "starting", "role": "starting"})

    async with AsyncTestClient(process.app()) as client:
        health = await client.get("/health")
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["status"] == "ok" and body["role"] in ("leader", "standby")
        assert {"identity", "since", "fires", "missed", "failed", "last_error"} <= set(body)
        text = (await client.get("/metrics")).text
        after = (await client.get("/health")).json()["role"]
        samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
        # A standby may win the election between two requests: the flag matches the role on one side.
        assert samples["workbench_scheduler_leader"] in {
            str(int(body["role"] == "leader")),
            str(int(after == "leader")),
        }
        assert {"workbench_scheduler_fires_total", "process_resident_memory_bytes"} <= set(samples)

    assert process.scheduler is not None and process.scheduler.role == "stopped"
    ok, body = await process.health()
    assert not ok and body["status"] == "degraded" and body["role"] == "stopped"
