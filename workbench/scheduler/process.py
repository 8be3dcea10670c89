"""``workbench scheduler``: a scheduler process (the leader, or a standby ready to take over) with
``GET /health`` on port 8003. Start two for high availability: only the elected leader fires.

Without ``AMQP_URL`` the executions it starts run in this process; with it they go to the executors.
SIGTERM or SIGINT: stop firing, release leadership (a standby takes over at once), finish or hand
back running executions, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any

from workbench.config import Settings
from workbench.errors import ConfigError

log = logging.getLogger(__name__)
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def health_document(scheduler: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of ``/health``: 200 while leading or standing by, 503 otherwise."""
    if scheduler is None:
        return 503, {"status": "starting", "role": "starting"}
    status = scheduler.status()
    ok = status["role"] in ("leader", "standby")
    return (200 if ok else 503), {"status": "ok" if ok else "degraded", **status}


async def serve_health(holder: dict[str, Any], host: str, port: int) -> asyncio.Server:
    """A minimal HTTP/1.1 server: ``GET /health`` (``holder["scheduler"]`` is the Scheduler)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while True:  # skip the headers
                line = await asyncio.wait_for(reader.readline(), 5)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request_line.decode("latin-1").split()
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            if path.split("?", 1)[0] != "/health":
                code, body = 404, {"status": "not_found", "message": "only /health is served here"}
            elif method not in ("GET", "HEAD"):
                code, body = 405, {"status": "method_not_allowed", "message": "GET /health"}
            else:
                code, body = health_document(holder.get("scheduler"))
            payload = json.dumps(body).encode()
            head = (
                f"HTTP/1.1 {code} {REASONS[code]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else payload))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    try:
        return await asyncio.start_server(handle, host, port)
    except OSError as exc:
        raise ConfigError(f"the scheduler cannot serve /health on {host}:{port}: {exc} (use --port)") from exc


async def main(host: str = "127.0.0.1", port: int = 8003, settings: Settings | None = None) -> int:
    """Run a scheduler until SIGTERM or SIGINT."""
    from workbench.app import Workbench
    from workbench.scheduler.runtime import Scheduler

    holder: dict[str, Any] = {}
    server = await serve_health(holder, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Workbench(settings or Settings.from_env(), role="scheduler") as wb:
            scheduler = holder["scheduler"] = await Scheduler(wb).start()
            print(f"scheduler: health on http://{host}:{port}/health", file=sys.stderr, flush=True)
            try:
                await stop.wait()
            finally:
                await scheduler.stop()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
    return 0


def run_scheduler(host: str, port: int) -> int:
    """Entry point of ``workbench scheduler``."""
    return asyncio.run(main(host, port))
