"""Fixtures of the MCP client tests: a real MCP server over HTTP (one per module), the stdio one as a
command, settings that let them be reached, and a Workbench whose blocks may reach them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mcp_server import HttpMcpServer, serve_http
from workbench.app import Workbench
from workbench.config import Settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "mcp-test-token"


@pytest.fixture(scope="module")
def mcp_http() -> Iterator[HttpMcpServer]:
    """The test MCP server over streamable HTTP on 127.0.0.1, behind the bearer token ``TOKEN``."""
    with serve_http(token=TOKEN) as server:
        yield server


def stdio_secret(**extra: Any) -> dict[str, Any]:
    """An ``mcp`` credential's secret that starts the test server as a command (stdio)."""
    return {
        "command": sys.executable,
        "args": ["-m", "tests.support.mcp_server"],
        "env": {"PYTHONPATH": str(ROOT)},
        **extra,
    }


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    """The test run's settings with loopback reachable and commands allowed, as an operator sets them
    with ``WORKBENCH_HTTP_ALLOW=127.0.0.0/8`` and ``WORKBENCH_MCP_ALLOW_COMMANDS=1``."""
    return settings.with_(http_allow=("127.0.0.0/8",), mcp_allow_commands=True, mcp_timeout=10.0)


@pytest.fixture
def mcp_allowed(wb: Workbench) -> Iterator[None]:
    """Blocks run by ``wb`` may reach 127.0.0.1 and start MCP commands, for one test."""
    before = wb.executions.settings
    wb.executions.settings = before.with_(
        http_allow=(*before.http_allow, "127.0.0.0/8"), mcp_allow_commands=True, mcp_timeout=10.0
    )
    yield
    wb.executions.settings = before
