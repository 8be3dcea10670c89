"""The MCP server: each of a user's agents that is a tool (:mod:`workbench.services.agent_tools`),
listed and called through the official SDK's low-level ``Server``.

The transport is the caller's business: the API mounts it at ``/mcp`` (streamable HTTP, see
``server.mcp``), ``workbench mcp`` serves it over stdio. Who is calling comes from ``principal_of``:
over HTTP the principal our authentication put on the request, over stdio the local user.

A call answers with the agent's outputs as structured content plus a text of ``name: value`` lines;
a run that fails (or arguments the agent refuses) is a tool result with ``isError`` and the reason,
which the model can read; an unknown tool or a missing scope is a protocol error. While the run goes,
each finished node is a progress notification (when the client asked for progress); a cancelled
request cancels the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params

from workbench import __version__
from workbench.auth import Principal
from workbench.errors import PermissionDenied, UserError
from workbench.services.agent_tools import AgentTool, AgentToolService, UnknownTool

PrincipalOf = Callable[[ServerRequestContext[Any, Any]], Principal]
"""Who is calling, from the request's context (raises PermissionDenied when nobody is)."""

INSTRUCTIONS = (
    "Each tool runs one of your Agent Workbench agents: the arguments are the agent's inputs, the "
    "result its outputs. Runs are stored and visible in the workbench's Monitor."
)


def tool_of(tool: AgentTool) -> types.Tool:
    """The MCP form of an agent tool."""
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=types.ToolAnnotations(title=tool.title, open_world_hint=True, read_only_hint=False),
    )


def build_server(tools: Callable[[], AgentToolService], principal_of: PrincipalOf) -> Server[Any]:
    """An MCP server offering the caller's agents as tools (``tools`` gives the current service)."""

    def who(ctx: ServerRequestContext[Any, Any]) -> Principal:
        try:
            return principal_of(ctx)
        except PermissionDenied as exc:
            raise MCPError(types.INVALID_REQUEST, str(exc)) from None

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = who(ctx)
        return types.ListToolsResult(tools=[tool_of(t) for t in await tools().list(principal)])

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = who(ctx)

        async def progress(done: float, message: str) -> None:
            await ctx.session.report_progress(done, None, message)

        wants_progress = progress_token_from_params(ctx.params) is not None
        try:
            outcome = await tools().call(
                principal, params.name, params.arguments, on_progress=progress if wants_progress else None
            )
        except PermissionDenied as exc:
            raise MCPError(types.INVALID_REQUEST, str(exc)) from None
        except UnknownTool as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        except UserError as exc:  # arguments the agent refuses, a graph that cannot run: the model reads why
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=str(exc))], is_error=True
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=outcome.text)],
            structured_content=outcome.structured,
            is_error=not outcome.ok,
            meta={"workbench/execution_id": outcome.result.execution_id},
        )

    return Server(
        "agent-workbench",
        version=__version__,
        title="Agent Workbench",
        instructions=INSTRUCTIONS,
        # No argument of ours travels in an ``Mcp-Param-*`` header: nothing for the SDK to check
        # there, so it need not list the caller's tools again before each call.
        get_tool_input_schema=lambda _name: None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
