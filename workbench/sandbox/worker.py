"""The inside of a sandbox worker process: its start-up and the wrapper every job runs through.

Standard library only: this module is what the fork server preloads, and what a worker needs before
it knows which job it will run (a job's own module, with its libraries, is imported on first use).

Every job runs under :func:`call`, which

- lowers the soft address-space limit (``RLIMIT_AS``) to what the worker uses now plus the job's
  memory budget, so an allocation past the budget raises ``MemoryError`` inside the job instead of
  growing the worker (and the machine) without bound;
- lowers the soft CPU limit (``RLIMIT_CPU``) to the CPU used so far plus a multiple of the job's
  time limit: a backstop that kills the worker (SIGXCPU) should the pool's own timer, in the parent
  process, not get to do it;
- returns ``("ok", value)``, ``("raise", exception)`` (an exception that survives pickling: the
  caller sees its own exception type) or ``("error", (type name, message))`` for one that does not,
  so that nothing the worker sends back can break the pool on the way;
- raises the limits back afterwards (soft limits only: the hard limits stay unlimited).
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import signal
import sys
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1
NICENESS = 10
"""Workers run at this lower CPU priority than their owner."""
_UNLIMITED = resource.RLIM_INFINITY
_LINUX = sys.platform.startswith("linux")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def initialize(owner_pid: int) -> None:
    """Worker start-up: die with the pool's owner, run at a lower priority than it (:data:`NICENESS`),
    and let ``terminate()`` kill at once.

    Pebble stops a worker whose job ran out of time with SIGTERM, then SIGKILL after 3 seconds. Its
    SIGTERM handler is Python code, which cannot run while a C function (a regex search, a big
    multiplication) holds the interpreter, so the default action is restored: SIGTERM kills at once.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        os.nice(NICENESS)  # hostile work competes for the CPU below the process that serves requests
    except (OSError, AttributeError):
        pass
    if _LINUX:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    # The parent (the fork server, or the owner itself) may be gone already: then so are we.
    if owner_pid and not _alive(owner_pid):
        os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def address_space() -> int:
    """Bytes of address space this process has mapped now (0 when the platform cannot tell)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _set_soft(which: int, soft: int) -> None:
    try:
        _, hard = resource.getrlimit(which)
        if hard != _UNLIMITED and (soft == _UNLIMITED or soft > hard):
            soft = hard
        resource.setrlimit(which, (soft, hard))
    except (OSError, ValueError):
        pass


def _limit(memory_bytes: int, cpu_seconds: float) -> None:
    if memory_bytes > 0 and _LINUX:
        base = address_space()
        if base:
            _set_soft(resource.RLIMIT_AS, base + memory_bytes)
    if cpu_seconds > 0:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _set_soft(resource.RLIMIT_CPU, math.ceil(usage.ru_utime + usage.ru_stime + cpu_seconds))


def _unlimit() -> None:
    if _LINUX:
        _set_soft(resource.RLIMIT_AS, _UNLIMITED)
    _set_soft(resource.RLIMIT_CPU, _UNLIMITED)


def _portable(exc: BaseException) -> tuple[str, Any]:
    """``("raise", exc)`` when ``exc`` comes back from pickling as the same error, else a description."""
    try:
        copy = pickle.loads(pickle.dumps(exc))
        if type(copy) is type(exc) and str(copy) == str(exc):
            return "raise", exc
    except Exception:
        pass
    return "error", (type(exc).__name__, str(exc))


def call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    memory_bytes: int,
    cpu_seconds: float,
) -> tuple[str, Any]:
    """Run ``fn(*args, **kwargs)`` under the job's limits; see the module docstring for the result."""
    _limit(memory_bytes, cpu_seconds)
    try:
        return "ok", fn(*args, **kwargs)
    except MemoryError:
        return "memory", None
    except RecursionError:
        return "error", ("RecursionError", "the input is nested too deeply")
    except BaseException as exc:
        return _portable(exc)
    finally:
        _unlimit()
