"""Account mails (password reset, email verification, the sign-up notice) and the mailers that send
them, chosen from the settings by :func:`account_mailer`:

- :class:`SmtpAccountMailer` (``WORKBENCH_SMTP_URL``): the notify templates, sent through
  :class:`~workbench.notify.email.SmtpMailer` in the background; a retryable failure (the server
  cannot be reached, a 4xx reply) is tried again up to ``MAIL_RETRY.attempts`` times in all, with
  growing waits; a permanent one (a 5xx reply, a refused login) is logged and dropped;
- :class:`MailLog` (``WORKBENCH_DEV_MAIL_LOG``): each mail appended to a file as a JSON line
  ``{"ts", "kind", "to", "token"}`` (development and tests);
- both at once (:class:`Mailers`), or, with neither, :class:`NoMail`: nothing is sent (a warning
  says so once per process, then each unsent mail is logged at info level).

:meth:`AccountMailer.deliver` never waits on a mail server and never raises for a failed
delivery, so an HTTP answer neither waits on SMTP nor changes with the outcome (no account oracle).
Log lines name the mail's kind and user id, never the token, a link with it, or the SMTP password.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol
from urllib.parse import quote

from workbench.config import Settings
from workbench.notify.channel import Target
from workbench.notify.email import SmtpMailer
from workbench.notify.http_delivery import RetryPolicy
from workbench.notify.message import Notification, password_reset, signup_notice, verify_email

log = logging.getLogger(__name__)

MAIL_LOG_ENV = "WORKBENCH_DEV_MAIL_LOG"
"""Development and test hook: a file path; every account mail is appended to it as a JSON line."""
MailKind = Literal["reset", "verify", "signup_notice"]
RESET_REQUEST_PATH = "/api/v1/auth/password-reset"
RESET_CONFIRM_PATH = "/api/v1/auth/password-reset/confirm"
VERIFY_PATH = "/api/v1/auth/verify-email"
RESET_PAGE_PATH = "/reset-password"
"""The page of the API server that completes a reset (``server/account_pages.py``)."""
VERIFY_PAGE_PATH = "/verify-email"
"""The page of the API server that confirms an address."""
MAIL_RETRY = RetryPolicy(attempts=4, backoff=2.0, multiplier=3.0, max_backoff=60.0, jitter=0.1)
"""Up to 4 attempts of one account mail, waiting about 2 s, 6 s and 18 s between them (each
attempt is bounded by the ``timeout`` of ``WORKBENCH_SMTP_URL``; ``RetryPolicy.timeout`` is unused)."""
MAX_PENDING = 1000
"""Account mails being sent (or waiting for a retry) at once in a process; more are dropped."""
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AccountMail:
    """One account mail to send.

    Attributes:
        kind: ``reset``, ``verify`` or ``signup_notice``.
        to: the account's address.
        user_id: the account (what log lines name instead of the address or the token).
        token: the one-time token (``reset``, ``verify``; never in ``repr``).
        name: the account's display name, for the greeting.
        valid_for: how long the token works.
    """

    kind: MailKind
    to: str
    user_id: str
    token: str | None = field(default=None, repr=False)
    name: str | None = None
    valid_for: timedelta | None = None


class AccountMailer(Protocol):
    """Sends (or records) account mails."""

    async def deliver(self, mail: AccountMail) -> None:
        """Hand ``mail`` over: quick local work only (sending happens in the background); never
        raises for a failed delivery."""
        ...

    async def drain(self) -> None:
        """Wait until the mails handed over so far are sent or given up (shutdown, tests)."""
        ...


def _append_line(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


class MailLog:
    """``WORKBENCH_DEV_MAIL_LOG``: appends each mail as a JSON line ``{"ts", "kind", "to", "token"}``.

    The file holds live one-time tokens in plain text: never set it in production."""

    def __init__(self, path: str) -> None:
        self.path = path
        log.warning("%s is set: one-time tokens are written in plain text to %s", MAIL_LOG_ENV, path)

    async def deliver(self, mail: AccountMail) -> None:
        """Append the line (a failure to write is logged: a development aid must not break sign-up)."""
        line = json.dumps(
            {"ts": round(time.time(), 3), "kind": mail.kind, "to": mail.to, "token": mail.token}
        )
        try:
            await asyncio.to_thread(_append_line, self.path, line)
        except OSError as exc:
            log.warning("cannot append to %s %s: %s", MAIL_LOG_ENV, self.path, exc)

    async def drain(self) -> None:
        """Nothing runs in the background."""


class NoMail:
    """No mail server and no mail log: nothing is sent (a warning once, then info lines)."""

    def __init__(self) -> None:
        self._warned = False

    async def deliver(self, mail: AccountMail) -> None:
        """Log that ``mail`` is not sent."""
        if not self._warned:
            self._warned = True
            log.warning(
                "account mails are not sent: no mail server is configured (set WORKBENCH_SMTP_URL and "
                "WORKBENCH_MAIL_FROM); a %s mail to user %s was not sent",
                mail.kind,
                mail.user_id,
            )
        else:
            log.info("%s mail to user %s not sent: no mail server is configured", mail.kind, mail.user_id)

    async def drain(self) -> None:
        """Nothing runs in the background."""


class SmtpAccountMailer:
    """Account mails through SMTP: rendered from the notify templates, sent in the background,
    retryable failures tried again (``retry``), permanent ones logged and dropped.

    With ``api_url`` (the server's public root, ``https://wb.example.com``) the reset and verification
    mails link to the server's pages, the token in the link's fragment
    (``https://wb.example.com/reset-password#token=…``: never sent to a server, so in no log or
    ``Referer``; the page uses it only when the person submits). Without it (the server listens on
    every address and no ``WORKBENCH_PUBLIC_URL`` says which one people use) they carry the token and
    the API route to send it to, as a path."""

    def __init__(
        self,
        mailer: SmtpMailer,
        *,
        api_url: str | None = None,
        retry: RetryPolicy = MAIL_RETRY,
        sleep: Sleep = asyncio.sleep,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.mailer = mailer
        self.api_url = api_url.rstrip("/") if api_url else None
        self.retry = retry
        self.sleep = sleep
        self.max_pending = max_pending
        self._pending: set[asyncio.Task[None]] = set()

    def _url(self, path: str) -> str:
        return f"{self.api_url}{path}" if self.api_url else path

    def _link(self, page: str, token: str | None) -> str | None:
        """The page's link carrying ``token`` in its fragment; None without a root (no page to name)."""
        if not self.api_url or not token:
            return None
        return f"{self.api_url}{page}#token={quote(token, safe='')}"

    def notification(self, mail: AccountMail) -> Notification:
        """What ``mail`` says, from the notify templates."""
        name = " ".join(mail.name.split()) if mail.name else None
        if mail.kind == "reset":
            minutes = int(mail.valid_for.total_seconds() // 60) if mail.valid_for else 60
            return password_reset(
                link=self._link(RESET_PAGE_PATH, mail.token),
                token=mail.token,
                confirm_url=self._url(RESET_CONFIRM_PATH),
                expires_in_minutes=minutes,
                name=name,
            )
        if mail.kind == "verify":
            return verify_email(
                link=self._link(VERIFY_PAGE_PATH, mail.token),
                token=mail.token,
                confirm_url=self._url(VERIFY_PATH),
                name=name,
            )
        return signup_notice(name=name, reset_url=self._url(RESET_REQUEST_PATH))

    async def deliver(self, mail: AccountMail) -> None:
        """Render ``mail`` and start sending it in the background (dropped, with a warning, when
        ``max_pending`` mails are in progress already)."""
        if len(self._pending) >= self.max_pending:
            log.warning(
                "%s mail to user %s dropped: %d account mails are being sent already",
                mail.kind,
                mail.user_id,
                self.max_pending,
            )
            return
        try:
            notification = self.notification(mail)
        except Exception as exc:  # a bug: the answer must not change, the token must not be logged
            log.error("%s mail to user %s not rendered: %s", mail.kind, mail.user_id, type(exc).__name__)
            return
        task = asyncio.get_running_loop().create_task(self._send(mail, notification))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, mail: AccountMail, notification: Notification) -> None:
        target = Target(mail.to)
        attempts = max(1, self.retry.attempts)
        for attempt in range(1, attempts + 1):
            try:
                report = await self.mailer.send(target, notification)
            except Exception as exc:  # a bug, not a delivery failure: never retried
                log.error("%s mail to user %s failed: %s", mail.kind, mail.user_id, type(exc).__name__)
                return
            if report.delivered:
                log.info("%s mail to user %s sent (attempt %d)", mail.kind, mail.user_id, attempt)
                return
            if not report.retryable:
                log.warning(
                    "%s mail to user %s dropped: permanent failure: %s", mail.kind, mail.user_id, report.error
                )
                return
            if attempt == attempts:
                log.warning(
                    "%s mail to user %s dropped after %d attempts: %s",
                    mail.kind,
                    mail.user_id,
                    attempts,
                    report.error,
                )
                return
            wait = self.retry.wait(attempt)
            log.info(
                "%s mail to user %s: attempt %d failed, trying again in %.1f s",
                mail.kind,
                mail.user_id,
                attempt,
                wait,
            )
            await self.sleep(wait)

    async def drain(self) -> None:
        """Wait for the mails being sent, their retries included (cancelled with this call)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


class Mailers:
    """Several mailers, each given every mail in turn (the mail log, then SMTP)."""

    def __init__(self, mailers: Sequence[AccountMailer]) -> None:
        self.mailers = tuple(mailers)

    async def deliver(self, mail: AccountMail) -> None:
        """Hand ``mail`` to each mailer."""
        for mailer in self.mailers:
            await mailer.deliver(mail)

    async def drain(self) -> None:
        """Drain each mailer."""
        for mailer in self.mailers:
            await mailer.drain()


def account_mailer(
    settings: Settings | None = None,
    *,
    mail_log: str | None = None,
    api_url: str | None = None,
    tls_context: ssl.SSLContext | None = None,
    **smtp_options: Any,
) -> AccountMailer:
    """The mailer the settings ask for: SMTP when ``WORKBENCH_SMTP_URL`` is set, the mail log
    (``mail_log``, default ``WORKBENCH_DEV_MAIL_LOG``) when set, both, or :class:`NoMail`.

    ``api_url`` is the root of the links in the mails; ``tls_context`` and ``smtp_options``
    (``retry``, ``sleep``, ``max_pending``) go to :class:`SmtpAccountMailer`."""
    mailers: list[AccountMailer] = []
    path = mail_log or os.environ.get(MAIL_LOG_ENV) or None
    if path:
        mailers.append(MailLog(path))
    if settings is not None and settings.smtp_url is not None:
        smtp = SmtpMailer.from_settings(settings, tls_context=tls_context)
        mailers.append(SmtpAccountMailer(smtp, api_url=api_url, **smtp_options))
        log.info("account mails go through %s", smtp.config.describe())
    if not mailers:
        return NoMail()
    return mailers[0] if len(mailers) == 1 else Mailers(mailers)
