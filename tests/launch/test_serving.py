"""A process serving through launch.serving, for real (uvicorn, signals): a port in use and an app that
fails to start are configuration errors; SIGTERM and SIGINT stop the app's work gracefully and the
process exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from launch import serving
from launch.health import create_health_app
from tests.support.servers import free_port
from workbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SERVER = """
import sys
from contextlib import asynccontextmanager
from launch import serving
from launch.health import create_health_app

@asynccontextmanager
async def work(app):
    print("started", flush=True)
    yield
    print("stopped", flush=True)

async def healthy():
    return True, {"status": "ok"}

sock = serving.bind("127.0.0.1", int(sys.argv[1]), "the test server")
serving.serve(create_health_app(healthy, lifespan=[work]), sock)
print("returned", flush=True)
"""


def test_a_port_in_use_is_a_config_error_naming_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"the thing cannot listen on 127\.0\.0\.1:{port}: .*--port"):
            serving.bind("127.0.0.1", port, "the thing")


def test_an_app_that_fails_to_start_is_a_config_error() -> None:
    @asynccontextmanager
    async def broken(app: Litestar) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    async def healthy() -> tuple[bool, dict[str, Any]]:
        return True, {}

    sock = serving.bind("127.0.0.1", 0, "the test server")
    with pytest.raises(ConfigError, match="the app did not start"):
        serving.serve(create_health_app(healthy, lifespan=[broken]), sock)
    assert sock.fileno() == -1  # closed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_work_and_the_process_exits_0(sig: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.split() == ["started", "stopped", "returned"]
