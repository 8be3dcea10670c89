"""A real MCP server for tests, built with the official SDK's ``MCPServer``.

Over streamable HTTP: :func:`serve_http` runs it under uvicorn in a thread on 127.0.0.1 (a free
port), optionally behind a bearer token, recording the ``Authorization`` header of each request.
Over stdio: ``python -m tests.support.mcp_server`` (the repository root on ``PYTHONPATH``).

Tools: ``add(a, b)`` (an integer), ``echo(text)``, ``forecast(city)`` (an object: structured content),
``fail(reason)`` (the tool reports an error: ``isError``), ``pause(seconds)`` (sleeps, then answers).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]


def build(name: str = "testtools") -> MCPServer:
    """The test server and its tools."""
    server = MCPServer(name, log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return text

    @server.tool()
    def forecast(city: str) -> dict[str, Any]:
        """The weather in a city (always sunny)."""
        return {"city": city, "sky": "sunny", "celsius": 21}

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails, saying why."""
        raise ToolError(f"cannot do it: {reason}")

    @server.tool()
    async def pause(seconds: float) -> str:
        """Sleep, then answer."""
        await anyio.sleep(seconds)
        return "awake"

    return server


@dataclass
class HttpMcpServer:
    """A running HTTP test server: its endpoint URL and the ``Authorization`` headers it received."""

    url: str = ""
    token: str | None = None
    authorizations: list[str | None] = field(default_factory=list)


def _guarded(app: ASGIApp, state: HttpMcpServer) -> ASGIApp:
    """``app`` behind a bearer token check (when ``state.token``), recording each Authorization."""

    async def guarded(
        scope: Scope, receive: Callable[..., Awaitable[Any]], send: Callable[..., Awaitable[Any]]
    ) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
            given = headers.get("authorization")
            state.authorizations.append(given)
            if state.token is not None and given != f"Bearer {state.token}":
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain")],
                    }
                )
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return guarded


@contextmanager
def serve_http(
    token: str | None = None, names: tuple[str, ...] = ("mcp.example.com",)
) -> Iterator[HttpMcpServer]:
    """Serve the test server over streamable HTTP on 127.0.0.1 for the duration of the block; its
    DNS-rebinding protection accepts the ``Host`` names 127.0.0.1, localhost and ``names``."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = ["127.0.0.1", "localhost", *names]
    security = TransportSecuritySettings(
        allowed_hosts=[f"{h}:*" for h in hosts], allowed_origins=[f"http://{h}:*" for h in hosts]
    )
    state = HttpMcpServer(token=token)
    app = _guarded(build().streamable_http_app(transport_security=security), state)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="mcp-test-server", daemon=True)
    thread.start()
    try:
        for _ in range(1000):
            if server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the MCP test server did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        state.url = f"http://127.0.0.1:{port}/mcp"
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    build().run("stdio")
