"""The scheduler: starts agents on time (``workbench scheduler``, or inside ``workbench up``/``serve``).

* ``workbench.scheduler.triggers``: when schedules fire (APScheduler triggers, timezones, DST);
* ``workbench.scheduler.runtime``: :class:`Scheduler`, leader election, jobs, fires and the
  missed-runs policy (coalesce, with a grace period: read its docstring).

The ``workbench scheduler`` process (with ``/health`` on 8003) is composed outside the core, in
``launch.scheduler``.

Schedules themselves are created and changed through ``workbench.services.schedules``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.scheduler.runtime import Scheduler

__all__ = ["Scheduler", "enabled_from_env"]


def enabled_from_env(env: dict[str, str] | None = None) -> bool:
    """Whether an API process runs a scheduler too: ``WORKBENCH_SCHEDULER`` (default on; ``off``,
    ``0``, ``false`` or ``no`` for API replicas when dedicated ``workbench scheduler`` processes run).
    Running several is safe: only the elected leader fires."""
    raw = (os.environ if env is None else env).get("WORKBENCH_SCHEDULER", "on")
    return raw.strip().lower() not in ("off", "0", "false", "no")


def __getattr__(name: str) -> Any:
    if name == "Scheduler":  # imported lazily: the service imports the triggers, the runtime the service
        from workbench.scheduler.runtime import Scheduler

        return Scheduler
    raise AttributeError(name)
