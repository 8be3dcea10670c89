"""MCPToolBlock in a graph on the durable executor: the server comes from an 'mcp' credential of the
vault (HTTP with a token, or a command), the tool's result and content leave on their pins, and a
failure fails the node naming the tool and the server."""

from __future__ import annotations

import shlex
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blocks.mcp import MCPToolBlock
from tests.engine.graphs import execs, graph, inp, link, node, out
from tests.mcp.conftest import ROOT, TOKEN
from tests.support.mcp_server import HttpMcpServer
from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID
from workbench.engine.state import ExecutionStatus
from workbench.mcp.client import McpServer, list_tools
from workbench.ui.credential_forms import BY_ID

pytestmark = pytest.mark.usefixtures("mcp_allowed")


async def _credential(wb: Workbench, secret: dict[str, Any]) -> dict[str, Any]:
    meta = await wb.credentials.create(LOCAL_USER_ID, "mcp", "api_key", secret, title="test tools")
    return {"id": meta.id, "provider": "mcp", "type": "api_key"}


@pytest.fixture
async def http_cred(wb: Workbench, mcp_http: HttpMcpServer) -> AsyncIterator[dict[str, Any]]:
    """An 'mcp' credential for the HTTP test server, as the Profile page's form stores it."""
    secret = BY_ID["mcp_http"].secret({"url": mcp_http.url, "token": TOKEN, "name": "tt"})
    ref = await _credential(wb, secret)
    yield ref
    await wb.credentials.delete(LOCAL_USER_ID, ref["id"])


def tool_graph(cred: dict[str, Any], tool: str, **arguments: Any):
    """Input x -> MCPToolBlock(tool, arguments with x as 'a') -> outputs result, content."""
    return graph(
        [
            inp("x", "x"),
            node("mcp", MCPToolBlock, credentials=cred, tool_name=tool, arguments=arguments),
            out("result", "result"),
            out("content", "content"),
        ],
        [
            link("x.result", "mcp.arguments_#_a"),
            link("mcp.result", "result.value"),
            link("mcp.content", "content.value"),
        ],
    )


async def test_the_block_calls_a_tool_of_the_credentials_server(wb, http_cred):
    result = await wb.executions.run(tool_graph(http_cred, "add", b=3), {"x": 39}, timeout=30)
    assert result.status == "COMPLETED", result.error
    assert result.outputs["result"] == [{"result": 42}]
    assert result.outputs["content"] == [[{"type": "text", "text": "42"}]]
    (call,) = execs(result, "mcp")
    assert call.inputs["arguments"] == {"a": 39, "b": 3}


async def test_a_tool_error_fails_the_node_naming_tool_and_server(wb, http_cred):
    result = await wb.executions.run(tool_graph(http_cred, "fail", reason="no"), {"x": 1}, timeout=30)
    assert result.status == "FAILED"
    (call,) = execs(result, "mcp")
    assert call.status == ExecutionStatus.FAILED
    assert "the tool 'fail' of the MCP server 'tt'" in (call.error or "")
    assert "cannot do it: no" in (call.error or "")
    unknown = await wb.executions.run(tool_graph(http_cred, "subtract"), {"x": 1}, timeout=30)
    assert unknown.status == "FAILED"
    assert "has no tool 'subtract'; its tools: add, echo" in (execs(unknown, "mcp")[0].error or "")


async def test_a_command_server_runs_only_where_the_operator_allows_it(wb):
    command = shlex.join([sys.executable, "-m", "tests.support.mcp_server"])
    ref = await _credential(wb, BY_ID["mcp_stdio"].secret({"command": command, "env": f"PYTHONPATH={ROOT}"}))
    try:
        result = await wb.executions.run(tool_graph(ref, "add", b=1), {"x": 1}, timeout=30)
        assert result.status == "COMPLETED", result.error
        assert result.outputs["result"] == [{"result": 2}]
        before = wb.executions.settings
        wb.executions.settings = before.with_(mcp_allow_commands=False)
        try:
            refused = await wb.executions.run(tool_graph(ref, "add", b=1), {"x": 1}, timeout=30)
        finally:
            wb.executions.settings = before
        assert refused.status == "FAILED"
        assert "WORKBENCH_MCP_ALLOW_COMMANDS=1" in (execs(refused, "mcp")[0].error or "")
    finally:
        await wb.credentials.delete(LOCAL_USER_ID, ref["id"])


async def test_the_builder_gets_a_tools_input_schema_from_the_credentials_server(
    wb, http_cred, open_settings
):
    """What a builder or API route does: resolve the credential, list the tools, show the schema."""
    cred = await wb.credentials.resolve(LOCAL_USER_ID, http_cred["id"])
    tools = {t.name: t for t in await list_tools(McpServer.from_secret(cred.secret), open_settings)}
    assert tools["forecast"].input_schema["required"] == ["city"]
    assert tools["forecast"].input_schema["properties"]["city"]["type"] == "string"
