"""Running the server with uvicorn: ``workbench serve`` (API + WebSocket) and ``workbench up``
(everything in one process on the embedded database)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn

from server.app import create_app
from server.config import ServerConfig
from server.middleware import JsonFormatter
from workbench import logsafe
from workbench.config import Settings


def configure_logging(level: str) -> None:
    """JSON lines on stderr for every logger, request ids included, secrets redacted (the API
    server, executors and schedulers all log through this)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logsafe.install(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def proxy_options(config: ServerConfig) -> dict[str, Any]:
    """uvicorn's handling of ``X-Forwarded-For`` / ``X-Forwarded-Proto``: believed only from the
    proxies the operator names (``WORKBENCH_TRUSTED_PROXIES``), never by default (uvicorn's own
    default trusts any loopback peer, so anything on the machine could pick its client address)."""
    if not config.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(config.trusted_proxies)}


def run(config: ServerConfig, *, log_level: str = "info", banner: bool = True) -> None:
    """Serve until interrupted."""
    configure_logging(log_level)
    settings = Settings.from_env()
    app = create_app(settings, config)
    if banner:
        base = config.base_url
        print(f"Agent Workbench on {base}", file=sys.stderr)
        print(f"  API       {base}/api/v1   (auth: {config.auth})", file=sys.stderr)
        print(f"  API docs  {base}/api/docs", file=sys.stderr)
        print(f"  WebSocket {base.replace('http', 'ws', 1)}/ws", file=sys.stderr)
        print(f"  data      {logsafe.redact(settings.database_url or str(settings.home))}", file=sys.stderr)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
        **proxy_options(config),
    )
