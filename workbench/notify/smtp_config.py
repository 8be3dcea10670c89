"""The mail server and sender address, from ``WORKBENCH_SMTP_URL`` and ``WORKBENCH_MAIL_FROM``.

One URL says everything about the server::

    smtp://user:pass@host:587             STARTTLS, required (credentials never go in clear)
    smtp://user:pass@host:587?starttls=off   no TLS at all (a relay on loopback, tests)
    smtps://user:pass@host:465            implicit TLS (TLS from the first byte)
    smtp://host:25                        no authentication; STARTTLS when the server offers it

User and password are percent-encoded (``p%40ss`` for ``p@ss``). Query options: ``starttls``
(``require``, ``auto``: when offered, ``off``; ``smtp://`` only) and ``timeout`` (seconds per SMTP
operation, 30 by default). The default port is 25 for ``smtp://`` and 465 for ``smtps://``.

This module imports nothing of the platform but its errors: :mod:`workbench.config` uses it to
check the settings at start-up. No message it makes contains the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from workbench.errors import ConfigError

StartTls = Literal["require", "auto", "off"]
SMTP_URL_SETTING = "WORKBENCH_SMTP_URL"
MAIL_FROM_SETTING = "WORKBENCH_MAIL_FROM"
DEFAULT_TIMEOUT = 30.0
_PORTS = {"smtp": 25, "smtps": 465}
_STARTTLS: tuple[StartTls, ...] = ("require", "auto", "off")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to deliver mail.

    Attributes:
        host: the server's name or address.
        port: its port.
        username: the login (None: no authentication).
        password: the login's password (never in ``repr``).
        implicit_tls: ``smtps://``: TLS from the first byte.
        starttls: for ``smtp://``: ``require`` the upgrade, use it when offered (``auto``) or not (``off``).
        timeout: seconds each SMTP operation (connect, a command, the data) may take.
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: StartTls = "auto"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_url(cls, url: str, setting: str = SMTP_URL_SETTING) -> SmtpConfig:
        """Parse an ``smtp://`` or ``smtps://`` URL; ConfigError naming ``setting`` when it is bad."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{setting} is not a valid URL: {_no_secret(str(exc), url)}") from exc
        scheme = parts.scheme.lower()
        if scheme not in _PORTS:
            raise ConfigError(
                f"{setting} must start with smtp:// or smtps://, got scheme {scheme or 'none'!r}"
            )
        if not parts.hostname:
            raise ConfigError(f"{setting} names no host (smtp://user:password@host:587)")
        if parts.path not in ("", "/"):
            raise ConfigError(f"{setting} takes no path, got {parts.path!r}")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if password is not None and not username:
            raise ConfigError(f"{setting} has a password but no user name")
        options = _options(parts.query, setting)
        implicit = scheme == "smtps"
        starttls = options.get("starttls")
        if starttls is not None and implicit:
            raise ConfigError(f"{setting}: starttls applies to smtp:// only (smtps:// is TLS throughout)")
        if starttls is not None and starttls not in _STARTTLS:
            raise ConfigError(f"{setting}: starttls must be one of {', '.join(_STARTTLS)}, got {starttls!r}")
        default: StartTls = "require" if username else "auto"
        return cls(
            host=parts.hostname,
            port=port if port is not None else _PORTS[scheme],
            username=username,
            password=password,
            implicit_tls=implicit,
            starttls="off" if implicit else (starttls or default),  # type: ignore[arg-type]
            timeout=_timeout(options.get("timeout"), setting),
        )

    def describe(self) -> str:
        """The server as a URL without the password, for messages and logs."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{user}{host}:{self.port}"


def _options(query: str, setting: str) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigError(f"{setting} has a malformed query string") from exc
    unknown = sorted(set(parsed) - {"starttls", "timeout"})
    if unknown:
        raise ConfigError(f"{setting}: unknown option(s) {', '.join(unknown)} (known: starttls, timeout)")
    return {name: values[-1].strip().lower() for name, values in parsed.items()}


def _timeout(raw: str | None, setting: str) -> float:
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{setting}: timeout must be a number of seconds, got {raw!r}") from exc
    if not 0 < value <= 600:
        raise ConfigError(f"{setting}: timeout must be between 0 and 600 seconds, got {raw!r}")
    return value


def _no_secret(message: str, url: str) -> str:
    """``message`` without the URL's password (a parse error may quote part of the URL)."""
    _, _, rest = url.partition("://")
    userinfo = rest.split("@", 1)[0] if "@" in rest else ""
    _, colon, password = userinfo.partition(":")
    return message.replace(password, "[REDACTED]") if colon and password else message


def check_mail_from(raw: str, setting: str = MAIL_FROM_SETTING) -> str:
    """``raw`` when it is one sender address (``bot@example.com`` or ``Name <bot@example.com>``),
    else ConfigError naming ``setting``."""
    value = raw.strip()
    if "\r" in value or "\n" in value:
        raise ConfigError(f"{setting} must be one line")
    found = getaddresses([value]) if value else []
    address = found[0][1] if len(found) == 1 else ""
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(c.isspace() for c in address):
        raise ConfigError(
            f"{setting} must be one email address such as 'Agent Workbench <bot@example.com>', got {raw!r}"
        )
    return value
