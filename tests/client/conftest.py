"""Real server processes for the client tests (``workbench serve``), and graphs both transports run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.server.api_support import signup
from tests.support.servers import ServerProcess, start_server, stop_server
from workbench.client import LocalClient, RemoteClient
from workbench.graph.builder import GraphBuilder


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder a server and this test process use together."""
    return tmp_path_factory.mktemp("shared") / "home"


@pytest.fixture(scope="session")
def home_server(shared_home: Path) -> Iterator[ServerProcess]:
    """``workbench serve --auth none`` on ``shared_home`` (what ``make run`` serves)."""
    server = start_server(shared_home, "none", {"WORKBENCH_RATE_LIMIT": "off", "WORKBENCH_SCHEDULER": "off"})
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def key_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``workbench serve --auth accounts``: API keys required."""
    server = start_server(
        tmp_path_factory.mktemp("keysrv") / "home",
        "accounts",
        {"WORKBENCH_RATE_LIMIT": "off", "WORKBENCH_SCHEDULER": "off"},
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def api_key(key_server: ServerProcess) -> Iterator[str]:
    """An API key of a new user of ``key_server``, with every scope the client uses."""
    user = signup(key_server, "notebook")
    key, _ = user.key(
        "graphs:read",
        "graphs:write",
        "graphs:execute",
        "blocks:read",
        "blocks:execute",
        "credentials:manage",
        "knowledge:read",
        "knowledge:write",
        name="notebook",
    )
    yield key
    user.close()


@pytest.fixture
async def clients(
    tmp_path: Path, key_server: ServerProcess, api_key: str
) -> AsyncIterator[tuple[LocalClient, RemoteClient]]:
    """The local transport on a fresh data folder, and the remote one on ``key_server``."""
    local = await LocalClient(tmp_path / "home").start()
    remote = await RemoteClient(key_server.base_url, api_key=api_key).start()
    yield local, remote
    await remote.close()
    await local.close()


def greeter(graph_id: str = "0b6f3a52-3f7e-4a38-9b53-8d7f4c1e2a10") -> GraphBuilder:
    """name -> "Hello, {{ name }}!" -> greeting, plus a branch: is the name long?"""
    g = GraphBuilder("Greeter", graph_id=graph_id)
    name = g.input("name")
    greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")
    name.result >> greet.values["name"]
    greet.output >> g.output("greeting").value
    size = g.add("FillTextTemplateBlock", format="{{ name|length }}")
    name.result >> size.values["name"]
    check = g.add("ConditionBlock", operator=">", value2=3, yes_value="long", no_value="short")
    size.output >> check.value1
    check.yes_output >> g.output("kind").value
    check.no_output >> g.output("kind", id="output_kind_no").value
    return g
