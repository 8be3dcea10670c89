"""``workbench scheduler``: a scheduler process (the leader, or a standby ready to take over) with
``GET /health`` and Prometheus ``GET /metrics`` on port 8003 (:mod:`launch.health`). Start two for high
availability: only the elected leader fires.

Without ``AMQP_URL`` the executions it starts run in this process; with it they go to the executors.
SIGTERM or SIGINT: stop firing, release leadership (a standby takes over at once), finish or hand
back running executions, exit 0.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from launch import serving
from launch.health import create_health_app
from workbench.app import Workbench
from workbench.config import Settings
from workbench.logsetup import configure_logging
from workbench.scheduler.runtime import Scheduler

SERVING_ROLES = ("leader", "standby")
"""Roles in which a scheduler process is healthy: leading, or ready to take over."""


class SchedulerProcess:
    """A Workbench and its Scheduler, started and stopped with the process's health app."""

    def __init__(self, settings: Settings, url: str = "") -> None:
        self.settings = settings
        self.url = url
        """Where the health endpoint is served (printed once the scheduler runs)."""
        self.scheduler: Scheduler | None = None

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        """Start the Workbench and the Scheduler; stop both (leadership released) on the way out."""
        async with Workbench(self.settings, role="scheduler") as wb:
            self.scheduler = await Scheduler(wb).start()
            if self.url:
                print(f"scheduler: health on {self.url}/health", file=sys.stderr, flush=True)
            try:
                yield
            finally:
                await self.scheduler.stop()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """200 while leading or standing by, 503 otherwise; the body is the Scheduler's status."""
        if self.scheduler is None:
            return False, {"status": "starting", "role": "starting"}
        status = self.scheduler.status()
        ok = status["role"] in SERVING_ROLES
        return ok, {"status": "ok" if ok else "degraded", **status}

    async def metrics(self) -> Mapping[str, float]:
        """The scheduler's counters and whether it leads."""
        if self.scheduler is None:
            return {}
        status = self.scheduler.status()
        return {
            "workbench_scheduler_leader": int(status["role"] == "leader"),
            "workbench_scheduler_jobs": status["jobs"],
            "workbench_scheduler_leader_terms_total": status["leader_terms"],
            "workbench_scheduler_fires_total": status["fires"],
            "workbench_scheduler_missed_total": status["missed"],
            "workbench_scheduler_failed_total": status["failed"],
        }

    def app(self) -> Litestar:
        """The health/metrics app; serving it runs the scheduler."""
        return create_health_app(self.health, self.metrics, lifespan=[self.running])


def run_scheduler(host: str, port: int, log_level: str = "info") -> int:
    """Entry point of ``workbench scheduler``: run until SIGTERM or SIGINT, then exit 0."""
    configure_logging(log_level)
    process = SchedulerProcess(Settings.from_env(), url=f"http://{host}:{port}")
    sock = serving.bind(host, port, "the scheduler's health endpoint")
    serving.serve(process.app(), sock)
    return 0
