"""Jina AI's Search (``s.jina.ai``) and Reader (``r.jina.ai``) APIs, and the web search results both
search blocks render.

Protocol, as Jina documents it:

* Search: ``GET <search root>/?q=<query>`` with ``Authorization: Bearer <key>`` and
  ``Accept: application/json``; the answer is ``{"code": 200, "data": [{"title", "url",
  "description", "content", "publishedTime"?}, ...]}`` (the top pages, their content as Markdown).
* Reader: ``GET <reader root>/<page URL>`` with the same headers and ``X-With-Links-Summary: true``;
  the answer is ``{"code": 200, "data": {"title", "url", "content", "links"}}``, ``links`` as
  ``{text: url}`` (or ``[[text, url], ...]``).
* Errors: ``{"code": 401, "name": "AuthenticationFailedError", "message": ..., "readableMessage":
  ...}`` with the same HTTP status; 402 when the account has no balance left, 429 when rate limited.

Where to send them: a ``jina`` credential's ``base_url`` (search) or ``reader_url`` (reader), the
user's choice, checked by the SSRF guard; else ``WORKBENCH_JINA_SEARCH_URL`` /
``WORKBENCH_JINA_READER_URL``, the operator's (trusted, so it may be a private address); else Jina's
public API. The key (``api_key``) may be left out only for an endpoint that needs none (a
self-hosted reader). Errors map as in :mod:`blocks._vendor_http`; the key never appears in them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from blocks._vendor_http import VendorAccess, status_error, unreachable
from workbench.block.context import Credential, RunContext
from workbench.errors import BlockError, CredentialsError

if TYPE_CHECKING:
    from workbench.net import HttpResult

VENDOR = "Jina"
PROVIDER = "jina"
SEARCH_URL = "https://s.jina.ai"
READER_URL = "https://r.jina.ai"
FIELD = "credentials"


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One result of a web search."""

    title: str
    url: str
    description: str = ""
    content: str = ""
    """The page's text (Markdown) when the search engine read the page; "" when it did not."""
    published: str = ""


def render_results(results: Iterable[SearchResult]) -> str:
    """Results in Jina Search's text form: ``[1] Title: ...``, ``[1] URL Source: ...``, a description,
    a published time and ``[1] Markdown Content:`` when known; results apart by a blank line."""
    blocks = []
    for i, result in enumerate(results, 1):
        lines = [f"[{i}] Title: {result.title}", f"[{i}] URL Source: {result.url}"]
        if result.description:
            lines.append(f"[{i}] Description: {result.description}")
        if result.published:
            lines.append(f"[{i}] Published Time: {result.published}")
        if result.content:
            lines += [f"[{i}] Markdown Content:", result.content]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks).rstrip() + "\n" if blocks else ""


@dataclass(frozen=True, slots=True)
class ReadPage:
    """A page as a reader gives it."""

    title: str
    content: str
    links: list[dict[str, str]] = field(default_factory=list)
    """``[{text, url}]``, absolute http(s) URLs, first occurrence of each."""


# ---- which credential, which endpoint ------------------------------------------------------------


def _ref_id(ref: Any) -> str | None:
    value = ref.get("id") if isinstance(ref, dict) else ref
    return str(value) if value else None


async def chosen_credential(
    context: RunContext, ref: Any, providers: Sequence[str]
) -> tuple[str, Credential] | None:
    """``(provider, credential)`` for a block that takes a credential of one of ``providers``.

    The credential the node's input names (or the execution's choice for it) must be of one of them;
    without one, the user's only credential of the first of ``providers`` they have one of. None
    when the user has none (or the run has no vault).
    """
    chosen = _ref_id(ref) or context.credentials.get(FIELD)
    vault = context.services.vault if context.services is not None else None
    if chosen:
        provider = ref.get("provider") if isinstance(ref, dict) else None
        if not provider and vault is not None:
            provider = (await vault.resolve(context.user_id, chosen)).meta.provider
        if provider not in providers:
            raise CredentialsError(
                f"credential {chosen} is for {provider!r}; this block takes a "
                + " or ".join(repr(p) for p in providers)
                + " credential"
            )
        return str(provider), await context.get_credential(str(provider), chosen, field_name=FIELD)
    if vault is None:
        return None
    for provider in providers:
        if await vault.list(context.user_id, provider):
            return provider, await context.get_credential(provider, None, field_name=FIELD)
    return None


def _url_of(secret: dict[str, Any], key: str, credential_id: str) -> str:
    url = str(secret.get(key) or "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise CredentialsError(
            f"the {key} of credential {credential_id} must be an http(s) URL, got {url[:60]!r}"
        )
    return url


def access(context: RunContext, cred: Credential | None, *, reader: bool) -> VendorAccess:
    """How to reach Jina's reader (``reader``) or search API with ``cred`` (None: keyless, at the
    operator's endpoint or Jina's)."""
    settings = context.settings
    setting = settings.jina_reader_url if reader else settings.jina_search_url
    default = READER_URL if reader else SEARCH_URL
    key, chosen = "", ""
    if cred is not None:
        key = str(cred.secret.get("api_key") or cred.secret.get("token") or "")
        chosen = _url_of(cred.secret, "reader_url" if reader else "base_url", cred.meta.id)
        if not key and not chosen:
            raise CredentialsError(f"credential {cred.meta.id} has no api_key for Jina")
    base = (chosen or setting or default).rstrip("/")
    return VendorAccess(VENDOR, PROVIDER, base, key, trusted=not chosen, context=context)


def _headers(api: VendorAccess, **extra: str) -> dict[str, str]:
    headers = {"Accept": "application/json", **extra}
    if api.api_key:
        headers["Authorization"] = f"Bearer {api.api_key}"
    return headers


# ---- the calls -----------------------------------------------------------------------------------


async def _get(
    api: VendorAccess, url: str, what: str, headers: dict[str, str], params: dict[str, str] | None = None
) -> Any:
    """GET ``url``; the ``data`` of Jina's JSON envelope, or our error for an error answer."""
    async with api.client(headers) as http:
        try:
            result = await http.request("GET", url, params=params)
        except BlockError as exc:
            error = _hidden(unreachable(api, exc, what), api)
            if error is exc:
                raise
            raise error from exc
    if result.status_code >= 300:
        raise _hidden(_error(api, result, what), api)
    try:
        body = result.json()
    except BlockError as exc:
        raise BlockError(f"{api.vendor} answered {what} with something that is not JSON") from exc
    if not isinstance(body, dict) or "data" not in body:
        raise BlockError(f"{api.vendor} answered {what} without a 'data' field")
    return body["data"]


def _error(api: VendorAccess, result: HttpResult, what: str) -> BlockError:
    if result.status_code == 401 and not api.api_key:
        return CredentialsError(
            f"{api.vendor} wants an API key for {what} (401): add a 'jina' credential with your key"
        )
    return status_error(api, result, what)


def _hidden(error: BlockError, api: VendorAccess) -> BlockError:
    """``error`` with the key blanked out, should the vendor have echoed it."""
    if api.api_key and api.api_key in str(error):
        return type(error)(str(error).replace(api.api_key, "***"))
    return error


async def search(api: VendorAccess, query: str) -> list[SearchResult]:
    """The results of Jina Search for ``query``; BlockError when there are none."""
    what = f"searching for {query!r}"
    data = await _get(api, f"{api.base_url}/", what, _headers(api), params={"q": query})
    if not isinstance(data, list):
        raise BlockError(f"{api.vendor} answered {what} with {type(data).__name__}, not a list of results")
    results = [
        SearchResult(
            title=str(item.get("title") or ""),
            url=str(item.get("url") or ""),
            description=str(item.get("description") or ""),
            content=str(item.get("content") or ""),
            published=str(item.get("publishedTime") or ""),
        )
        for item in data
        if isinstance(item, dict) and item.get("url")
    ]
    if not results:
        raise BlockError(f"{api.vendor} found no results for {query!r}")
    return results


def check_page_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL (without its fragment); BlockError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockError(f"url: {url[:80]!r} is not an http(s) URL")
    return parts._replace(fragment="").geturl()


def _links(value: Any) -> list[dict[str, str]]:
    pairs: Iterable[Any] = (
        value.items() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    links: list[dict[str, str]] = []
    seen: set[str] = set()
    for pair in pairs:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            continue
        text, url = str(pair[0]), str(pair[1])
        if urlsplit(url).scheme in ("http", "https") and url not in seen:
            seen.add(url)
            links.append({"text": " ".join(text.split()), "url": url})
    return links


async def read(api: VendorAccess, url: str) -> ReadPage:
    """The page at ``url`` through Jina Reader: its title, Markdown content and links."""
    page_url = check_page_url(url)
    what = f"reading {page_url}"
    headers = _headers(api, **{"X-With-Links-Summary": "true"})
    data = await _get(api, f"{api.base_url}/{page_url}", what, headers)
    if not isinstance(data, dict):
        raise BlockError(f"{api.vendor} answered {what} with {type(data).__name__}, not a page")
    return ReadPage(
        title=str(data.get("title") or ""),
        content=str(data.get("content") or ""),
        links=_links(data.get("links")),
    )
