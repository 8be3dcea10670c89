"""What the MCP blocks share: the server an ``mcp`` credential names, and MCP tools as model functions.

An ``mcp`` credential's secret describes one server (:meth:`workbench.mcp.client.McpServer.from_secret`):
``{"url", "token"?, "headers"?}`` over HTTP or ``{"command", "args"?, "env"?}`` over stdio, with an
optional ``name``. :func:`open_toolbox` connects to the servers a SmartDecisionMaker names, for the
length of one node execution, and offers each of their tools as a function named
``mcp__<server>__<tool>`` (cleaned to OpenAI's ``[a-zA-Z0-9_-]{1,64}``, unique beside the graph's
own tools); :meth:`McpFunction.answer` calls one and gives the model what it said.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from workbench import jsonutil
from workbench.block.context import RunContext
from workbench.errors import BlockError, CredentialsError, InputError
from workbench.mcp.client import PROVIDER, McpServer, McpSession, McpTool, connect

MAX_NAME = 64
"""The longest function name providers take."""
_NOT_FOR_PROVIDERS = frozenset({"$schema", "title", "$id"})
"""Top-level schema keys of a tool's input schema left out of the function's parameters."""


def _credential_title(meta: Any) -> str | None:
    title = getattr(meta, "title", None)
    return str(title).strip() or None if title else None


async def server_of(context: RunContext, ref: Any, field_name: str = "credentials") -> McpServer:
    """The MCP server of the ``mcp`` credential ``ref`` (an id or ``{id, provider}``; empty: the
    run's choice for ``field_name``, else the user's only one); CredentialsError when its secret
    describes no server. The server's name: the secret's ``name``, else the credential's title."""
    cred = await context.get_credential(PROVIDER, ref, field_name=field_name)
    try:
        return McpServer.from_secret(cred.secret, name=_credential_title(cred.meta))
    except InputError as exc:
        raise CredentialsError(f"credential {cred.meta.id} does not describe an MCP server: {exc}") from None


def function_name(server: str, tool: str, taken: set[str]) -> str:
    """``mcp__<server>__<tool>`` as providers accept it, not in ``taken`` (added to it)."""
    base = re.sub(r"[^a-zA-Z0-9_-]", "_", f"mcp__{server}__{tool}")
    if len(base) > MAX_NAME:
        digest = hashlib.sha1(base.encode()).hexdigest()[:8]
        base = f"{base[: MAX_NAME - 9]}_{digest}"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base[: MAX_NAME - len(str(n)) - 1]}_{n}"
    taken.add(name)
    return name


def parameters_of(tool: McpTool) -> dict[str, Any]:
    """The tool's input schema as a function's parameters (an object schema with ``required``)."""
    schema = {k: v for k, v in tool.input_schema.items() if k not in _NOT_FOR_PROVIDERS}
    schema["type"] = "object"
    schema.setdefault("properties", {})
    schema["required"] = [str(p) for p in schema.get("required") or []]
    return schema


@dataclass(frozen=True, slots=True)
class McpFunction:
    """One tool of an open MCP session, offered to a model as a function."""

    session: McpSession
    tool: McpTool
    definition: dict[str, Any]
    """``{"type": "function", "function": {"name", "description", "parameters"}}``."""

    @property
    def name(self) -> str:
        """The function's name, unique among the block's tools."""
        return str(self.definition["function"]["name"])

    async def answer(self, arguments: Mapping[str, Any]) -> tuple[str, str | None]:
        """Call the tool; ``(what the model is told, the error or None)``. A failure of the tool or
        its server is told to the model, as a failed graph tool's is."""
        try:
            result = await self.session.call_tool(self.tool.name, arguments, raise_on_error=False)
        except BlockError as exc:
            return f"Tool execution failed: {exc}", str(exc)
        if result.is_error:
            error = result.text or "the tool reported an error"
            return f"Tool execution failed: {error}", error
        if result.structured is not None:
            return jsonutil.dumps(result.structured), None
        return result.text or "Tool executed successfully", None


def _definition(name: str, tool: McpTool, server: McpServer) -> dict[str, Any]:
    description = tool.description or tool.name
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{description} (tool {tool.name!r} of the MCP server {server.name!r})",
            "parameters": parameters_of(tool),
        },
    }


@asynccontextmanager
async def open_toolbox(
    context: RunContext, refs: Sequence[Any], taken: set[str], field_name: str = "mcp_servers"
) -> AsyncIterator[list[McpFunction]]:
    """Connect to the servers of the ``mcp`` credentials ``refs`` and give their tools as functions
    (names not in ``taken``); the connections close when the block is left."""
    async with AsyncExitStack() as stack:
        functions: list[McpFunction] = []
        for ref in refs:
            if not ref:
                continue
            server = await server_of(context, ref, field_name)
            session = await stack.enter_async_context(connect(server, context.settings))
            for tool in await session.list_tools():
                name = function_name(server.name, tool.name, taken)
                functions.append(McpFunction(session, tool, _definition(name, tool, server)))
        yield functions
