"""/api/v1/mcp/tools and /api/v1/graphs/{id}/mcp-tool: which agents are served as MCP tools at ``/mcp``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, get, put
from litestar.params import FromPath, JSONBody

from server.deps import caller, errors, workbench_of
from server.schemas import AgentToolOut, McpToolIn, McpToolStateOut
from workbench.services.agent_tools import AgentTool


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
