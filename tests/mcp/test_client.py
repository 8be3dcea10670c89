"""workbench.mcp.client against a real MCP server (the SDK's MCPServer), over HTTP and over stdio:
tools listed and called, every failure one of our errors, the outbound guard and the command setting."""

from __future__ import annotations

import socket
import sys

import pytest

from tests.mcp.conftest import TOKEN, stdio_secret
from tests.support.mcp_server import HttpMcpServer
from workbench.config import Settings
from workbench.errors import CredentialsError, InputError, RetryableError
from workbench.mcp.client import (
    McpCommandRefused,
    McpError,
    McpServer,
    McpToolError,
    McpUnavailable,
    call_tool,
    connect,
    list_tools,
)
from workbench.net import BlockedAddress, HttpPolicy


def _server(mcp_http: HttpMcpServer, **kwargs: object) -> McpServer:
    options = {"token": TOKEN, "name": "tt", **kwargs}
    return McpServer.http(mcp_http.url, **options)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- HTTP -------------------------------------------------------------------------------------------


async def test_tools_are_listed_with_their_schemas_and_the_token_is_sent(mcp_http, open_settings):
    mcp_http.authorizations.clear()
    tools = await list_tools(_server(mcp_http), open_settings)
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"add", "echo", "forecast", "fail", "pause"}
    add = by_name["add"]
    assert add.description == "Add two whole numbers."
    assert add.parameters == ["a", "b"] and add.required == ["a", "b"]
    assert add.input_schema["properties"]["a"]["type"] == "integer"
    assert add.server == "tt"
    assert repr(add) == "<McpTool add(a: integer, b: integer) - Add two whole numbers.>"
    assert add.to_dict()["input_schema"] == add.input_schema
    assert mcp_http.authorizations and set(mcp_http.authorizations) == {f"Bearer {TOKEN}"}


async def test_a_call_gives_structured_content_else_text_and_the_content_items(mcp_http, open_settings):
    async with connect(_server(mcp_http), open_settings) as session:
        added = await session.call_tool("add", {"a": 2, "b": 3})
        weather = await session.call_tool("forecast", {"city": "Oslo"})
    assert added.structured == {"result": 5} and added.value == {"result": 5}
    assert added.content == [{"type": "text", "text": "5"}] and added.text == "5"
    assert weather.value == {"city": "Oslo", "sky": "sunny", "celsius": 21}
    assert not weather.is_error


async def test_tool_mistakes_are_clear_and_not_retried(mcp_http, open_settings):
    server = _server(mcp_http)
    async with connect(server, open_settings) as session:
        with pytest.raises(McpToolError, match=r"has no tool 'nope'; its tools: add, echo, fail") as unknown:
            await session.call_tool("nope", {})
        with pytest.raises(
            McpToolError, match=r"the tool 'add' of the MCP server 'tt' .* needs the arguments b"
        ):
            await session.call_tool("add", {"a": 1})
        with pytest.raises(McpToolError, match=r"'add' .* reported an error: .*validation error"):
            await session.call_tool("add", {"a": "many", "b": 1})
        with pytest.raises(McpToolError, match=r"the tool 'fail' of the MCP server 'tt' .* cannot do it: no"):
            await session.call_tool("fail", {"reason": "no"})
        # The session goes on after a tool's failure, and a caller may take the error as a result.
        told = await session.call_tool("fail", {"reason": "again"}, raise_on_error=False)
        assert told.is_error and "cannot do it: again" in told.text
    assert not isinstance(unknown.value, RetryableError)
    assert mcp_http.url.removesuffix("/mcp") in str(unknown.value)  # the server is named


async def test_one_shot_call_raises_on_a_tool_error(mcp_http, open_settings):
    assert (await call_tool(_server(mcp_http), "echo", {"text": "hi"}, open_settings)).value == {
        "result": "hi"
    }
    with pytest.raises(McpToolError, match="cannot do it: x"):
        await call_tool(_server(mcp_http), "fail", {"reason": "x"}, open_settings)


async def test_an_unreachable_server_is_retryable(open_settings):
    server = McpServer.http(f"http://127.0.0.1:{_free_port()}/mcp", name="gone")
    with pytest.raises(McpUnavailable, match=r"'gone' .* could not be reached while connecting") as caught:
        await list_tools(server, open_settings)
    assert isinstance(caught.value, RetryableError)


async def test_a_slow_answer_times_out_retryably(mcp_http, open_settings):
    async with connect(_server(mcp_http), open_settings, timeout=0.5) as session:
        with pytest.raises(McpUnavailable, match=r"did not answer within 0.5 s while calling 'pause'"):
            await session.call_tool("pause", {"seconds": 3})


async def test_a_wrong_token_and_a_wrong_path_are_not_retried(mcp_http, open_settings):
    with pytest.raises(CredentialsError, match=r"refused the credentials \(HTTP 401\)"):
        await list_tools(_server(mcp_http, token="wrong"), open_settings)
    elsewhere = McpServer.http(mcp_http.url.replace("/mcp", "/elsewhere"), token=TOKEN)
    with pytest.raises(McpError, match="answered 404 Not Found while connecting") as caught:
        await list_tools(elsewhere, open_settings)
    assert not isinstance(caught.value, RetryableError)


async def test_a_private_address_is_refused_without_the_allow_settings(mcp_http, settings: Settings):
    closed = settings.with_(http_allow=(), http_allow_private=False)
    with pytest.raises(
        BlockedAddress, match=r"127\.0\.0\.1: a loopback address.*WORKBENCH_HTTP_ALLOW"
    ) as caught:
        await list_tools(_server(mcp_http), closed)
    assert isinstance(caught.value, InputError)
    # A notebook user on their own machine may lift the guard for one call.
    assert len(await list_tools(_server(mcp_http), closed, allow_private=True)) == 5


async def test_the_guard_checks_the_address_a_name_resolves_to(mcp_http, settings: Settings):
    """A public-looking name that resolves to loopback is refused (one resolution, checked); naming
    the host in WORKBENCH_HTTP_ALLOW lets it through, to the address the guard resolved."""
    port = mcp_http.url.split(":")[2].split("/")[0]

    async def resolver(host: str, port: int) -> list[str]:
        assert host == "mcp.example.com"
        return ["127.0.0.1"]

    server = McpServer.http(f"http://mcp.example.com:{port}/mcp", token=TOKEN)
    with pytest.raises(BlockedAddress, match=r"mcp\.example\.com: the name resolves to a loopback address"):
        await list_tools(server, settings, resolver=resolver)
    allowed = HttpPolicy(allow_hosts=frozenset({"mcp.example.com"}))
    assert len(await list_tools(server, settings, policy=allowed, resolver=resolver)) == 5


async def test_the_callers_own_exceptions_pass_through_unwrapped(mcp_http, open_settings):
    with pytest.raises(KeyError, match="mine"):
        async with connect(_server(mcp_http), open_settings):
            raise KeyError("mine")


# ---- stdio ------------------------------------------------------------------------------------------


async def test_a_stdio_server_lists_and_calls_its_tools(open_settings):
    server = McpServer.from_secret(stdio_secret(name="local"))
    async with connect(server, open_settings) as session:
        assert [t.name for t in await session.list_tools()] == ["add", "echo", "forecast", "fail", "pause"]
        assert (await session.call_tool("add", {"a": 40, "b": 2})).value == {"result": 42}
        with pytest.raises(McpToolError, match=r"'fail' of the MCP server 'local' \(command .*python.*\)"):
            await session.call_tool("fail", {"reason": "stdio"})


async def test_commands_run_only_when_the_operator_allows_them(settings: Settings):
    server = McpServer.from_secret(stdio_secret())
    with pytest.raises(McpCommandRefused, match="WORKBENCH_MCP_ALLOW_COMMANDS=1") as caught:
        await list_tools(server, settings.with_(mcp_allow_commands=False))
    assert isinstance(caught.value, InputError) and not isinstance(caught.value, RetryableError)


async def test_a_command_that_cannot_start_or_dies_says_so(open_settings):
    with pytest.raises(McpError, match=r"cannot start the MCP server 'nowhere'.*No such file") as missing:
        await list_tools(McpServer.stdio("/nonexistent/mcp-server", name="nowhere"), open_settings)
    assert not isinstance(missing.value, RetryableError)
    dying = McpServer.stdio(sys.executable, ["-c", "import sys; sys.exit('broken config')"])
    with pytest.raises(
        McpUnavailable, match="closed the connection while connecting; it said: broken config"
    ):
        await list_tools(dying, open_settings)


async def test_a_server_that_never_answers_the_handshake_cannot_hold_the_caller(open_settings):
    silent = McpServer.stdio(sys.executable, ["-c", "import time; time.sleep(30)"], name="silent")
    with pytest.raises(McpUnavailable, match=r"'silent' .* did not complete the handshake within 0.5 s"):
        await list_tools(silent, open_settings, timeout=0.5)


# ---- what a credential holds ---------------------------------------------------------------------


def test_a_secret_describes_an_http_or_a_stdio_server_and_secrets_never_show() -> None:
    http = McpServer.from_secret(
        {"url": "https://user:pw@mcp.example.com/v1/mcp?key=k", "token": "sekret", "headers": {"X-Team": "a"}}
    )
    assert http.transport == "http" and http.name == "mcp.example.com"
    assert http.headers == {"Authorization": "Bearer sekret", "X-Team": "a"}
    assert http.where == "https://mcp.example.com/v1/mcp"
    shown = f"{http!r} {http}"
    assert "sekret" not in shown and "pw" not in shown and "key=k" not in shown
    stdio = McpServer.from_secret(
        {"command": "npx -y '@scope/server x'", "env": "API_KEY=abc", "name": "mem"}
    )
    assert (stdio.command, stdio.args, dict(stdio.env)) == (
        "npx",
        ("-y", "@scope/server x"),
        {"API_KEY": "abc"},
    )
    assert stdio.name == "mem" and "abc" not in repr(stdio)
    for bad, field in [
        ({}, "url"),
        ({"url": "ftp://x"}, "url"),
        ({"url": "https://x", "command": "y"}, "url"),
        ({"url": "https://x", "headers": {"Host": "y"}}, "headers"),
        ({"command": "x", "env": "1BAD=2"}, "env"),
        ({"command": "x", "args": "not a list"}, "args"),
    ]:
        with pytest.raises(InputError, match=f"^{field}:"):
            McpServer.from_secret(bad)
