"""The SSRF guard for ``httpx2`` (the HTTP library the official MCP SDK uses): a guarded httpcore2
network backend, the transport built on it, and a client factory.

The same :class:`~workbench.net.guard.AddressGuard` as our httpx client's decides which addresses may
be reached (resolved once, every address checked, the connection opened to a checked IP); this module
only adapts it to httpcore2's interface and errors. Proxy variables of the environment are ignored (a
proxy would connect for us) and redirects are not followed by the client (the MCP SDK follows those
that stay on the endpoint's origin itself, each through this transport again).
"""

from __future__ import annotations

import typing

import anyio
import httpcore2
import httpx2

from workbench.net.errors import BlockedAddress
from workbench.net.guard import AddressGuard, HostUnresolved, Resolver
from workbench.net.policy import HttpPolicy


class GuardedHttpcore2Backend(httpcore2.AsyncNetworkBackend):
    """Wraps httpcore2's default backend; refuses addresses the :class:`HttpPolicy` does not allow."""

    def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
        self.guard = AddressGuard(policy, resolver)
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """Resolve and check ``host``, then connect to the first of its addresses that answers."""

        def open_ip(ip: str) -> typing.Awaitable[httpcore2.AsyncNetworkStream]:
            return self._inner.connect_tcp(
                ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
            )

        try:
            return await self.guard.connect(
                host, port, timeout, open_ip, (httpcore2.ConnectError, httpcore2.ConnectTimeout)
            )
        except HostUnresolved as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"resolving {host!r} timed out") from exc

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """Unix sockets are local by definition: always refused."""
        raise BlockedAddress(f"refused to connect to the unix socket {path!r}")

    async def sleep(self, seconds: float) -> None:
        """Sleep (httpcore2 uses this between connection retries)."""
        await anyio.sleep(seconds)


class GuardedHttpx2Transport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with its connection pool built on a :class:`GuardedHttpcore2Backend`."""

    def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
        super().__init__(trust_env=False)
        # httpx2's transport takes no network backend either: replace the pool it built by an
        # equivalent one on ours (request mapping and error translation stay httpx2's).
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=20,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=GuardedHttpcore2Backend(policy, resolver),
        )


def guarded_httpx2_client(
    policy: HttpPolicy,
    *,
    resolver: Resolver | None = None,
    headers: typing.Mapping[str, str] | None = None,
    timeout: httpx2.Timeout | float | None = None,
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` whose every connection goes through the guard of ``policy``.

    ``timeout`` defaults to the policy's; redirects are not followed and the environment's proxy
    settings are ignored.
    """
    return httpx2.AsyncClient(
        transport=GuardedHttpx2Transport(policy, resolver),
        headers=dict(headers or {}),
        timeout=timeout if timeout is not None else httpx2.Timeout(policy.timeout),
        follow_redirects=False,
        trust_env=False,
    )
