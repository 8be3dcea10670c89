"""Use MCP servers: connect to one, list its tools, call a tool.

Two transports: streamable HTTP (a URL, with a bearer token or other headers) and stdio (a command
run on this machine, talking over its stdin and stdout)::

    server = McpServer.http("https://mcp.example.com/mcp", token="…")
    async with connect(server, settings) as session:
        tools = await session.list_tools()                         # [McpTool, ...]
        result = await session.call_tool("search", {"query": "MCP"})
        result.value                                               # structured content, else the text

    tools = await list_tools(server, settings)                     # one connection per call
    result = await call_tool(server, "search", {"query": "MCP"}, settings)

Guards, all from :class:`~workbench.config.Settings`:

- HTTP goes through the outbound guard (:mod:`workbench.net`): private, loopback and link-local
  addresses are refused unless ``WORKBENCH_HTTP_ALLOW`` or ``WORKBENCH_HTTP_ALLOW_PRIVATE`` allow
  them, on the address actually connected to; the environment's proxy settings are ignored;
- a stdio server is a program this process starts with its own rights: refused unless the operator
  sets ``WORKBENCH_MCP_ALLOW_COMMANDS=1``. It gets the secret's ``env`` on top of a minimal
  environment (``PATH``, ``HOME``...; none of this process's secrets);
- connecting, and each answer (a tool list, a tool's result), within ``WORKBENCH_MCP_TIMEOUT``.

Errors (all :class:`~workbench.errors.BlockError`, so a block's node fails with them)::

    BlockError
    ├── McpError              the server failed otherwise (a wrong endpoint, a protocol error)
    │   ├── McpUnavailable    could not be reached, did not answer in time, went away; also a
    │   │                     RetryableError: the engine tries again
    │   ├── McpToolError      no such tool, arguments it refuses, or the tool reported an error
    │   │                     (``isError``): names the tool and the server
    │   └── McpCommandRefused a stdio server while WORKBENCH_MCP_ALLOW_COMMANDS is off (also an
    │                         InputError)
    ├── CredentialsError      the server refused the token (HTTP 401 or 403)
    └── BlockedAddress        (workbench.net) the URL is on an address the guard refuses

The MCP SDK (and ``httpx2``) is imported when a connection is made, not with this module: the
credential forms and the block catalogue import it cheaply.
"""

from __future__ import annotations

import math
import os
import shlex
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio

from workbench.config import Settings
from workbench.errors import BlockError, CredentialsError, InputError, RetryableError, WorkbenchError
from workbench.net.hostscope import checked_headers
from workbench.net.policy import HttpPolicy

if TYPE_CHECKING:
    from mcp import Client

    from workbench.net.guard import Resolver

PROVIDER = "mcp"
"""The vault provider of MCP server credentials."""
MAX_TOOL_PAGES = 50
"""Pages of a tool listing read at most (a server whose cursor never ends cannot hang a call)."""
READ_BACKSTOP = 5.0
"""Seconds past the MCP timeout before the HTTP client gives up on a silent response stream."""
STDERR_TAIL = 500
"""Characters of a stdio server's error output quoted when it fails."""


class McpError(BlockError):
    """An MCP server failed; the message names the server (never its token)."""


class McpUnavailable(McpError, RetryableError):
    """The server could not be reached, did not answer in time, or closed the connection."""


class McpToolError(McpError):
    """No such tool, arguments the tool refuses, or the tool reported an error (``isError``)."""


class McpCommandRefused(McpError, InputError):
    """A stdio server (a command to run here) while ``WORKBENCH_MCP_ALLOW_COMMANDS`` is off."""


# ---- where a server is -------------------------------------------------------------------------


def _url_shown(url: str) -> str:
    """``scheme://host[:port]/path`` of a URL: no user info, query or fragment (they may hold keys)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _clean_headers(headers: Mapping[str, Any], where: str) -> dict[str, str]:
    """``headers`` checked as a host-scoped credential's are."""
    return checked_headers(headers, where, "be set for an MCP server")


def parse_command_line(text: str) -> tuple[str, tuple[str, ...]]:
    """``(command, args)`` of a command line written as in a shell (``npx -y "@scope/server"``)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"command: {exc}") from None
    if not words:
        raise InputError("command: give the command that starts the MCP server")
    return words[0], tuple(words[1:])


def parse_env(value: Any) -> dict[str, str]:
    """Environment variables from a mapping, or from ``NAME=value`` words (quoted as in a shell)."""
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise InputError(f"env: {exc}") from None
        pairs = []
        for word in words:
            name, sep, rest = word.partition("=")
            if not sep:
                raise InputError(f"env: {word!r} is not NAME=value")
            pairs.append((name, rest))
    else:
        raise InputError("env: give NAME=value pairs")
    env: dict[str, str] = {}
    for name, val in pairs:
        if (
            not name
            or not (name[0].isalpha() or name[0] == "_")
            or not all(c.isalnum() or c == "_" for c in name)
        ):
            raise InputError(f"env: {name!r} is not a variable name")
        if not isinstance(val, str) or "\0" in val:
            raise InputError(f"env: the value of {name} must be text")
        env[name] = val
    return env


def _default_name(url: str | None, command: str | None) -> str:
    if url is not None:
        return (urlsplit(url).hostname or "server").removeprefix("www.")
    return os.path.basename(command or "server")


@dataclass(frozen=True, slots=True)
class McpServer:
    """Where an MCP server is and how to reach it: a URL (streamable HTTP) or a command (stdio).

    Secrets (``headers``, ``env``) never show in ``repr`` or messages; a URL shows without its user
    info and query.
    """

    name: str
    """A short name, in messages and in the function names a model sees."""
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Sent with every request (``Authorization: Bearer …`` for a token)."""
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Variables for the command, on top of a minimal environment."""

    def __post_init__(self) -> None:
        if (self.url is None) == (self.command is None):
            raise InputError("an MCP server is either a url (HTTP) or a command (stdio)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise InputError(
                f"url: an MCP server's URL must start with https:// or http://, got {self.url[:60]!r}"
            )
        if self.command is not None and not self.command.strip():
            raise InputError("command: give the command that starts the MCP server")

    @classmethod
    def http(
        cls,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> McpServer:
        """A server over streamable HTTP at ``url``; ``token`` goes as ``Authorization: Bearer``."""
        sent = _clean_headers(headers or {}, "headers")
        if token:
            sent = {"Authorization": f"Bearer {_clean_headers({'t': token}, 'token')['t']}", **sent}
        return cls(name=name or _default_name(url, None), url=url.strip(), headers=sent)

    @classmethod
    def stdio(
        cls,
        command: str,
        args: tuple[str, ...] | list[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> McpServer:
        """A server this process starts: ``command`` with ``args``, talking over stdin and stdout."""
        return cls(
            name=name or _default_name(None, command),
            command=command,
            args=tuple(str(a) for a in args),
            env=parse_env(env or {}),
        )

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any], name: str | None = None) -> McpServer:
        """The server an ``mcp`` credential's secret describes; InputError naming the wrong field.

        HTTP: ``{"url", "token"?, "headers"?}``; stdio: ``{"command", "args"?, "env"?}`` (a
        ``command`` with spaces and no ``args`` is split as a shell would). ``name`` (optional, in
        the secret or given) names the server.
        """
        name = str(secret.get("name") or "").strip() or name
        url, command = secret.get("url"), secret.get("command")
        if url and command:
            raise InputError("url: give a url (HTTP server) or a command (stdio server), not both")
        if url:
            if not isinstance(url, str):
                raise InputError("url: must be text")
            headers = secret.get("headers") or {}
            if not isinstance(headers, Mapping):
                raise InputError("headers: must be an object of header names and values")
            token = secret.get("token") or secret.get("api_key")
            return cls.http(url, token=str(token) if token else None, headers=headers, name=name)
        if command:
            if not isinstance(command, str):
                raise InputError("command: must be text")
            args = secret.get("args")
            if args is None:
                command, args = parse_command_line(command)
            elif not isinstance(args, list | tuple) or not all(
                isinstance(a, str | int | float) for a in args
            ):
                raise InputError("args: must be a list of texts")
            return cls.stdio(
                command, tuple(str(a) for a in args), env=parse_env(secret.get("env") or {}), name=name
            )
        raise InputError("url: an MCP server credential needs a url (HTTP) or a command (stdio)")

    @property
    def transport(self) -> Literal["http", "stdio"]:
        """``http`` or ``stdio``."""
        return "http" if self.url is not None else "stdio"

    @property
    def where(self) -> str:
        """The URL (without user info or query), or the command (without its arguments)."""
        if self.url is not None:
            return _url_shown(self.url)
        return f"command {self.command}"

    def __str__(self) -> str:
        return f"{self.name!r} ({self.where})"

    def __repr__(self) -> str:  # never the headers, the environment, a URL's user info or query
        return f"McpServer({self.name!r}, {self.where!r})"


# ---- what a server offers, and what a call gives ----------------------------------------------


def _type_of(prop: Any) -> str:
    if not isinstance(prop, Mapping):
        return "any"
    kind = prop.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind)
    if kind:
        return str(kind)
    alternatives = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(alternatives, list):
        return "|".join(_type_of(a) for a in alternatives)
    return "any"


@dataclass(frozen=True, slots=True)
class McpTool:
    """One tool of an MCP server: its name, description and the JSON Schema of its arguments."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    server: str = ""
    """The name of the server it comes from."""

    @property
    def parameters(self) -> list[str]:
        """The argument names, in the schema's order."""
        return list((self.input_schema.get("properties") or {}).keys())

    @property
    def required(self) -> list[str]:
        """The arguments the tool needs."""
        return [str(p) for p in self.input_schema.get("required") or []]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: name, description, input_schema, output_schema, server."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "server": self.server,
        }

    def __repr__(self) -> str:
        props = self.input_schema.get("properties") or {}
        required = set(self.required)
        params = ", ".join(
            f"{name}{'' if name in required else '?'}: {_type_of(prop)}" for name, prop in props.items()
        )
        summary = self.description.strip().splitlines()[0] if self.description.strip() else ""
        if len(summary) > 80:
            summary = summary[:79] + "…"
        return f"<McpTool {self.name}({params}){' - ' + summary if summary else ''}>"


@dataclass(frozen=True, slots=True)
class McpResult:
    """What one tool call gave: its content items (JSON-able dicts), structured content, error flag."""

    tool: str
    content: list[dict[str, Any]]
    structured: Any = None
    is_error: bool = False

    @property
    def text(self) -> str:
        """The text items of the content, joined by new lines."""
        return "\n".join(str(c.get("text", "")) for c in self.content if c.get("type") == "text")

    @property
    def value(self) -> Any:
        """The structured content when the tool gave some, else :attr:`text`."""
        return self.structured if self.structured is not None else self.text


# ---- errors of the SDK, as ours ----------------------------------------------------------------


class _Failure:
    """What a connection saw besides exceptions: the last HTTP error status, the server's stderr."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.errlog: IO[str] | None = None
        self.doing = "connecting"
        """What the session is doing (for messages about failures that surface elsewhere)."""

    def start(self, doing: str) -> None:
        """A new operation begins: forget the previous one's status."""
        self.doing = doing
        self.status = None

    async def record(self, response: Any) -> None:
        """httpx2 response hook: remember the error status of a message sent (a POST; the SDK reports
        it without the number). The optional GET stream's answer (often 405) is no failure."""
        if response.status_code >= 400 and response.request.method == "POST":
            self.status = response.status_code

    def stderr_tail(self) -> str:
        """The end of a stdio server's error output, as ``; it said: <text>``, or ""."""
        if self.errlog is None:
            return ""
        try:
            self.errlog.flush()
            self.errlog.seek(0)
            text = self.errlog.read().strip()
        except (OSError, ValueError):
            return ""
        return f"; it said: {text[-STDERR_TAIL:]}" if text else ""


def _leaf(error: BaseException) -> BaseException:
    """The first exception in a (nested) exception group that is not a cancellation, else ``error``."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _leaf(inner)
            if isinstance(found, Exception):
                return found
    return error


def _translate(exc: BaseException, server: McpServer, doing: str, limit: float, seen: _Failure) -> Exception:
    """Our error for what the SDK, httpx2 or the operating system raised while ``doing``."""
    import httpx2
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED, METHOD_NOT_FOUND, REQUEST_TIMEOUT

    if isinstance(exc, WorkbenchError):
        return exc
    timed_out = (
        f"the MCP server {server} did not answer within {limit:g} s while {doing} (WORKBENCH_MCP_TIMEOUT)"
    )
    if isinstance(exc, MCPError):
        status = seen.status
        if status in (401, 403):
            return CredentialsError(
                f"the MCP server {server} refused the credentials (HTTP {status}) while {doing}: "
                "check the token of the 'mcp' credential"
            )
        if exc.code == REQUEST_TIMEOUT:
            return McpUnavailable(timed_out)
        if exc.code == CONNECTION_CLOSED:
            return McpUnavailable(
                f"the MCP server {server} closed the connection while {doing}{seen.stderr_tail()}"
            )
        if status is not None and (status == 429 or status >= 500):
            return McpUnavailable(f"the MCP server {server} failed while {doing} (HTTP {status})")
        if exc.code == METHOD_NOT_FOUND and status == 404:
            return McpError(f"{server.where} answered 404 Not Found while {doing}: is it the MCP endpoint?")
        suffix = f" (HTTP {status})" if status is not None else ""
        return McpError(f"the MCP server {server} failed while {doing}: {exc.message}{suffix}")
    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        return McpUnavailable(timed_out)
    if isinstance(exc, httpx2.TransportError | ConnectionError):
        return McpUnavailable(
            f"the MCP server {server} could not be reached while {doing}: {exc or type(exc).__name__}"
        )
    if isinstance(exc, OSError) and server.command is not None:
        return McpError(f"cannot start the MCP server {server}: {exc.strerror or exc}")
    return McpError(f"the MCP server {server} failed while {doing}: {type(exc).__name__}: {exc}")


# ---- sessions ----------------------------------------------------------------------------------


def _tool_of(tool: Any, server: McpServer) -> McpTool:
    return McpTool(
        name=tool.name,
        description=tool.description or tool.title or "",
        input_schema=dict(tool.input_schema or {"type": "object", "properties": {}}),
        output_schema=dict(tool.output_schema) if tool.output_schema else None,
        server=server.name,
    )


class McpSession:
    """An open connection to one MCP server (from :func:`connect`)."""

    def __init__(self, server: McpServer, client: Client, limit: float, seen: _Failure) -> None:
        self.server = server
        self._client = client
        self._limit = limit
        self._seen = seen
        self._tools: dict[str, McpTool] | None = None

    async def list_tools(self) -> list[McpTool]:
        """The server's tools (read once per session, every page)."""
        if self._tools is None:
            found: dict[str, McpTool] = {}
            cursor: str | None = None
            self._seen.start("listing its tools")
            try:
                for _ in range(MAX_TOOL_PAGES):
                    page = await self._client.list_tools(cursor=cursor)
                    for tool in page.tools:
                        found.setdefault(tool.name, _tool_of(tool, self.server))
                    cursor = page.next_cursor
                    if cursor is None:
                        break
            except Exception as exc:
                raise _translate(exc, self.server, "listing its tools", self._limit, self._seen) from exc
            self._tools = found
        return list(self._tools.values())

    async def tool(self, name: str) -> McpTool:
        """The tool ``name``; McpToolError naming the server's tools when it has none by that name."""
        await self.list_tools()
        assert self._tools is not None
        found = self._tools.get(name)
        if found is None:
            names = ", ".join(sorted(self._tools)) or "(none)"
            raise McpToolError(f"the MCP server {self.server} has no tool {name!r}; its tools: {names}")
        return found

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, raise_on_error: bool = True
    ) -> McpResult:
        """Call the tool ``name`` with ``arguments`` (checked for the ones it requires first).

        A result the tool marks as an error raises McpToolError with its text, unless
        ``raise_on_error`` is False (the result then says ``is_error``).
        """
        from mcp.shared.exceptions import MCPError
        from mcp_types import INVALID_PARAMS, METHOD_NOT_FOUND

        tool = await self.tool(name)
        arguments = dict(arguments or {})
        missing = [p for p in tool.required if p not in arguments]
        if missing:
            raise McpToolError(
                f"the tool {name!r} of the MCP server {self.server} needs the arguments {', '.join(missing)}"
            )
        self._seen.start(f"calling {name!r}")
        try:
            result = await self._client.call_tool(name, arguments)
        except MCPError as exc:
            if exc.code in (INVALID_PARAMS, METHOD_NOT_FOUND) and self._seen.status not in (401, 403, 404):
                raise McpToolError(
                    f"the MCP server {self.server} refused the call of {name!r}: {exc.message}"
                ) from exc
            raise _translate(exc, self.server, f"calling {name!r}", self._limit, self._seen) from exc
        except Exception as exc:
            raise _translate(exc, self.server, f"calling {name!r}", self._limit, self._seen) from exc
        content = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in result.content]
        done = McpResult(name, content, result.structured_content, bool(result.is_error))
        if done.is_error and raise_on_error:
            raise McpToolError(
                f"the tool {name!r} of the MCP server {self.server} reported an error: "
                f"{done.text or '(no message)'}"
            )
        return done


def _policy(settings: Settings, policy: HttpPolicy | None, allow_private: bool | None) -> HttpPolicy:
    chosen = policy or HttpPolicy.from_settings(settings)
    return replace(chosen, allow_private=True) if allow_private else chosen


@asynccontextmanager
async def connect(
    server: McpServer,
    settings: Settings,
    *,
    policy: HttpPolicy | None = None,
    allow_private: bool | None = None,
    resolver: Resolver | None = None,
    timeout: float | None = None,
) -> AsyncIterator[McpSession]:
    """An open session with ``server``, closed (a stdio server stopped) on leaving the block.

    ``policy`` replaces the outbound guard's policy of ``settings``; ``allow_private=True`` lets the
    URL be on any address (a notebook on one's own machine); ``timeout`` replaces
    ``settings.mcp_timeout``. Errors are this module's (see its docstring), also those raised in the
    block: the SDK's task groups never leak an exception group.
    """
    if server.command is not None and not settings.mcp_allow_commands:
        raise McpCommandRefused(
            f"the MCP server {server} is a command to run on this machine; the operator allows that "
            "only with WORKBENCH_MCP_ALLOW_COMMANDS=1"
        )
    limit = timeout or settings.mcp_timeout
    seen = _Failure()
    from_body: BaseException | None = None
    # The handshake's deadline: a scope around everything (the SDK's task groups open inside it),
    # lifted once connected; a server that never answers the handshake cannot hold the caller.
    with anyio.CancelScope(deadline=anyio.current_time() + limit) as handshake:
        try:
            async with AsyncExitStack() as stack:
                client = await _client(
                    stack, server, _policy(settings, policy, allow_private), resolver, limit, seen
                )
                try:
                    await stack.enter_async_context(client)
                except Exception as exc:
                    raise _translate(_leaf(exc), server, seen.doing, limit, seen) from exc
                handshake.deadline = math.inf
                seen.start("talking to it")
                try:
                    yield McpSession(server, client, limit, seen)
                except BaseException as exc:
                    from_body = exc
                    raise
        except BaseExceptionGroup as group:
            # The SDK's task groups wrap whatever crosses them, the caller's own exceptions included.
            leaf = _leaf(group)
            if not isinstance(leaf, Exception):
                raise
            if leaf is from_body or isinstance(leaf, WorkbenchError):
                raise leaf from None
            raise _translate(leaf, server, seen.doing, limit, seen) from leaf
    if handshake.cancelled_caught:
        raise McpUnavailable(
            f"the MCP server {server} did not complete the handshake within {limit:g} s "
            f"(WORKBENCH_MCP_TIMEOUT){seen.stderr_tail()}"
        )


async def _client(
    stack: AsyncExitStack,
    server: McpServer,
    policy: HttpPolicy,
    resolver: Resolver | None,
    limit: float,
    seen: _Failure,
) -> Client:
    """The SDK's client for ``server``, not entered yet (its transport's resources are on ``stack``)."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp_types import Implementation

    if server.url is not None:
        import httpx2

        from workbench.net.httpx2_client import guarded_httpx2_client

        # The session's own deadline (read_timeout_seconds) fails one request where it was made;
        # httpx2's read deadline, later, is only a backstop for a stream that stalls for good.
        read = httpx2.Timeout(limit, read=limit + READ_BACKSTOP)
        http = guarded_httpx2_client(policy, resolver=resolver, headers=server.headers, timeout=read)
        http.event_hooks = {"request": [], "response": [seen.record]}
        await stack.enter_async_context(http)
        transport: Any = streamable_http_client(server.url, http_client=http)
    else:
        assert server.command is not None
        seen.errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace"))  # noqa: SIM115
        params = StdioServerParameters(
            command=server.command, args=list(server.args), env=dict(server.env) or None
        )
        transport = stdio_client(params, errlog=seen.errlog)
    return Client(
        transport,
        read_timeout_seconds=limit,
        cache=None,
        client_info=Implementation(name="agent-workbench", version="0.1"),
    )


async def list_tools(server: McpServer, settings: Settings, **options: Any) -> list[McpTool]:
    """The tools of ``server`` (one connection); ``options`` as for :func:`connect`.

    This is what the builder and the API call to show a tool's input schema.
    """
    async with connect(server, settings, **options) as session:
        return await session.list_tools()


async def call_tool(
    server: McpServer,
    name: str,
    arguments: Mapping[str, Any] | None,
    settings: Settings,
    **options: Any,
) -> McpResult:
    """Call one tool of ``server`` (one connection); McpToolError when the tool reports an error."""
    async with connect(server, settings, **options) as session:
        return await session.call_tool(name, arguments)
