"""/api/v1/graphs/{id}/execute and /api/v1/executions: start, list, inspect, cancel, delete runs."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter

from server.deps import caller, errors, workbench_of
from server.schemas import ExecuteIn, ExecutionOut, NodeExecutionOut, Page
from workbench.services.executions import ExecutionResult, NodeExecution
from workbench.store.executions import ExecutionRecord

PRIORITY = {"low": -1, "normal": 0, "high": 1}


def node_out(node: NodeExecution) -> NodeExecutionOut:
    """The API form of a node execution."""
    return NodeExecutionOut.model_validate(node, from_attributes=True)


def execution_out(result: ExecutionResult, *, with_nodes: bool = True) -> ExecutionOut:
    """The API form of an execution result (the service gives stored runs as a later read will)."""
    return ExecutionOut(
        id=result.execution_id,
        graph_id=result.graph_id,
        graph_version=result.graph_version,
        status=str(result.status),  # type: ignore[arg-type]
        inputs=result.inputs,
        outputs=result.outputs,
        error=result.error,
        error_node_id=result.error_node_id,
        created_at=result.created_at,
        started_at=result.started_at,
        ended_at=result.ended_at,
        node_executions=[node_out(n) for n in result.node_executions] if with_nodes else None,
    )


def record_out(rec: ExecutionRecord) -> ExecutionOut:
    """The API form of a stored execution (listing: without node executions)."""
    return ExecutionOut(
        id=rec.id,
        graph_id=rec.graph_id,
        graph_version=rec.graph_version,
        status=rec.status,  # type: ignore[arg-type]
        inputs=rec.inputs,
        outputs=rec.outputs,
        error=rec.error,
        error_node_id=rec.error_node_id,
        created_at=rec.created_at,
        started_at=rec.started_at,
        ended_at=rec.ended_at,
    )


class ExecuteController(Controller):
    """Starting runs of a graph."""

    path = "/graphs"
    tags = ["executions"]

    @post(
        "/{graph_id:uuid}/execute",
        status_code=202,
        responses={
            200: ResponseSpec(ExecutionOut, description="Finished within `wait`."),
            **errors(404, 422),
        },
        summary="Run a graph",
    )
    async def execute(
        self,
        request: Request[Any, Any, Any],
        graph_id: FromPath[UUID],
        data: JSONBody[ExecuteIn],
        wait: float = Parameter(default=0, ge=0, le=300, description="Seconds to wait for the result."),
    ) -> Response[ExecutionOut]:
        """Start a run; 202 with its id at once, or 200 with the result if it ends within ``wait``."""
        principal = caller(request, "graphs:execute")
        wb = workbench_of(request)
        execution_id = await wb.executions.submit(
            str(graph_id),
            data.inputs,
            user_id=principal.user_id,
            version=data.version,
            priority=PRIORITY[data.priority],
            credentials=data.credentials,
            safe_mode=data.safe_mode,
        )
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                result = await wb.executions.wait(execution_id, timeout=wait, user_id=principal.user_id)
                return Response(execution_out(result), status_code=200)
        result = await wb.executions.get(execution_id, principal.user_id)
        # Without ``wait`` the answer is always 202, however fast the run: callers can rely on it.
        final = wait > 0 and result.status.is_final
        return Response(execution_out(result), status_code=200 if final else 202)


class ExecutionController(Controller):
    """Runs: list, inspect, cancel, delete."""

    path = "/executions"
    tags = ["executions"]

    @get("/", responses=errors(), summary="List executions")
    async def list_executions(
        self,
        request: Request[Any, Any, Any],
        graph_id: UUID | None = Parameter(default=None),
        status: Literal["QUEUED", "RUNNING", "REVIEW", "WAITING", "COMPLETED", "FAILED", "CANCELLED"]
        | None = Parameter(default=None, description="WAITING is REVIEW: waiting for a person's review."),
        since: datetime | None = Parameter(default=None, description="Created at or after (ISO 8601)."),
        until: datetime | None = Parameter(default=None, description="Created before (ISO 8601)."),
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[ExecutionOut]:
        """The caller's runs, newest first."""
        principal = caller(request, "graphs:read")
        executions = workbench_of(request).executions
        filters: dict[str, Any] = {
            "graph_id": str(graph_id) if graph_id else None,
            "status": "REVIEW" if status == "WAITING" else status,
            "since": _aware(since),
            "until": _aware(until),
        }
        records, total = await executions.list(principal.user_id, **filters, limit=limit, offset=offset)
        if not records and offset:  # past the end the store counts nothing; the total is still wanted
            _, total = await executions.list(principal.user_id, **filters, limit=1, offset=0)
        return Page(items=[record_out(r) for r in records], total=total, limit=limit, offset=offset)

    @get("/{execution_id:uuid}", responses=errors(404), summary="Get an execution")
    async def get_execution(
        self, request: Request[Any, Any, Any], execution_id: FromPath[UUID]
    ) -> ExecutionOut:
        """Status, outputs by name, and every node execution with inputs, outputs, timings, errors."""
        principal = caller(request, "graphs:read")
        return execution_out(await workbench_of(request).executions.get(str(execution_id), principal.user_id))

    @post(
        "/{execution_id:uuid}/cancel", status_code=200, responses=errors(404), summary="Cancel an execution"
    )
    async def cancel(self, request: Request[Any, Any, Any], execution_id: FromPath[UUID]) -> ExecutionOut:
        """Stop a run wherever it runs; running nodes are cancelled."""
        principal = caller(request, "graphs:execute")
        wb = workbench_of(request)
        await wb.executions.cancel(str(execution_id), principal.user_id)
        return execution_out(await wb.executions.get(str(execution_id), principal.user_id))

    @delete(
        "/{execution_id:uuid}", status_code=204, responses=errors(404, 409), summary="Delete an execution"
    )
    async def delete_execution(self, request: Request[Any, Any, Any], execution_id: FromPath[UUID]) -> None:
        """Delete a finished run and its node executions (cancel a running one first)."""
        principal = caller(request, "graphs:execute")
        await workbench_of(request).executions.delete(str(execution_id), principal.user_id)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
