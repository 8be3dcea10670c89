"""Errors of outbound HTTP; all are :class:`~workbench.errors.BlockError`, so a block's node fails with them.

::

    BlockError
    └── HttpError                 a request could not be made or completed (connection, protocol)
        ├── BlockedAddress        the host resolves to an address the SSRF guard refuses (also an
        │                         InputError: the caller chose that host, so a 4xx at the API)
        ├── ResponseTooLarge      the body passed the size limit
        ├── RequestTimeout        the request (redirects and body included) took too long
        └── TooManyRedirects      more redirects than allowed
"""

from __future__ import annotations

from workbench.errors import BlockError, InputError


class HttpError(BlockError):
    """An outbound request failed; the message names the method and URL."""


class BlockedAddress(HttpError, InputError):
    """Refused by the SSRF guard: the host resolves to a private, loopback, link-local... address.

    The caller chose that host (a URL, a credential's base URL or database host), so it is also an
    :class:`~workbench.errors.InputError`: a route that meets it answers 422, never 500. The message
    names the host as given, never the address it resolved to."""


class ResponseTooLarge(HttpError):
    """The response body is larger than the configured limit (``WORKBENCH_HTTP_MAX_BYTES``)."""


class RequestTimeout(HttpError):
    """The request took longer than the configured limit (``WORKBENCH_HTTP_TIMEOUT``)."""


class TooManyRedirects(HttpError):
    """The server redirected more often than allowed."""
