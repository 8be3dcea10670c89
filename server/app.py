"""The Litestar application: REST under /api/v1, the WebSocket at /ws, OpenAPI at /api/docs, the home
page at / and the pages' assets under /static (``server.pages``: nothing is loaded from elsewhere), and
the pages account mails link to, /reset-password and /verify-email (``server.account_pages``), and
the page a human review's signed link opens, /review/{id} (``server.review_page``).

Route handlers are thin: they parse, call a ``workbench`` service, and return a model. Errors are
turned into one JSON shape by ``server.errors``; the front door (``server.guard``: Host, Origin and
content type checks, JSON parsing, security headers), auth, request ids, no-cache headers, rate
limits, CORS, gzip and body size limits are configured here.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from server.account_pages import reset_password_page, verify_email_page
from server.auth import auth_middleware
from server.config import ServerConfig
from server.errors import EXCEPTION_HANDLERS
from server.guard import DocsPage, GuardedRequest, guard_middleware, security_headers
from server.mcp import McpEndpoint
from server.middleware import request_context_middleware
from server.pages import docs_assets, home, static_asset
from server.review_page import review_page, review_page_decide
from server.routes.accounts import AccountController
from server.routes.admin import BACKUP_PATH, AdminDatabaseController
from server.routes.agent_tools import list_agent_tools, list_server_tools, set_agent_tool
from server.routes.apikeys import ApiKeyController
from server.routes.blocks import BlockController
from server.routes.credentials import CredentialController
from server.routes.drafts import draft_graph
from server.routes.executions import ExecuteController, ExecutionController
from server.routes.files import FileController
from server.routes.graphs import GraphController
from server.routes.health import health
from server.routes.knowledge import KnowledgeController
from server.routes.marketplace import TemplateController
from server.routes.metrics import prometheus_metrics
from server.routes.notifications import NotificationController
from server.routes.oauth import OAuthController
from server.routes.retention import get_retention, put_retention
from server.routes.reviews import ReviewController, execution_reviews
from server.routes.schedules import ScheduleController
from server.routes.triggers import TriggerController, fire_hook
from server.stores import rate_limit_store
from server.ws import websocket_handler, ws_info
from workbench import __version__
from workbench.app import Workbench
from workbench.config import Settings
from workbench.scheduler import Scheduler, enabled_from_env


def _rate_limit_key(request: Request[Any, Any, Any]) -> str:
    """Per user (or client address when anonymous) and route."""
    user = request.scope.get("user")
    who = getattr(user, "user_id", None) or (request.client.host if request.client else "unknown")
    return f"{who}:{request.method}:{request.scope.get('path_template', request.url.path)}"


def retention_in_process(settings: Settings) -> bool:
    """Whether this server prunes execution data itself: in the one-process layout (no AMQP_URL),
    unless ``WORKBENCH_RETENTION_LOOP=off``; with AMQP_URL ``workbench dbmanager`` does."""
    mode = os.environ.get("WORKBENCH_RETENTION_LOOP", "").strip().lower()
    if mode in ("off", "0", "false", "no"):
        return False
    return mode in ("on", "1", "true", "yes") or not settings.amqp_url


def create_app(
    settings: Settings | None = None,
    config: ServerConfig | None = None,
    *,
    workbench: Workbench | None = None,
    enable_scheduler: bool | None = None,
) -> Litestar:
    """Build the application; the Workbench starts and stops with it, and so does a scheduler
    (``enable_scheduler``; default: ``WORKBENCH_SCHEDULER``, on unless ``off``), which fires schedules
    when it is elected leader and otherwise stands by."""
    config = config or ServerConfig()
    wb = workbench or Workbench(settings)
    if wb.api_url is None:
        wb.api_url = config.link_url  # the root of the links in account mails
    run_scheduler = enabled_from_env() if enable_scheduler is None else enable_scheduler
    schedulers: list[Scheduler] = []
    mcp = McpEndpoint(wb, config.max_body_size)

    pruning: list[Any] = []

    async def start(app: Litestar) -> None:
        wb.presence_extras.append(lambda: ws_info(app))
        await wb.start()
        app.state.workbench = wb
        if run_scheduler and wb.db is not None:
            schedulers.append(await Scheduler(wb).start())
        if wb.db is not None and retention_in_process(wb.settings):
            from workbench.services.dbmanager import DatabaseManager
            from workbench.services.dbmanager.retention import RetentionLoop

            service = DatabaseManager(wb.db, wb.settings).retention
            pruning.append(RetentionLoop(service, wb.settings.retention_interval).start())

    async def stop(app: Litestar) -> None:
        while pruning:
            await pruning.pop().stop()
        while schedulers:
            await schedulers.pop().stop()
        await wb.stop()

    api = Router(
        "/api/v1",
        route_handlers=[
            health,
            GraphController,
            draft_graph,
            ExecuteController,
            ExecutionController,
            BlockController,
            CredentialController,
            ApiKeyController,
            AccountController,
            AdminDatabaseController,
            OAuthController,
            ScheduleController,
            TriggerController,
            fire_hook,
            NotificationController,
            ReviewController,
            execution_reviews,
            KnowledgeController,
            FileController,
            TemplateController,
            list_agent_tools,
            set_agent_tool,
            list_server_tools,
            get_retention,
            put_retention,
        ],
    )
    # Outermost first: the request id and access log see everything; the guard refuses foreign
    # hosts, origins and content types before authentication or rate limits spend anything.
    middleware: list[Any] = [
        request_context_middleware,
        guard_middleware(config),
        auth_middleware(config.auth),
    ]
    if config.rate_limit is not None:
        unit, count = config.rate_limit
        middleware.append(
            RateLimitConfig(
                rate_limit=(unit, count),  # type: ignore[arg-type]
                identifier_for_request=_rate_limit_key,
                exclude=["^/$", "^/static/", "^/api/docs", "^/api/openapi", "^/api/v1/health$", "^/metrics$"],
            ).middleware
        )
    openapi = OpenAPIConfig(
        title="Agent Workbench API",
        version=__version__,
        description="Agents as graphs of blocks: store them, run them, watch them. "
        "Authenticate with `Authorization: Bearer <access token or API key>` or `X-API-Key`.",
        path="/api",
        render_plugins=[DocsPage(path="/docs", **docs_assets())],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="Access token or API key"),
                "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            }
        ),
        security=[{"bearer": []}, {"apiKey": []}] if config.auth == "accounts" else None,
    )
    return Litestar(
        route_handlers=[
            api,
            websocket_handler,
            mcp.route,
            home,
            static_asset,
            prometheus_metrics,
            reset_password_page,
            verify_email_page,
            review_page,
            review_page_decide,
        ],
        middleware=middleware,
        request_class=GuardedRequest,
        before_send=[security_headers],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=openapi,
        cors_config=CORSConfig(allow_origins=list(config.cors_origins), allow_credentials=False)
        if config.cors_origins
        else None,
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, exclude=[f"^/api/v1{BACKUP_PATH}$"]
        ),
        request_max_body_size=config.max_body_size,
        stores={"rate_limit": rate_limit_store()},
        on_startup=[start],
        on_shutdown=[stop],
        lifespan=[mcp.lifespan],
        state=State({"workbench": wb, "config": config}),
        logging_config=None,  # logging is configured by the process (JSON lines), not by Litestar
        debug=False,
    )
