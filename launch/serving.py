"""Running an ASGI app under uvicorn as this process's server (``serve``/``up``, ``executor``,
``scheduler``).

Two things differ from a bare ``uvicorn.run``:

* the socket is bound first (:func:`bind`), so a port in use is a configuration error said in one
  line, before a database is started for nothing;
* SIGTERM and SIGINT end the process with exit code 0 once uvicorn has shut down gracefully (the
  app's lifespan has stopped its work). uvicorn handles both signals while it serves and then raises
  them again to the handlers installed before it; ours are installed for that moment;
* an app that fails to start is a ConfigError (uvicorn has logged why) rather than ``sys.exit``;
* the stop is bounded: requests in flight get :func:`request_grace` seconds, the app's lifespan
  (``Workbench.stop``) keeps within ``WORKBENCH_STOP_TIMEOUT``, and a watchdog thread started by the
  first signal ends the process :data:`WATCHDOG_SLACK` seconds after both, whatever the event loop
  is doing (a block stuck in CPU work), after leaving the embedded PostgreSQL so that its last user
  still stops it. Stored runs stay resumable either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.store.embedded import release_all_embedded

log = logging.getLogger(__name__)
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WATCHDOG_SLACK = 3.0
"""Seconds past the stop's own limits after which the watchdog ends the process."""
EXIT_STOP_OVERRUN = 70
"""Exit code of a process the watchdog ended (``EX_SOFTWARE``): its stop overran its limit."""


def request_grace(stop_timeout: float) -> float:
    """Seconds requests in flight (a ``?wait=`` long poll) may take once a stop began: a fifth of the
    stop timeout, at most one second; then uvicorn cancels them."""
    return min(1.0, stop_timeout / 5)


class BoundedServer(uvicorn.Server):
    """uvicorn's server, whose first SIGTERM/SIGINT also starts the stop watchdog."""

    def __init__(self, config: uvicorn.Config, stop_timeout: float) -> None:
        super().__init__(config)
        self.stop_timeout = stop_timeout
        self._watchdog: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's signal handler, plus the watchdog on the first signal."""
        if self._watchdog is None:
            limit = request_grace(self.stop_timeout) + self.stop_timeout + WATCHDOG_SLACK
            self._watchdog = threading.Timer(limit, _overrun, args=(limit,))
            self._watchdog.daemon = True
            self._watchdog.start()
        super().handle_exit(sig, frame)


def _overrun(limit: float) -> None:
    """The watchdog's end of a stop that took more than ``limit`` seconds: leave the embedded server
    (briefly: the main thread may hold its lock) and exit at once."""
    log.error("the stop took more than %.1f s (WORKBENCH_STOP_TIMEOUT); exiting now", limit)
    leaving = threading.Thread(target=release_all_embedded, daemon=True, name="leave-embedded-postgres")
    leaving.start()
    leaving.join(timeout=5.0)
    os._exit(EXIT_STOP_OVERRUN)


def bind(host: str, port: int, what: str) -> socket.socket:
    """A listening TCP socket on ``host:port``; ConfigError naming ``what`` when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"{what} cannot listen on {host}:{port}: {reason} (use --port)") from exc


@contextlib.contextmanager
def _stops_are_graceful(server: uvicorn.Server) -> Iterator[None]:
    """While uvicorn is not handling SIGINT/SIGTERM itself (before it starts, and when it raises them
    again after its graceful stop), they ask it to stop instead of killing the process."""

    def stop(signum: int, frame: FrameType | None) -> None:
        server.handle_exit(signum, frame)

    previous = {sig: signal.signal(sig, stop) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(app: Any, sock: socket.socket, *, stop_timeout: float | None = None, **options: Any) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT; returns after the lifespan has shut down.

    ``options`` are uvicorn's (``ws=...``, ``proxy_headers=...``); logging stays as the process set
    it up (:func:`workbench.logsetup.configure_logging`), with no access log. ``stop_timeout``
    (default ``WORKBENCH_STOP_TIMEOUT``) bounds the stop (see the module's docstring). Raises
    ConfigError when the app's start-up failed (uvicorn has logged why)."""
    if stop_timeout is None:
        stop_timeout = Settings.from_env().stop_timeout
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=request_grace(stop_timeout),
        **options,
    )
    server = BoundedServer(config, stop_timeout)
    with sock, _stops_are_graceful(server):
        try:
            server.run(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits so when the app's start-up fails
            if exc.code != STARTUP_FAILURE:
                raise
            raise ConfigError("the app did not start: the log lines above say why") from None
