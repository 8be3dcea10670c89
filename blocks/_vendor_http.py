"""What the media vendor blocks (Ideogram, Replicate) share: the key and API root of a vendor, the
HTTP client for it, and the mapping of its error answers to ours.

The API root is, in order: the credential's ``base_url`` (the user's choice: it goes through the SSRF
guard like any URL a user gives), the operator's setting (``WORKBENCH_<VENDOR>_BASE_URL``: trusted,
as the LLM base URLs of the environment are, so a self-hoster can point it at a private address), or
the vendor's public API. Error answers become:

* 401 / 403: :class:`~workbench.errors.CredentialsError` naming the credential's provider;
* 429 (with ``Retry-After`` in the message when sent) and 5xx: :class:`~workbench.errors.RetryableError`;
* any other 4xx: :class:`~workbench.errors.BlockError` with the vendor's own message.

A vendor that cannot be reached (connection refused, timeout) is a RetryableError too. Keys never
appear in messages: they travel only in headers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from workbench.block.context import RunContext
from workbench.errors import BlockError, CredentialsError, RetryableError

if TYPE_CHECKING:  # workbench.net brings httpx: imported when a block makes a request
    from workbench.net import HttpResult, SafeClient

MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
}
"""Media types of the file formats the vendors return, by extension."""


@dataclass(frozen=True, slots=True)
class VendorAccess:
    """How to reach one vendor for one run: its API root, key and the settings of the run."""

    vendor: str
    """The vendor's display name, used in messages ("Replicate")."""
    provider: str
    """The credential provider ("replicate")."""
    base_url: str
    api_key: str = field(repr=False)
    trusted: bool
    """True when the API root is the operator's setting (not subject to the SSRF guard)."""
    context: RunContext = field(repr=False)

    def same_origin(self, url: str) -> bool:
        """True when ``url`` is on the API root's scheme, host and port (the key may go there)."""
        a, b = urlsplit(self.base_url), urlsplit(url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

    @asynccontextmanager
    async def client(self, headers: dict[str, str]) -> AsyncIterator[SafeClient]:
        """An HTTP client with ``headers``; the operator's API root is let through the SSRF guard."""
        from workbench.net import HttpPolicy, safe_client

        policy = HttpPolicy.from_settings(self.context.settings)
        if self.trusted:
            host = (urlsplit(self.base_url).hostname or "").lower()
            policy = replace(policy, allow_hosts=policy.allow_hosts | {host})
        async with safe_client(policy, headers=headers) as http:
            yield http


async def vendor_access(
    context: RunContext,
    credentials: Any,
    *,
    vendor: str,
    provider: str,
    setting: str | None,
    default: str,
) -> VendorAccess:
    """The key (``api_key``, or ``token``) of the run's ``provider`` credential and the API root to use."""
    cred = await context.get_credential(provider, credentials)
    key = cred.secret.get("api_key") or cred.secret.get("token") or cred.secret.get("api_token")
    if not key:
        raise CredentialsError(f"credential {cred.meta.id} has no api_key for {vendor}")
    chosen = str(cred.secret.get("base_url") or "").strip()
    if chosen and not chosen.startswith(("http://", "https://")):
        raise CredentialsError(
            f"the base_url of credential {cred.meta.id} must be an http(s) URL, got {chosen[:60]!r}"
        )
    base = chosen or setting or default
    return VendorAccess(
        vendor=vendor,
        provider=provider,
        base_url=base.rstrip("/"),
        api_key=str(key),
        trusted=not chosen and bool(setting),
        context=context,
    )


def error_message(result: HttpResult) -> str:
    """The vendor's own words from an error answer (``detail``, ``message``, ``error``, ``title``)."""
    try:
        body = json.loads(result.content)
    except ValueError:
        return result.text.strip()[:300]
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "title"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail")
            if isinstance(value, list):  # FastAPI-style validation details
                value = "; ".join(str(v.get("msg", v)) if isinstance(v, dict) else str(v) for v in value)
            if value:
                return str(value)[:300]
    return str(body)[:300]


def status_error(access: VendorAccess, result: HttpResult, what: str) -> BlockError:
    """Our error for a vendor's non-2xx answer to ``what`` (e.g. "creating a prediction")."""
    status, message = result.status_code, error_message(result)
    vendor = access.vendor
    if status in (401, 403):
        return CredentialsError(
            f"{vendor} rejected the key while {what} ({status} {message}): "
            f"check the {access.provider!r} credential"
        )
    if status == 429:
        after = result.headers.get("retry-after")
        hint = f"; it asks to retry after {after} s" if after else ""
        return RetryableError(f"{vendor} rate limit reached while {what} (429 {message}){hint}")
    if status >= 500:
        return RetryableError(f"{vendor} failed while {what} ({status} {message})")
    return BlockError(f"{vendor} refused {what} ({status} {message})")


def unreachable(access: VendorAccess, exc: Exception, what: str) -> BlockError:
    """Our error for a request to the vendor that got no answer: retryable, except a refused address."""
    from workbench.net import BlockedAddress, RequestTimeout, ResponseTooLarge, TooManyRedirects

    if isinstance(exc, BlockedAddress | ResponseTooLarge | TooManyRedirects):
        return exc  # a configuration or content problem: trying again changes nothing
    kind = "timed out" if isinstance(exc, RequestTimeout) else "could not be reached"
    return RetryableError(f"{access.vendor} {kind} while {what}: {exc}")


async def request(
    access: VendorAccess, http: SafeClient, method: str, url: str, what: str, **kwargs: Any
) -> HttpResult:
    """``http.request(method, url, **kwargs)`` for ``what``, answered with a 2xx; no answer is
    :func:`unreachable`'s error, another status :func:`status_error`'s."""
    try:
        result = await http.request(method, url, **kwargs)
    except BlockError as exc:
        raise unreachable(access, exc, what) from exc
    if result.status_code >= 300:
        raise status_error(access, result, what)
    return result


async def keep_media(
    access: VendorAccess, value: str, *, fallback: str, content_type: str, headers: dict[str, str]
) -> str:
    """Keep a file the vendor produced in the file store; its ``workspace://`` reference.

    ``value`` is the vendor's URL or data: URI; the file is named as :func:`file_name` says, else
    ``fallback``. A file served by the API's own host is fetched here, with the vendor's ``headers``
    (its files may need the key) and the API's guard policy; any other URL is left to
    :func:`workbench.files.store_media`, which fetches it without our key.
    """
    from workbench.files import store_media

    data: str | bytes = value
    if value.startswith(("http://", "https://")) and access.same_origin(value):
        async with access.client(headers) as http:
            data = (await request(access, http, "GET", value, f"downloading {value}")).content
    name = file_name(value, fallback)
    return await store_media(access.context, data, name=name, content_type=content_type)


def media_type(name_or_format: str, default: str = "application/octet-stream") -> str:
    """The media type of a format ("png") or a file name's extension ("x.wav")."""
    ext = name_or_format.rsplit(".", 1)[-1].lower()
    return MEDIA_TYPES.get(ext, default)


def file_name(url: str, fallback: str) -> str:
    """A file name for what ``url`` points to: its last path part when it has an extension."""
    if url.startswith("data:"):
        return fallback
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return last if "." in last and len(last) <= 120 else fallback
