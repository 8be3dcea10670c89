"""/api/v1/schedules: run a graph on time (ONCE, INTERVAL, CRON, DAILY, WEEKLY), pause, resume, and
see the next run times and past fires.

The request models give the JSON shape only (and the documentation); every rule on the values
(ranges, lengths, which fields each type takes, the graph and its inputs) is the schedule service's,
so the API, the clients and the CLI refuse the same things with the same located messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody, Parameter
from pydantic import BaseModel, Field

from server.deps import caller, errors, workbench_of
from server.schemas import Body, Page
from workbench.scheduler.triggers import SCHEDULE_TYPES
from workbench.services.schedules import DEFAULT_GRACE_SECONDS, MAX_GRACE_SECONDS, ScheduleService
from workbench.store.schedules import ScheduleRecord, ScheduleRunRecord

ScheduleType = Literal["ONCE", "INTERVAL", "CRON", "DAILY", "WEEKLY"]
_TYPES_HELP = f"One of {', '.join(SCHEDULE_TYPES)}: which timing fields apply (see each)."

_HELP = {
    "cron_expression": "CRON: a 5-field crontab (minute hour day-of-month month day-of-week), e.g. "
    "`0 9 * * 1-5`, or `@daily`, `@hourly`...",
    "interval_seconds": "INTERVAL: seconds between runs (at least the server's "
    "`WORKBENCH_SCHEDULE_MIN_INTERVAL`, 60 by default).",
    "run_at": "ONCE: when (in the future). INTERVAL: the first run (default: one interval from now). "
    "Without a UTC offset, a wall-clock time in `timezone`.",
    "time_of_day": "DAILY and WEEKLY: `HH:MM` or `HH:MM:SS`, wall-clock time in `timezone`.",
    "weekdays": 'WEEKLY: the days, e.g. `["mon", "thu"]`.',
    "timezone": "IANA timezone of the wall-clock times, e.g. `Europe/Madrid`; default: the user's.",
    "misfire_grace_seconds": "How late a missed fire may still run (else it is recorded MISSED), "
    f"0 to {MAX_GRACE_SECONDS} seconds, {DEFAULT_GRACE_SECONDS} by default; missed fires are coalesced "
    "into one run.",
    "graph_version": "A fixed version (1 or more); null: the active version at each run.",
    "inputs": "Graph inputs by name, for every run.",
    "credentials": "Credential ids by credentials field name, for every run.",
    "name": "Up to 200 characters.",
}


def _field(name: str) -> Any:
    """An optional field of a schedule request, documented (its rules are the service's)."""
    return Field(default=None, description=_HELP[name])


class ScheduleFieldsIn(Body):
    """The fields of a schedule, each optional: what PATCH changes (the others stay; changing
    ``schedule_type`` clears the timing fields of the old type that are not given)."""

    graph_id: UUID | None = None
    graph_version: int | None = _field("graph_version")
    name: str | None = _field("name")
    schedule_type: str | None = Field(default=None, description=_TYPES_HELP)
    cron_expression: str | None = _field("cron_expression")
    interval_seconds: int | None = _field("interval_seconds")
    run_at: datetime | None = _field("run_at")
    time_of_day: str | None = _field("time_of_day")
    weekdays: list[str] | None = _field("weekdays")
    timezone: str | None = _field("timezone")
    inputs: dict[str, Any] | None = _field("inputs")
    credentials: dict[str, str] | None = _field("credentials")
    misfire_grace_seconds: int | None = _field("misfire_grace_seconds")


class ScheduleIn(ScheduleFieldsIn):
    """A new schedule: which graph, when, with what inputs."""

    graph_id: UUID
    schedule_type: str = Field(description=_TYPES_HELP)


class ScheduleOut(BaseModel):
    """A schedule, with its next run times."""

    id: str
    graph_id: str
    graph_version: int | None
    name: str
    schedule_type: ScheduleType
    cron_expression: str | None
    interval_seconds: int | None
    run_at: datetime | None
    time_of_day: str | None
    weekdays: list[str] | None
    timezone: str
    inputs: dict[str, Any]
    credentials: dict[str, str]
    misfire_grace_seconds: int
    status: Literal["active", "paused", "completed"] = Field(
        description="completed: a ONCE schedule that has run (or was missed)."
    )
    is_enabled: bool
    paused_at: datetime | None
    next_run_at: datetime | None = Field(description="When the scheduler fires it next (past: overdue).")
    next_runs: list[datetime] = Field(description="The next 5 fire times from now (none unless active).")
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ScheduleRunOut(BaseModel):
    """One fire of a schedule."""

    id: str
    fire_time: datetime
    execution_id: str | None
    status: Literal["PENDING", "SUBMITTED", "FAILED", "MISSED"]
    coalesced: int = Field(description="How many fire times this run stands for (missed ones coalesced).")
    error: str | None
    created_at: datetime


def _service(request: Request[Any, Any, Any]) -> ScheduleService:
    return ScheduleService.of(workbench_of(request))


def schedule_out(service: ScheduleService, s: ScheduleRecord) -> ScheduleOut:
    """The API form of a schedule."""
    return ScheduleOut(
        id=s.id,
        graph_id=s.graph_id,
        graph_version=s.graph_version,
        name=s.name,
        schedule_type=s.schedule_type,  # type: ignore[arg-type]
        cron_expression=s.cron_expression,
        interval_seconds=s.interval_seconds,
        run_at=s.run_at,
        time_of_day=s.time_of_day.isoformat() if s.time_of_day is not None else None,
        weekdays=s.weekdays,
        timezone=s.timezone,
        inputs=s.inputs,
        credentials=s.credentials,
        misfire_grace_seconds=s.misfire_grace_seconds,
        status=s.status,  # type: ignore[arg-type]
        is_enabled=s.is_enabled,
        paused_at=s.paused_at,
        next_run_at=s.next_run_at,
        next_runs=service.next_runs(s),
        last_run_at=s.last_run_at,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def run_out(r: ScheduleRunRecord) -> ScheduleRunOut:
    """The API form of a fire."""
    return ScheduleRunOut(
        id=r.id,
        fire_time=r.fire_time,
        execution_id=r.execution_id,
        status=r.status,  # type: ignore[arg-type]
        coalesced=r.coalesced,
        error=r.error,
        created_at=r.created_at,
    )


def _fields(data: BaseModel) -> dict[str, Any]:
    fields = data.model_dump(exclude_unset=True)
    for key in ("graph_id",):
        if fields.get(key) is not None:
            fields[key] = str(fields[key])
    return fields


class ScheduleController(Controller):
    """Schedules: run a graph on time."""

    path = "/schedules"
    tags = ["schedules"]

    @post("/", status_code=201, responses=errors(409, 422), summary="Create a schedule")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[ScheduleIn]) -> ScheduleOut:
        """Run one of your graphs on time with these inputs. Every bad field is listed, located.

        Needs ``graphs:write`` and ``graphs:execute``: a schedule runs the graph on the caller's behalf.
        An INTERVAL or CRON schedule fires at most once a minute (the server's
        ``WORKBENCH_SCHEDULE_MIN_INTERVAL``); past the server's limit of active schedules per user
        (``WORKBENCH_MAX_SCHEDULES_PER_USER``), 409."""
        principal = caller(request)
        service = _service(request)
        fields = _fields(data)
        return schedule_out(service, await service.create(principal, fields))

    @get("/", responses=errors(), summary="List schedules")
    async def list_schedules(
        self,
        request: Request[Any, Any, Any],
        graph_id: UUID | None = Parameter(default=None, description="Only the schedules of this graph."),
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[ScheduleOut]:
        """Your schedules, newest first, with their next run times."""
        principal = caller(request, "graphs:read")
        service = _service(request)
        items, total = await service.list(
            principal.user_id, graph_id=str(graph_id) if graph_id else None, limit=limit, offset=offset
        )
        return Page(items=[schedule_out(service, s) for s in items], total=total, limit=limit, offset=offset)

    @get("/{schedule_id:uuid}", responses=errors(404), summary="Get a schedule")
    async def get_schedule(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID]) -> ScheduleOut:
        """A schedule with its next run times."""
        principal = caller(request, "graphs:read")
        service = _service(request)
        return schedule_out(service, await service.get(str(schedule_id), principal.user_id))

    @patch("/{schedule_id:uuid}", responses=errors(404, 409, 422), summary="Change a schedule")
    async def update(
        self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID], data: JSONBody[ScheduleFieldsIn]
    ) -> ScheduleOut:
        """Change the given fields; changing when it runs recomputes the next runs from now. Needs what
        creating needs, ``graphs:write`` and ``graphs:execute`` (a schedule's graph, inputs,
        credentials and time are what it runs)."""
        principal = caller(request)
        service = _service(request)
        fields = _fields(data)
        return schedule_out(service, await service.update(str(schedule_id), principal, fields))

    @delete("/{schedule_id:uuid}", status_code=204, responses=errors(404), summary="Delete a schedule")
    async def delete_schedule(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID]) -> None:
        """Delete a schedule and the record of its fires (the executions it started stay)."""
        await _service(request).delete(str(schedule_id), caller(request))

    @post(
        "/{schedule_id:uuid}/pause", status_code=200, responses=errors(404, 409), summary="Pause a schedule"
    )
    async def pause(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID]) -> ScheduleOut:
        """Stop running it until resumed (pausing a paused schedule changes nothing)."""
        service = _service(request)
        return schedule_out(service, await service.pause(str(schedule_id), caller(request)))

    @post(
        "/{schedule_id:uuid}/resume",
        status_code=200,
        responses=errors(404, 409, 422),
        summary="Resume a schedule",
    )
    async def resume(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID]) -> ScheduleOut:
        """Run it again from now on (runs that fell due while paused are not made up); needs
        ``graphs:write`` and ``graphs:execute``, and room under the limit of active schedules."""
        principal = caller(request)
        service = _service(request)
        return schedule_out(service, await service.resume(str(schedule_id), principal))

    @get("/{schedule_id:uuid}/runs", responses=errors(404), summary="List a schedule's fires")
    async def runs(
        self,
        request: Request[Any, Any, Any],
        schedule_id: FromPath[UUID],
        limit: int = Parameter(default=50, ge=1, le=500),
        offset: int = Parameter(default=0, ge=0, le=1_000_000),
    ) -> Page[ScheduleRunOut]:
        """Its fires, latest first: the execution each started, or why none was."""
        principal = caller(request, "graphs:read")
        items, total = await _service(request).runs(
            str(schedule_id), principal.user_id, limit=limit, offset=offset
        )
        return Page(items=[run_out(r) for r in items], total=total, limit=limit, offset=offset)
