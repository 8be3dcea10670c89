"""When the database goes away: health says 503 and routes answer 503, never 500 or a traceback."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.servers import start_server, stop_server


@pytest.mark.slow
def test_database_down_gives_503(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", "none", {"WORKBENCH_RATE_LIMIT": "off"})
    try:
        with server.client() as client:
            assert client.get("/api/v1/health").json()["status"] == "ok"
            pid = int((server.home / "pgdata" / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGINT)  # PostgreSQL "fast" shutdown
            deadline = time.monotonic() + 20
            while True:
                health = client.get("/api/v1/health")
                if health.status_code == 503:
                    break
                assert time.monotonic() < deadline, health.text
                time.sleep(0.2)
            body = health.json()
            assert body["status"] == "degraded" and body["database"]["ok"] is False
            for method, path in (("GET", "/api/v1/graphs"), ("GET", "/api/v1/executions")):
                r = client.request(method, path)
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "unavailable"
                assert "Traceback" not in r.text
    finally:
        stop_server(server)


@pytest.mark.slow
def test_a_stopped_server_stops_its_embedded_postgresql(tmp_path: Path) -> None:
    # uvicorn re-raises SIGTERM after its graceful shutdown, so atexit handlers never run: the
    # Workbench leaves the embedded server itself, and the last process to leave stops it.
    server = start_server(tmp_path / "home", "none", {"WORKBENCH_RATE_LIMIT": "off"})
    postmaster = server.home / "pgdata" / "postmaster.pid"
    assert postmaster.exists()
    stop_server(server)
    deadline = time.monotonic() + 10
    while postmaster.exists():
        assert time.monotonic() < deadline, "the embedded PostgreSQL is still running"
        time.sleep(0.1)
