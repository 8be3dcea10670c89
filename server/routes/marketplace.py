"""/api/v1/templates: the marketplace. Publish one of your agents, search everyone's templates, look
at one and its graph, fork it into your library, unpublish yours (``workbench.services.marketplace``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody, Parameter
from pydantic import BaseModel, Field

from server.deps import caller, errors, workbench_of
from server.errors import check_text_parameter
from server.schemas import Body, Page
from workbench.graph.model import Graph
from workbench.services.marketplace import MAX_DESCRIPTION, Marketplace, template_dict


class PublishIn(Body):
    """Which of your graphs to publish, and how to present it."""

    graph_id: UUID
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Default: the active one.")
    description: str | None = Field(
        default=None, max_length=MAX_DESCRIPTION, description="Default: the graph's description."
    )
    name: str | None = Field(default=None, max_length=500, description="Default: the graph's name.")


class ForkIn(Body):
    """Options of a fork."""

    name: str | None = Field(
        default=None, max_length=500, description="Default: the template's name (with '(fork)' if taken)."
    )


class CredentialNeedOut(BaseModel):
    """A credential provider a template's blocks need."""

    provider: str
    blocks: list[str] = Field(description="The blocks (by name) that need it.")
    models: list[str] = Field(
        default_factory=list, description="For LLM blocks: their models (a server may serve them itself)."
    )


class TemplateOut(BaseModel):
    """A published agent (never its publisher's email or credentials)."""

    id: str
    name: str
    description: str
    publisher: str = Field(description="The publisher's display name.")
    graph_id: str
    graph_version: int
    block_ids: list[str]
    credentials: list[CredentialNeedOut]
    node_count: int
    fork_count: int
    published_at: datetime
    updated_at: datetime


def _marketplace(request: Request[Any, Any, Any]) -> Marketplace:
    return Marketplace.of(workbench_of(request))


class TemplateController(Controller):
    """The marketplace: agents published as templates."""

    path = "/templates"
    tags = ["marketplace"]

    @post("/", status_code=201, responses=errors(404, 422), summary="Publish a template")
    async def publish(self, request: Request[Any, Any, Any], data: JSONBody[PublishIn]) -> TemplateOut:
        """Publish a version of one of your graphs (again: replaces your template of that graph).
        Credential references in its nodes are not published."""
        principal = caller(request, "graphs:write")
        found = await _marketplace(request).publish(
            principal.user_id, str(data.graph_id), data.version, data.description, data.name
        )
        return TemplateOut(**template_dict(found))

    @get("/", responses=errors(), summary="Search templates")
    async def search(
        self,
        request: Request[Any, Any, Any],
        search: str | None = Parameter(
            default=None, max_length=200, description="Part of the name or description."
        ),
        mine: bool = Parameter(default=False, description="Only your own templates."),
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[TemplateOut]:
        """Everyone's templates, newest first."""
        principal = caller(request, "graphs:read")
        search = check_text_parameter("search", search)
        items, total = await _marketplace(request).search(
            search, limit=limit, offset=offset, publisher_id=principal.user_id if mine else None
        )
        return Page(
            items=[TemplateOut(**template_dict(t)) for t in items], total=total, limit=limit, offset=offset
        )

    @get("/{template_id:uuid}", responses=errors(404), summary="Get a template")
    async def get_template(self, request: Request[Any, Any, Any], template_id: FromPath[UUID]) -> TemplateOut:
        """One template, with the blocks and credentials it needs."""
        caller(request, "graphs:read")
        return TemplateOut(**template_dict(await _marketplace(request).get(str(template_id))))

    @get("/{template_id:uuid}/graph", responses=errors(404), summary="Get a template's graph")
    async def get_graph(self, request: Request[Any, Any, Any], template_id: FromPath[UUID]) -> Graph:
        """The published graph, read-only (with the sub-graphs it runs)."""
        caller(request, "graphs:read")
        return (await _marketplace(request).detail(str(template_id))).graph

    @post("/{template_id:uuid}/fork", status_code=201, responses=errors(404, 422), summary="Fork a template")
    async def fork(
        self,
        request: Request[Any, Any, Any],
        template_id: FromPath[UUID],
        data: JSONBody[ForkIn | None] = None,
    ) -> Graph:
        """Copy the template into your library as a new graph (fresh ids). 422, with nothing stored,
        naming each provider when you lack a credential the template needs."""
        principal = caller(request, "graphs:write")
        name = data.name if data is not None else None
        return await _marketplace(request).fork(principal.user_id, str(template_id), name)

    @delete("/{template_id:uuid}", status_code=204, responses=errors(404), summary="Unpublish a template")
    async def unpublish(self, request: Request[Any, Any, Any], template_id: FromPath[UUID]) -> None:
        """Remove your template (forks made from it stay); someone else's is 404."""
        principal = caller(request, "graphs:write")
        await _marketplace(request).unpublish(principal.user_id, str(template_id))
