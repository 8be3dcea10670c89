"""Outbound HTTP for blocks, guarded against server-side request forgery (SSRF).

Blocks that call the network use :func:`safe_client`; see :mod:`workbench.net.client` for the
limits and :mod:`workbench.net.policy` for which addresses are refused and the settings that open them.
"""

from __future__ import annotations

from workbench.net.backend import GuardedBackend, Resolver, system_resolver
from workbench.net.client import HttpResult, SafeClient, safe_client
from workbench.net.errors import BlockedAddress, HttpError, RequestTimeout, ResponseTooLarge, TooManyRedirects
from workbench.net.policy import HttpPolicy, address_kind

__all__ = [
    "BlockedAddress",
    "GuardedBackend",
    "HttpError",
    "HttpPolicy",
    "HttpResult",
    "RequestTimeout",
    "Resolver",
    "ResponseTooLarge",
    "SafeClient",
    "TooManyRedirects",
    "address_kind",
    "safe_client",
    "system_resolver",
]
