"""The outbound HTTP client of blocks: SSRF-guarded connections, manual redirects, size and time limits.

Usage::

    async with safe_client(context.settings) as http:
        result = await http.request("GET", url, headers={"Accept": "application/json"})
        result.status_code, result.json()

Every connection goes through :class:`~workbench.net.backend.GuardedBackend` (the address actually
connected to is checked). Redirects are followed here, one hop at a time, so each new URL is checked
for its scheme and connects through the guard again; httpx drops ``Authorization`` when a redirect
leaves the origin. The body is streamed and reading stops past ``max_bytes``; the whole exchange runs
under one deadline. Proxy variables of the environment are ignored (a proxy would connect for us).

Headers that belong to some hosts only (a host-scoped credential) go through ``hop_headers``: a
function of each hop's URL, asked again after every redirect; what it gave the previous hop is
removed first, so a redirect to another host carries none of it.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from workbench.config import Settings
from workbench.net.backend import GuardedBackend, Resolver, guarded_pool
from workbench.net.errors import HttpError, RequestTimeout, ResponseTooLarge, TooManyRedirects
from workbench.net.policy import HttpPolicy

SCHEMES = ("http", "https")
IDEMPOTENCY_HEADER = "Idempotency-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""Methods without effects (RFC 9110 9.2.1): no idempotency key is sent with them."""
HopHeaders = Callable[[str], Mapping[str, str]]
"""``hop_headers(url)``: extra headers for one hop of a request (the first one and each redirect)."""


def with_idempotency_key(
    method: str, headers: dict[str, str] | None, key: str | None
) -> dict[str, str] | None:
    """``headers`` plus ``Idempotency-Key: key`` for a method with effects (POST, PUT, PATCH, DELETE...).

    Nothing is added for a safe method, without a key, or when the caller set the header already
    (in any case): the caller's own key wins.
    """
    if not key or method.upper() in SAFE_METHODS:
        return headers
    if headers and any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in headers):
        return headers
    return {**(headers or {}), IDEMPOTENCY_HEADER: key}


@dataclass(frozen=True, slots=True)
class HttpResult:
    """A response read in full (within the size limit)."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    """The final URL, after redirects."""

    @property
    def text(self) -> str:
        """The body decoded with the response's charset (UTF-8 when it names none)."""
        charset = _charset(self.headers.get("content-type", "")) or "utf-8"
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters (``application/json``)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON; HttpError naming the URL when it is not JSON."""
        try:
            return jsonlib.loads(self.content)
        except ValueError as exc:
            raise HttpError(f"{self.url} answered {self.status_code} with a body that is not JSON") from exc


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool built on a :class:`GuardedBackend`."""

    def __init__(self, policy: HttpPolicy, resolver: Resolver | None = None) -> None:
        super().__init__(trust_env=False)
        ssl = httpx.create_ssl_context(trust_env=False)
        self._pool = guarded_pool(httpcore, GuardedBackend, ssl, policy, resolver)


class SafeClient:
    """An HTTP client for blocks; use as ``async with safe_client(settings) as http``."""

    def __init__(
        self, policy: HttpPolicy, *, resolver: Resolver | None = None, **client_options: Any
    ) -> None:
        self.policy = policy
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(policy, resolver),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(policy.timeout),
            **client_options,
        )

    async def __aenter__(self) -> SafeClient:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.client.__aexit__(*exc_info)

    async def aclose(self) -> None:
        """Close the connections."""
        await self.client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: Any = None,
        content: bytes | str | None = None,
        follow_redirects: bool = True,
        idempotency_key: str | None = None,
        hop_headers: HopHeaders | None = None,
    ) -> HttpResult:
        """Send a request, follow redirects (each hop checked), read the body within the limits.

        ``idempotency_key`` (a block passes ``context.idempotency_key``) goes out as the
        ``Idempotency-Key`` header of a request with effects, unless ``headers`` has one: a server
        that deduplicates then applies a repeated attempt once (see :func:`with_idempotency_key`).

        ``hop_headers`` adds headers per hop, given the hop's URL (see the module docstring); a
        header the caller set in ``headers`` wins over one it gives.
        """
        method = method.upper()
        try:
            request = self.client.build_request(
                method,
                url,
                headers=with_idempotency_key(method, headers, idempotency_key),
                params=params,
                json=json,
                data=data,
                files=files,
                content=content,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, TypeError, ValueError) as exc:
            raise HttpError(f"{method} {url}: not a valid request: {exc}") from exc
        try:
            async with asyncio.timeout(self.policy.timeout):
                own = frozenset(name.lower() for name in headers or {})
                return await self._exchange(request, follow_redirects, hop_headers, own)
        except TimeoutError as exc:
            raise RequestTimeout(f"{method} {url} took longer than {self.policy.timeout:g} s") from exc
        except httpx.TimeoutException as exc:
            raise RequestTimeout(f"{method} {url} timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise HttpError(f"{method} {url} failed: {exc or type(exc).__name__}") from exc

    async def _exchange(
        self,
        request: httpx.Request,
        follow_redirects: bool,
        hop_headers: HopHeaders | None = None,
        own: frozenset[str] = frozenset(),
    ) -> HttpResult:
        added: list[str] = []
        for _hop in range(self.policy.max_redirects + 1):
            _check_scheme(request.url)
            if hop_headers is not None:
                added = _set_hop_headers(request, hop_headers(str(request.url)), added, own)
            response = await self.client.send(request, stream=True)
            try:
                if follow_redirects and response.next_request is not None:
                    request = response.next_request
                    continue
                body = await _read_limited(response, self.policy.max_bytes)
                return HttpResult(response.status_code, response.headers, body, str(request.url))
            finally:
                await response.aclose()
        raise TooManyRedirects(
            f"{request.method} {request.url}: more than {self.policy.max_redirects} redirects"
        )


def _set_hop_headers(
    request: httpx.Request, headers: Mapping[str, str], previous: list[str], own: frozenset[str]
) -> list[str]:
    """Remove the ``previous`` hop's extra headers from ``request`` (a redirect copies them), then
    add ``headers``, except those the caller named itself (``own``, lower case); returns the names
    added."""
    for name in previous:
        request.headers.pop(name, None)
    added = []
    for name, value in headers.items():
        if name.lower() not in own:
            request.headers[name] = value
            added.append(name)
    return added


def _check_scheme(url: httpx.URL) -> None:
    if url.scheme not in SCHEMES:
        raise HttpError(f"refused URL {url}: only http and https are allowed, not {url.scheme or 'none'!r}")


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(
            f"{response.request.url} answered with {int(declared)} bytes; the limit is {limit} "
            "(WORKBENCH_HTTP_MAX_BYTES)"
        )
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer += chunk
        if len(buffer) > limit:
            raise ResponseTooLarge(
                f"{response.request.url} sent more than {limit} bytes; reading stopped "
                "(WORKBENCH_HTTP_MAX_BYTES)"
            )
    return bytes(buffer)


def safe_client(
    settings: Settings | HttpPolicy, *, resolver: Resolver | None = None, **client_options: Any
) -> SafeClient:
    """A :class:`SafeClient` under the policy of ``settings`` (or the given policy).

    ``resolver`` replaces the system DNS resolver (tests); ``client_options`` go to ``httpx.AsyncClient``
    (``base_url``, ``headers``...).
    """
    policy = settings if isinstance(settings, HttpPolicy) else HttpPolicy.from_settings(settings)
    return SafeClient(policy, resolver=resolver, **client_options)
