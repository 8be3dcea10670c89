"""What a notification says: the :class:`Notification` value, and its rendering from the templates in
``workbench/notify/templates/`` (a text and an HTML template per kind).

Each kind has a builder with the fields it needs (:func:`run_failed`, :func:`password_reset`...).
Templates are ours; the values are users' (agent names, node errors), so the HTML environment
autoescapes everything and both environments are Jinja's sandbox. A text template declares the
notification's title with ``{% set title %}...{% endset %}``; the HTML one gets it as ``title``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workbench.errors import InputError

ELLIPSIS = "…"
MAX_TITLE = 200
"""Longest title, in characters (a mail subject, a chat heading)."""
MAX_ERROR = 10_000
"""Longest node error a notification carries (the templates show less)."""


class EventKind(StrEnum):
    """What a notification is about."""

    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    SCHEDULE_MISSED = "schedule_missed"
    SCHEDULE_FAILING = "schedule_failing"
    REVIEW_REQUESTED = "review_requested"
    SUMMARY = "summary"
    PASSWORD_RESET = "password_reset"
    VERIFY_EMAIL = "verify_email"
    SIGNUP_NOTICE = "signup_notice"
    CUSTOM = "custom"


ACCOUNT_KINDS = frozenset({EventKind.PASSWORD_RESET, EventKind.VERIFY_EMAIL})
"""Kinds that carry a secret for one address (a one-time link or token): they go by email only."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification, ready for any channel.

    Attributes:
        kind: what it is about.
        title: one line (a mail's subject, a chat message's heading).
        text: the plain-text body.
        html: the HTML body (escaped user content), or None for text only.
        data: the structured facts (run id, agent, error...), JSON-compatible: a webhook's payload.
        dedupe_key: the same for two notifications about the same thing (a run's failure), so a
            notifier sends it once.
        created_at: when it was made (UTC).
    """

    kind: EventKind
    title: str
    text: str
    html: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    dedupe_key: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))
        title = " ".join(self.title.split()) or self.kind.value.replace("_", " ")
        object.__setattr__(self, "title", clip(title, MAX_TITLE))
        if not self.dedupe_key:
            object.__setattr__(self, "dedupe_key", f"{self.kind.value}:{uuid.uuid4().hex}")


@dataclass(frozen=True, slots=True)
class AgentSummary:
    """One agent's line in a summary."""

    name: str
    runs: int
    failures: int
    tokens: int = 0
    cost: float = 0.0


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending with an ellipsis when cut."""
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def _oneline(value: object) -> str:
    return " ".join(str(value).split())


def format_number(value: float) -> str:
    """``1,234`` for a whole number, ``1,234.50`` otherwise."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def format_money(value: float) -> str:
    """US dollars: ``$1.50``, or four decimals below a cent (``$0.0040``)."""
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def format_duration(seconds: float) -> str:
    """``4.2 s``, ``3 min 5 s`` or ``2 h 10 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def format_when(value: datetime) -> str:
    """``2025-01-31 12:00 UTC`` (a naive time is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _environment(html: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=PackageLoader("workbench.notify", "templates"),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        clip=lambda value, limit: clip(str(value), limit),
        oneline=_oneline,
        number=format_number,
        money=format_money,
        duration=format_duration,
        when=format_when,
    )
    return env


@cache
def _environments() -> tuple[ImmutableSandboxedEnvironment, ImmutableSandboxedEnvironment]:
    return _environment(html=False), _environment(html=True)


def render(kind: EventKind, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """The title, text and HTML of ``kind`` for ``context`` (its templates' values)."""
    text_env, html_env = _environments()
    module = text_env.get_template(f"{kind.value}.txt").make_module(dict(context))
    title = " ".join(str(getattr(module, "title", kind.value)).split())
    text = str(module).strip() + "\n"
    html = html_env.get_template(f"{kind.value}.html").render({**context, "title": title})
    return title, text, html


def _notification(kind: EventKind, context: dict[str, Any], dedupe_key: str) -> Notification:
    title, text, html = render(kind, context)
    data = {k: _jsonable(v) for k, v in context.items()}
    return Notification(kind, title, text, html, data, dedupe_key)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, AgentSummary):
        return asdict(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _web_url(url: str | None, name: str) -> str | None:
    """``url`` when it is an http(s) URL (it becomes a link), else InputError naming ``name``."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{name} must be an http:// or https:// URL")
    return url


def run_completed(
    *,
    agent_name: str,
    run_id: str,
    run_url: str | None = None,
    duration: float | None = None,
    tokens: int | None = None,
    cost: float | None = None,
) -> Notification:
    """A run completed; ``duration`` in seconds, ``cost`` in US dollars."""
    context = {
        "agent_name": agent_name,
        "run_id": run_id,
        "run_url": _web_url(run_url, "run_url"),
        "duration": duration,
        "tokens": tokens,
        "cost": cost,
    }
    return _notification(EventKind.RUN_COMPLETED, context, f"run_completed:{run_id}")


def run_failed(
    *, agent_name: str, run_id: str, node: str, error: str, run_url: str | None = None
) -> Notification:
    """A run failed at ``node`` (its name or id) with ``error``."""
    context = {
        "agent_name": agent_name,
        "run_id": run_id,
        "node": node,
        "error": clip(error, MAX_ERROR),
        "run_url": _web_url(run_url, "run_url"),
    }
    return _notification(EventKind.RUN_FAILED, context, f"run_failed:{run_id}")


def schedule_missed(
    *, agent_name: str, schedule_id: str, missed_at: datetime, reason: str | None = None
) -> Notification:
    """A schedule did not fire at ``missed_at``."""
    context = {"agent_name": agent_name, "schedule_id": schedule_id, "missed_at": missed_at, "reason": reason}
    key = f"schedule_missed:{schedule_id}:{_jsonable(missed_at)}"
    return _notification(EventKind.SCHEDULE_MISSED, context, key)


def schedule_failing(
    *, agent_name: str, schedule_id: str, failures: int, error: str, url: str | None = None, since: str = ""
) -> Notification:
    """A schedule's runs failed ``failures`` times in a row, the last with ``error``; ``since`` (the
    first failure of the streak) makes the dedupe key: one notice per streak."""
    context = {
        "agent_name": agent_name,
        "schedule_id": schedule_id,
        "failures": failures,
        "error": clip(error, MAX_ERROR),
        "url": _web_url(url, "url"),
    }
    return _notification(EventKind.SCHEDULE_FAILING, context, f"schedule_failing:{schedule_id}:{since}")


def review_requested(
    *, agent_name: str, run_id: str, review_id: str, name: str, link: str | None = None
) -> Notification:
    """A run waits for a person's review (``name``: what is to be reviewed); ``link``: a signed page
    that answers it."""
    context = {
        "agent_name": agent_name,
        "run_id": run_id,
        "review_id": review_id,
        "name": name,
        "link": _web_url(link, "link"),
    }
    return _notification(EventKind.REVIEW_REQUESTED, context, f"review_requested:{review_id}")


def _web_url_or_path(url: str | None, name: str) -> str | None:
    """``url`` when it is an http(s) URL or an absolute path (``/api/v1/...``), else InputError."""
    if url is None or (url.startswith("/") and not url.startswith("//") and url.isprintable()):
        return url
    return _web_url(url, name)


def _one_time(link: str | None, token: str | None) -> str:
    """The secret of an account mail (its link, else its token); InputError when it has neither."""
    secret = link or token
    if not secret:
        raise InputError("an account mail needs its link or its token")
    return secret


def password_reset(
    *,
    link: str | None = None,
    token: str | None = None,
    confirm_url: str | None = None,
    expires_in_minutes: int = 60,
    name: str | None = None,
) -> Notification:
    """A password reset mail (email only: it carries a secret): the one-time ``link`` of a page that
    completes the reset, or, without such a page, the one-time ``token`` and ``confirm_url`` (an
    http(s) URL or a path), where it is sent with the new password."""
    secret = _one_time(link, token)
    context = {
        "link": _web_url(link, "link"),
        "token": token,
        "confirm_url": _web_url_or_path(confirm_url, "confirm_url"),
        "expires_in_minutes": expires_in_minutes,
        "name": name,
    }
    return _notification(EventKind.PASSWORD_RESET, context, f"password_reset:{_digest(secret)}")


def verify_email(
    *,
    link: str | None = None,
    token: str | None = None,
    confirm_url: str | None = None,
    name: str | None = None,
) -> Notification:
    """An email verification mail (email only): its one-time ``link``, or its ``token`` and the
    ``confirm_url`` it is sent to (as :func:`password_reset`)."""
    secret = _one_time(link, token)
    context = {
        "link": _web_url(link, "link"),
        "token": token,
        "confirm_url": _web_url_or_path(confirm_url, "confirm_url"),
        "name": name,
    }
    return _notification(EventKind.VERIFY_EMAIL, context, f"verify_email:{_digest(secret)}")


def signup_notice(*, name: str | None = None, reset_url: str | None = None) -> Notification:
    """Someone tried to sign up with the address of an existing account (``name``: its owner's);
    ``reset_url`` (an http(s) URL or a path) is where a password reset is asked for."""
    context = {"name": name, "reset_url": _web_url_or_path(reset_url, "reset_url")}
    return _notification(EventKind.SIGNUP_NOTICE, context, "")  # a fresh key: each notice is news


def summary(
    *,
    period: Literal["daily", "weekly"],
    start: datetime,
    end: datetime,
    runs: int,
    failures: int,
    tokens: int,
    cost: float,
    agents: Sequence[AgentSummary] = (),
    url: str | None = None,
    recipient: str = "",
) -> Notification:
    """A daily or weekly summary: runs, failures, tokens and cost (US dollars), in all and per agent.

    ``recipient`` (a user id) goes into the dedupe key: one summary per user and period.
    """
    if period not in ("daily", "weekly"):
        raise InputError(f"period must be 'daily' or 'weekly', got {period!r}")
    context = {
        "period": period,
        "start": start,
        "end": end,
        "runs": runs,
        "failures": failures,
        "tokens": tokens,
        "cost": cost,
        "agents": list(agents),
        "url": _web_url(url, "url"),
    }
    key = f"summary:{period}:{recipient}:{_jsonable(start)}"
    return _notification(EventKind.SUMMARY, context, key)


def custom(
    *,
    title: str,
    text: str,
    html: str | None = None,
    data: Mapping[str, Any] | None = None,
    dedupe_key: str = "",
) -> Notification:
    """A notification of the caller's own; ``html`` is sent as given (the caller escapes it)."""
    return Notification(EventKind.CUSTOM, title, text, html, dict(data or {}), dedupe_key)


def _digest(secret: str) -> str:
    """A short digest of ``secret`` for a dedupe key (which may be logged: never the secret)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]
