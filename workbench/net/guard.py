"""Resolve a host once, check every address it has, then connect to a checked one.

This is the one implementation of "resolve then check" behind every guarded connection: the
network backends of httpcore (:mod:`workbench.net.backend`) and httpcore2
(:mod:`workbench.net.httpx2_client`) and the PostgreSQL blocks. It knows no HTTP library: a backend
passes the function that opens a connection to one IP and translates :class:`HostUnresolved` and
``TimeoutError`` into its own library's errors.

Checking the URL's host before the request and letting the HTTP library resolve it again leaves a
DNS-rebinding gap (the second answer may be 127.0.0.1). Here the check happens on the very addresses
the socket is opened to: the name is resolved once, every address is checked (one refused address
refuses the host), and the connection goes to a checked IP.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from workbench.net.errors import BlockedAddress
from workbench.net.policy import HttpPolicy, IPAddress

log = logging.getLogger("workbench.net")

T = TypeVar("T")
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``resolver(host, port)`` returns the host's IP addresses as strings, in the order to try them."""


class HostUnresolved(OSError):
    """The host name could not be resolved, or has no address."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver (getaddrinfo), keeping its order and dropping repeats."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]).split("%", 1)[0], None)
    return list(seen)


def refused(host: str, ip: IPAddress, kind: str, literal: bool) -> BlockedAddress:
    """The refusal of ``host``: it names the host as the caller gave it and the kind of address, never
    the address a name resolved to (that would map the internal network for whoever asks). The
    address goes to the debug log."""
    if literal:
        what = f"{host}: a {kind} address"
    else:
        log.debug("refused %s: it resolves to %s (%s)", host, ip, kind)
        what = f"{host}: the name resolves to a {kind.split(' (', 1)[0]} address"
    return BlockedAddress(
        f"refused to connect to {what}. Blocks may reach only public addresses unless "
        "WORKBENCH_HTTP_ALLOW (hosts, CIDR networks) or WORKBENCH_HTTP_ALLOW_PRIVATE=1 allows more"
    )


class AddressGuard:
    """Resolves hosts and refuses the addresses the :class:`HttpPolicy` does not allow."""

    def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver

    async def resolve_checked(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host``, all of them allowed; BlockedAddress when one is not,
        HostUnresolved when it has none."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            try:
                found = [ipaddress.ip_address(a) for a in await self.resolver(host, port)]
            except OSError as exc:
                raise HostUnresolved(f"cannot resolve host {host!r}: {exc}") from exc
            if not found:
                raise HostUnresolved(f"host {host!r} has no address")
        if self.policy.host_allowed(host):
            return found
        for ip in found:
            kind = self.policy.refusal(ip)
            if kind is not None:
                raise refused(host, ip, kind, literal is not None)
        return found

    async def connect(
        self,
        host: str,
        port: int,
        timeout: float | None,
        open_ip: Callable[[str], Awaitable[T]],
        connect_errors: tuple[type[Exception], ...],
    ) -> T:
        """Resolve and check ``host`` (within ``timeout``: TimeoutError), then ``open_ip(ip)`` for each
        of its addresses in turn until one succeeds; the last of ``connect_errors`` when none does."""
        with anyio.fail_after(timeout):
            addresses = await self.resolve_checked(host, port)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await open_ip(str(ip))
            except connect_errors as exc:
                last = exc
        assert last is not None
        raise last
