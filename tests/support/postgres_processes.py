"""Finding the embedded PostgreSQL server of a data folder among the machine's processes."""

from __future__ import annotations

import time
from pathlib import Path

import psutil


def postgres_of(pgdata: Path) -> list[int]:
    """Pids of the PostgreSQL postmaster serving ``pgdata`` (empty when none runs)."""
    target = str(pgdata.resolve())
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and target in cmdline:
            found.append(proc.pid)
    return found


def wait_postgres_gone(pgdata: Path, timeout: float = 10.0) -> list[int]:
    """Wait until no PostgreSQL serves ``pgdata``; returns the pids still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := postgres_of(pgdata)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
