"""/api/v1/graphs/draft: the drafting assistant ("build by chat") proposes a graph from a request."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from pydantic import BaseModel, Field

from server.deps import caller, errors, workbench_of
from server.middleware import request_id_of
from server.schemas import Body, ErrorDetail, ErrorOut, ProblemOut
from workbench.drafting import AgentDrafter, AssistantFailed
from workbench.graph.autogpt import apply_legacy_ids
from workbench.graph.model import Graph


class TurnIn(Body):
    """One earlier turn of the conversation."""

    role: Literal["user", "assistant"]
    text: str = Field(max_length=20_000)


class DraftIn(Body):
    """What to draft: the request, the graph on the canvas, the conversation so far, which model."""

    request: str = Field(min_length=1, max_length=20_000, description="What the agent should do, or change.")
    graph: Graph | None = Field(default=None, description="The graph on the canvas now (none: start empty).")
    history: list[TurnIn] = Field(default_factory=list, max_length=200, description="Earlier turns.")
    credential_id: str | None = Field(
        default=None, max_length=100, description="An LLM credential of yours (default: your only one)."
    )
    model: str | None = Field(default=None, max_length=200, description="The model id to ask.")


class DraftOut(BaseModel):
    """The assistant's proposal; when not ``accepted`` the graph is the one sent, unchanged."""

    graph: Graph
    reply: str
    changes: list[str]
    problems: list[ProblemOut]
    accepted: bool


@post(
    "/graphs/draft",
    status_code=200,
    tags=["graphs"],
    summary="Draft a graph by chat",
    responses={
        **errors(404, 422),
        502: ResponseSpec(
            data_container=ErrorOut, description="The assistant's model failed.", generate_examples=False
        ),
    },
)
async def draft_graph(request: Request[Any, Any, Any], data: JSONBody[DraftIn]) -> Response[DraftOut]:
    """Ask the assistant to build or change a graph with blocks of the catalogue. Every step it takes
    is checked by the validator; a proposal still invalid comes back with ``accepted: false``, its
    problems and the graph sent, unchanged. No LLM configured: 422 saying how to add one."""
    principal = caller(request, "graphs:write")
    wb = workbench_of(request)
    try:
        proposal = await AgentDrafter(wb).propose(
            principal.user_id,
            data.request,
            base=apply_legacy_ids(data.graph) if data.graph is not None else None,
            history=[turn.model_dump() for turn in data.history],
            credential_id=data.credential_id,
            model=data.model,
        )
    except AssistantFailed as exc:
        detail = ErrorDetail(
            status=502, code=exc.error_code, message=str(exc), request_id=request_id_of(request.scope)
        )
        return Response(ErrorOut(error=detail), status_code=502)  # type: ignore[arg-type]
    out = DraftOut(
        graph=proposal.graph,
        reply=proposal.reply,
        changes=proposal.changes,
        problems=[ProblemOut(**p.to_dict()) for p in proposal.problems],  # type: ignore[arg-type]
        accepted=proposal.accepted,
    )
    return Response(out)
