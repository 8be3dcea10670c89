"""Running the server with uvicorn: ``workbench serve`` (API + WebSocket) and ``workbench up``
(everything in one process on the embedded database)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from server.app import create_app
from server.config import ServerConfig
from server.middleware import JsonFormatter
from workbench.config import Settings


def configure_logging(level: str) -> None:
    """JSON lines on stderr for every logger, request ids included."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


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
        print(f"  data      {settings.database_url or settings.home}", file=sys.stderr)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
    )
