"""Host-scoped credentials: headers (API keys, tokens) that may be sent to some hosts only.

A vault credential of type ``host_scoped`` (AutoGPT's ``HostScopedCredentials``, provider ``http``)
holds a secret ``{"host": <pattern>, "headers": {<name>: <value>, ...}}``. The pattern is a host
(``api.example.com``, ``10.0.0.5``, ``[::1]``), optionally with a port (``api.example.com:8443``:
that port only), or a wildcard ``*.example.com`` that covers ``example.com`` and every name below
it. A URL pasted as the pattern (``https://api.example.com/v1``) is reduced to its host. Patterns
that cover too much (``*``, ``*.com``) are refused.

:meth:`HostScope.hop_headers` gives the function a :class:`~workbench.net.SafeClient` calls for every
hop of a request (``hop_headers=``): the headers go to hops whose host the pattern covers, and
never to a hop that left https for plain http; on a redirect elsewhere they are dropped.
Nothing here prints a header value: ``repr`` shows the pattern and the header names only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from workbench.errors import InputError

TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP header name (RFC 9110 ``token``)."""
FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive"}
)
"""Headers that frame or route the request: never taken from a credential."""
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalise_host(text: str) -> tuple[str, int | None]:
    """(host lower case without brackets or trailing dot, port or None) of a pattern; InputError."""
    raw = text.strip()
    if "://" in raw:
        raw = urlsplit(raw).netloc
    raw = raw.split("/", 1)[0].rpartition("@")[2].lower()
    port: int | None = None
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit() or not 0 < int(rest[1:]) < 65536:
                raise InputError(f"host: {text!r} has no valid port")
            port = int(rest[1:])
        return host, port
    if raw.count(":") == 1:
        raw, _, port_text = raw.partition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InputError(f"host: {text!r} has no valid port")
        port = int(port_text)
    return raw.rstrip("."), port


@dataclass(frozen=True, slots=True)
class HostScope:
    """A host pattern and the secret headers sent to the hosts it covers."""

    host: str
    """The host, lower case, without brackets; ``*.example.com`` for a wildcard."""
    port: int | None
    """The only port covered, or None for any."""
    headers: Mapping[str, str] = field(repr=False)
    credential_id: str = ""
    """The vault credential it comes from (for messages)."""

    def __repr__(self) -> str:  # never print the header values
        return (
            f"HostScope({self.pattern!r}, headers={sorted(self.headers)}, credential={self.credential_id!r})"
        )

    __str__ = __repr__

    @property
    def pattern(self) -> str:
        """The pattern as written back: ``api.example.com``, ``*.example.com``, ``[::1]:8443``."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown + (f":{self.port}" if self.port is not None else "")

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any], credential_id: str = "") -> HostScope:
        """The scope of a ``host_scoped`` secret; InputError naming the field that is wrong."""
        host = secret.get("host")
        if not isinstance(host, str) or not host.strip():
            raise InputError("host: a host-scoped credential needs a host (api.example.com or *.example.com)")
        headers = secret.get("headers")
        if not isinstance(headers, Mapping) or not headers:
            raise InputError("headers: a host-scoped credential needs at least one header")
        clean = checked_headers(headers, "headers", "come from a credential")
        name, port = parse_pattern(host)
        return cls(name, port, clean, credential_id)

    def covers(self, url: str) -> bool:
        """Whether the host (and port, when the pattern names one) of ``url`` is in this scope."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".").lower()
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return False
        if not host or (self.port is not None and port != self.port):
            return False
        if self.host.startswith("*."):
            domain = self.host[2:]
            return host == domain or host.endswith("." + domain)
        return host == self.host

    def hop_headers(self, first_url: str) -> Callable[[str], Mapping[str, str]]:
        """For a request that starts at ``first_url``: the headers of each hop, given its URL (the
        scope's headers when it covers the hop and the hop does not go from https to plain http)."""
        secure = urlsplit(first_url).scheme == "https"

        def for_hop(url: str) -> Mapping[str, str]:
            if secure and urlsplit(url).scheme != "https":
                return {}
            return self.headers if self.covers(url) else {}

        return for_hop

    def specificity(self) -> tuple[int, int, int]:
        """How narrow the pattern is (exact before wildcard, with a port before without, longer
        names first): of several credentials that cover a URL, the largest wins."""
        return (0 if self.host.startswith("*.") else 1, 0 if self.port is None else 1, len(self.host))


def checked_headers(headers: Mapping[str, Any], where: str, refused: str) -> dict[str, str]:
    """``headers`` as given by a user, checked: valid names, one-line text values, none that frames
    the request (``FORBIDDEN_HEADERS``: such a header "cannot {refused}"); InputError naming ``where``."""
    clean: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not TOKEN.fullmatch(name):
            raise InputError(f"{where}: {name!r} is not a valid header name")
        if name.lower() in FORBIDDEN_HEADERS:
            raise InputError(f"{where}: {name!r} cannot {refused}")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise InputError(f"{where}: the value of {name!r} must be text on one line")
        clean[name] = value
    return clean


def parse_pattern(text: str) -> tuple[str, int | None]:
    """(host, port or None) of a host pattern; InputError when it is none or covers too much."""
    host, port = _normalise_host(text)
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if ":" in name:  # an IPv6 address
        valid = not wildcard and all(c in "0123456789abcdef:." for c in name)
    else:
        labels = name.split(".")
        valid = all(_LABEL.fullmatch(label) for label in labels) and not (wildcard and len(labels) < 2)
    if not name or not valid:
        raise InputError(
            f"host: {text!r} is not a host pattern: give a host (api.example.com), optionally with a "
            "port, or *.example.com for a domain and its subdomains"
        )
    return host, port
