"""/api/v1/reviews and /api/v1/executions/{id}/reviews: human reviews waiting for, or given by, a person.

A run whose ``HumanInTheLoopBlock`` asks for a review shows status REVIEW until someone answers it
here (or through the review's signed link, ``server.review_page``). Every rule is the review service's
(``workbench.services.reviews``): another user's review is 404, a second decision 409, ``data`` on a
review that is not editable (or with ``reject``) 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, Parameter
from pydantic import BaseModel, Field

from server.config import ServerConfig
from server.deps import caller, errors, workbench_of
from server.schemas import Body, Page
from workbench.services.reviews import MAX_MESSAGE, UNCHANGED
from workbench.store.reviews import ReviewRecord

ReviewStatus = Literal["WAITING", "APPROVED", "REJECTED", "TIMED_OUT"]


class ReviewOut(BaseModel):
    """A human review of a node execution."""

    id: str
    execution_id: str = Field(description="The top-level run (what was started, and what waits).")
    node_execution_id: str
    node_id: str
    seq: int = Field(description="Which execution of the node in its run (0, 1, ...).")
    sub_execution_id: str | None = Field(
        default=None, description="The sub-graph run the node belongs to, when it is inside one."
    )
    graph_id: str
    graph_version: int
    agent: str = Field(description="The name of the agent (graph) the node is in.")
    name: str = Field(description="What the data is (the block's `name` input).")
    data: Any = Field(description="The data asked about.")
    editable: bool = Field(description="Whether an approval may change the data.")
    status: ReviewStatus
    decision: Literal["approve", "reject"] | None = Field(
        default=None, description="What applies (a timeout applies `default_decision`)."
    )
    reviewed_data: Any = Field(default=None, description="The data passed on after the decision.")
    message: str | None = None
    default_decision: Literal["approve", "reject"]
    timeout_seconds: float = Field(description="0: waits for ever.")
    decided_via: str | None = Field(default=None, description="api, link, timeout (or ui, notebook).")
    created_at: datetime
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    run_status: str = Field(description="The status of the run (REVIEW while it waits for this).")
    link: str | None = Field(
        default=None,
        description="A signed link to a page where anyone holding it can answer (one review; "
        "while it waits). Only on GET /reviews/{id}.",
    )


class DecisionIn(Body):
    """An answer to a review."""

    decision: Literal["approve", "reject"]
    data: Any = Field(
        default=None,
        description="The data to pass on instead (approve only; the review must be editable). "
        "Leave it out to pass the data on as it was.",
    )
    message: str | None = Field(
        default=None, max_length=MAX_MESSAGE, description="Passed on as the block's `review_message`."
    )


def review_out(rec: ReviewRecord, link: str | None = None) -> ReviewOut:
    """The API form of a review."""
    return ReviewOut.model_validate({**rec.to_dict(), "link": link})


def _base_url(request: Request[Any, Any, Any]) -> str:
    config: ServerConfig = request.app.state.config
    return (config.public_url or str(request.base_url)).rstrip("/")


class ReviewController(Controller):
    """Reviews: list them, read one, answer one."""

    path = "/reviews"
    tags = ["reviews"]

    @get("/", responses=errors(), summary="List reviews")
    async def list_reviews(
        self,
        request: Request[Any, Any, Any],
        status: ReviewStatus | None = Parameter(
            default=None, description="WAITING: those waiting for an answer that can still take effect."
        ),
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[ReviewOut]:
        """Your reviews, newest first (``?status=WAITING``: the ones waiting for you)."""
        principal = caller(request, "graphs:read")
        items, total = await workbench_of(request).reviews.list(
            principal.user_id, status=status, limit=limit, offset=offset
        )
        return Page(items=[review_out(r) for r in items], total=total, limit=limit, offset=offset)

    @get("/{review_id:uuid}", responses=errors(404), summary="Get a review")
    async def get_review(self, request: Request[Any, Any, Any], review_id: FromPath[UUID]) -> ReviewOut:
        """One of your reviews, with a signed link to answer it while it waits."""
        principal = caller(request, "graphs:read")
        reviews = workbench_of(request).reviews
        rec = await reviews.get(str(review_id), principal.user_id)
        link = None
        if rec.waiting and reviews.repo is not None:
            link = reviews.signed_link(rec.id, _base_url(request))
        return review_out(rec, link)

    @post("/{review_id:uuid}", status_code=200, responses=errors(404, 409, 422), summary="Answer a review")
    async def decide(
        self, request: Request[Any, Any, Any], review_id: FromPath[UUID], data: JSONBody[DecisionIn]
    ) -> ReviewOut:
        """Approve (optionally with changed ``data``) or reject; the run goes on at once, on any
        executor. 409 when it was answered already, timed out, or its run has ended."""
        principal = caller(request, "graphs:execute")
        edited = data.data if "data" in data.model_fields_set else UNCHANGED
        rec = await workbench_of(request).reviews.decide(
            str(review_id), principal.user_id, data.decision, data=edited, message=data.message
        )
        return review_out(rec)


@get(
    "/executions/{execution_id:uuid}/reviews",
    tags=["reviews"],
    responses=errors(404),
    summary="List a run's reviews",
)
async def execution_reviews(
    request: Request[Any, Any, Any],
    execution_id: FromPath[UUID],
    status: ReviewStatus | None = Parameter(default=None),
) -> list[ReviewOut]:
    """The reviews of one of your runs (its sub-graph runs' included), newest first."""
    principal = caller(request, "graphs:read")
    wb = workbench_of(request)
    items, _ = await wb.reviews.list(
        principal.user_id, status=status, execution_id=str(execution_id), limit=500
    )
    if not items:
        await wb.executions.get(str(execution_id), principal.user_id)  # 404 unless it is a run of yours
    return [review_out(r) for r in items]
