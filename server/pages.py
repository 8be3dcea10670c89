"""What a browser visits: the home page at ``/`` (what runs here, and the way to the web apps) and the
assets of the pages under ``/static/``.

Pages load nothing from outside this server. Our own stylesheet and icon are in ``server/static/``;
Swagger UI (the docs page at ``/api/docs``, ``server.guard.DocsPage``) comes from the
``swagger-ui-py`` package, which ships Swagger UI's built files. Only the files listed in
:data:`ASSETS` are served; Swagger UI's sit under a path with the package's version, so browsers may
keep them for good.

The home page works without JavaScript and has its own strict policy (``server.guard.PAGE_CSP``:
its stylesheet and icon from this server, nothing else). It is public in every auth mode; with
accounts it shows nothing a visitor should not see (no data folder, no database host).
"""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from litestar import HttpMethod, MediaType, Request, Response, route
from litestar.exceptions import NotFoundException
from litestar.response import File

from server.config import ServerConfig
from server.guard import PAGE_CSP
from workbench import __version__
from workbench.app import Workbench

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SWAGGER_UI_PACKAGE = "swagger-ui-py"
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css")
"""The files of Swagger UI the docs page loads."""
UI_URL_STATE = "ui_url"
"""Where the process that serves the API also serves the web apps (``app.state``; unset: not here)."""
OWN_CACHE = "public, max-age=300"
VERSIONED_CACHE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


@dataclass(frozen=True, slots=True)
class Asset:
    """A file served under ``/static/``."""

    path: Path
    media_type: str
    cache_control: str


def swagger_ui_dir() -> Path:
    """Where the ``swagger-ui-py`` package keeps Swagger UI's built files (found without importing
    the package, which would import its web framework adapters)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the API docs need the {SWAGGER_UI_PACKAGE} package (Swagger UI's files), which is not "
            "installed: run `make install-run` or `pip install -e .`"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    missing = [name for name in SWAGGER_UI_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"{SWAGGER_UI_PACKAGE} at {folder} lacks {', '.join(missing)}: reinstall it")
    return folder


def _swagger_ui_version() -> str:
    try:
        return version(SWAGGER_UI_PACKAGE)
    except PackageNotFoundError:  # found on the path without metadata: no stable version to cache on
        return "unversioned"


SWAGGER_UI_PREFIX = f"swagger-ui/{_swagger_ui_version()}"


def _assets() -> dict[str, Asset]:
    own = {
        name: Asset(STATIC / name, MEDIA_TYPES[Path(name).suffix], OWN_CACHE)
        for name in ("home.css", "account.css", "account.js", "review.css", "favicon.svg")
    }
    folder = swagger_ui_dir()
    swagger = {
        f"{SWAGGER_UI_PREFIX}/{name}": Asset(folder / name, MEDIA_TYPES[Path(name).suffix], VERSIONED_CACHE)
        for name in SWAGGER_UI_FILES
    }
    return own | swagger


ASSETS = _assets()
"""Path under ``/static/`` -> the file; nothing else is served there."""


def asset_url(name: str) -> str:
    """The URL of an asset (a key of :data:`ASSETS`)."""
    assert name in ASSETS, name
    return f"/static/{name}"


ICON_URL = asset_url("favicon.svg")


def docs_assets() -> dict[str, str]:
    """The ``DocsPage`` arguments that make the docs page load Swagger UI from this server."""
    return {
        "js_url": asset_url(f"{SWAGGER_UI_PREFIX}/swagger-ui-bundle.js"),
        "standalone_preset_js_url": asset_url(f"{SWAGGER_UI_PREFIX}/swagger-ui-standalone-preset.js"),
        "css_url": asset_url(f"{SWAGGER_UI_PREFIX}/swagger-ui.css"),
        "favicon": f"<link rel='icon' type='image/svg+xml' href='{ICON_URL}'>",
    }


@route(
    "/static/{name:path}",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    exclude_from_auth=True,
    include_in_schema=False,
    sync_to_thread=False,
    name="static-asset",
)
def static_asset(name: str) -> File:
    """One of the listed assets; 404 for any other path."""
    asset = ASSETS.get(name.lstrip("/"))
    if asset is None:
        raise NotFoundException(f"no asset {name.lstrip('/')!r} here (pages' files only)")
    return File(
        asset.path,
        media_type=asset.media_type,
        content_disposition_type="inline",
        filename=asset.path.name,
        headers={"cache-control": asset.cache_control},
    )


# ---- the home page ---------------------------------------------------------------------------------

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _database(wb: Workbench, private: bool) -> str:
    """Which database, without credentials: its host only, and only when the viewer may know it."""
    if wb.db is None:
        return "none (ephemeral: nothing is stored)"
    url = wb.settings.database_url
    if url is None:
        return "embedded PostgreSQL (in the data folder)"
    if not private:
        return "PostgreSQL server"
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return f"PostgreSQL at {host}" if host else "PostgreSQL (Unix socket)"


def facts(wb: Workbench, config: ServerConfig) -> list[tuple[str, str]]:
    """What the status box of the home page lists: private details only without accounts (the only
    visitor is then the local user)."""
    local = config.auth == "none"
    rows = [
        ("Version", __version__),
        (
            "Sign-in",
            "none: the single local user, on this machine only"
            if local
            else "accounts: API calls need a token or an API key",
        ),
        ("Database", _database(wb, private=local)),
        ("Execution queue", "in-process" if wb.queue is None else _kind(wb.queue.kind)),
        ("Event bus", _kind(wb.bus.kind)),
    ]
    if local:
        rows.append(("Data folder", str(wb.settings.home)))
    return rows


def _kind(kind: str) -> str:
    return {"rabbitmq": "RabbitMQ", "redis": "Redis"}.get(kind, kind)


def render_home(wb: Workbench, config: ServerConfig, base_url: str, ui_url: str | None = None) -> str:
    """The home page's HTML (``ui_url``: where the web apps run, None when they are off)."""
    return _TEMPLATES.get_template("home.html").render(
        version=__version__,
        facts=facts(wb, config),
        accounts=config.auth == "accounts",
        base_url=base_url,
        ui_url=ui_url,
        css_url=asset_url("home.css"),
        icon_url=ICON_URL,
    )


def html_page(
    path: str, name: str, methods: tuple[HttpMethod, ...] = (HttpMethod.GET, HttpMethod.HEAD)
) -> Any:
    """The route decorator of a page this server renders itself: HTML, open without a login (a page
    that needs a credential checks it itself), left out of the API's schema."""

    def decorate(handler: Any) -> Any:
        sync = {} if inspect.iscoroutinefunction(handler) else {"sync_to_thread": False}  # renders only
        return route(
            path,
            http_method=list(methods),
            exclude_from_auth=True,
            include_in_schema=False,
            media_type=MediaType.HTML,
            name=name,
            **sync,
        )(handler)

    return decorate


@html_page("/", "home")
def home(request: Request[Any, Any, Any]) -> Response[str]:
    """The home page: what is running here and where to go next."""
    config: ServerConfig = request.app.state.config
    base_url = config.public_url or str(request.base_url)
    ui_url = request.app.state.get(UI_URL_STATE)
    return Response(
        render_home(request.app.state.workbench, config, base_url.rstrip("/"), ui_url),
        media_type=MediaType.HTML,
        headers={"content-security-policy": PAGE_CSP, "cache-control": "no-store"},
    )
