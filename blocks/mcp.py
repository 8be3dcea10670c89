"""MCPToolBlock: call one tool of an MCP (Model Context Protocol) server.

The server comes from an ``mcp`` credential of the user's vault: a URL (streamable HTTP, with a
token or headers) or a command (stdio; run only where the operator allows it with
``WORKBENCH_MCP_ALLOW_COMMANDS=1``). See :mod:`workbench.mcp.client` for the guards, the limits and
the errors: an unreachable server or a timeout is retried, an unknown tool, arguments the tool
refuses or a tool that reports an error fail the node with a message naming the tool and the server.

The tool's input schema is the server's: :func:`workbench.mcp.client.list_tools` gives it (what the
builder and the API call), and a node may keep a copy in ``tool_input_schema`` for its form.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from blocks._mcp import server_of
from workbench.block import Block, BlockCategory, BlockOutput, BlockSchema
from workbench.block.base import get_context
from workbench.block.context import RunContext
from workbench.mcp.client import PROVIDER, McpResult, connect

__all__ = ["PROVIDER", "MCPToolBlock"]

_FORECAST = {"city": "Oslo", "sky": "sunny"}


def _test_result(tool: str, arguments: dict[str, Any]) -> McpResult:
    """The canned answers of the self-test: structured content for ``forecast``, text for ``echo``."""
    if tool == "forecast":
        return McpResult(tool, [{"type": "text", "text": "Sunny in Oslo"}], {**_FORECAST, **arguments})
    return McpResult(tool, [{"type": "text", "text": str(arguments.get("text", ""))}])


class MCPToolBlock(Block):
    """Calls one tool of an MCP server and outputs its result and content."""

    id = "41f47a2e-7218-4262-8a8d-b2b30aa48332"
    name = "MCPToolBlock"
    description = (
        "Calls one tool of an MCP (Model Context Protocol) server, named by an 'mcp' credential (a URL "
        "with its token, or a command the server may run), with the given arguments. Outputs the "
        "tool's structured content, or its text, on `result`, and every content item on `content`. "
        "An unknown tool, arguments it refuses, or a tool that reports an error fail the node."
    )
    categories = (BlockCategory.DEVELOPER_TOOLS,)
    max_retries = 2
    retry_backoff = 1.0

    class Input(BlockSchema):
        credentials: Any = Field(
            default=None,
            description="The 'mcp' credential of the server ({id, provider} or an id); empty: your only "
            "MCP server credential.",
            json_schema_extra={"credentials_provider": PROVIDER},
        )
        tool_name: str = Field(description="The name of the tool to call, as the server lists it.")
        arguments: dict[str, Any] = Field(
            default_factory=dict, description="The tool's arguments, by name (see its input schema)."
        )
        tool_input_schema: dict[str, Any] = Field(
            default_factory=dict,
            description="The tool's input schema as the server listed it (kept for the node's form; "
            "the server's current one is what counts).",
            json_schema_extra={"advanced": True},
        )

    class Output(BlockSchema):
        result: Any = Field(description="The tool's structured content when it gives some, else its text.")
        content: list[dict[str, Any]] = Field(
            description="The tool's content items ({type: text, text}, {type: image, data, mimeType}...)."
        )

    test_input = [
        {"tool_name": "forecast", "arguments": {"city": "Oslo"}},
        {"tool_name": "echo", "arguments": {"text": "hi"}},
    ]
    test_output = [
        ("result", _FORECAST),
        ("content", [{"type": "text", "text": "Sunny in Oslo"}]),
        ("result", "hi"),
        ("content", [{"type": "text", "text": "hi"}]),
    ]
    test_mock = {
        "_call": lambda context, credentials, tool, arguments: _test_result(tool, arguments),
    }

    async def run(self, input_data: Input, **kwargs: Any) -> BlockOutput:
        context = get_context(kwargs)
        result = await self._call(context, input_data.credentials, input_data.tool_name, input_data.arguments)
        yield "result", result.value
        yield "content", result.content

    async def _call(
        self, context: RunContext, credentials: Any, tool: str, arguments: dict[str, Any]
    ) -> McpResult:
        """Call the tool on the credential's server (the self-test replaces this)."""
        server = await server_of(context, credentials)
        async with connect(server, context.settings) as session:
            return await session.call_tool(tool, arguments)
