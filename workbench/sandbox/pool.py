"""The process pool that runs bounded CPU work, and the calls that hand a job to it.

One pool per process (pebble's ``ProcessPool``), started on first use and stopped at interpreter
exit. Workers come from a fork server (spawn where there is none), never from ``fork()`` of this
process: it has threads and an event loop. A job that outlives its time limit gets its worker killed
(and replaced) by the pool; see :mod:`workbench.sandbox.worker` for the memory and CPU limits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import spawn as mp_spawn
from typing import TYPE_CHECKING, Any, TypeVar

from pebble import ProcessExpired, ProcessPool
from pebble.pool.process import WORKERS_NAME

from workbench.errors import BlockError, LimitExceeded
from workbench.sandbox import worker

if TYPE_CHECKING:
    from concurrent.futures import Future

    from workbench.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

TIMEOUT_SETTING = "WORKBENCH_SANDBOX_TIMEOUT"
DOCUMENT_TIMEOUT_SETTING = "WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT"
MEMORY_SETTING = "WORKBENCH_SANDBOX_MEMORY_MB"
MAX_TASKS_PER_WORKER = 1000
"""A worker is replaced after this many jobs (whatever a job leaves behind does not pile up)."""
_CPU_BACKSTOP = 2.0
"""The CPU limit of a job is this many times its time limit, plus a second (see worker.py)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The sandbox's process-wide limits (from :class:`workbench.config.Settings`)."""

    timeout: float = 5.0
    """Seconds one job may run (templates, expressions, regular expressions, XML)."""
    document_timeout: float = 60.0
    """Seconds reading one document (PDF, HTML, Markdown) may take."""
    memory_mb: int = 512
    """Megabytes of memory one job may allocate beyond what its worker already uses."""
    workers: int = 2
    """Worker processes of the pool."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits ``settings`` ask for."""
        return cls(
            timeout=settings.sandbox_timeout,
            document_timeout=settings.sandbox_document_timeout,
            memory_mb=settings.sandbox_memory_mb,
            workers=settings.sandbox_workers,
        )


class JobFailed(BlockError):
    """A job raised an error that cannot travel between processes as itself; names its type."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(f"{kind}: {message}" if message else kind)


_lock = threading.Lock()
_limits: Limits | None = None
_pool: ProcessPool | None = None
_pool_pid = 0
_prepared = False


def configure(settings: Settings | Limits) -> None:
    """Set the process-wide limits (the Workbench does, on start). A new worker count applies when
    the pool next starts; time and memory limits apply to the next job."""
    global _limits
    _limits = settings if isinstance(settings, Limits) else Limits.from_settings(settings)


def limits() -> Limits:
    """The limits in force: configured, else read from the environment."""
    global _limits
    if _limits is None:
        from workbench.config import Settings

        _limits = Limits.from_settings(Settings.from_env())
    return _limits


def _without_main(original: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """``spawn.get_preparation_data``, minus the main module for the pool's workers.

    A spawned or fork-server child normally imports the parent's ``__main__`` again: a script
    without the ``if __name__ == "__main__":`` guard would run once more in every worker (and
    start pools of its own). Jobs are never functions of ``__main__``, so workers skip it.
    """

    @functools.wraps(original)
    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if name == WORKERS_NAME:
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
        return data

    get_preparation_data.__wrapped_by_sandbox__ = True  # type: ignore[attr-defined]
    return get_preparation_data


def _context() -> Any:
    global _prepared
    if not _prepared:
        if not getattr(mp_spawn.get_preparation_data, "__wrapped_by_sandbox__", False):
            mp_spawn.get_preparation_data = _without_main(mp_spawn.get_preparation_data)
        if "forkserver" in multiprocessing.get_all_start_methods():
            # The fork server imports this once; every worker forked from it starts with it loaded.
            multiprocessing.get_context("forkserver").set_forkserver_preload(["workbench.sandbox.worker"])
        _prepared = True
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def _ensure_pool() -> ProcessPool:
    """The running pool of this process, started if needed (may take a second: call off the loop)."""
    global _pool, _pool_pid
    with _lock:
        pool = _pool
        if pool is not None and _pool_pid == os.getpid() and pool.active:
            return pool
        if pool is not None and _pool_pid == os.getpid():
            log.warning("the sandbox process pool stopped working; starting a new one")
            _stop(pool)
        pool = ProcessPool(
            max_workers=limits().workers,
            max_tasks=MAX_TASKS_PER_WORKER,
            initializer=worker.initialize,
            initargs=(os.getpid(),),
            context=_context(),
        )
        if not pool.active:  # starts the workers
            raise BlockError("the sandbox process pool cannot start")
        _pool, _pool_pid = pool, os.getpid()
        return pool


def _stop(pool: ProcessPool) -> None:
    try:
        pool.stop()
        pool.join(timeout=10)
    except Exception as exc:
        log.warning("stopping the sandbox process pool: %s", exc)


def shutdown() -> None:
    """Stop the pool and its workers (at interpreter exit; the next job starts a new pool)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None and _pool_pid == os.getpid():
        _stop(pool)


atexit.register(shutdown)


def running() -> bool:
    """Whether this process has a working pool."""
    pool = _pool
    return pool is not None and _pool_pid == os.getpid() and pool.active


def worker_pids() -> list[int]:
    """Process ids of the pool's workers (for tests and diagnostics)."""
    pool = _pool
    if pool is None or _pool_pid != os.getpid():
        return []
    try:
        return list(pool._pool_manager.worker_manager.workers)
    except AttributeError:
        return []


def _schedule(
    fn: Callable[..., Any], args: tuple[Any, ...], timeout: float, memory_mb: int
) -> Future[tuple[str, Any]]:
    pool = _ensure_pool()
    payload = (fn, args, {}, memory_mb * 1024 * 1024, timeout * _CPU_BACKSTOP + 1)
    try:
        return pool.schedule(worker.call, args=payload, timeout=timeout)
    except RuntimeError:  # the pool died between the check and the call
        return _ensure_pool().schedule(worker.call, args=payload, timeout=timeout)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _outcome(future: Future[tuple[str, Any]], what: str, timeout: float, setting: str, memory_mb: int) -> Any:
    """The job's value, or the error that says which limit it hit."""
    try:
        status, value = future.result()
    except TimeoutError:
        raise LimitExceeded(
            f"{_capital(what)} took longer than {timeout:g} s (limit {setting})", "time"
        ) from None
    except ProcessExpired as exc:
        if exc.exitcode == -signal.SIGXCPU:
            raise LimitExceeded(
                f"{_capital(what)} used more than {timeout * _CPU_BACKSTOP + 1:g} s of CPU time "
                f"(limit {setting})",
                "cpu",
            ) from None
        raise LimitExceeded(
            f"{_capital(what)} ended its sandbox process abnormally (exit code {exc.exitcode}); "
            f"it may have run out of memory (limit {MEMORY_SETTING})",
            "memory",
        ) from None
    except BrokenProcessPool as exc:
        raise BlockError(f"the sandbox process pool failed while {what} ran: {exc}") from None
    except Exception as exc:  # pebble could not pickle the job's input or its result
        raise JobFailed(
            type(exc).__name__, f"{what}: the input or result cannot be sent between processes: {exc}"
        ) from None
    if status == "ok":
        return value
    if status == "memory":
        raise LimitExceeded(
            f"{_capital(what)} needed more than {memory_mb} MB of memory (limit {MEMORY_SETTING})",
            "memory",
        )
    if status == "raise":
        raise value
    kind, message = value
    raise JobFailed(kind, message)


async def run(
    fn: Callable[..., T],
    *args: Any,
    what: str,
    timeout: float | None = None,
    setting: str = TIMEOUT_SETTING,
) -> T:
    """``fn(*args)`` in a worker process, under the time and memory limits.

    ``fn`` must be importable by name (a module-level function) and its arguments and result
    picklable. ``what`` names the work in messages ("rendering the template"); ``setting`` is the
    setting that sets ``timeout`` (default: the sandbox timeout).

    Raises:
        LimitExceeded: the job ran out of time, memory or CPU (the message says which, and the setting).
        JobFailed: the job raised an error that cannot be sent back as itself.
        BlockError: the pool itself failed.
        Exception: whatever the job raised, as itself, when it can be sent back.
    """
    current = limits()
    limit = timeout if timeout is not None else current.timeout
    if not running():
        await asyncio.to_thread(_ensure_pool)
    future = _schedule(fn, args, limit, current.memory_mb)
    # Cancelling the awaiting task cancels the job: pebble then kills its worker.
    with contextlib.suppress(Exception):
        await asyncio.wrap_future(future)
    return _outcome(future, what, limit, setting, current.memory_mb)


def run_sync(
    fn: Callable[..., T],
    *args: Any,
    what: str,
    timeout: float | None = None,
    setting: str = TIMEOUT_SETTING,
) -> T:
    """:func:`run` for synchronous code (a worker thread): blocks the calling thread until done."""
    current = limits()
    limit = timeout if timeout is not None else current.timeout
    return _outcome(_schedule(fn, args, limit, current.memory_mb), what, limit, setting, current.memory_mb)
