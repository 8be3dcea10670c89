"""Notifications as mail, through the SMTP server of ``WORKBENCH_SMTP_URL`` (with ``aiosmtplib``).

A message is multipart: the text body, and the HTML body as its alternative when the notification
has one. The server is the operator's (set in the environment), so it is not behind the outbound
guard. TLS certificates are checked against the system's store (``SSL_CERT_FILE`` adds a private
CA), or a context the caller passes.

One ``send`` is one attempt, bounded in time; it is not repeated here (a notifier retries later, by
the report's ``retryable``). Failures are classified:

- retryable: the server cannot be reached, refuses the connection, drops it or times out; a
  4xx reply (greylisting, a full mailbox for now, too many connections);
- permanent: a 5xx reply (a failed login, a refused sender or recipient); a server without
  STARTTLS when it is required, or without AUTH; a certificate that does not verify; a recipient
  that is not one valid address.

The password never appears in a message, a report or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

import aiosmtplib

from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.notify.channel import ChannelName, Target
from workbench.notify.message import Notification
from workbench.notify.report import AttemptClock, DeliveryReport
from workbench.notify.smtp_config import SMTP_URL_SETTING, SmtpConfig, check_mail_from

log = logging.getLogger("workbench.notify.email")

SMTP_OK = 250
"""The reply to an accepted message (RFC 5321 4.2.2)."""
_START_TLS: dict[str, bool | None] = {"require": True, "auto": None, "off": False}
"""``aiosmtplib``'s ``start_tls`` for each ``starttls`` option (None: when the server offers it)."""


def recipient_address(raw: str) -> str | None:
    """The one address ``raw`` names (``ada@example.com`` or ``Ada <ada@example.com>``), or None."""
    if "\r" in raw or "\n" in raw:
        return None
    found = getaddresses([raw.strip()])
    if len(found) != 1:
        return None
    address = found[0][1]
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(c.isspace() for c in address):
        return None
    return address


def build_message(notification: Notification, *, to: str, mail_from: str) -> EmailMessage:
    """The mail for ``notification``: text, plus its HTML as the alternative when it has one."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to
    message["Subject"] = notification.title
    message["Date"] = format_datetime(notification.created_at)
    domain = (recipient_address(mail_from) or "workbench.invalid").rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message["X-Workbench-Event"] = notification.kind.value
    message.set_content(notification.text)
    if notification.html is not None:
        message.add_alternative(notification.html, subtype="html")
    return message


def classify(exc: BaseException) -> tuple[int | None, str, bool]:
    """``(SMTP reply code or None, what happened, retryable)`` for a failed send."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return (
            (codes[0] if codes else None),
            f"recipient refused ({detail})",
            bool(codes) and all(400 <= c < 500 for c in codes),
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        what = {
            aiosmtplib.SMTPAuthenticationError: "login refused",
            aiosmtplib.SMTPSenderRefused: "sender refused",
            aiosmtplib.SMTPRecipientRefused: "recipient refused",
            aiosmtplib.SMTPDataError: "message refused",
        }.get(type(exc), "the server answered")
        code = exc.code if exc.code > 0 else None
        return code, f"{what}: {exc.code} {exc.message}", code is not None and 400 <= code < 500
    if _certificate_problem(exc):
        return None, f"the server's TLS certificate does not verify: {exc}", False
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return None, f"the server does not support what is needed: {exc}", False
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return None, f"timed out: {exc or 'no answer'}", True
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return None, f"cannot reach the server: {exc}", True
    # Other SMTPException: a missing extension (STARTTLS when required, AUTH): configuration.
    return None, str(exc) or type(exc).__name__, False


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class SmtpMailer:
    """The ``email`` channel: one SMTP server, one sender address."""

    def __init__(
        self,
        config: SmtpConfig,
        mail_from: str,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """``tls_context`` replaces the default certificate checks (a private CA; tests)."""
        self.config = config
        self.mail_from = check_mail_from(mail_from)
        self.tls_context = tls_context
        self._envelope_sender = recipient_address(self.mail_from)

    @property
    def name(self) -> ChannelName:
        """The channel: ``email``."""
        return ChannelName.EMAIL

    @classmethod
    def from_settings(cls, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> SmtpMailer:
        """The mailer ``WORKBENCH_SMTP_URL`` and ``WORKBENCH_MAIL_FROM`` describe; ConfigError when unset."""
        if settings.smtp_url is None or settings.mail_from is None:
            raise ConfigError(f"{SMTP_URL_SETTING} is not set: mail cannot be sent")
        return cls(SmtpConfig.from_url(settings.smtp_url), settings.mail_from, tls_context=tls_context)

    async def send(self, target: Target, notification: Notification) -> DeliveryReport:
        """Send ``notification`` to the address ``target.address``: one attempt, classified."""
        delivery_id = target.delivery_id or uuid.uuid4().hex
        to = recipient_address(target.address)
        if to is None:
            return DeliveryReport(
                self.name, "(an invalid address)", delivery_id, error="the recipient is not one email address"
            )
        message = build_message(notification, to=target.address.strip(), mail_from=self.mail_from)
        config = self.config
        clock = AttemptClock(1)
        try:
            async with asyncio.timeout(config.timeout * 4):  # each step has its own limit too
                await aiosmtplib.send(
                    message,
                    sender=self._envelope_sender,
                    recipients=[to],
                    hostname=config.host,
                    port=config.port,
                    username=config.username,
                    password=config.password,
                    use_tls=config.implicit_tls,
                    start_tls=_START_TLS[config.starttls],
                    timeout=config.timeout,
                    tls_context=self.tls_context,
                )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            status, error, retryable = classify(exc)
            error = f"{self.config.describe()}: {error}"
            log.warning(
                "%s mail not sent (%s): %s",
                notification.kind.value,
                "retryable" if retryable else "permanent",
                error,
            )
            attempt = clock.done(status=status, error=error, retryable=retryable)
            return DeliveryReport(self.name, to, delivery_id, (attempt,), False, retryable, error)
        log.info("%s mail sent through %s", notification.kind.value, self.config.describe())
        attempt = clock.done(status=SMTP_OK)
        return DeliveryReport(self.name, to, delivery_id, (attempt,), delivered=True)
