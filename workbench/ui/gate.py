"""The UI server's front door: which requests it answers and who sent them.

Every page request and WebSocket handshake of the UI server passes :class:`Gate` (through the Bokeh
auth provider of ``workbench.ui.server``), and so do the login and logout handlers:

- the ``Host`` and ``Origin`` rules of the API (``workbench.net.origin``, the same code): a foreign
  ``Host`` (DNS rebinding) is refused always, a foreign ``Origin`` on a WebSocket handshake, a form
  post or a log out;
- the login session (``workbench.ui.session``): with accounts, the ``wb_session`` cookie (renewed
  from ``wb_refresh`` when it expired); without (``--auth none``), the local user;
- security headers on the pages: no framing, no sniffing, no referrer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from tornado.web import HTTPError, RequestHandler
from tornado.websocket import WebSocketHandler

from workbench.errors import StoreError
from workbench.net.origin import OriginPolicy
from workbench.ui.session import (
    REFRESH_COOKIE,
    SESSION_COOKIE,
    TICKET_HEADER,
    Cookie,
    Identity,
    SessionResolver,
    login_cookies,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make form posts say Origin: null
}
OAUTH_LABELS = {"github": "GitHub", "google": "Google"}


@dataclass(frozen=True, slots=True)
class UiSettings:
    """How the UI server runs, beside the API.

    Attributes:
        auth: ``none`` (the local user, loopback only) or ``accounts`` (log in on ``/login``).
        api_url: where browsers reach the API (the header's API docs link, the OAuth buttons).
        notebooks_url: where JupyterLab answers (``make lab``) for the Notebooks link.
        oauth_providers: the OAuth providers configured on the API (``github``, ``google``).
        allowed_hosts, cors_origins: as the API's (``WORKBENCH_ALLOWED_HOSTS``, ``WORKBENCH_CORS_ORIGINS``).
        public_url: the URL browsers reach the UI at, when not its bind address (a proxy).
    """

    auth: Literal["none", "accounts"] = "none"
    api_url: str = "http://127.0.0.1:8006"
    notebooks_url: str = "http://127.0.0.1:8888/lab"
    oauth_providers: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    public_url: str | None = None

    @property
    def local(self) -> bool:
        """No accounts: every page is the local user's."""
        return self.auth == "none"

    def oauth_login_url(self, provider: str, back_to: str) -> str:
        """The API's OAuth login of ``provider``, asked to come back to ``back_to`` afterwards."""
        return f"{self.api_url}/api/v1/auth/oauth/{provider}/login?next={quote(back_to, safe='')}"


class Gate:
    """Checks requests to the UI server and names their user (see the module documentation)."""

    def __init__(self, settings: UiSettings, resolver: SessionResolver, bind_host: str) -> None:
        self.settings = settings
        self.resolver = resolver
        self.policy = OriginPolicy(
            local=settings.local,
            allowed_hosts=settings.allowed_hosts,
            bind_host=bind_host,
            cors_origins=settings.cors_origins,
            public_url=settings.public_url,
        )

    def problem(self, handler: RequestHandler, *, changes: bool) -> str | None:
        """Why the request is refused (foreign Host, or foreign Origin when it ``changes``
        something), or None."""
        headers = handler.request.headers
        host = headers.get("Host")
        problem = self.policy.host_problem(host)
        if problem is None and changes:
            problem = self.policy.origin_problem(headers.get("Origin"), headers.get("Sec-Fetch-Site"), host)
        return problem

    def check(self, handler: RequestHandler, *, changes: bool) -> None:
        """Refuse the request with 403 when :meth:`problem` finds one."""
        problem = self.problem(handler, changes=changes)
        if problem is not None:
            raise HTTPError(403, "refused: %s", problem, reason="Forbidden: " + problem[:200])

    def secure(self, handler: RequestHandler) -> bool:
        """Whether cookies get ``Secure``: the request came over HTTPS, or the UI is published on it."""
        return handler.request.protocol == "https" or (self.settings.public_url or "").startswith("https://")

    def set_cookies(self, handler: RequestHandler, cookies: list[Cookie]) -> None:
        """Send login-session cookies (``HttpOnly``, ``SameSite=Lax``, ``Secure`` over HTTPS)."""
        for cookie in cookies:
            options = {"path": "/", "httponly": True, "samesite": "Lax", "secure": self.secure(handler)}
            if cookie.value is None:
                handler.clear_cookie(cookie.name, **options)
            else:
                handler.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, **options)

    async def user_of(self, handler: RequestHandler) -> str | None:
        """The user id of a page request or WebSocket handshake (None: send it to the login page).

        The page request also gets a ticket (``X-Workbench-Ticket``) that names the identity to the
        code building the page (``SessionResolver.take_ticket``), and the page's security headers."""
        websocket = isinstance(handler, WebSocketHandler)
        self.check(handler, changes=websocket or handler.request.method not in SAFE_METHODS)
        try:
            identity, renewed = await self.resolver.identify(
                handler.get_cookie(SESSION_COOKIE),
                handler.get_cookie(REFRESH_COOKIE),
                may_refresh=not websocket,
            )
        except StoreError as exc:
            raise HTTPError(
                503,
                "the database cannot be reached: %s",
                exc,
                reason="Database unavailable: try again shortly",
            ) from None
        if identity is None:
            return None
        if websocket:  # its answer sets no cookies: a handshake never rotates the refresh token
            return identity.user_id
        if renewed is not None:
            self.set_cookies(handler, login_cookies(renewed))
        for name, value in PAGE_HEADERS.items():
            handler.set_header(name, value)
        handler.request.headers[TICKET_HEADER] = self.resolver.issue_ticket(identity)
        return identity.user_id

    def identity_of_ticket(self, ticket: str | None) -> Identity | None:
        """The identity a page request's ticket names (once)."""
        return self.resolver.take_ticket(ticket)
