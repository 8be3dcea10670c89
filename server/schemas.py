"""Request and response bodies of the REST API (they are also its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Body(BaseModel):
    """Base of request bodies: unknown fields are refused, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class ProblemOut(BaseModel):
    """One located problem of a graph."""

    code: str
    message: str
    node_id: str | None = None
    link_id: str | None = None
    pin: str | None = None


class ErrorDetail(BaseModel):
    """What went wrong."""

    status: int
    code: str = Field(description="Machine-readable kind: validation, not_found, unauthorized...")
    message: str
    request_id: str | None = None
    problems: list[ProblemOut] = Field(default_factory=list, description="Located problems of a graph.")
    details: list[dict[str, Any]] = Field(default_factory=list, description="Field errors of a request.")


class ErrorOut(BaseModel):
    """Every error response has this body."""

    error: ErrorDetail


class Page(BaseModel, Generic[T]):
    """A page of a listing."""

    items: list[T]
    total: int
    limit: int
    offset: int


# ---- graphs ------------------------------------------------------------------------------------


class GraphSummaryOut(BaseModel):
    """A graph version, without nodes and links."""

    id: str
    version: int
    name: str
    description: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
    node_count: int
    note: str = ""
    mcp_tool: bool | None = Field(
        default=None, description="Served as an MCP tool: true, false, or null for the server's default."
    )


class ActiveVersionIn(Body):
    """Which version to make active."""

    version: int = Field(ge=1)


class McpToolIn(Body):
    """Whether an agent is served as an MCP tool."""

    enabled: bool | None = Field(description="true: served; false: not; null: the server's default.")


class AgentToolOut(BaseModel):
    """An agent as an MCP tool."""

    name: str = Field(description="The tool's name at /mcp.")
    graph_id: str
    graph_version: int = Field(description="The active version, which a call runs.")
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class McpServerToolOut(BaseModel):
    """A tool of an MCP server."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    server: str = Field(description="The server's name (the credential's).")


class McpToolStateOut(BaseModel):
    """An agent's MCP tool setting and what it gives."""

    graph_id: str
    enabled: bool | None
    served: bool = Field(description="Whether the agent is now one of your tools at /mcp.")
    tool: AgentToolOut | None = None


# ---- executions --------------------------------------------------------------------------------


class ExecuteIn(Body):
    """Start a run."""

    inputs: dict[str, Any] = Field(default_factory=dict, description="Graph inputs by name.")
    credentials: dict[str, str] = Field(
        default_factory=dict,
        description="Credential ids by credentials field name, for blocks that need them.",
    )
    version: int | None = Field(default=None, ge=1, description="Graph version; the active one by default.")
    priority: Literal["high", "normal", "low"] = "normal"
    safe_mode: bool = Field(
        default=True,
        description="Human reviews wait for a person (HumanInTheLoopBlock); false: approved at once.",
    )


class NodeExecutionOut(BaseModel):
    """One node execution."""

    id: str
    node_id: str
    block_id: str
    seq: int
    status: str
    inputs: Any = None
    outputs: list[list[Any]] = Field(default_factory=list, description="[pin, value] pairs in yield order.")
    error: str | None = None
    attempts: int = 0
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    block_name: str | None = None
    stats: dict[str, Any] = Field(
        default_factory=dict, description="Numbers the block reported (tokens, cost)."
    )


class ExecutionOut(BaseModel):
    """A graph execution: status, outputs by name (as the CLI prints them), node executions."""

    id: str
    graph_id: str
    graph_version: int
    status: Literal["QUEUED", "RUNNING", "REVIEW", "COMPLETED", "FAILED", "CANCELLED"] = Field(
        description="REVIEW: waiting for a person's review (GET /api/v1/executions/{id}/reviews)."
    )
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, list[Any]] = Field(default_factory=dict)
    error: str | None = None
    error_node_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    node_executions: list[NodeExecutionOut] | None = None


class ExecutionStartedOut(BaseModel):
    """A run was started (or, with ``wait``, is still going)."""

    execution_id: str
    status: str


# ---- blocks ------------------------------------------------------------------------------------


class BlockOut(BaseModel):
    """A catalogue entry."""

    id: str
    name: str
    description: str
    categories: list[str]
    block_type: str
    static_output: bool
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class BlockRunIn(Body):
    """Run one block on these inputs."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)


class BlockRunOut(BaseModel):
    """What the block yielded."""

    outputs: list[list[Any]] = Field(description="[pin, value] pairs in yield order.")
    error: str | None = None


# ---- credentials and keys ------------------------------------------------------------------------


class CredentialIn(Body):
    """A secret to keep encrypted."""

    provider: str = Field(min_length=1, max_length=100)
    type: Literal["api_key", "oauth2", "user_password", "host_scoped"] = "api_key"
    title: str | None = Field(default=None, max_length=200)
    secret: dict[str, Any] = Field(description='The secret, e.g. {"api_key": "..."}; never returned.')
    expires_at: datetime | None = None


class CredentialOut(BaseModel):
    """A credential's metadata."""

    id: str
    provider: str
    type: str
    title: str | None
    created_at: datetime
    expires_at: datetime | None


class ApiKeyIn(Body):
    """A new API key."""

    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1)
    expires_at: datetime | None = None


class ApiKeyOut(BaseModel):
    """An API key's metadata."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    """A new key: ``key`` is shown this once and never again."""

    key: str


# ---- accounts --------------------------------------------------------------------------------------


class SignupIn(Body):
    """A new account."""

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=1000)
    name: str | None = Field(default=None, max_length=200)


class LoginIn(Body):
    """Email and password."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


class RefreshIn(Body):
    """A refresh token to rotate."""

    refresh_token: str = Field(max_length=500)


class TokenOut(BaseModel):
    """Access and refresh tokens."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class UserOut(BaseModel):
    """An account."""

    id: str
    email: str
    name: str | None
    email_verified: bool
    timezone: str
    created_at: datetime
    is_admin: bool = Field(
        default=False, description="May use the database manager's routes (`/api/v1/admin/...`)."
    )


class ProfileIn(Body):
    """Changes to the caller's profile; a field left out stays as it is."""

    name: str | None = Field(
        default=None, max_length=200, description="Display name; an empty one clears it."
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA timezone (e.g. Europe/Madrid): schedules created without one use it.",
    )


class EmailIn(Body):
    """An email address."""

    email: str = Field(max_length=320)


class ResetIn(Body):
    """A reset token and the new password."""

    token: str = Field(max_length=500)
    password: str = Field(min_length=8, max_length=1000)


class TokenIn(Body):
    """A one-time token."""

    token: str = Field(max_length=500)


class MessageOut(BaseModel):
    """A plain acknowledgement."""

    message: str


class LogoutAllIn(Body):
    """What "log out everywhere" ends besides the sessions."""

    revoke_api_keys: bool = Field(
        default=False,
        description="Revoke every API key of the account too (automation stops working).",
    )


class SessionsEndedOut(BaseModel):
    """What "log out everywhere" ended."""

    message: str
    refresh_tokens_revoked: int
    api_keys_revoked: int


class HealthOut(BaseModel):
    """Reachability of what the platform needs."""

    status: Literal["ok", "degraded"]
    database: dict[str, Any]
    queue: dict[str, Any]
    bus: dict[str, Any]
    cluster: dict[str, Any] | None = None
    """The deployment's live processes (from their Redis heartbeats), when Redis is configured."""
    version: str
