"""/api/v1/executions/retention: how long your runs are kept (your own bounds, the server's, and the
stricter of the two, which applies). Reading needs ``graphs:read``; changing ``graphs:execute`` (it
deletes runs, as ``DELETE /executions/{id}`` does). The rules are
:mod:`workbench.services.dbmanager.retention`'s.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, put
from litestar.params import JSONBody
from pydantic import BaseModel, Field

from server.deps import caller, errors, workbench_of
from server.schemas import Body
from workbench.services.dbmanager.retention import MAX_DAYS, MAX_PER_AGENT, RetentionService


class RetentionIn(Body):
    """Your own retention bounds; null (or left out) follows the server's."""

    days: int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="Runs older than this many days are removed."
    )
    per_agent: int | None = Field(
        default=None, ge=1, le=MAX_PER_AGENT, description="Only this many newest runs of each agent are kept."
    )


class Bounds(BaseModel):
    """Retention bounds (null: none)."""

    days: int | None
    per_agent: int | None


class RetentionOut(BaseModel):
    """Your retention: your own bounds, the server's, and what applies (the stricter, bound by bound)."""

    days: int | None = Field(description="Your own bound in days (null: the server's).")
    per_agent: int | None = Field(description="Your own bound in runs per agent (null: the server's).")
    server: Bounds
    effective: Bounds


def _service(request: Request[Any, Any, Any]) -> RetentionService:
    return RetentionService.of(workbench_of(request))


@get("/executions/retention", tags=["executions"], responses=errors(), summary="Your retention")
async def get_retention(request: Request[Any, Any, Any]) -> RetentionOut:
    """How long your runs are kept: by age (`days`) and by count per agent (`per_agent`). Runs that
    are still going on are never removed; chat history, files and knowledge bases are never removed
    by retention."""
    user = caller(request, "graphs:read").user_id
    return RetentionOut(**(await _service(request).get(user)).document())


@put("/executions/retention", tags=["executions"], responses=errors(422), summary="Set your retention")
async def put_retention(request: Request[Any, Any, Any], data: JSONBody[RetentionIn]) -> RetentionOut:
    """Replace your own bounds (null: follow the server's). You can keep less than the server does,
    never more: the stricter bound applies. Runs beyond it are removed by the next retention pass."""
    user = caller(request, "graphs:execute").user_id
    return RetentionOut(**(await _service(request).set(user, data.days, data.per_agent)).document())
