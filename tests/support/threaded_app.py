"""Serve an ASGI app (a test's vendor lookalike) with uvicorn on a free port of 127.0.0.1, in a thread."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn


class ThreadedApp:
    """One app served in a background thread; :meth:`start` returns its base URL."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Start serving; returns ``http://127.0.0.1:<port>`` once the port is bound."""
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=self.name, daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError(f"the {self.name} server did not start")
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
