"""The logging set-up of the long-running processes (``workbench serve`` / ``up``, ``executor``,
``scheduler``): JSON lines on stderr for every logger, secrets redacted (:mod:`workbench.logsafe`).

The command line keeps Python's plain text format; a process that serves calls
:func:`configure_logging` once, before anything logs.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping
from typing import Any, ClassVar

from workbench import logsafe
from workbench.errors import ConfigError
from workbench.telemetry.context import CURRENT_EXECUTION, CURRENT_NODE


def log_handler(env: Mapping[str, str]) -> logging.Handler:
    """Where log lines go: stderr, or the rotating file ``WORKBENCH_LOG_FILE`` names."""
    path = (env.get("WORKBENCH_LOG_FILE") or "").strip()
    if not path:
        return logging.StreamHandler(sys.stderr)
    try:
        size = int(env.get("WORKBENCH_LOG_MAX_BYTES", "10000000"))
        backups = int(env.get("WORKBENCH_LOG_BACKUPS", "5"))
    except ValueError:
        raise ConfigError("WORKBENCH_LOG_MAX_BYTES and WORKBENCH_LOG_BACKUPS must be whole numbers") from None
    if size < 1024 or backups < 0:
        raise ConfigError(
            "WORKBENCH_LOG_MAX_BYTES must be at least 1024 and WORKBENCH_LOG_BACKUPS at least 0"
        )
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        return logging.handlers.RotatingFileHandler(
            path, maxBytes=size, backupCount=backups, encoding="utf-8"
        )
    except OSError as exc:
        raise ConfigError(f"WORKBENCH_LOG_FILE: cannot write {path}: {exc.strerror or exc}") from None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the known extra fields a
    record carries (``extra={"path": ...}``), ``exc`` and ``stack``. Every text is redacted here too,
    so a record that no :class:`~workbench.logsafe.RedactingFilter` saw still hides its secrets.

    Subclasses add what they know about the current moment by overriding :meth:`context` (the API
    server: the id of the request being served)."""

    FIELDS: ClassVar[tuple[str, ...]] = ("request_id", "method", "path", "status", "duration_ms", "user_id")
    """Extra record attributes copied into the line when present."""

    def context(self) -> Mapping[str, Any]:
        """Fields of the current context, added when the record does not carry them itself: the
        execution and node being run in this task (subclasses add theirs, calling this)."""
        doc: dict[str, Any] = {}
        execution = CURRENT_EXECUTION.get()
        if execution is not None:
            doc["execution_id"] = execution
            node = CURRENT_NODE.get()
            if node is not None:
                doc["node_id"] = node
        return doc

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": logsafe.redact(record.getMessage()),
        }
        for key in self.FIELDS:
            if hasattr(record, key):
                value = getattr(record, key)
                doc[key] = logsafe.redact(value) if isinstance(value, str) else value
        for key, value in self.context().items():
            doc.setdefault(key, value)
        if record.exc_info or record.exc_text:
            doc["exc"] = logsafe.redact(record.exc_text or self.formatException(record.exc_info))  # type: ignore[arg-type]
        if record.stack_info:
            doc["stack"] = logsafe.redact(record.stack_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str, formatter: logging.Formatter | None = None) -> logging.Handler:
    """Send every logger's records at ``level`` and above through one handler: JSON lines
    (``formatter``, default :class:`JsonFormatter`) with the redacting filter installed, to stderr,
    or with ``WORKBENCH_LOG_FILE`` to that file, rotated at ``WORKBENCH_LOG_MAX_BYTES`` (10 MB)
    keeping ``WORKBENCH_LOG_BACKUPS`` old files (5).

    Replaces the root logger's handlers, so calling it again does not duplicate lines. Returns the
    handler."""
    handler = log_handler(os.environ)
    handler.setFormatter(formatter or JsonFormatter())
    logsafe.install(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return handler
