"""/api/v1/graphs: create (AutoGPT exports accepted), list, get, new versions, activate, delete, export."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, JSONBody, Parameter

from server.deps import caller, errors, workbench_of
from server.errors import check_text_parameter
from server.schemas import ActiveVersionIn, GraphSummaryOut, Page
from workbench.graph.autogpt import apply_legacy_ids
from workbench.graph.model import Graph


class GraphController(Controller):
    """Agents: versioned graphs of blocks."""

    path = "/graphs"
    tags = ["graphs"]

    @post("/", status_code=201, responses=errors(409, 422), summary="Create a graph")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[Graph]) -> Graph:
        """Store a new graph (AutoGPT export format). Every problem comes back at once, located.

        An id the caller already has is 409, pointing to ``PUT /graphs/{id}`` (which saves a new
        version); an id another user has gets a fresh one."""
        principal = caller(request, "graphs:write")
        wb = workbench_of(request)
        return await wb.graphs.create(apply_legacy_ids(data), principal.user_id)

    @get("/", responses=errors(), summary="List graphs")
    async def list_graphs(
        self,
        request: Request[Any, Any, Any],
        search: str | None = Parameter(default=None, max_length=200, description="Part of the name."),
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[GraphSummaryOut]:
        """The caller's graphs (active versions), newest first."""
        principal = caller(request, "graphs:read")
        search = check_text_parameter("search", search)
        graphs = workbench_of(request).graphs
        items, total = await graphs.list(principal.user_id, search=search, limit=limit, offset=offset)
        if not items and offset:  # past the end the store counts nothing; the total is still wanted
            _, total = await graphs.list(principal.user_id, search=search, limit=1, offset=0)
        return Page(
            items=[GraphSummaryOut(**g.to_dict()) for g in items], total=total, limit=limit, offset=offset
        )

    @get("/{graph_id:uuid}", responses=errors(404), summary="Get a graph")
    async def get_graph(
        self,
        request: Request[Any, Any, Any],
        graph_id: FromPath[UUID],
        version: int | None = Parameter(default=None, ge=1, le=2**31 - 1),
    ) -> Graph:
        """The active version, or ``?version=``."""
        principal = caller(request, "graphs:read")
        return await workbench_of(request).graphs.get(str(graph_id), principal.user_id, version)

    @put("/{graph_id:uuid}", responses=errors(404, 422), summary="Save a new version")
    async def update(
        self,
        request: Request[Any, Any, Any],
        graph_id: FromPath[UUID],
        data: JSONBody[Graph],
        note: str = Parameter(default="", max_length=2000, description="What changed in this version."),
    ) -> Graph:
        """Store the body as the next version of the graph and make it active (``?note=`` says what
        changed; the versions list shows it)."""
        principal = caller(request, "graphs:write")
        note = check_text_parameter("note", note) or ""
        return await workbench_of(request).graphs.update(
            str(graph_id), apply_legacy_ids(data), principal.user_id, note=note
        )

    @get("/{graph_id:uuid}/versions", responses=errors(404), summary="List versions")
    async def versions(
        self, request: Request[Any, Any, Any], graph_id: FromPath[UUID]
    ) -> list[GraphSummaryOut]:
        """Every version of the graph, newest first."""
        principal = caller(request, "graphs:read")
        found = await workbench_of(request).graphs.versions(str(graph_id), principal.user_id)
        return [GraphSummaryOut(**g.to_dict()) for g in found]

    @put("/{graph_id:uuid}/versions/active", responses=errors(404, 422), summary="Activate a version")
    async def set_active(
        self, request: Request[Any, Any, Any], graph_id: FromPath[UUID], data: JSONBody[ActiveVersionIn]
    ) -> Graph:
        """Make a version the active one (the one runs use by default)."""
        principal = caller(request, "graphs:write")
        wb = workbench_of(request)
        await wb.graphs.set_active(str(graph_id), data.version, principal.user_id)
        return await wb.graphs.get(str(graph_id), principal.user_id)

    @delete("/{graph_id:uuid}", status_code=204, responses=errors(404, 409), summary="Delete a graph")
    async def delete_graph(self, request: Request[Any, Any, Any], graph_id: FromPath[UUID]) -> None:
        """Delete every version of the graph, and its executions (cancel running ones first)."""
        principal = caller(request, "graphs:write")
        wb = workbench_of(request)
        await wb.graphs.delete(str(graph_id), principal.user_id)

    @get("/{graph_id:uuid}/export", responses=errors(404), summary="Export a graph")
    async def export(
        self,
        request: Request[Any, Any, Any],
        graph_id: FromPath[UUID],
        version: int | None = Parameter(default=None, ge=1, le=2**31 - 1),
    ) -> dict[str, Any]:
        """The AutoGPT-format document, with the sub-graphs it uses."""
        principal = caller(request, "graphs:read")
        return await workbench_of(request).graphs.export(str(graph_id), principal.user_id, version)
