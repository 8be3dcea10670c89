"""Agents as MCP tools at ``/mcp`` of a real ``workbench serve`` process, through the official SDK's
client: listing, calling with arguments, progress per node, errors the model can read, cancellation,
the per-graph switch, and in the accounts mode authentication, the ``graphs:execute`` scope and
tenancy."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.server.api_support import (
    HELLO,
    User,
    api,
    create_graph,
    signup,
    timer_graph,
    wait_status,
)
from tests.support.mcp_server import serve_http
from tests.support.servers import ServerProcess, start_server, stop_server


def _hello(name: str | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(HELLO)
    doc["id"] = str(uuid.uuid4())
    doc["name"] = name or f"Hello {uuid.uuid4().hex[:8]}"
    return doc


def _tool_name(doc: dict[str, Any]) -> str:
    return doc["name"].replace(" ", "_")


@asynccontextmanager
async def mcp_client(server: ServerProcess, credential: str | None = None) -> AsyncIterator[Client]:
    """The SDK's client on the server's ``/mcp``, with a bearer credential when given."""
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(server.base_url + "/mcp", http_client=http)) as client,
    ):
        yield client


# ---- the local no-login mode: every agent is a tool by default ----------------------------------------


async def test_an_agent_is_a_tool_with_its_inputs_and_outputs(local_server: ServerProcess) -> None:
    doc = _hello()
    with api(local_server) as client:
        create_graph(client, doc)
    async with mcp_client(local_server) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
    tool = tools[_tool_name(doc)]
    assert tool.description == HELLO["description"]
    assert tool.input_schema["properties"]["name"]["title"] == "Who to greet"
    assert tool.input_schema["properties"]["name"]["default"] == "World"
    assert "required" not in tool.input_schema  # the input has a default
    assert set(tool.output_schema["properties"]) == {"greeting", "length"}


async def test_a_call_runs_the_agent_reports_each_node_and_is_an_ordinary_execution(
    local_server: ServerProcess,
) -> None:
    doc = _hello()
    with api(local_server) as client:
        create_graph(client, doc)
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async with mcp_client(local_server) as mcp:
        result = await mcp.call_tool(_tool_name(doc), {"name": "Ada"}, progress_callback=on_progress)
    assert result.is_error is False
    assert result.structured_content == {"greeting": "Hello, Ada!", "length": 11}
    assert "greeting: Hello, Ada!" in result.content[0].text
    # One notification per node, in order, naming the block and the node.
    assert [p[0] for p in progress] == [1, 2, 3, 4, 5]
    assert any(p[1] == "FillTextTemplateBlock completed (greet)" for p in progress)
    # The run is stored and visible like any other.
    execution_id = result.meta["workbench/execution_id"]
    with api(local_server) as client:
        run = client.get(f"/executions/{execution_id}").json()
    assert run["status"] == "COMPLETED"
    assert run["inputs"] == {"name": "Ada"}
    assert run["graph_id"] == doc["id"]


async def test_bad_arguments_and_failed_runs_are_tool_errors_the_model_can_read(
    local_server: ServerProcess,
) -> None:
    doc = _hello()
    doc["nodes"][0]["input_default"].pop("value")  # now required
    with api(local_server) as client:
        create_graph(client, doc)
    async with mcp_client(local_server) as mcp:
        refused = await mcp.call_tool(_tool_name(doc), {"nobody": 1})
        assert refused.is_error is True
        assert "nobody" in refused.content[0].text
        with pytest.raises(MCPError, match="no agent tool named 'No_such_agent'"):
            await mcp.call_tool("No_such_agent", {})


async def test_cancelling_a_call_cancels_its_run(local_server: ServerProcess) -> None:
    doc = timer_graph(30, name=f"Slow {uuid.uuid4().hex[:8]}")
    with api(local_server) as client:
        create_graph(client, doc)
        async with mcp_client(local_server) as mcp:
            call = asyncio.create_task(mcp.call_tool(_tool_name(doc), {}))
            run = await asyncio.to_thread(_running_run_of, client, doc["id"])
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
        ended = await asyncio.to_thread(wait_status, client, run["id"], {"CANCELLED"}, 15)
    assert ended["status"] == "CANCELLED"


def _running_run_of(client: httpx.Client, graph_id: str, timeout: float = 15) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.get("/executions", params={"graph_id": graph_id}).json()["items"]
        if runs and runs[0]["status"] == "RUNNING":
            return runs[0]
        time.sleep(0.05)
    raise AssertionError(f"no run of {graph_id} started")


async def test_a_graph_switched_off_is_not_a_tool_and_null_restores_the_default(
    local_server: ServerProcess,
) -> None:
    doc = _hello()
    with api(local_server) as client:
        create_graph(client, doc)
        off = client.put(f"/graphs/{doc['id']}/mcp-tool", json={"enabled": False}).json()
        assert off["served"] is False and off["tool"] is None
        listed = client.get("/graphs", params={"search": doc["name"]}).json()["items"]
        assert listed[0]["mcp_tool"] is False
        async with mcp_client(local_server) as mcp:
            assert _tool_name(doc) not in {t.name for t in (await mcp.list_tools()).tools}
            with pytest.raises(MCPError):
                await mcp.call_tool(_tool_name(doc), {})
        # A new version keeps the switch.
        assert client.put(f"/graphs/{doc['id']}", json=doc).status_code == 200
        assert doc["id"] not in {t["graph_id"] for t in client.get("/mcp/tools").json()}
        back = client.put(f"/graphs/{doc['id']}/mcp-tool", json={"enabled": None}).json()
        assert back["served"] is True and back["tool"]["graph_version"] == 2
        assert client.put(f"/graphs/{uuid.uuid4()}/mcp-tool", json={"enabled": True}).status_code == 404
        assert client.put(f"/graphs/{doc['id']}/mcp-tool", json={"enabled": "maybe"}).status_code == 422


async def test_two_agents_with_one_name_get_two_stable_tool_names(local_server: ServerProcess) -> None:
    name = f"Twin {uuid.uuid4().hex[:8]}"
    first, second = _hello(name), _hello(name)
    with api(local_server) as client:
        create_graph(client, first)
        create_graph(client, second)
        tools = {t["graph_id"]: t["name"] for t in client.get("/mcp/tools").json()}
    assert tools[first["id"]] == _tool_name(first)
    assert tools[second["id"]] == f"{_tool_name(second)}_{second['id'].replace('-', '')[:8]}"


def test_a_foreign_web_page_cannot_call_tools_in_the_no_login_mode(local_server: ServerProcess) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    foreign_origin = httpx.post(
        local_server.base_url + "/mcp", json=call, headers={**accept, "Origin": "http://evil.example"}
    )
    assert foreign_origin.status_code == 403
    rebound_host = httpx.post(
        local_server.base_url + "/mcp", json=call, headers={**accept, "Host": "evil.example"}
    )
    assert rebound_host.status_code == 403
    form = httpx.post(
        local_server.base_url + "/mcp",
        content=b"x=1",
        headers={**accept, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415


# ---- accounts: authentication, scope, tenancy, opt-in -------------------------------------------------


def test_mcp_without_credentials_is_401_in_the_api_error_shape(accounts_server: ServerProcess) -> None:
    r = httpx.post(
        accounts_server.base_url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] and r.headers["www-authenticate"].startswith("Bearer")


def test_a_key_without_graphs_execute_is_refused(accounts_server: ServerProcess) -> None:
    alice = signup(accounts_server, "mcp-reader")
    reader, _ = alice.key("graphs:read")
    r = httpx.post(
        accounts_server.base_url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {reader}", "Accept": "application/json, text/event-stream"},
    )
    assert r.status_code == 403
    assert "graphs:execute" in r.json()["error"]["message"]

    async def list_with_reader_key() -> None:
        async with mcp_client(accounts_server, reader) as mcp:
            await mcp.list_tools()

    with pytest.raises(ExceptionGroup) as refused:  # the SDK's client: the server answered an error
        asyncio.run(list_with_reader_key())
    assert refused.group_contains(MCPError, match="error response", depth=None)


async def test_each_user_sees_and_calls_only_their_own_opted_in_agents(
    accounts_server: ServerProcess,
) -> None:
    alice, bob = signup(accounts_server, "mcp-alice"), signup(accounts_server, "mcp-bob")
    mine, theirs = _hello(), _hello()
    create_graph(alice.client, mine)
    create_graph(bob.client, theirs)
    runner, _ = alice.key("graphs:execute")
    async with mcp_client(accounts_server, runner) as mcp:
        assert (await mcp.list_tools()).tools == []  # with accounts, an agent is a tool once opted in
    _opt_in(alice, mine["id"])
    _opt_in(bob, theirs["id"])
    async with mcp_client(accounts_server, runner) as mcp:
        names = {t.name for t in (await mcp.list_tools()).tools}
        assert names == {_tool_name(mine)}
        result = await mcp.call_tool(_tool_name(mine), {"name": "Alice"})
        assert result.structured_content == {"greeting": "Hello, Alice!", "length": 13}
        with pytest.raises(MCPError):
            await mcp.call_tool(_tool_name(theirs), {"name": "Mallory"})
    # Bob cannot switch Alice's agent, and his access token sees only his own tool.
    assert bob.client.put(f"/graphs/{mine['id']}/mcp-tool", json={"enabled": False}).status_code == 404
    async with mcp_client(accounts_server, bob.access_token) as mcp:
        assert {t.name for t in (await mcp.list_tools()).tools} == {_tool_name(theirs)}
    runs = alice.client.get("/executions", params={"graph_id": mine["id"]}).json()["items"]
    assert [r["inputs"] for r in runs] == [{"name": "Alice"}]
    assert bob.client.get("/executions", params={"graph_id": theirs["id"]}).json()["items"] == []


def _opt_in(user: User, graph_id: str) -> None:
    r = user.client.put(f"/graphs/{graph_id}/mcp-tool", json={"enabled": True})
    assert r.status_code == 200 and r.json()["served"] is True, r.text


# ---- the tools of an MCP server saved as a credential (what the Builder shows) ------------------------


@pytest.fixture(scope="module")
def reaching_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A no-login server whose blocks may reach this machine (the test MCP server is on 127.0.0.1)."""
    server = start_server(
        tmp_path_factory.mktemp("srv-mcp") / "home",
        "none",
        {"WORKBENCH_RATE_LIMIT": "off", "WORKBENCH_HTTP_ALLOW_PRIVATE": "1"},
    )
    yield server
    stop_server(server)


def _mcp_credential(client: httpx.Client, secret: dict[str, Any]) -> str:
    r = client.post("/credentials", json={"provider": "mcp", "title": "test tools", "secret": secret})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_a_saved_mcp_servers_tools_are_listed_with_their_schemas(reaching_server: ServerProcess) -> None:
    with serve_http(token="s3cret") as tools_server, api(reaching_server) as client:
        good = _mcp_credential(client, {"url": tools_server.url, "token": "s3cret", "name": "tt"})
        tools = {t["name"]: t for t in client.get(f"/mcp/servers/{good}/tools").json()}
        assert {"add", "echo", "forecast", "fail", "pause"} <= set(tools)
        assert tools["forecast"]["input_schema"]["required"] == ["city"]
        assert tools["forecast"]["server"] == "tt"
        wrong = _mcp_credential(client, {"url": tools_server.url, "token": "nope"})
        refused = client.get(f"/mcp/servers/{wrong}/tools")
        assert refused.status_code == 422 and "refused" in refused.json()["error"]["message"]
        assert "nope" not in refused.text
        other = client.post("/credentials", json={"provider": "openai", "secret": {"api_key": "sk-x"}})
        not_mcp = client.get(f"/mcp/servers/{other.json()['id']}/tools")
        assert not_mcp.status_code == 422 and "not an MCP server" in not_mcp.json()["error"]["message"]
        assert client.get(f"/mcp/servers/{uuid.uuid4()}/tools").status_code == 404
    # The test server has stopped: a 502 (another server failed), in the error shape, naming it.
    unreachable = httpx.get(f"{reaching_server.base_url}/api/v1/mcp/servers/{good}/tools", timeout=30)
    assert unreachable.status_code == 502
    error = unreachable.json()["error"]
    assert (
        error["code"] == "server_error"
        and "'tt'" in error["message"]
        and "could not be reached" in error["message"]
    )
    assert "s3cret" not in unreachable.text


def test_listing_a_servers_tools_goes_through_the_outbound_guard(local_server: ServerProcess) -> None:
    with serve_http() as tools_server, api(local_server) as client:
        cred = _mcp_credential(client, {"url": tools_server.url})
        refused = client.get(f"/mcp/servers/{cred}/tools")
    assert refused.status_code == 422
    assert "WORKBENCH_HTTP_ALLOW" in refused.json()["error"]["message"]
    assert tools_server.authorizations == []  # nothing reached it
