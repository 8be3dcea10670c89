"""``wb.mcp_tools(url, token)`` in a notebook: an MCP server's tools as readable objects, fetched from
this process through the outbound guard (the client's settings, or ``allow_private=True``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mcp.conftest import TOKEN
from tests.support.mcp_server import HttpMcpServer
from workbench.client import Client, LocalClient, RemoteClient
from workbench.config import Settings
from workbench.errors import CredentialsError
from workbench.net import BlockedAddress


@pytest.fixture
def notebook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A blocking client on a remote server that is never reached: ``mcp_tools`` needs none, and
    follows this process's environment (which allows no private address here)."""
    for name in ("WORKBENCH_HTTP_ALLOW", "WORKBENCH_HTTP_ALLOW_PRIVATE"):
        monkeypatch.delenv(name, raising=False)
    client = Client(RemoteClient("http://127.0.0.1:9"))
    yield client
    client.portal.stop()


def test_mcp_tools_lists_a_servers_tools_readably(notebook: Client, mcp_http: HttpMcpServer) -> None:
    with pytest.raises(BlockedAddress, match="WORKBENCH_HTTP_ALLOW"):
        notebook.mcp_tools(mcp_http.url, TOKEN)
    tools = notebook.mcp_tools(mcp_http.url, TOKEN, allow_private=True)  # a server on my own machine
    assert [t.name for t in tools] == ["add", "echo", "forecast", "fail", "pause"]
    assert repr(tools[2]) == "<McpTool forecast(city: string) - The weather in a city (always sunny).>"
    assert tools[0].input_schema["required"] == ["a", "b"]
    with pytest.raises(CredentialsError, match="HTTP 401"):
        notebook.mcp_tools(mcp_http.url, "wrong", allow_private=True)


def test_a_local_client_follows_its_own_settings(mcp_http: HttpMcpServer, open_settings: Settings) -> None:
    client = Client(LocalClient(settings=open_settings))  # WORKBENCH_HTTP_ALLOW=127.0.0.0/8
    try:
        assert len(client.mcp_tools(mcp_http.url, token=TOKEN)) == 5
    finally:
        client.portal.stop()
