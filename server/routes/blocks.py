"""/api/v1/blocks: the catalogue (with ETag), one block, and running one block."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from server.deps import caller, errors, workbench_of
from server.schemas import BlockOut, BlockRunIn, BlockRunOut


def _catalogue(request: Request[Any, Any, Any]) -> tuple[bytes, str]:
    """The catalogue JSON and its ETag, computed once per registry size."""
    wb = workbench_of(request)
    state = request.app.state
    cached = state.get("block_catalogue")
    if cached is None or cached[0] != len(wb.registry):
        body = json.dumps(sorted((b.describe() for b in wb.registry), key=lambda d: d["name"])).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        cached = (len(wb.registry), body, etag)
        state["block_catalogue"] = cached
    return cached[1], cached[2]


def _etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag``: a list of tags, weak ones (``W/``) or ``*``."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


class BlockController(Controller):
    """The block catalogue."""

    path = "/blocks"
    tags = ["blocks"]

    @get(
        "/",
        responses={
            304: ResponseSpec(None, description="Unchanged since the ETag given in If-None-Match."),
            **errors(),
        },
        summary="List blocks",
    )
    async def list_blocks(self, request: Request[Any, Any, Any]) -> Response[list[BlockOut]]:
        """Every block with its JSON Schemas and categories. Send ``If-None-Match`` to get 304 when unchanged."""
        caller(request, "blocks:read")
        body, etag = _catalogue(request)
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(b"", status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})  # type: ignore[arg-type]

    @get("/{block_id:uuid}", responses=errors(404), summary="Get a block")
    async def get_block(self, request: Request[Any, Any, Any], block_id: FromPath[UUID]) -> BlockOut:
        """One catalogue entry."""
        caller(request, "blocks:read")
        return BlockOut(**workbench_of(request).registry.get(str(block_id)).describe())

    @post("/{block_id:uuid}/execute", status_code=200, responses=errors(404, 422), summary="Run one block")
    async def execute_block(
        self, request: Request[Any, Any, Any], block_id: FromPath[UUID], data: JSONBody[BlockRunIn]
    ) -> BlockRunOut:
        """Run a single block on the given inputs and return what it yielded (an error is an output too)."""
        principal = caller(request, "blocks:execute")
        done = await workbench_of(request).executions.run_block(
            str(block_id), dict(data.inputs), user_id=principal.user_id, credentials=data.credentials
        )
        return BlockRunOut(outputs=[list(pair) for pair in done.outputs], error=done.error)
