"""``workbench mcp``: the local user's agents as MCP tools over stdin/stdout, for desktop clients.

Standard output carries the protocol and nothing else: before anything starts (the embedded
PostgreSQL included, whose processes inherit the descriptors), file descriptor 1 is pointed at
standard error and the protocol writes to a private copy of the original one (:func:`claim_stdout`).
"""

from __future__ import annotations

import io
import os
from typing import Any

import anyio
from mcp.server.stdio import stdio_server

from workbench.app import Workbench
from workbench.auth import Principal
from workbench.mcp.server import build_server


def claim_stdout() -> io.TextIOWrapper:
    """The process's standard output for the protocol alone; everything else written to fd 1 (prints,
    child processes) goes to standard error from now on."""
    protocol = os.dup(1)
    os.dup2(2, 1)
    return io.TextIOWrapper(os.fdopen(protocol, "wb", buffering=0), encoding="utf-8", write_through=True)


async def serve_stdio(wb: Workbench, principal: Principal, stdout: io.TextIOWrapper) -> None:
    """Answer MCP requests on stdin/``stdout`` as ``principal`` until stdin closes."""
    server = build_server(lambda: wb.agent_tools, lambda _ctx: principal)
    out: Any = anyio.wrap_file(stdout)
    async with stdio_server(stdout=out) as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
