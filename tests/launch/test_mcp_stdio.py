"""``workbench mcp``: the local user's agents as MCP tools over stdio, as a desktop client starts it
(the SDK's client launching the command), on a fresh data folder; and the switches on the CLI."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.server.api_support import HELLO
from workbench.client.local import LocalClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder for this test, used by the client here and the command alike."""
    folder = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(folder))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return folder


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", "mcp", *args],
        env=_env(home),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _stored_hello(name: str) -> dict[str, Any]:
    doc = copy.deepcopy(HELLO)
    doc["id"] = str(uuid.uuid4())
    doc["name"] = name
    async with LocalClient() as client:
        await client.create_graph(doc)
    return doc


async def test_a_desktop_client_lists_and_calls_agents_over_stdio(home: Path) -> None:
    doc = await _stored_hello("Greeter")
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "launch.cli", "mcp"], env=_env(home), cwd=str(ROOT)
    )
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with Client(params) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"Greeter"}
        assert tools["Greeter"].input_schema["properties"]["name"]["title"] == "Who to greet"
        result = await client.call_tool("Greeter", {"name": "stdio"}, progress_callback=on_progress)
    assert result.is_error is False
    assert result.structured_content == {"greeting": "Hello, stdio!", "length": 13}
    assert progress == [1, 2, 3, 4, 5]
    async with LocalClient() as client:
        runs = await client.executions(graph_id=doc["id"])
    assert [r.inputs for r in runs] == [{"name": "stdio"}]


async def test_the_cli_lists_the_tools_and_switches_an_agent_off_and_back(home: Path) -> None:
    doc = await _stored_hello("Switchable agent")
    listed = _cli(home, "--list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["name"] for t in json.loads(listed.stdout)] == ["Switchable_agent"]
    off = _cli(home, "--disable", doc["id"])
    assert off.returncode == 0 and "not served" in off.stderr, off.stderr
    assert json.loads(_cli(home, "--list", "--json").stdout) == []
    on = _cli(home, "--default", doc["id"])
    assert "served as Switchable_agent" in on.stderr, on.stderr
    unknown = _cli(home, "--enable", str(uuid.uuid4()))
    assert unknown.returncode != 0 and "not found" in unknown.stderr
    assert "Traceback" not in unknown.stderr
