"""The front door: what a request must look like before any route sees it.

Web pages the user visits can send requests to the server (the browser adds nothing that proves who
wrote them), and with DNS rebinding they can even read the answers. So, for HTTP requests and
WebSocket handshakes alike:

- **Host**: the ``Host`` header must name this server: a loopback name or address (``localhost``,
  ``127.0.0.0/8``, ``[::1]``), the bind address, the host of ``WORKBENCH_PUBLIC_URL``, or a name in
  ``WORKBENCH_ALLOWED_HOSTS`` (``*``: any, accounts mode only). Anything else is 403: a page on
  ``evil.example`` whose name was re-pointed at 127.0.0.1 gets nothing.
- **Origin**: a request that changes something (any method but GET, HEAD and OPTIONS) and every
  WebSocket handshake that carries an ``Origin`` must come from this server's own origin (same host
  and port as the ``Host`` header), the public URL's origin, or an origin in
  ``WORKBENCH_CORS_ORIGINS``; ``Origin: null`` and ``Sec-Fetch-Site: cross-site`` (unless the origin
  is listed) are foreign. Clients that are not browsers send no ``Origin`` and are not affected.
- **Content type**: a POST, PUT or PATCH with a body must be JSON (``application/json`` or
  ``application/*+json``), or ``multipart/form-data`` for the routes that take uploads; anything else
  is 415. Bodies are parsed as JSON only when they say they are JSON (``GuardedRequest``), whichever
  route reads them, and a body nested too deeply for the parser is a 400, not a 500.
- **Security headers** on every response (``security_headers``): ``nosniff``, no referrer, no
  framing, a Content Security Policy that lets API responses load nothing at all, the docs
  page's own policy (``DocsPage``) and the one of the server's other pages (``PAGE_CSP``).

The Host and Origin rules live in ``workbench.net.origin`` (the web apps' server applies the same
ones); this module applies them to the API. Refusals are answered in the API's error shape; a refused WebSocket handshake gets an HTTP 403 with
that body (or a close with code 1008 where the server cannot send a denial response).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import ClientException, HTTPException, PermissionDeniedException
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.config import ServerConfig
from server.middleware import request_id_of
from server.schemas import ErrorDetail, ErrorOut
from workbench.net.origin import OriginPolicy, is_loopback_host, split_host

__all__ = ["FrontDoor", "is_loopback_host", "split_host"]

log = logging.getLogger("server.guard")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
UPLOAD_TYPE = "multipart/form-data"
METRICS_PATH = "/metrics"
"""Prometheus' scrape path: with ``WORKBENCH_METRICS_TOKEN`` its GETs skip the Host check (the
token guards it; Prometheus names the pod's address)."""
POLICY_VIOLATION = 1008

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The Content Security Policy of everything but HTML pages: JSON loads nothing and is never framed."""
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
"""The policy of the server's own pages (``server.pages``): a stylesheet and images from this server,
no script at all, no inline style."""
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
"""Headers every response carries (``content-security-policy`` is added per response)."""
CSP_STATE_KEY = "content_security_policy"
"""Where a handler that renders HTML leaves its page's policy (``scope["state"]``)."""


# ---- hosts and origins -----------------------------------------------------------------------------
# The rules themselves live in ``workbench.net.origin`` (the web front end applies the same ones).


class FrontDoor(OriginPolicy):
    """Which hosts and origins a server accepts (from its ``ServerConfig``)."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(
            local=config.auth == "none",
            allowed_hosts=config.allowed_hosts,
            bind_host=config.host,
            cors_origins=config.cors_origins,
            public_url=config.public_url,
        )
        self.metrics_token = config.metrics_token


# ---- the middleware ---------------------------------------------------------------------------------


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def is_json_type(media_type: str) -> bool:
    """``application/json`` or ``application/<something>+json``."""
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


def guard_middleware(config: ServerConfig) -> Any:
    """The middleware of the front door (see the module documentation), for HTTP and WebSocket."""
    door = FrontDoor(config)

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] not in ("http", "websocket"):
                await app(scope, receive, send)
                return
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            websocket = scope["type"] == "websocket"
            method = "GET" if websocket else scope["method"]
            status = 403
            scraping = door.metrics_token is not None and scope["path"] == METRICS_PATH and method == "GET"
            # Prometheus scrapes by the pod's address; the token, not the Host, guards /metrics then
            problem = None if scraping else door.host_problem(headers.get("host"))
            if problem is None and (websocket or method not in SAFE_METHODS):
                problem = door.origin_problem(
                    headers.get("origin"), headers.get("sec-fetch-site"), headers.get("host")
                )
            if problem is None and method in BODY_METHODS and _has_body(headers):
                kind = _media_type(headers.get("content-type"))
                if not (is_json_type(kind) or kind == UPLOAD_TYPE):
                    status = 415
                    problem = (
                        f"the body is {kind or 'untyped (no Content-Type)'}: send JSON with "
                        "Content-Type: application/json (file uploads: multipart/form-data)"
                    )
            if problem is None:
                await app(scope, receive, send)
                return
            log.info("refused %s %s: %s", "WebSocket" if websocket else method, scope["path"], problem)
            if not websocket:
                if status == 415:
                    raise HTTPException(status_code=415, detail=problem)
                raise PermissionDeniedException(detail=f"refused: {problem}")
            await _deny_websocket(scope, send, f"refused: {problem}")

        return middleware

    return factory


async def _deny_websocket(scope: Scope, send: Send, message: str) -> None:
    """Refuse a WebSocket handshake: HTTP 403 with the error body where the server can send one."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": message[:120]})
        return
    request_id = request_id_of(scope)
    body = ErrorOut(
        error=ErrorDetail(status=403, code="forbidden", message=message, request_id=request_id)
    ).model_dump_json()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-request-id", request_id.encode("latin-1")),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body.encode(), "more_body": False})


# ---- response headers ----------------------------------------------------------------------------


async def security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: every response (HTTP, and WebSocket denials) gets the security
    headers; the Content Security Policy is the page's own (``DocsPage``) or the strict API one."""
    if message["type"] not in ("http.response.start", "websocket.http.response.start"):
        return
    headers = MutableScopeHeaders.from_message(message)  # type: ignore[arg-type]
    for key, value in SECURITY_HEADERS.items():
        if key not in headers:
            headers[key] = value
    if "content-security-policy" not in headers:
        headers["content-security-policy"] = scope.get("state", {}).get(CSP_STATE_KEY, API_CSP)


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_HREF = re.compile(r"href=['\"]([^'\"]+)['\"]")


def _source(url: str) -> str:
    """A CSP source for an asset URL: itself when absolute, ``'self'`` when served by this server
    (a CSP source cannot be a relative path)."""
    return url if urlsplit(url).netloc else "'self'"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class DocsPage(SwaggerRenderPlugin):
    """Swagger UI at ``/api/docs`` with a Content Security Policy allowing exactly what the page
    loads: its two scripts, stylesheet and favicon from this server (``'self'``; ``server.pages``
    serves them from the ``swagger-ui-py`` package), the inline script that starts it (by hash: the
    page is generated from the OpenAPI schema only, never from a request), inline styles (Swagger
    UI sets them as it renders), ``data:`` images (its icons), and requests to this server ("Try it
    out").

    Nothing comes from outside the machine: the asset URLs must be paths on this server (Litestar's
    defaults point at a CDN, so they must be given), and the policy is built from the plugin's own
    settings and the page it rendered."""

    def __init__(
        self, *, js_url: str, css_url: str, standalone_preset_js_url: str, favicon: str, **kwargs: Any
    ) -> None:
        urls = [js_url, css_url, standalone_preset_js_url, *_HREF.findall(favicon)]
        foreign = [url for url in urls if _source(url) != "'self'"]
        if foreign:
            raise ValueError(
                f"the docs page loads nothing from outside this server; these are not local paths: {foreign}"
            )
        super().__init__(
            js_url=js_url,
            css_url=css_url,
            standalone_preset_js_url=standalone_preset_js_url,
            favicon=favicon,
            **kwargs,
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page; its policy goes to the response through the request state."""
        page = super().render(request, openapi_schema)
        scripts = dict.fromkeys(
            [_source(self.js_url), _source(self.standalone_preset_js_url)]
            + [_sha256(s) for s in _INLINE_SCRIPT.findall(page.decode())]
        )
        images = dict.fromkeys(["'self'", "data:", *(_source(u) for u in _HREF.findall(self.favicon))])
        request.scope["state"][CSP_STATE_KEY] = (
            f"default-src 'none'; script-src {' '.join(scripts)}; "
            f"style-src {_source(self.css_url)} 'unsafe-inline'; img-src {' '.join(images)}; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
        return page


# ---- JSON bodies -------------------------------------------------------------------------------------


class GuardedRequest(Request[Any, Any, Any]):
    """The request class of the application: its body is JSON only when it says so (415 otherwise,
    whichever route reads it), and a body too deeply nested to parse is a 400."""

    async def json(self) -> Any:
        """The JSON body (None when empty)."""
        body = await self.body()
        if body:
            kind = _media_type(self.headers.get("content-type"))
            if not is_json_type(kind):
                raise HTTPException(
                    status_code=415,
                    detail=f"this route takes JSON: send Content-Type: application/json (got {kind or 'none'})",
                )
        try:
            return await super().json()
        except RecursionError:
            raise ClientException(detail="the JSON body is nested too deeply to be read") from None
