"""A local lookalike of Jina AI's Search (``s.jina.ai``) and Reader (``r.jina.ai``) APIs.

Real HTTP on 127.0.0.1 (see :mod:`tests.support.lookalike`); the search API answers under
:attr:`JinaServer.search_url` (``<url>/s``), the reader under :attr:`JinaServer.reader_url`
(``<url>/r``), as Jina does at its two hosts:

* ``GET /s/?q=<query>`` (or ``GET /s/<query>``): the results :meth:`JinaServer.add_results` gave for
  the query (422 "No search results" for others); with ``Accept: application/json`` the envelope
  ``{"code": 200, "status": 20000, "data": [{"title", "url", "description", "content", "usage"}],
  "meta": {"usage": {"tokens"}}}``, else Jina's text form (``[1] Title: ...``).
* ``GET /r/<page URL>``: the page :meth:`JinaServer.add_page` gave (422 for others, unless
  :attr:`JinaServer.any_page` is set; likewise :attr:`JinaServer.any_query` for searches), as
  ``{"code": 200, "data": {"title", "description", "url", "content", "usage"}}`` plus ``links``
  (``{text: url}``) when ``X-With-Links-Summary: true``; else the text form (``Title: ...``).

Keys: ``Authorization: Bearer <key>`` of :attr:`JinaServer.keys`; none is 401
``AuthenticationRequiredError``, an unknown one 401 ``AuthenticationFailedError`` (the envelope
``{"data": null, "code", "name", "status", "message", "readableMessage"}``); with
:attr:`JinaServer.keyless` set, requests without a key are served (a self-hosted reader).
:func:`jina_error` makes such envelopes for :meth:`~tests.support.lookalike.LookalikeServer.fail_next`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from litestar import Litestar, Request, Response, route

from tests.support.lookalike import Failure, LookalikeServer, json_response

ERROR_NAMES = {
    401: "AuthenticationFailedError",
    402: "InsufficientBalanceError",
    422: "AssertionFailureError",
    429: "RateLimitTriggeredError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


def jina_error(
    status: int, message: str, *, name: str | None = None, retry_after: float | None = None
) -> Failure:
    """A scripted Jina error answer."""
    return Failure(status, _envelope_error(status, message, name), retry_after)


def _envelope_error(status: int, message: str, name: str | None = None) -> dict[str, Any]:
    name = name or ERROR_NAMES.get(status, "ApplicationError")
    return {
        "data": None,
        "code": status,
        "name": name,
        "status": status * 100 + 1,
        "message": message,
        "readableMessage": f"{name}: {message}",
    }


@dataclass
class JinaServer(LookalikeServer):
    """The lookalike; ``start()`` it, then use :attr:`search_url` and :attr:`reader_url`."""

    keys: set[str] = field(default_factory=lambda: {"jina_test_key"})
    keyless: bool = False
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    any_query: list[dict[str, Any]] | None = None
    """Results for queries :meth:`add_results` did not name (None: 422, as for a query without any);
    for graphs whose queries an LLM writes."""
    any_page: dict[str, Any] | None = None
    """``{"title", "content"}`` of pages :meth:`add_page` did not name (None: 422)."""
    targets: list[str] = field(default_factory=list)
    """The page URLs the reader was asked for, as received."""

    @property
    def search_url(self) -> str:
        """Where the search API answers (what ``s.jina.ai`` is)."""
        return f"{self.url}/s"

    @property
    def reader_url(self) -> str:
        """Where the reader answers (what ``r.jina.ai`` is)."""
        return f"{self.url}/r"

    def add_results(self, query: str, results: list[dict[str, Any]]) -> None:
        """The search results for ``query``: dicts with title, url, description, content."""
        self.results[query] = results

    def add_page(self, url: str, title: str, content: str, links: dict[str, str] | None = None) -> None:
        """A page the reader can read."""
        self.pages[url] = {"title": title, "content": content, "links": links or {}}

    def app(self) -> Litestar:
        """Every path goes to one handler: the reader's page URL must reach it unnormalised."""

        @route("/{rest:path}", http_method=["GET", "POST"])
        async def handle(request: Request) -> Response:
            return self._answer(request)

        return Litestar([handle], debug=False)

    # ---- answers ------------------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        self.record(request, None)
        raw = request.scope.get("raw_path", b"").decode("latin-1")
        query = request.scope.get("query_string", b"").decode("latin-1")
        failure = self.scripted_failure(request)
        if failure is not None:
            return failure
        denied = self._auth(request)
        if denied is not None:
            return denied
        wants_json = "application/json" in request.headers.get("accept", "")
        if raw.startswith("/s"):
            text = request.query_params.get("q") or unquote(raw[2:].lstrip("/"))
            return self._search(text, wants_json)
        if raw.startswith("/r/"):
            target = raw[3:] + (f"?{query}" if query else "")
            self.targets.append(target)
            links = request.headers.get("x-with-links-summary", "").lower() == "true"
            return self._read(target, wants_json, links)
        return json_response(_envelope_error(404, f"no route {raw}", "ResourceNotFoundError"), 404)

    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header:
            if self.keyless:
                return None
            message = "Authentication is required to use this endpoint. Please provide a valid API key."
            return json_response(_envelope_error(401, message, "AuthenticationRequiredError"), 401)
        key = header.removeprefix("Bearer ").strip()
        if key not in self.keys:
            return json_response(
                _envelope_error(401, "Invalid API key, please get a new one from jina.ai"), 401
            )
        return None

    def _search(self, query: str, wants_json: bool) -> Response:
        found = self.results.get(query, self.any_query)
        if not query or not found:
            return json_response(_envelope_error(422, f"No search results available for query {query}"), 422)
        data = [{**item, "usage": {"tokens": len(str(item.get("content", "")).split())}} for item in found]
        if wants_json:
            tokens = sum(d["usage"]["tokens"] for d in data)
            return json_response(
                {"code": 200, "status": 20000, "data": data, "meta": {"usage": {"tokens": tokens}}}
            )
        parts = []
        for i, item in enumerate(found, 1):
            parts.append(
                f"[{i}] Title: {item['title']}\n[{i}] URL Source: {item['url']}\n"
                f"[{i}] Description: {item.get('description', '')}\n[{i}] Markdown Content:\n{item.get('content', '')}\n"
            )
        return Response("\n".join(parts), status_code=200, media_type="text/plain")

    def _read(self, target: str, wants_json: bool, links: bool) -> Response:
        page = self.pages.get(target, self.any_page)
        if page is None:
            return json_response(
                _envelope_error(422, f"Failed to goto {target}: net::ERR_NAME_NOT_RESOLVED"), 422
            )
        if not wants_json:
            text = f"Title: {page['title']}\n\nURL Source: {target}\n\nMarkdown Content:\n{page['content']}"
            return Response(text, status_code=200, media_type="text/plain")
        data: dict[str, Any] = {
            "title": page["title"],
            "description": "",
            "url": target,
            "content": page["content"],
            "usage": {"tokens": len(page["content"].split())},
        }
        if links:
            data["links"] = page.get("links", {})
        return json_response({"code": 200, "status": 20000, "data": data})
