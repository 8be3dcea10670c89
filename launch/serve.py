"""``workbench serve`` (API + WebSocket) and ``workbench up`` (everything in one process on the
embedded database): the Litestar app of :func:`server.app.create_app` under uvicorn, and the web
apps (``workbench.ui``: Panel's Tornado server) on the same asyncio loop, on their own port
(``WORKBENCH_UI_PORT``, default 8010; off with ``--no-ui`` or ``WORKBENCH_UI=off``).

SIGTERM or SIGINT: stop taking requests, stop the platform (runs finish or are handed back), exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from typing import Any

from litestar import Litestar

from launch import serving
from server.app import create_app
from server.config import ServerConfig
from server.middleware import JsonFormatter
from server.pages import UI_URL_STATE
from workbench import logsafe
from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.files.scanning import check_scanner
from workbench.logsetup import configure_logging

UI_PORT_ENV = "WORKBENCH_UI_PORT"
DEFAULT_UI_PORT = 8010
NOTEBOOKS_URL = "http://127.0.0.1:8888/lab"
"""Where ``make lab`` serves JupyterLab (``WORKBENCH_NOTEBOOKS_URL`` to change the link)."""


def proxy_options(config: ServerConfig) -> dict[str, Any]:
    """uvicorn's handling of ``X-Forwarded-For`` / ``X-Forwarded-Proto``: believed only from the
    proxies the operator names (``WORKBENCH_TRUSTED_PROXIES``), never by default (uvicorn's own
    default trusts any loopback peer, so anything on the machine could pick its client address)."""
    if not config.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(config.trusted_proxies)}


def ui_port_from_env() -> int | None:
    """The UI's port (``WORKBENCH_UI_PORT``, default 8010), or None when ``WORKBENCH_UI=off``."""
    if os.environ.get("WORKBENCH_UI", "").strip().lower() in ("off", "0", "false", "no"):
        return None
    raw = os.environ.get(UI_PORT_ENV, str(DEFAULT_UI_PORT)).strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{UI_PORT_ENV} must be a port number between 1 and 65535; got {raw!r}")
    return int(raw)


def ui_url(config: ServerConfig, port: int) -> str:
    """The URL the web apps are reached at (``WORKBENCH_UI_PUBLIC_URL`` behind a proxy)."""
    public = os.environ.get("WORKBENCH_UI_PUBLIC_URL")
    if public:
        return public.rstrip("/")
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"http://{host}:{port}"


def attach_ui(app: Litestar, config: ServerConfig, port: int) -> None:
    """Start the web apps with the app (after its Workbench), stop them before it."""
    from workbench.ui.gate import UiSettings  # Panel loads only when the UI runs
    from workbench.ui.server import UiServer, start_ui

    settings = UiSettings(
        auth=config.auth,
        api_url=config.base_url,
        notebooks_url=os.environ.get("WORKBENCH_NOTEBOOKS_URL", NOTEBOOKS_URL),
        oauth_providers=tuple(config.oauth),
        allowed_hosts=config.allowed_hosts,
        cors_origins=config.cors_origins,
        public_url=os.environ.get("WORKBENCH_UI_PUBLIC_URL") or None,
    )
    running: list[UiServer] = []

    async def start(app: Litestar) -> None:
        running.append(await start_ui(app.state.workbench, settings, config.host, port))

    async def stop(app: Litestar) -> None:
        while running:
            running.pop().stop()

    app.state[UI_URL_STATE] = ui_url(config, port)  # the API's home page links to the apps
    if app.state.workbench.ui_url is None:
        app.state.workbench.ui_url = ui_url(config, port)  # notifications link to the run pages
    app.on_startup.append(start)
    app.on_shutdown.append(stop)  # shutdown hooks run in reverse: the UI stops before the Workbench


def print_banner(config: ServerConfig, settings: Settings, ui_port: int | None = None) -> None:
    """Where the API, its docs, the WebSocket and the apps are, and where the data lives (on stderr)."""
    base = config.base_url
    print(f"Agent Workbench on {base}", file=sys.stderr)
    if ui_port is not None:
        print(f"  Apps      {ui_url(config, ui_port)}/", file=sys.stderr)
    print(f"  API       {base}/api/v1   (auth: {config.auth})", file=sys.stderr)
    print(f"  API docs  {base}/api/docs", file=sys.stderr)
    print(f"  WebSocket {base.replace('http', 'ws', 1)}/ws", file=sys.stderr)
    print(f"  data      {logsafe.redact(settings.database_url or str(settings.home))}", file=sys.stderr)


def _freeze_startup_objects(app: Litestar) -> None:
    """What start-up made lives until exit: moved out of the garbage collector's way, so the
    collections that requests and runs trigger pause the loop for less."""
    gc.freeze()


def run(config: ServerConfig, *, log_level: str = "info", banner: bool = True, ui: bool = True) -> None:
    """Serve until SIGTERM or SIGINT (with the web apps unless ``ui`` is False)."""
    # The API's JSON lines carry the id of the request being served.
    configure_logging(log_level, JsonFormatter())
    settings = Settings.from_env()
    asyncio.run(check_scanner(settings))  # scanning on and no clamd: one clear line, before anything
    app = create_app(settings, config)
    sock = serving.bind(config.host, config.port, "the server")
    ui_port = ui_port_from_env() if ui else None
    if ui_port is not None:
        serving.bind(config.host, ui_port, f"the UI ({UI_PORT_ENV})").close()  # taken: say so now
        attach_ui(app, config, ui_port)
    app.on_startup.append(_freeze_startup_objects)
    if banner:
        print_banner(config, settings, ui_port)
    serving.serve(app, sock, ws="websockets-sansio", **proxy_options(config))
