"""The httpcore network backend that resolves a host, checks every address, then connects to one of them.

The resolving and checking is :class:`~workbench.net.guard.AddressGuard`'s (see there why it happens
inside ``connect_tcp``); this backend only translates its failures into httpcore's errors. httpcore
then sends the original ``Host`` header and uses the original name for TLS (SNI and certificate
check), because those come from the request URL, not from the socket.
"""

from __future__ import annotations

import typing

import anyio
import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

from workbench.net.errors import BlockedAddress
from workbench.net.guard import AddressGuard, HostUnresolved, Resolver, refused, system_resolver
from workbench.net.policy import HttpPolicy, IPAddress

__all__ = ["GuardedBackend", "Resolver", "refused", "system_resolver"]


class GuardedBackend(AsyncNetworkBackend):
    """Wraps httpcore's default backend; refuses addresses the :class:`HttpPolicy` does not allow."""

    def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
        self.guard = AddressGuard(policy, resolver)
        self.policy = policy
        self.resolver = self.guard.resolver
        self._inner = httpcore.AnyIOBackend()

    async def resolve_checked(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host``, all of them allowed; BlockedAddress when one is not."""
        try:
            return await self.guard.resolve_checked(host, port)
        except HostUnresolved as exc:
            raise httpcore.ConnectError(str(exc)) from exc

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        """Resolve and check ``host``, then connect to the first of its addresses that answers."""

        def open_ip(ip: str) -> typing.Awaitable[AsyncNetworkStream]:
            return self._inner.connect_tcp(
                ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
            )

        try:
            return await self.guard.connect(
                host, port, timeout, open_ip, (httpcore.ConnectError, httpcore.ConnectTimeout)
            )
        except HostUnresolved as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc

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
