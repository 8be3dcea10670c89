"""A local lookalike of a SearXNG instance's search API.

Real HTTP on 127.0.0.1 (see :mod:`tests.support.lookalike`):

* ``GET /search?q=<query>&format=json`` (also ``POST`` with form fields, as SearXNG takes):
  ``{"query", "number_of_results", "results": [{"url", "title", "content", "engine", "engines",
  "score", "category", "publishedDate"?}], "answers": [], "corrections": [], "infoboxes": [],
  "suggestions": [], "unresponsive_engines": [[engine, reason], ...]}`` from the results
  :meth:`SearxngServer.add_results` gave (none for other queries).
* A format the instance does not enable (:attr:`SearxngServer.formats`; SearXNG enables only
  ``html`` unless its ``settings.yml`` says otherwise) is 403 Forbidden; without ``format`` the
  answer is an HTML page. No ``q`` is 400.

Scripted failures (429 from its limiter, 5xx) go through
:meth:`~tests.support.lookalike.LookalikeServer.fail_next`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, route

from tests.support.lookalike import LookalikeServer, json_response


@dataclass
class SearxngServer(LookalikeServer):
    """The lookalike; ``start()`` it and use :attr:`url` as the instance URL."""

    formats: set[str] = field(default_factory=lambda: {"html", "json"})
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unresponsive: list[list[str]] = field(default_factory=list)
    any_query: list[dict[str, Any]] | None = None
    """Results for queries :meth:`add_results` did not name (None: no results)."""
    """``unresponsive_engines`` of every answer (``[["google", "timeout"]]``)."""

    def add_results(self, query: str, results: list[dict[str, Any]]) -> None:
        """Results for ``query``: dicts with url, title, content (engine and score are filled in)."""
        self.results[query] = results

    def app(self) -> Litestar:
        """``/search`` as SearXNG serves it."""

        @route("/search", http_method=["GET", "POST"])
        async def search(request: Request) -> Response:
            form = dict(await request.form()) if request.method == "POST" else {}
            params = {**form, **dict(request.query_params)}
            self.record(request, params)
            failure = self.scripted_failure(request)
            if failure is not None:
                return failure
            return self._answer(params)

        return Litestar([search], debug=False)

    def _answer(self, params: dict[str, Any]) -> Response:
        query = str(params.get("q") or "")
        fmt = str(params.get("format") or "html")
        if fmt not in self.formats:
            return Response("Forbidden", status_code=403, media_type="text/plain")
        if not query:
            return Response("Bad Request", status_code=400, media_type="text/plain")
        found = [
            {
                "engine": "duckduckgo",
                "engines": ["duckduckgo"],
                "score": 1.0 / (i + 1),
                "category": "general",
                "positions": [i + 1],
                **item,
            }
            for i, item in enumerate(self.results.get(query, self.any_query or []))
        ]
        if fmt == "html":
            items = "".join(f"<article><a href='{r['url']}'>{r['title']}</a></article>" for r in found)
            return Response(f"<html><body>{items}</body></html>", status_code=200, media_type="text/html")
        return json_response(
            {
                "query": query,
                "number_of_results": len(found),
                "results": found,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [],
                "unresponsive_engines": self.unresponsive,
            }
        )
