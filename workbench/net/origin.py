"""Which ``Host`` and ``Origin`` a browser request may carry: the pure rules behind every front door.

The API (``server.guard``) and the web front end (``workbench.ui.server``) both refuse what a foreign
web page could send, by the same rules, kept here:

- **Host**: the ``Host`` header must name this server: a loopback name or address (``localhost``,
  ``127.0.0.0/8``, ``[::1]``), the bind address, the host of the public URL, or a listed name (``*``:
  any, accounts mode only). A page on ``evil.example`` whose name was re-pointed at 127.0.0.1 (DNS
  rebinding) gets nothing.
- **Origin**: a request that changes something, and every WebSocket handshake that carries an
  ``Origin``, must come from this server's own origin (same host and port as the ``Host`` header), the
  public URL's origin, or a listed origin; ``Origin: null`` and ``Sec-Fetch-Site: cross-site`` (unless
  the origin is listed) are foreign. Clients that are not browsers send no ``Origin``.

Nothing here knows a web framework: callers pass header values and get a yes, or a reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit


def split_host(value: str) -> tuple[str, str]:
    """(host, port) of a ``Host`` header value; the host lowercased, without brackets or a
    trailing dot; the port "" when there is none."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8006
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host.rstrip("."), port
    return value.rstrip("."), ""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, no port) can only mean this machine."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def normalize_origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL or an ``Origin`` value, lowercased, default port dropped."""
    try:
        parts = urlsplit(url.strip().lower())
    except ValueError:  # e.g. "http://[::1": no origin at all, so nobody's
        return "invalid://"
    host, port = split_host(parts.netloc.rpartition("@")[2])
    if (parts.scheme, port) in (("http", "80"), ("https", "443")):
        port = ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{':' + port if port else ''}"


def _authority(origin: str) -> str:
    """``host[:port]`` of a normalised origin."""
    return origin.partition("://")[2]


def _host_authority(host_header: str) -> str:
    """``host[:port]`` of a ``Host`` header, normalised like an origin's (browsers leave the port
    out exactly when it is the default one of the page's scheme)."""
    host, port = split_host(host_header)
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


class OriginPolicy:
    """Which hosts and origins a server accepts.

    Args:
        local: no accounts (the single local user): ``*`` in ``allowed_hosts`` is then ignored.
        allowed_hosts: extra names the ``Host`` header may carry (a port given with a name is ignored).
        bind_host: the address the server listens on (accepted as a name unless it is a wildcard).
        cors_origins: origins whose pages may call this server.
        public_url: the URL browsers reach this server at (its host and origin are accepted).
    """

    def __init__(
        self,
        *,
        local: bool,
        allowed_hosts: Iterable[str] = (),
        bind_host: str = "",
        cors_origins: Iterable[str] = (),
        public_url: str | None = None,
    ) -> None:
        self.local = local
        names = {split_host(h)[0] for h in allowed_hosts}
        self.any_host = "*" in names and not local
        names.discard("*")
        bind, _ = split_host(bind_host)
        if bind not in ("", "0.0.0.0", "::"):
            names.add(bind)
        self.listed_origins = {normalize_origin(o) for o in cors_origins}
        if public_url:
            public = normalize_origin(public_url)
            self.listed_origins.add(public)
            names.add(split_host(_authority(public))[0].strip("[]"))
        self.hosts = frozenset(names)

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether a ``Host`` header names this server (no header at all: not a browser, fine)."""
        if host_header is None or self.any_host:
            return True
        host, _ = split_host(host_header)
        return is_loopback_host(host) or host in self.hosts

    def host_problem(self, host_header: str | None) -> str | None:
        """Why a ``Host`` header is refused, or None when it names this server."""
        if self.host_allowed(host_header):
            return None
        return (
            f"the Host {host_header!r} is not a name of this server (DNS rebinding?); "
            + ("without accounts it answers to loopback names only; " if self.local else "")
            + "list other names in WORKBENCH_ALLOWED_HOSTS"
        )

    def origin_problem(
        self, origin: str | None, fetch_site: str | None, host_header: str | None
    ) -> str | None:
        """Why a request from a page at ``origin`` is foreign, or None when it is not."""
        listed = origin is not None and origin != "null" and normalize_origin(origin) in self.listed_origins
        if fetch_site == "cross-site" and not listed:
            return "a cross-site request (Sec-Fetch-Site: cross-site) from a page this server does not trust"
        if origin is None or listed:
            return None
        if origin == "null":
            return "a request from an opaque origin (Origin: null)"
        if host_header is not None and _authority(normalize_origin(origin)) == _host_authority(host_header):
            return None  # the page is one of this server's own
        return (
            f"a request from the page origin {origin!r}, which is not this server's and is not in "
            "WORKBENCH_CORS_ORIGINS"
        )
