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

import httpcore2
import httpx2

from workbench.net.backend import guarded_backend_class, guarded_pool
from workbench.net.guard import Resolver
from workbench.net.policy import HttpPolicy

GuardedHttpcore2Backend = guarded_backend_class(httpcore2)
"""httpcore2's guarded backend."""


class GuardedHttpx2Transport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with its connection pool built on a :class:`GuardedHttpcore2Backend`."""

    def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
        super().__init__(trust_env=False)
        ssl = httpx2.create_ssl_context(trust_env=False)
        self._pool = guarded_pool(httpcore2, GuardedHttpcore2Backend, ssl, policy, resolver)


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
