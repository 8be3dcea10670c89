"""SearXNG's search API, for self-hosters who run their own metasearch engine.

``GET <instance>/search?q=<query>&format=json`` answers ``{"query", "number_of_results", "results":
[{"url", "title", "content", "engine", "publishedDate"?...}], "answers", "suggestions",
"unresponsive_engines": [[engine, reason], ...]}``. An instance serves JSON only when its
``settings.yml`` lists ``json`` under ``search.formats``; otherwise it answers 403. Its limiter
answers 429.

The instance is a ``searxng`` credential's ``base_url`` (the user's, checked by the SSRF guard) or
``WORKBENCH_SEARXNG_URL`` (the operator's, trusted). No key is sent.
"""

from __future__ import annotations

from blocks._jina import SearchResult
from blocks._vendor_http import VendorAccess, status_error, unreachable
from workbench.block.context import Credential, RunContext
from workbench.errors import BlockError, CredentialsError, RetryableError

VENDOR = "SearXNG"
PROVIDER = "searxng"
MAX_RESULTS = 5
"""Results rendered, as many as Jina Search gives by default."""


def access(context: RunContext, cred: Credential | None) -> VendorAccess:
    """The instance of ``cred`` (its ``base_url``), else ``WORKBENCH_SEARXNG_URL``."""
    if cred is not None:
        url = str(cred.secret.get("base_url") or "").strip()
        if not url.startswith(("http://", "https://")):
            raise CredentialsError(
                f"credential {cred.meta.id} needs a base_url, the http(s) URL of your SearXNG instance"
            )
        return VendorAccess(VENDOR, PROVIDER, url.rstrip("/"), "", trusted=False, context=context)
    url = context.settings.searxng_url
    if not url:
        raise CredentialsError("no SearXNG instance: set WORKBENCH_SEARXNG_URL or add a 'searxng' credential")
    return VendorAccess(VENDOR, PROVIDER, url.rstrip("/"), "", trusted=True, context=context)


async def search(api: VendorAccess, query: str) -> list[SearchResult]:
    """The first :data:`MAX_RESULTS` results of the instance for ``query``; BlockError when there are
    none (RetryableError when its engines did not answer)."""
    what = f"searching for {query!r}"
    async with api.client({"Accept": "application/json"}) as http:
        try:
            result = await http.request(
                "GET", f"{api.base_url}/search", params={"q": query, "format": "json"}
            )
        except BlockError as exc:
            error = unreachable(api, exc, what)
            if error is exc:
                raise
            raise error from exc
    if result.status_code == 403:
        raise BlockError(
            f"the SearXNG instance at {api.base_url} refused JSON (403): add json to search.formats in "
            "its settings.yml"
        )
    if result.status_code >= 300:
        raise status_error(api, result, what)
    try:
        body = result.json()
    except BlockError as exc:
        raise BlockError(
            f"{api.base_url} answered {what} with something that is not JSON: is it SearXNG?"
        ) from exc
    items = body.get("results") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise BlockError(f"{api.base_url} answered {what} without a results list: is it SearXNG?")
    results = [
        SearchResult(
            title=str(item.get("title") or ""),
            url=str(item["url"]),
            description=" ".join(str(item.get("content") or "").split()),
            published=str(item.get("publishedDate") or ""),
        )
        for item in items
        if isinstance(item, dict) and item.get("url")
    ][:MAX_RESULTS]
    if not results:
        silent = [
            str(e[0]) for e in body.get("unresponsive_engines") or [] if isinstance(e, list | tuple) and e
        ]
        if silent:
            raise RetryableError(f"SearXNG's engines did not answer {what}: {', '.join(silent)}")
        raise BlockError(f"SearXNG found no results for {query!r}")
    return results
