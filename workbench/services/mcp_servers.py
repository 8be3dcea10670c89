"""The tools of an MCP server a user saved as an ``mcp`` credential: what the Builder shows for an
``MCPToolBlock`` (each tool's input schema) and what ``GET /api/v1/mcp/servers/{id}/tools`` answers.

The connection is the blocks' (:mod:`workbench.mcp.client`): through the outbound guard, a command
only where the operator allows it. What can go wrong is said for a person: the credential is not the
user's (404) or not an MCP server's (422), the address or command is refused (422), the server
refused the credential (422), or it cannot be reached or answered wrongly (502).
"""

from __future__ import annotations

from workbench.config import Settings
from workbench.errors import CredentialsError, InputError, ServerError
from workbench.mcp.client import McpError, McpServer, McpTool, McpUnavailable, list_tools
from workbench.services.credentials import CredentialVault

PROVIDER = "mcp"


class McpServerFailed(ServerError):
    """The MCP server could not be reached, or did not answer as MCP servers do."""


async def credential_server_tools(
    vault: CredentialVault, settings: Settings, user_id: str, credential_id: str
) -> list[McpTool]:
    """The tools of the server the user's ``mcp`` credential ``credential_id`` describes."""
    cred = await vault.resolve(user_id, credential_id)
    if cred.meta.provider != PROVIDER:
        raise InputError(
            f"credential {credential_id} is a {cred.meta.provider!r} credential, not an MCP server's ({PROVIDER!r})"
        )
    title = (getattr(cred.meta, "title", "") or "").strip() or None
    server = McpServer.from_secret(cred.secret, name=title)
    try:
        return await list_tools(server, settings)
    except CredentialsError as exc:
        raise InputError(f"the MCP server refused credential {credential_id}: {exc}") from None
    except McpUnavailable as exc:
        raise McpServerFailed(str(exc)) from None
    except McpError as exc:
        if isinstance(exc, InputError):  # a command the operator does not allow
            raise
        raise McpServerFailed(str(exc)) from None
