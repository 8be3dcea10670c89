"""MCP on the REST API: which agents are served as MCP tools at ``/mcp`` (``/mcp/tools``,
``/graphs/{id}/mcp-tool``), and the tools of an MCP server saved as a credential (``/mcp/servers/{id}/tools``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get, put
from litestar.params import FromPath, JSONBody

from server.deps import caller, errors, workbench_of
from server.schemas import AgentToolOut, McpServerToolOut, McpToolIn, McpToolStateOut
from workbench.errors import NotFoundError
from workbench.services.agent_tools import AgentTool
from workbench.services.mcp_servers import credential_server_tools


def tool_out(tool: AgentTool) -> AgentToolOut:
    """The API form of an agent tool."""
    return AgentToolOut(**tool.to_dict())


@get("/mcp/tools", tags=["mcp"], responses=errors(), summary="List your agents served as MCP tools")
async def list_agent_tools(request: Request[Any, Any, Any]) -> list[AgentToolOut]:
    """The tools an MCP client connected to ``/mcp`` with your credentials sees, oldest agent first."""
    principal = caller(request, "graphs:read")
    return [tool_out(t) for t in await workbench_of(request).agent_tools.list(principal)]


@put(
    "/graphs/{graph_id:uuid}/mcp-tool",
    tags=["mcp"],
    responses=errors(404, 422),
    summary="Serve an agent as an MCP tool, or not",
)
async def set_agent_tool(
    request: Request[Any, Any, Any], graph_id: FromPath[UUID], data: JSONBody[McpToolIn]
) -> McpToolStateOut:
    """``enabled``: true serves the agent at ``/mcp``, false stops, null follows the default (served in
    the local no-login mode, not with accounts). Applies to every version of the graph."""
    principal = caller(request, "graphs:write")
    tool = await workbench_of(request).agent_tools.set_served(str(graph_id), principal, data.enabled)
    return McpToolStateOut(
        graph_id=str(graph_id),
        enabled=data.enabled,
        served=tool is not None,
        tool=tool_out(tool) if tool else None,
    )


@get(
    "/mcp/servers/{credential_id:uuid}/tools",
    tags=["mcp"],
    responses=errors(404, 422, 502),
    summary="List the tools of an MCP server saved as a credential",
)
async def list_server_tools(
    request: Request[Any, Any, Any], credential_id: FromPath[UUID]
) -> list[McpServerToolOut]:
    """Each tool of the MCP server your ``mcp`` credential describes, with its input schema (what an
    ``MCPToolBlock``'s ``arguments`` take). 502 when the server cannot be reached."""
    principal = caller(request, "blocks:read")
    wb = workbench_of(request)
    if wb.credentials is None:
        raise NotFoundError(f"credential {credential_id} not found")
    tools = await credential_server_tools(wb.credentials, wb.settings, principal.user_id, str(credential_id))
    return [McpServerToolOut(**t.to_dict()) for t in tools]
