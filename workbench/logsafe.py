"""Keeping secrets out of log lines: ``redact`` for any text, ``RedactingFilter`` for every record a
handler writes (ours and the libraries': uvicorn logs WebSocket URLs with their query string, httpx
logs request URLs, connection errors quote DSNs).

What is redacted (the shape stays, so a line still says what happened):

- query parameters that carry credentials or one-time values: ``?token=``, ``api_key``, ``key``,
  ``password``, ``secret``, ``code``, ``state``, ``signature``... -> ``?token=[REDACTED]``;
- ``name=value`` / ``"name": "value"`` pairs whose name says secret (``password``, ``*_secret``,
  ``*token``, ``api_key``, ``authorization``, ``cookie``...);
- ``Bearer ...`` credentials, and ``Authorization: <scheme> ...`` values;
- our API keys (``wbk_...``) and webhook trigger secrets (``wbh_...``), JWTs, Fernet tokens, and
  well-known vendor key shapes (``sk-...``, GitHub ``ghp_...``, Slack ``xox.-...``, AWS ``AKIA...``);
- passwords in URLs: ``postgresql://user:pass@host`` -> ``postgresql://user:[REDACTED]@host``
  (also ``amqp://``, ``redis://:pass@``).

Every process's logging set-up installs the filter (``install``): ``workbench serve`` / ``up``,
``executor`` and ``scheduler`` through :func:`workbench.logsetup.configure_logging`, and the command line.
"""

from __future__ import annotations

import logging
import re

MASK = "[REDACTED]"
"""What a secret is replaced with."""

_QUERY_NAMES = (
    r"(?:access_token|refresh_token|id_token|token|api_key|apikey|api-key|key|password|passwd|pwd|"
    r"secret|client_secret|code|code_verifier|state|nonce|signature|sig|session|auth|jwt|credential)"
)
_SECRET_NAME = (
    # The end of a name that says secret (a prefix such as ``client_`` or ``WORKBENCH_`` stays
    # outside the match, and so in place).
    r"(?:password|passwd|secret|token|api[_-]?key|apikey|private[_-]?key|authorization|cookie)"
    r"(?:[_-]key)?"
)
_NAME_TRIGGERS = ("password", "passwd", "secret", "token", "key", "authorization", "cookie")
_NOT_MASKED = r"(?!\[REDACTED\])"
_Rule = tuple[tuple[str, ...], "re.Pattern[str]", str]
_RULES: list[_Rule] = [
    # (substrings of the lowercased text without which the rule cannot match, pattern, replacement)
    # Passwords in URLs (DSNs): scheme://user:password@host
    (
        ("://",),
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s:/?#@\"'<>\\]*):([^\s/?#@\"'<>\\]+)@"),
        rf"\1\2:{MASK}@",
    ),
    # Credentials in query strings: ?token=..., &api_key=...
    (
        ("?", "&", ";"),
        re.compile(rf"(?i)([?&;]{_QUERY_NAMES}=){_NOT_MASKED}[^&#\s\"'<>\\]+"),
        rf"\1{MASK}",
    ),
    # Bearer credentials anywhere (``Authorization: Basic ...`` is a name=value pair below).
    (("bearer",), re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{16,}"), rf"\1\2{MASK}"),
    # Our API keys, JWTs, Fernet tokens, vendor keys (wherever they appear).
    (("wbk_",), re.compile(r"\bwbk_[A-Za-z0-9_-]{6,}"), f"wbk_{MASK}"),
    (("wbh_",), re.compile(r"\bwbh_[A-Za-z0-9_-]{6,}"), f"wbh_{MASK}"),
    (("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),
    (("gaaaaa",), re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"), MASK),
    (("sk-",), re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"), f"sk-{MASK}"),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MASK),
    (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),
    (("akia",), re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MASK),
    # ('name', 'value') pairs: headers as lists of tuples
    (
        _NAME_TRIGGERS,
        re.compile(rf"(?i)({_SECRET_NAME}[\"'],\s*b?)([\"'])(.*?)(?<!\\)\2"),
        rf"\1\2{MASK}\2",
    ),
    # name="quoted value" / name: 'quoted value' (a value with spaces: "correct horse battery")
    (
        _NAME_TRIGGERS,
        re.compile(rf"(?i)({_SECRET_NAME}[\"']?\s*[:=]\s*b?)([\"'])(.*?)(?<!\\)\2"),
        rf"\1\2{MASK}\2",
    ),
    # name=value / name: value (unquoted; stops at separators, quotes and backslashes)
    (
        _NAME_TRIGGERS,
        re.compile(
            rf"(?i)({_SECRET_NAME}[\"']?\s*[:=]\s*)(?![\"'\s]){_NOT_MASKED}"
            r"((?:(?:bearer|basic|digest|token)\s+)?[^\s\"',;&}\])\\]+)"
        ),
        rf"\1{MASK}",
    ),
]


_ANY_TRIGGER = re.compile("|".join(sorted({re.escape(t) for triggers, _, _ in _RULES for t in triggers})))


def redact(text: str) -> str:
    """``text`` with every secret of a known shape replaced by ``[REDACTED]``."""
    lowered = text.lower()
    if _ANY_TRIGGER.search(lowered) is None:  # most lines: one scan, nothing to do
        return text
    for triggers, pattern, replacement in _RULES:
        if any(t in lowered for t in triggers):
            text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts each record's message (with its arguments merged in), exception and stack text.

    Attach it to handlers (``install``), not loggers: a handler sees every record that reaches it,
    including those propagated from library loggers, which a logger's filter never sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(*handlers: logging.Handler) -> None:
    """Add the redacting filter to ``handlers`` (default: the root logger's), once each."""
    for handler in handlers or tuple(logging.getLogger().handlers):
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
