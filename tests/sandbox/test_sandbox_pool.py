"""The sandbox process pool: results and errors come back, time and memory limits stop a job (and
only that job's worker), the event loop runs meanwhile, cancelling the caller kills the job, and no
worker outlives the process that owns the pool, however that process ends."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import jinja2
import psutil
import pytest

from tests.support.loop import LoopWatch
from workbench import sandbox
from workbench.errors import LimitExceeded

ROOT = Path(__file__).resolve().parents[2]
CATASTROPHIC = (r"(a+)+$", "a" * 40 + "!")


@pytest.fixture
def limits() -> Iterator[None]:
    """Short limits for the test, on a warm pool (its first start is not what is timed)."""
    before = sandbox.limits()
    sandbox.configure(sandbox.Limits(timeout=5, document_timeout=5, memory_mb=128, workers=2))
    sandbox.run_sync(abs, -1, what="warming up the pool")
    yield
    sandbox.configure(before)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(condition: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


async def test_values_and_errors_come_back_as_themselves(limits: None) -> None:
    assert await sandbox.run(math.sqrt, 16.0, what="taking a root") == 4.0
    with pytest.raises(ValueError, match="math domain error"):
        await sandbox.run(math.sqrt, -1.0, what="taking a root")


async def test_an_error_that_cannot_be_pickled_comes_back_described(limits: None) -> None:
    # TemplateSyntaxError needs its line number to be rebuilt: sent as is, it would break the pool.
    with pytest.raises(sandbox.JobFailed) as caught:
        await sandbox.run(jinja2.Template, "{% if %}", what="compiling")
    assert caught.value.kind == "TemplateSyntaxError"
    assert await sandbox.run(math.sqrt, 9.0, what="taking a root") == 3.0


async def test_a_job_past_its_time_limit_is_killed_without_stopping_the_loop(limits: None) -> None:
    async with LoopWatch() as watch:
        with pytest.raises(LimitExceeded) as caught:
            # re.search holds the interpreter for the whole search: only killing the process stops it.
            await sandbox.run(re.search, *CATASTROPHIC, what="matching the pattern", timeout=0.5)
    assert (
        str(caught.value) == "Matching the pattern took longer than 0.5 s (limit WORKBENCH_SANDBOX_TIMEOUT)"
    )
    assert watch.elapsed < 2, "the worker was not killed at once"
    assert watch.longest_pause < 0.3, "the event loop was blocked"
    assert await sandbox.run(math.sqrt, 4.0, what="taking a root") == 2.0


async def test_a_job_past_its_memory_limit_fails_and_the_worker_lives_on(limits: None) -> None:
    with pytest.raises(LimitExceeded) as caught:
        await sandbox.run(bytearray, 400_000_000, what="allocating")
    assert (
        str(caught.value)
        == "Allocating needed more than 128 MB of memory (limit WORKBENCH_SANDBOX_MEMORY_MB)"
    )
    assert len(await sandbox.run(bytearray, 50_000_000, what="allocating")) == 50_000_000


async def test_cancelling_the_caller_kills_the_job(limits: None) -> None:
    before = set(sandbox.worker_pids())
    task = asyncio.create_task(sandbox.run(time.sleep, 30, what="sleeping", timeout=60))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(wait_until, lambda: any(gone(pid) for pid in before), 5), (
        "no worker was stopped"
    )
    assert await sandbox.run(math.sqrt, 1.0, what="taking a root") == 1.0


async def test_run_sync_serves_threads(limits: None) -> None:
    assert await asyncio.to_thread(sandbox.run_sync, math.sqrt, 81.0, what="taking a root") == 9.0


def _script(tmp_path: Path, body: str) -> subprocess.Popen[str]:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(path)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )


USE_THE_POOL = """
    # No `if __name__ == "__main__":` guard: the workers must not run this file again.
    import asyncio, math, os, sys
    import psutil
    from workbench import sandbox
    print(asyncio.run(sandbox.run(math.sqrt, 4.0, what="taking a root")))
    print(" ".join(str(p.pid) for p in psutil.Process().children(recursive=True)), flush=True)
"""


def test_a_script_without_main_guard_works_and_leaves_no_process(tmp_path: Path) -> None:
    proc = _script(tmp_path, USE_THE_POOL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    lines = out.splitlines()
    assert lines[0] == "2.0"
    children = [int(p) for p in lines[1].split()]
    assert children, "the pool started no process"
    assert wait_until(lambda: all(gone(pid) for pid in children)), "a sandbox process outlived its owner"


def test_workers_die_when_their_owner_is_killed(tmp_path: Path) -> None:
    proc = _script(tmp_path, USE_THE_POOL + "    import time; time.sleep(60)\n")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "2.0"
    children = [int(p) for p in proc.stdout.readline().split()]
    assert children
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert wait_until(lambda: all(gone(pid) for pid in children)), "a sandbox process outlived its owner"


async def test_an_input_that_cannot_be_sent_is_a_clear_error(limits: None) -> None:
    with pytest.raises(sandbox.JobFailed, match="the input or result cannot be sent between processes"):
        await sandbox.run(len, (x for x in range(3)), what="counting")
    assert await sandbox.run(len, [1, 2, 3], what="counting") == 3
