"""Server configuration: bind address, auth mode, CORS, limits."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Literal

from workbench.errors import ConfigError

AuthMode = Literal["none", "accounts"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _proxies(raw: str) -> tuple[str, ...]:
    """``WORKBENCH_TRUSTED_PROXIES``: addresses or networks (CIDR), or ``*``."""
    items = _list(raw)
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                "WORKBENCH_TRUSTED_PROXIES must list IP addresses or networks (e.g. 10.0.0.5,10.1.0.0/16) "
                f"or be *; got {item!r}"
            ) from None
    return items


def _rate(raw: str) -> tuple[str, int] | None:
    if raw in ("off", "0", ""):
        return None
    count, _, unit = raw.partition("/")
    if unit not in ("second", "minute", "hour", "day") or not count.isdigit() or int(count) <= 0:
        raise ConfigError(f"WORKBENCH_RATE_LIMIT must look like 100/second, 600/minute or off; got {raw!r}")
    return unit, int(count)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How the API server runs.

    Attributes:
        host, port: where to listen (``--host``, ``--port``; default 127.0.0.1:8006).
        auth: ``none`` (single local user, no login; only on loopback) or ``accounts``.
        cors_origins: allowed browser origins (``WORKBENCH_CORS_ORIGINS``, comma-separated; none by default).
        rate_limit: (unit, requests) per user and route (``WORKBENCH_RATE_LIMIT``), None for off.
        max_body_size: request body limit in bytes (``WORKBENCH_MAX_BODY_SIZE``).
        oauth: provider name -> (client id, client secret, server metadata URL or None).
        public_url: the URL browsers reach this server at (``WORKBENCH_PUBLIC_URL``; OAuth redirects,
            and its host and origin are accepted by the guard).
        allowed_hosts: extra names the ``Host`` header may carry (``WORKBENCH_ALLOWED_HOSTS``,
            comma-separated; ``*`` for any, only with accounts). Loopback names and addresses, the
            bind address and the public URL's host are always allowed; anything else is refused
            (DNS rebinding).
        trusted_proxies: peers whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed
            (``WORKBENCH_TRUSTED_PROXIES``: addresses or CIDR networks, or ``*``); none by default,
            so a client cannot choose its own address (rate limits, logs).
        metrics_token: the bearer token Prometheus sends to scrape ``/metrics``
            (``WORKBENCH_METRICS_TOKEN``). Without it ``/metrics`` answers only in the no-login mode.
    """

    host: str = "127.0.0.1"
    port: int = 8006
    auth: AuthMode = "none"
    cors_origins: tuple[str, ...] = ()
    rate_limit: tuple[str, int] | None = ("second", 100)
    max_body_size: int = 5_000_000
    oauth: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    public_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    metrics_token: str | None = field(default=None, repr=False)

    def check(self) -> ServerConfig:
        """Refuse unsafe combinations with a message that says what to change."""
        if self.auth == "none" and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without accounts: anyone on the network could use it. "
                "Use --auth accounts, or bind to 127.0.0.1."
            )
        if self.auth == "none" and "*" in self.allowed_hosts:
            raise ConfigError(
                "WORKBENCH_ALLOWED_HOSTS=* is refused without accounts: any web page could then reach "
                "this server through DNS rebinding. List the names instead, or use --auth accounts."
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be between 1 and 65535, got {self.port}")
        return self

    @property
    def base_url(self) -> str:
        """The URL this server is reached at."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def link_url(self) -> str | None:
        """The root of the links this server mails (account mails): ``WORKBENCH_PUBLIC_URL``, else
        its bind address when that is one address; None when it listens on all of them (``0.0.0.0``,
        ``::``) and no public URL says which one people use."""
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.host in ("", "0.0.0.0", "::", "[::]"):
            return None
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def from_env(cls, **overrides: object) -> ServerConfig:
        """Defaults, then environment variables, then explicit overrides (command-line flags)."""
        env = os.environ
        oauth: dict[str, tuple[str, str, str | None]] = {}
        for provider in ("github", "google"):
            cid = env.get(f"WORKBENCH_OAUTH_{provider.upper()}_CLIENT_ID")
            secret = env.get(f"WORKBENCH_OAUTH_{provider.upper()}_CLIENT_SECRET")
            if cid and secret:
                oauth[provider] = (cid, secret, env.get(f"WORKBENCH_OAUTH_{provider.upper()}_METADATA_URL"))
        values: dict[str, object] = {
            "auth": env.get("WORKBENCH_AUTH", "none"),
            "cors_origins": _list(env.get("WORKBENCH_CORS_ORIGINS", "")),
            "rate_limit": _rate(env.get("WORKBENCH_RATE_LIMIT", "100/second")),
            "max_body_size": int(env.get("WORKBENCH_MAX_BODY_SIZE", "5000000")),
            "oauth": oauth,
            "public_url": env.get("WORKBENCH_PUBLIC_URL") or None,
            "allowed_hosts": tuple(h.lower() for h in _list(env.get("WORKBENCH_ALLOWED_HOSTS", ""))),
            "trusted_proxies": _proxies(env.get("WORKBENCH_TRUSTED_PROXIES", "")),
            "metrics_token": env.get("WORKBENCH_METRICS_TOKEN") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).check()  # type: ignore[arg-type]
