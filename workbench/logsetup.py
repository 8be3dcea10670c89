"""The logging set-up of the long-running processes (``workbench serve`` / ``up``, ``executor``,
``scheduler``): JSON lines on stderr for every logger, secrets redacted (:mod:`workbench.logsafe`).

The command line keeps Python's plain text format; a process that serves calls
:func:`configure_logging` once, before anything logs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any, ClassVar

from workbench import logsafe


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the known extra fields a
    record carries (``extra={"path": ...}``), ``exc`` and ``stack``. Every text is redacted here too,
    so a record that no :class:`~workbench.logsafe.RedactingFilter` saw still hides its secrets.

    Subclasses add what they know about the current moment by overriding :meth:`context` (the API
    server: the id of the request being served)."""

    FIELDS: ClassVar[tuple[str, ...]] = ("request_id", "method", "path", "status", "duration_ms", "user_id")
    """Extra record attributes copied into the line when present."""

    def context(self) -> Mapping[str, Any]:
        """Fields of the current context, added when the record does not carry them itself."""
        return {}

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
    """Send every logger's records at ``level`` and above to stderr through one handler: JSON lines
    (``formatter``, default :class:`JsonFormatter`) with the redacting filter installed.

    Replaces the root logger's handlers, so calling it again does not duplicate lines. Returns the
    handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter or JsonFormatter())
    logsafe.install(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return handler
