"""Start a ``workbench`` worker process (executor, scheduler, notifier, dbmanager) for a test, its
output in a log file, as an operator starts one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_worker(command: str, port: int, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``workbench <command> --port <port>`` with ``env`` over this process's environment (no
    DATABASE_URL unless ``env`` has one: the embedded server), stdout and stderr to ``log``."""
    full = {**os.environ, "PYTHONPATH": str(ROOT)}
    full.pop("DATABASE_URL", None)
    full.update(env)
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "launch.cli", command, "--port", str(port)],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
