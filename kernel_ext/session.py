"""The kernel's current client: connected on first use (local) or by ``%wb connect``."""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from workbench.client import Client, connect

_lock = threading.Lock()
_client: Client | None = None


def current() -> Client:
    """The connected client; the first call starts the local platform in this kernel."""
    global _client
    with _lock:
        if _client is None:
            _client = connect()
        return _client


def use(
    url: str | None = None,
    *,
    api_key: str | None = None,
    home: str | Path | None = None,
    scheduler: bool = False,
) -> Client:
    """Connect (local when ``url`` is None) and make it the kernel's client; the old one is closed."""
    global _client
    client = connect(url, api_key=api_key, home=home, scheduler=scheduler)
    with _lock:
        old, _client = _client, client
    if old is not None:
        old.close()
    return client


def disconnect() -> None:
    """Close the kernel's client, if any."""
    global _client
    with _lock:
        old, _client = _client, None
    if old is not None:
        old.close()


atexit.register(disconnect)
