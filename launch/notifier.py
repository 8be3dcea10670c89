"""``workbench notifier``: the notification service (the seed's Notification Server) with ``/health``
and Prometheus ``/metrics`` on port 8007 (:mod:`launch.health`). Start any number of them.

With ``AMQP_URL`` it takes the events of every process (runs that end, schedule fires, blocks'
messages) from the ``notifications`` queue; without it, ``workbench up``/``serve`` run a notifier
inside, and this process only sends due deliveries and sweeps the database for runs whose event was
lost. Either way it sends what is due: mail (``WORKBENCH_SMTP_URL``), webhooks, Slack, Discord.

Links in notifications (to a run's page, to answer a review) are rooted at
``WORKBENCH_UI_PUBLIC_URL`` (the web apps) and ``WORKBENCH_PUBLIC_URL`` (the API): set them here.

SIGTERM or SIGINT: stop taking events, let sends in flight finish briefly, exit 0 (what was not sent
is sent by another notifier, or by this one when it starts again).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar

from launch import serving
from launch.executor import database_health
from launch.health import create_health_app
from workbench.app import Workbench
from workbench.config import Settings
from workbench.logsetup import configure_logging
from workbench.store.notifications import NotificationRepository


class NotifierProcess:
    """A Workbench running the notifier, started and stopped with the process's health app."""

    def __init__(self, settings: Settings, url: str = "", workbench: Workbench | None = None) -> None:
        self.settings = settings
        self.url = url
        self.wb = workbench or Workbench(settings, role="notifier", resume=False, notifier=True)
        # where people reach the apps and the API: the roots of the links notifications carry
        for attribute, variable in (
            ("ui_url", "WORKBENCH_UI_PUBLIC_URL"),
            ("api_url", "WORKBENCH_PUBLIC_URL"),
        ):
            if getattr(self.wb, attribute, None) is None:
                setattr(self.wb, attribute, (os.environ.get(variable) or "").rstrip("/") or None)

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        """Start the Workbench and its notifier; stop both on the way out."""
        async with self.wb:
            if self.url:
                print(f"notifier: health and metrics on {self.url}", file=sys.stderr, flush=True)
            yield

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """200 while the queue and the database answer, 503 otherwise."""
        wb = self.wb
        if wb.notifier is None or wb.notify_queue is None:
            return False, {"status": "starting"}
        queue = await wb.notify_queue.health()
        database = await database_health(wb)
        ok = bool(queue["ok"] and database["ok"])
        body = {"status": "ok" if ok else "degraded", "queue": queue, "database": database}
        return ok, body

    async def metrics(self) -> Mapping[str, float]:
        """Events handled, deliveries by outcome, delivery latency, queue depth, deliveries by status."""
        wb = self.wb
        if wb.notifier is None or wb.notify_queue is None or wb.db is None:
            return {}
        samples: dict[str, float] = dict(wb.notifier.metrics())
        queue = await wb.notify_queue.health()
        for name in ("published", "handled", "retried", "dead_lettered"):
            samples[f"workbench_notifier_queue_{name}_total"] = queue.get(name, 0)
        for name, depth in (queue.get("depth") or {}).items():
            samples[f'workbench_notifier_queue_messages_ready{{queue="{name}"}}'] = depth
        try:
            for status, count in (await NotificationRepository(wb.db.pool).counts()).items():
                samples[f'workbench_notifier_deliveries{{status="{status}"}}'] = count
        except Exception:
            pass  # the database is down: /health says so
        return samples

    def app(self) -> Litestar:
        """The health/metrics app; serving it runs the notifier."""
        return create_health_app(self.health, self.metrics, lifespan=[self.running])


def run_notifier(host: str, port: int, log_level: str = "info") -> int:
    """Entry point of ``workbench notifier``: run until SIGTERM or SIGINT, then exit 0."""
    configure_logging(log_level)
    process = NotifierProcess(Settings.from_env(), url=f"http://{host}:{port}")
    sock = serving.bind(host, port, "the notifier's health endpoint")
    serving.serve(process.app(), sock)
    return 0
