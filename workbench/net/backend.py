"""The httpcore network backend that resolves a host, checks every address, then connects to one of them.

Checking the URL's host before the request and letting the HTTP library resolve it again leaves a
DNS-rebinding gap (the second answer may be 127.0.0.1). Here the check happens inside ``connect_tcp``,
on the very addresses the socket is opened to: the name is resolved once, every address is checked
(one refused address refuses the host), and the TCP connection goes to a checked IP. httpcore then
sends the original ``Host`` header and uses the original name for TLS (SNI and certificate check),
because those come from the request URL, not from the socket.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import typing
from collections.abc import Awaitable, Callable

import anyio
import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

from workbench.net.errors import BlockedAddress
from workbench.net.policy import HttpPolicy, IPAddress

log = logging.getLogger("workbench.net")

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``resolver(host, port)`` returns the host's IP addresses as strings, in the order to try them."""


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


class GuardedBackend(AsyncNetworkBackend):
    """Wraps httpcore's default backend; refuses addresses the :class:`HttpPolicy` does not allow."""

    def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver
        self._inner = httpcore.AnyIOBackend()

    async def resolve_checked(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host``, all of them allowed; BlockedAddress when one is not."""
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
                raise httpcore.ConnectError(f"cannot resolve host {host!r}: {exc}") from exc
            if not found:
                raise httpcore.ConnectError(f"host {host!r} has no address")
        if self.policy.host_allowed(host):
            return found
        for ip in found:
            kind = self.policy.refusal(ip)
            if kind is not None:
                raise refused(host, ip, kind, literal is not None)
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        """Resolve and check ``host``, then connect to the first of its addresses that answers."""
        try:
            with anyio.fail_after(timeout):
                addresses = await self.resolve_checked(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        """Unix sockets are local by definition: always refused."""
        raise BlockedAddress(f"refused to connect to the unix socket {path!r}")

    async def sleep(self, seconds: float) -> None:
        """Sleep (httpcore uses this between connection retries)."""
        await anyio.sleep(seconds)
