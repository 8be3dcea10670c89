"""Several processes starting at once on a fresh data folder share one embedded PostgreSQL: one
creates it, the others wait and join; the last to leave stops it (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.postgres_processes import postgres_of
from tests.support.servers import ROOT, free_port

# Each attempt is a fresh race; WORKBENCH_TEST_REPEAT=10 (or more) searches harder than the suite does.
ATTEMPTS = int(os.environ.get("WORKBENCH_TEST_REPEAT", "4"))
OTHERS = 3


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    return env


def _cli(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "launch.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_healthy(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, f"the server exited with {server.returncode}:\n{log.read_text()}"
        try:
            if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"the server did not come up:\n{log.read_text()}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_server_and_three_other_processes_start_at_once_on_a_fresh_folder(tmp_path: Path) -> None:
    for attempt in range(ATTEMPTS):
        home = tmp_path / f"home-{attempt}"  # fresh: no pgdata yet
        home.mkdir()
        env = _env(home)
        port = free_port()
        logs = [tmp_path / f"{attempt}-{i}.log" for i in range(OTHERS + 1)]
        server = _cli(
            "serve", "--port", str(port), "--auth", "none", "--log-level", "warning", env=env, log=logs[0]
        )
        others = [_cli("db", "migrate", env=env, log=logs[i + 1]) for i in range(OTHERS)]
        try:
            for proc, log in zip(others, logs[1:], strict=True):
                assert proc.wait(timeout=60) == 0, f"attempt {attempt}: {log.read_text()}"
            _wait_healthy(f"http://127.0.0.1:{port}", server, logs[0])
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert server.returncode == 0, f"attempt {attempt}: {logs[0].read_text()}"
        assert postgres_of(home / "pgdata") == [], f"attempt {attempt}: the last user left it running"
