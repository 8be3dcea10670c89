"""``/mcp``: the caller's agents as MCP tools over the streamable-HTTP transport (the official SDK's).

The request has passed the front door (Host and Origin checks), authentication and the rate limit
like any other route: the MCP server reads the principal our authentication put on the request.
Every MCP request is a run of an agent or a listing for one, so the whole endpoint needs the
``graphs:execute`` scope; a key without it is refused with 403 before the SDK sees anything.

The transport is stateless (no MCP session kept between requests, so any API replica answers) and
answers with an event stream when there is progress to send. The SDK's own Host/Origin checks are
off: ours have run already, with the server's configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, asgi
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.types import Receive, Scope, Send
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from workbench.app import Workbench
from workbench.auth import Principal
from workbench.errors import PermissionDenied
from workbench.mcp.server import build_server
from workbench.services.agent_tools import EXECUTE_SCOPE

MCP_PATH = "/mcp"


def _principal(ctx: ServerRequestContext[Any, Any]) -> Principal:
    user = getattr(ctx.request, "scope", {}).get("user") if ctx.request is not None else None
    if not isinstance(user, Principal):
        raise PermissionDenied("not authenticated")
    return user


class McpEndpoint:
    """The SDK's session manager for one application, its lifespan and the route that feeds it."""

    def __init__(self, workbench: Workbench, max_body_size: int) -> None:
        server = build_server(lambda: workbench.agent_tools, _principal)
        self.manager = StreamableHTTPSessionManager(
            app=server,
            stateless=True,
            json_response=False,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=max_body_size,
        )

        @asgi(MCP_PATH, copy_scope=False)
        async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            """The MCP streamable-HTTP endpoint (POST JSON-RPC messages; GET and DELETE per the spec)."""
            user = scope.get("user")
            if not isinstance(user, Principal):
                raise NotAuthorizedException("authentication required")
            if EXECUTE_SCOPE not in user.scopes:
                what = "API key" if user.via == "api_key" else "caller"
                raise PermissionDeniedException(f"this {what} lacks the scope {EXECUTE_SCOPE!r}")
            await self.manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

        self.route = mcp_endpoint

    @asynccontextmanager
    async def lifespan(self, _app: Litestar) -> AsyncIterator[None]:
        """Run the session manager (its task group) while the application runs."""
        async with self.manager.run():
            yield
