"""The network backend that resolves a host, checks every address, then connects to one of them, for
httpcore (under httpx) and httpcore2 (under httpx2, which the MCP SDK uses): one class per library,
made by :func:`guarded_backend_class` from the library's module.

The resolving and checking is :class:`~workbench.net.guard.AddressGuard`'s (see there why it happens
inside ``connect_tcp``); a backend only translates its failures into its library's errors. The
library then sends the original ``Host`` header and uses the original name for TLS (SNI and
certificate check), because those come from the request URL, not from the socket.
"""

from __future__ import annotations

import typing
from types import ModuleType
from typing import Any

import anyio
import httpcore

from workbench.net.errors import BlockedAddress
from workbench.net.guard import AddressGuard, HostUnresolved, Resolver, refused, system_resolver
from workbench.net.policy import HttpPolicy, IPAddress

__all__ = [
    "GuardedBackend",
    "Resolver",
    "guarded_backend_class",
    "guarded_pool",
    "refused",
    "system_resolver",
]


def guarded_backend_class(core: ModuleType) -> type[Any]:
    """The guarded ``AsyncNetworkBackend`` of an httpcore-like library (``httpcore``, ``httpcore2``)."""
    connect_errors = (core.ConnectError, core.ConnectTimeout)

    class Guarded(core.AsyncNetworkBackend):  # type: ignore[name-defined,misc]
        """Wraps the library's default backend; refuses addresses the :class:`HttpPolicy` does not allow."""

        def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
            self.guard = AddressGuard(policy, resolver)
            self.policy = policy
            self.resolver = self.guard.resolver
            self._inner = core.AnyIOBackend()

        async def resolve_checked(self, host: str, port: int) -> list[IPAddress]:
            """The addresses of ``host``, all of them allowed; BlockedAddress when one is not."""
            try:
                return await self.guard.resolve_checked(host, port)
            except HostUnresolved as exc:
                raise core.ConnectError(str(exc)) from exc

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: typing.Iterable[Any] | None = None,
        ) -> Any:
            """Resolve and check ``host``, then connect to the first of its addresses that answers."""

            def open_ip(ip: str) -> typing.Awaitable[Any]:
                return self._inner.connect_tcp(
                    ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )

            try:
                return await self.guard.connect(host, port, timeout, open_ip, connect_errors)
            except HostUnresolved as exc:
                raise core.ConnectError(str(exc)) from exc
            except TimeoutError as exc:
                raise core.ConnectTimeout(f"resolving {host!r} timed out") from exc

        async def connect_unix_socket(
            self, path: str, timeout: float | None = None, socket_options: typing.Iterable[Any] | None = None
        ) -> Any:
            """Unix sockets are local by definition: always refused."""
            raise BlockedAddress(f"refused to connect to the unix socket {path!r}")

        async def sleep(self, seconds: float) -> None:
            """Sleep (the library uses this between connection retries)."""
            await anyio.sleep(seconds)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{core.__name__.capitalize()}Backend"
    return Guarded


def guarded_pool(
    core: ModuleType, backend: type[Any], ssl_context: Any, policy: HttpPolicy, resolver: Resolver | None
) -> Any:
    """The connection pool a guarded transport uses: the library's own, on the guarded ``backend``
    (neither httpx nor httpx2 takes a network backend, encode/httpx#3749, so their transports get
    theirs replaced by this equivalent one; request mapping and error translation stay theirs)."""
    return core.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=20,
        max_keepalive_connections=10,
        keepalive_expiry=5.0,
        network_backend=backend(policy, resolver),
    )


GuardedBackend = guarded_backend_class(httpcore)
"""httpcore's guarded backend (under our httpx client; ``resolve_checked`` also serves the database
blocks)."""
