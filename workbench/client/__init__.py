"""The workbench client: one API over two transports, for notebooks and scripts.

``connect()`` gives a blocking :class:`Client` (what notebooks use); :class:`LocalClient` and
:class:`RemoteClient` are the async clients underneath, with the same methods and return types::

    from workbench.client import connect

    wb = connect()                                         # local: services in this process
    wb = connect("http://127.0.0.1:8006", api_key="wbk_…")  # remote: a server over HTTP + WebSocket
    result = wb.run(graph, {"name": "Ada"})
    run = wb.start(graph, {"name": "Bo"})                  # goes on in the background
    for event in run.events(): ...
    wb.create_knowledge_base("handbook")                   # knowledge bases: documents to search
    wb.add_document("handbook", Path("leave.md"))
    hits = wb.search("handbook", "how many vacation days?", mode="hybrid", top_k=3)
    for review in wb.reviews():                            # runs waiting for a person (REVIEW)
        wb.approve_review(review.id, message="looks right")
    photo = wb.files.upload(Path("photo.png"))             # files: photo.ref is workspace://<id>
    tools = wb.mcp_tools("https://mcp.example.com/mcp", token="…")  # an MCP server's tools
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.block.registry import BlockRegistry
from workbench.client.base import AsyncClient, as_graph
from workbench.client.local import LocalClient
from workbench.client.portal import Client, RunHandle
from workbench.client.remote import RemoteBlockError, RemoteClient, ServerError
from workbench.client.render import graph_svg
from workbench.client.types import (
    BlockInfo,
    CredentialInfo,
    DocumentInfo,
    GraphInfo,
    KnowledgeBaseInfo,
    PinInfo,
    ReviewInfo,
    ScheduleInfo,
    ScheduleRun,
    SearchResult,
    TriggerInfo,
)

__all__ = [
    "AsyncClient",
    "BlockInfo",
    "Client",
    "CredentialInfo",
    "DocumentInfo",
    "GraphInfo",
    "KnowledgeBaseInfo",
    "LocalClient",
    "PinInfo",
    "RemoteBlockError",
    "RemoteClient",
    "ReviewInfo",
    "RunHandle",
    "ScheduleInfo",
    "ScheduleRun",
    "SearchResult",
    "ServerError",
    "TriggerInfo",
    "as_graph",
    "connect",
    "graph_svg",
]


def connect(
    url: str | None = None,
    *,
    api_key: str | None = None,
    token: str | None = None,
    home: str | Path | None = None,
    scheduler: bool = False,
    registry: BlockRegistry | None = None,
) -> Client:
    """A connected blocking client: local when ``url`` is None or ``"local"``, else the server at ``url``.

    Remote: ``api_key`` defaults to ``WORKBENCH_API_KEY``. Local: ``home`` overrides
    ``WORKBENCH_HOME``; ``scheduler=True`` also fires schedules from this process.
    """
    inner: AsyncClient
    if url is None or url == "local":
        inner = LocalClient(home, scheduler=scheduler, registry=registry)
    else:
        inner = RemoteClient(
            url, api_key=api_key or os.environ.get("WORKBENCH_API_KEY"), token=token, registry=registry
        )
    client = Client(inner)
    try:
        return client.open()
    except BaseException:
        client.portal.stop()
        raise
