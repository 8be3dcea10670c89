"""The UI server: Panel's own (Tornado) server, on the asyncio loop of the API process, on its own port.

:func:`start_ui` builds it from the page table :data:`PAGES`: each entry maps a URL path to a page
module exposing ``create(ctx: UiContext) -> Viewable``; entries whose module is not there are left
out, so pages plug in by being written. Every page is wrapped in the :class:`~workbench.ui.shell.Shell`,
whose header has the notification bell when the inbox page is there (one live count per browser
session: :mod:`workbench.ui.bell`).

Besides the pages it serves ``/login`` and ``/logout`` (``workbench.ui.login``), its own files under
``/ui-static/`` (``workbench/ui/static``: the shell's stylesheet and the Tabler icon font Bokeh would
otherwise fetch from a CDN), and Bokeh's and Panel's scripts and styles from the installed packages
(resources mode ``server``): a page loads nothing from outside the machine.

Who is looking is decided per request by the :class:`~workbench.ui.gate.Gate` (a Bokeh auth
provider): no valid session cookie sends the browser to ``/login``; ``--auth none`` is the local
user, on loopback names only.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import panel as pn
from bokeh.server.auth_provider import AuthProvider
from bokeh.server.server import Server
from bokeh.settings import settings as bokeh_settings
from tornado.web import RequestHandler, StaticFileHandler

from workbench.app import Workbench
from workbench.errors import ConfigError
from workbench.net.origin import is_loopback_host, normalize_origin, split_host
from workbench.ui.bell import session_bell
from workbench.ui.context import UiContext
from workbench.ui.gate import Gate, UiSettings
from workbench.ui.login import LoginHandler, LogoutHandler
from workbench.ui.session import REFRESH_COOKIE, SESSION_COOKIE, TICKET_HEADER, SessionResolver
from workbench.ui.shell import BELL_LABEL, STATIC_URL, NavLink, Shell

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
ICONS_JS = f"{STATIC_URL}/tabler-local.js"


@dataclass(frozen=True, slots=True)
class PageSpec:
    """One page of the apps.

    Attributes:
        path: its URL path on the UI server.
        module: the module that builds it (``create(ctx)``).
        title: the browser tab's title.
        nav: its label in the header's navigation (None: reached by links only).
        section: the navigation entry marked current while it is shown (default: ``nav``).
    """

    path: str
    module: str
    title: str
    nav: str | None = None
    section: str | None = None


PAGES: tuple[PageSpec, ...] = (
    PageSpec("/", "workbench.ui.home", "Home", nav="Home"),
    PageSpec("/builder", "workbench.ui.builder.page", "Builder", nav="Builder"),
    PageSpec("/chat", "workbench.ui.chat", "Chat", nav="Chat"),
    PageSpec("/monitor", "workbench.ui.monitor", "Monitor", nav="Monitor"),
    PageSpec("/monitor/run", "workbench.ui.run_page", "Run", section="Monitor"),
    PageSpec("/library", "workbench.ui.library", "Library", nav="Library"),
    PageSpec("/marketplace", "workbench.ui.marketplace", "Marketplace", nav="Marketplace"),
    PageSpec("/profile", "workbench.ui.profile", "Profile", nav="Profile"),
    PageSpec("/notifications", "workbench.ui.notifications", "Notifications", section=BELL_LABEL),
)
"""The pages, in navigation order."""
INBOX_PATH = "/notifications"
"""The inbox, where the header's bell leads (no bell when its page is absent)."""


def available_pages(pages: tuple[PageSpec, ...] = PAGES) -> list[PageSpec]:
    """The pages whose module exists."""
    return [page for page in pages if _module_exists(page.module)]


def _module_exists(name: str) -> bool:
    """Whether ``name`` can be imported (False when its package is missing too)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def nav_links(pages: list[PageSpec], settings: UiSettings) -> list[NavLink]:
    """The header's navigation: the pages, the API docs, the notebooks."""
    links = [NavLink(page.nav, page.path) for page in pages if page.nav is not None]
    links.append(NavLink("API docs", f"{settings.api_url}/api/docs"))
    links.append(NavLink("Notebooks", settings.notebooks_url))
    return links


def _login_url(handler: RequestHandler) -> str:
    """``/login``, written so that Panel's ``'.' + url`` resolves to it from any depth of path."""
    depth = max(handler.request.path.count("/") - 1, 0)
    return "/" + "../" * depth + "login"


class GateAuth(AuthProvider):
    """Bokeh's hook into every page request and WebSocket handshake: the :class:`Gate` decides."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        super().__init__()

    @property
    def get_user_async(self) -> Callable[[RequestHandler], Any]:
        """The user id of a request, or None (the login page)."""
        return self.gate.user_of

    @property
    def get_login_url(self) -> Callable[[RequestHandler], str]:
        """Where a request without a session goes."""
        return _login_url


def _failure(message: str) -> pn.viewable.Viewable:
    return pn.pane.Alert(message, alert_type="danger", sizing_mode="stretch_width")


def page_app(
    page: PageSpec, wb: Workbench, gate: Gate, links: list[NavLink], bell: str | None = None
) -> Callable[[], Any]:
    """The function Panel calls once per browser session of ``page``: the page in the shell, with the
    notification bell (leading to ``bell``) when there is an inbox."""

    hrefs = {link.label: link.href for link in links}

    def build() -> pn.viewable.Viewable:
        request = pn.state.curdoc.session_context.request
        identity = gate.identity_of_ticket(request.headers.get(TICKET_HEADER))
        if identity is None:
            return _failure("This page could not tell who you are: reload it, or log in again at /login.")
        live = None
        if bell:
            try:
                live = session_bell(wb, identity.user_id)
            except Exception:  # the page works without its bell
                log.exception("the notification bell failed to start")
        ctx = UiContext(
            wb=wb,
            user_id=identity.user_id,
            email=identity.email,
            links=hrefs,
            notifications=live[0] if live else None,
        )
        try:
            body = importlib.import_module(page.module).create(ctx)
        except Exception as exc:  # one broken page must not take the others down
            log.exception("the %s page failed to build", page.title)
            body = _failure(f"The {page.title} page failed to load: {type(exc).__name__}: {exc}")
        shell = Shell(
            body=body,
            current=page.section or page.nav or "",
            links=links,
            email=identity.email,
            can_log_out=not gate.settings.local,
            bell=bell if live else None,
            badge=live[1] if live else None,
        )
        shell.install(pn.state.curdoc)
        return shell

    return build


def _import_pages(pages: list[PageSpec]) -> None:
    """Import every page's module now: the custom components they define (Panel ``JSComponent``s)
    must be known before the first browser session, whose page lists the models it may use."""
    for page in pages:
        try:
            importlib.import_module(page.module)
        except Exception:  # reported again, to the person, when the page is opened
            log.exception("the %s page cannot be imported", page.title)


def websocket_origins(settings: UiSettings, host: str, port: int) -> list[str]:
    """The ``host:port`` values a WebSocket handshake's ``Origin`` may name (Bokeh's own check; the
    gate applies the API's rules on top)."""
    bind, _ = split_host(host)
    names = {bind} if bind not in ("", "0.0.0.0", "::") else set()
    if not names or is_loopback_host(bind):
        names |= {"127.0.0.1", "localhost"}
    names |= {split_host(name)[0] for name in settings.allowed_hosts}
    origins = {f"{name}:{port}" for name in names if name != "*"}
    if "*" in names and not settings.local:
        origins.add("*")
    if settings.public_url:
        origins.add(normalize_origin(settings.public_url).partition("://")[2])
    return sorted(origins)


@dataclass
class UiServer:
    """The running UI server."""

    server: Server
    url: str
    pages: list[PageSpec]

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.port or 0)

    def stop(self) -> None:
        """Stop taking requests and close the browser sessions."""
        self.server.stop(wait=False)


def _configure_panel() -> None:
    """Process-wide Bokeh and Panel settings of the UI: scripts and styles from this server (whatever
    ``BOKEH_RESOURCES`` says), and the icon font pointed at this server too."""
    bokeh_settings.resources.set_value("server")
    pn.config.js_files = {**pn.config.js_files, "wb_tabler_local": ICONS_JS}


async def start_ui(wb: Workbench, settings: UiSettings, host: str, port: int) -> UiServer:
    """Start the UI server on the running asyncio loop (``wb`` started); ConfigError when the port
    cannot be had."""
    _configure_panel()
    gate = Gate(settings, SessionResolver(wb, local=settings.local), host)
    pages = available_pages()
    _import_pages(pages)
    links = nav_links(pages, settings)
    bell = INBOX_PATH if any(page.path == INBOX_PATH for page in pages) else None
    apps = {page.path: page_app(page, wb, gate, links, bell) for page in pages}
    titles = {page.path: f"{page.title} · Agent Workbench" for page in pages}
    extra_patterns = [
        (r"/login", LoginHandler, {"gate": gate}),
        (r"/logout", LogoutHandler, {"gate": gate}),
        (rf"{STATIC_URL}/(.*)", StaticFileHandler, {"path": str(STATIC_DIR)}),
    ]
    previous = signal.getsignal(signal.SIGINT)  # Panel installs its own; the process keeps the API's
    try:
        server = pn.io.server.get_server(
            apps,
            port=port,
            address=host,
            websocket_origin=websocket_origins(settings, host, port),
            title=titles,
            start=False,
            show=False,
            extra_patterns=extra_patterns,
            auth_provider=GateAuth(gate),
            # Keep the session cookies out of the session token Bokeh embeds in the page.
            exclude_cookies=[SESSION_COOKIE, REFRESH_COOKIE],
            exclude_headers=["Cookie"],
            server_id=f"workbench-ui-{uuid.uuid4().hex}",
            # A closed tab's session (and its live feed) goes within ~12 s, not Bokeh's ~32 s; a page
            # has 10 s from its HTML to its WebSocket.
            check_unused_sessions_milliseconds=2_000,
            unused_session_lifetime_milliseconds=10_000,
        )
    except OSError as exc:
        raise ConfigError(
            f"the UI cannot listen on {host}:{port}: {exc.strerror or exc} (WORKBENCH_UI_PORT)"
        ) from exc
    finally:
        signal.signal(signal.SIGINT, previous)
    server.start()
    shown = f"[{host}]" if ":" in host else host
    url = settings.public_url or f"http://{shown}:{server.port}"
    log.info("UI server on %s (%s)", url, ", ".join(page.path for page in pages))
    return UiServer(server, url.rstrip("/"), pages)
