"""Which addresses blocks may reach over HTTP, and the limits of one request.

By default only globally routable unicast addresses are allowed: private (RFC 1918), loopback,
link-local (including the cloud metadata address 169.254.169.254), unique-local IPv6, multicast,
unspecified, shared (100.64/10) and reserved addresses are refused. IPv4 addresses embedded in IPv6
(``::ffff:127.0.0.1``, NAT64 ``64:ff9b::a00:1``, 6to4, Teredo) are judged by the IPv4 address. The
settings ``WORKBENCH_HTTP_ALLOW_PRIVATE`` and ``WORKBENCH_HTTP_ALLOW`` open this up.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from workbench.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (``"loopback"``, ``"private"``...), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            kind = address_kind(inner)
            return f"{kind} (embedded in {ip})" if kind else None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unique-local", isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """What outbound requests of blocks may reach, and their limits.

    Attributes:
        allow_private: allow every address (the guard is off).
        allow_networks: private networks allowed anyway.
        allow_hosts: host names allowed whatever they resolve to (lower case).
        max_bytes: largest response body read.
        timeout: seconds one request may take, redirects and body included.
        max_redirects: redirects followed before giving up.
    """

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = field(default_factory=frozenset)
    max_bytes: int = 10_000_000
    timeout: float = 30.0
    max_redirects: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpPolicy:
        """The policy ``WORKBENCH_HTTP_*`` settings describe."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in settings.http_allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(
            allow_private=settings.http_allow_private,
            allow_networks=tuple(networks),
            allow_hosts=frozenset(hosts),
            max_bytes=settings.http_max_bytes,
            timeout=settings.http_timeout,
        )

    def host_allowed(self, host: str) -> bool:
        """True when ``host`` is allowed by name, whatever it resolves to."""
        return self.allow_private or host.lower().rstrip(".") in self.allow_hosts

    def refusal(self, ip: IPAddress) -> str | None:
        """Why connecting to ``ip`` is refused (its kind of address), or None when it is allowed."""
        if self.allow_private:
            return None
        kind = address_kind(ip)
        if kind is None:
            return None
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return None
        return kind
