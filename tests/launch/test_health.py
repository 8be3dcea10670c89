"""The health/metrics app the executor and the scheduler serve (launch.health): the probe decides 200 or
503, metrics come out in Prometheus' text format, anything else is a JSON 404 or 405, and the process's
work runs for as long as the app does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from launch.health import create_health_app, prometheus_text


def app_with(
    ok: bool, samples: Mapping[str, float] | None = None, events: list[str] | None = None
) -> Litestar:
    seen = events if events is not None else []

    async def health() -> tuple[bool, dict[str, Any]]:
        return ok, {"status": "ok" if ok else "degraded", "role": "leader"}

    async def metrics() -> Mapping[str, float]:
        return samples or {}

    @asynccontextmanager
    async def work(app: Litestar) -> AsyncIterator[None]:
        seen.append("started")
        yield
        seen.append("stopped")

    return create_health_app(health, metrics, lifespan=[work])


async def test_health_is_the_probes_body_with_200_when_ok() -> None:
    async with AsyncTestClient(app_with(True)) as client:
        r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "role": "leader"}
    assert r.headers["cache-control"] == "no-store"


async def test_health_is_503_when_the_probe_says_not_ok() -> None:
    async with AsyncTestClient(app_with(False)) as client:
        r = await client.get("/health")
        head = await client.head("/health")
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    assert head.status_code == 503


async def test_metrics_are_prometheus_text_with_the_process_memory() -> None:
    samples = {"workbench_executions_running": 2, 'workbench_queue_messages_ready{queue="execution.high"}': 5}
    async with AsyncTestClient(app_with(True, samples)) as client:
        r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = dict(line.rsplit(" ", 1) for line in r.text.splitlines() if not line.startswith("#"))
    assert lines["workbench_executions_running"] == "2"
    assert lines['workbench_queue_messages_ready{queue="execution.high"}'] == "5"
    assert float(lines["process_resident_memory_bytes"]) > 1_000_000
    assert float(lines["process_cpu_seconds_total"]) > 0
    assert "# TYPE workbench_executions_running gauge" in r.text
    assert "# TYPE workbench_node_duration_seconds histogram" in r.text


async def test_other_paths_and_methods_are_json_404_and_405() -> None:
    async with AsyncTestClient(app_with(True)) as client:
        missing = await client.get("/nope")
        posted = await client.post("/health")
    assert missing.status_code == 404
    assert missing.json() == {"status": "not_found", "message": "only /health and /metrics are served here"}
    assert posted.status_code == 405
    assert posted.json()["status"] == "method_not_allowed"
    assert posted.headers["allow"] == "GET, HEAD"


async def test_the_process_work_runs_while_the_app_does() -> None:
    events: list[str] = []
    async with AsyncTestClient(app_with(True, events=events)) as client:
        assert events == ["started"]
        assert (await client.get("/health")).status_code == 200
    assert events == ["started", "stopped"]


def test_prometheus_text_is_one_line_per_sample_with_its_type() -> None:
    text = prometheus_text({"a": 1, 'b{x="y"}': 2.5, 'b{x="z"}': 3, "c_total": 4})
    assert text.startswith(
        '# TYPE a gauge\na 1\n# TYPE b gauge\nb{x="y"} 2.5\nb{x="z"} 3\n# TYPE c_total counter\nc_total 4\n'
    )
