"""Real server processes for the API tests (a pytest plugin, loaded by tests/conftest.py, so every
test folder can use them): one per auth mode, each on its own fresh data folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A running ``workbench serve``."""

    base_url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path
    ui_url: str | None = None
    """Where the web apps answer (None: started without them)."""
    admin: tuple[str, str] | None = None
    """(email, password) of the server's administrator: its first account (``accounts_server``)."""

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint."""
        return self.base_url.replace("http", "ws", 1) + "/ws"

    def client(self, **kwargs: object) -> httpx.Client:
        """A synchronous client on this server."""
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]


def start_server(
    home: Path,
    auth: str,
    extra_env: dict[str, str] | None = None,
    log_level: str = "warning",
    *,
    ui: bool = False,
) -> ServerProcess:
    """Start ``workbench serve`` and wait until its health endpoint answers (and, with ``ui``, the
    web apps on a free port of their own; without, they are off)."""
    port = free_port()
    ui_port = free_port() if ui else None
    ui_env = {"WORKBENCH_UI": "on", "WORKBENCH_UI_PORT": str(ui_port)} if ui_port else {"WORKBENCH_UI": "off"}
    env = {
        **os.environ,
        "WORKBENCH_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        **ui_env,
        **(extra_env or {}),
    }
    env.pop("DATABASE_URL", None)
    log = home.parent / f"server-{auth}-{port}.log"
    home.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "launch.cli",
                "serve",
                "--port",
                str(port),
                "--auth",
                auth,
                "--log-level",
                log_level,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not come up:\n{log.read_text()}")
        time.sleep(0.1)
    return ServerProcess(base, home, proc, log, f"http://127.0.0.1:{ui_port}" if ui_port else None)


def stop_server(server: ServerProcess) -> None:
    """Stop it gracefully (SIGTERM), then for sure."""
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``--auth none``: the single local user."""
    server = start_server(
        tmp_path_factory.mktemp("srv-local") / "home", "none", {"WORKBENCH_RATE_LIMIT": "off"}
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def accounts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``--auth accounts``: tokens or API keys on every route but health, docs and login. Its first
    account, signed up before any test runs, is its administrator (``admin``); ``alice``, ``bob`` and
    every other account are not."""
    from tests.server.api_support import signup

    server = start_server(
        tmp_path_factory.mktemp("srv-accounts") / "home", "accounts", {"WORKBENCH_RATE_LIMIT": "off"}
    )
    first = signup(server, "admin")
    first.close()
    server.admin = (first.email, first.password)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def configured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``--auth accounts`` with what the middleware and account tests need: CORS for one origin, a
    64 KB body limit, debug logs (to check what is never logged) and the development mail log
    ``mail.jsonl`` next to its home (to read reset and verification tokens)."""
    base = tmp_path_factory.mktemp("srv-configured")
    server = start_server(
        base / "home",
        "accounts",
        {
            "WORKBENCH_RATE_LIMIT": "off",
            "WORKBENCH_CORS_ORIGINS": "https://app.example.com",
            "WORKBENCH_MAX_BODY_SIZE": "65536",
            "WORKBENCH_DEV_MAIL_LOG": str(base / "mail.jsonl"),
        },
        log_level="debug",
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``--auth accounts`` rate limited to 5 requests per minute per user and route (a minute, not a
    second, so that a window never ends in the middle of a test)."""
    server = start_server(
        tmp_path_factory.mktemp("srv-limited") / "home", "accounts", {"WORKBENCH_RATE_LIMIT": "5/minute"}
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def alice(accounts_server: ServerProcess) -> Iterator[Any]:
    """A user of ``accounts_server``."""
    from tests.server.api_support import signup

    user = signup(accounts_server, "alice")
    yield user
    user.close()


@pytest.fixture
def admin(accounts_server: ServerProcess) -> Iterator[Any]:
    """The administrator of ``accounts_server`` (its first account), freshly logged in."""
    from tests.server.api_support import login

    assert accounts_server.admin is not None
    user = login(accounts_server, *accounts_server.admin)
    yield user
    user.close()


@pytest.fixture(scope="session")
def bob(accounts_server: ServerProcess) -> Iterator[Any]:
    """Another user of ``accounts_server``."""
    from tests.server.api_support import signup

    user = signup(accounts_server, "bob")
    yield user
    user.close()
