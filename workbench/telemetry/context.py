"""The execution and node a task works for, so that every log line written meanwhile names them
(``workbench.logsetup.JsonFormatter`` adds ``execution_id`` and ``node_id``)."""

from __future__ import annotations

import contextvars

CURRENT_EXECUTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("execution_id", default=None)
CURRENT_NODE: contextvars.ContextVar[str | None] = contextvars.ContextVar("node_id", default=None)
