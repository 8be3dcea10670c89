"""Bounded CPU work: a process pool where a hard time and memory limit can stop a job.

Templates, expressions, regular expressions, XML and documents come from users. Working on them is
CPU-bound Python (or C holding the interpreter lock), which an ``asyncio`` timeout cannot interrupt:
run on the event loop, one hostile template freezes every request, WebSocket and schedule of the
process. Such work goes here instead::

    text = await sandbox.run(render_job, source, values, what="rendering the template")

- The job runs in a worker process of a small pool (``WORKBENCH_SANDBOX_WORKERS``, default 2),
  started on first use, from a fork server, and stopped at interpreter exit; workers die with it.
- Past its time limit (``WORKBENCH_SANDBOX_TIMEOUT``, 5 s; documents
  ``WORKBENCH_SANDBOX_DOCUMENT_TIMEOUT``, 60 s) the worker is killed and replaced, and the caller
  gets :class:`~workbench.errors.LimitExceeded` naming the limit and the setting.
- An allocation past the memory budget (``WORKBENCH_SANDBOX_MEMORY_MB``, 512) fails inside the job
  (``RLIMIT_AS``), which the caller gets as ``LimitExceeded`` too; a CPU-time limit is a backstop.
- The job's own errors come back as themselves when they can be pickled, else as :class:`JobFailed`.

A job is a module-level function with picklable arguments and result. Keep jobs' modules light to
import, or import their libraries inside the job. A pool round trip costs about a millisecond (see
``tests/benchmarks/bench_sandbox.py``), so cheap work that is provably linear (a template that only
substitutes names) stays in-process.
"""

from __future__ import annotations

from workbench.errors import LimitExceeded
from workbench.sandbox.pool import (
    DOCUMENT_TIMEOUT_SETTING,
    MEMORY_SETTING,
    TIMEOUT_SETTING,
    JobFailed,
    Limits,
    configure,
    limits,
    run,
    run_sync,
    running,
    shutdown,
    worker_pids,
)

__all__ = [
    "DOCUMENT_TIMEOUT_SETTING",
    "MEMORY_SETTING",
    "TIMEOUT_SETTING",
    "JobFailed",
    "LimitExceeded",
    "Limits",
    "configure",
    "limits",
    "run",
    "run_sync",
    "running",
    "shutdown",
    "worker_pids",
]
