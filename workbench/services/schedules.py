"""Schedule service: create, read, change, pause, resume and delete schedules, every field validated,
with their next run times.

A schedule runs a stored graph of its user with fixed inputs (and credentials) on time:

* ``ONCE``: at ``run_at`` (which must be in the future);
* ``INTERVAL``: every ``interval_seconds`` seconds of real time, on the grid that starts at
  ``run_at`` (default: one interval after the schedule is created or its interval changed);
* ``CRON``: a 5-field crontab ``cron_expression`` (or ``@daily``, ``@hourly``...);
* ``DAILY``: every day at ``time_of_day`` (``HH:MM`` or ``HH:MM:SS``);
* ``WEEKLY``: at ``time_of_day`` on ``weekdays`` (``mon`` .. ``sun``).

Wall-clock times are in the schedule's IANA ``timezone`` (default: the user's), with the DST rules of
``workbench.scheduler.triggers``; all times are whole seconds. ``graph_version`` None means the graph's
active version at each fire. ``misfire_grace_seconds`` (default 60) is how late a fire may still run:
see ``workbench.scheduler`` for the missed-runs policy.

This module is the one place where schedule fields are checked: the API's request models describe
only their JSON shape. Every refusal is a ScheduleInputError naming each bad field (422 at the API,
one ``details`` entry each); an unknown schedule, or another user's, is NotFoundError.

Limits (settings): an INTERVAL or CRON schedule fires at most every ``schedule_min_interval`` seconds
(``WORKBENCH_SCHEDULE_MIN_INTERVAL``, 60), and a user has at most ``max_schedules_per_user`` active
schedules (``WORKBENCH_MAX_SCHEDULES_PER_USER``, 100; one more is a ConflictError, 409).

Who may do what: a schedule runs its graph on its owner's behalf, so creating, changing (PATCH, any
field) and resuming one need ``graphs:write`` and ``graphs:execute``; pausing and deleting need
``graphs:write``. Callers pass a :class:`~workbench.auth.Principal` (the API) and are checked here,
so every front door agrees; a bare user id is the in-process owner (notebooks, CLI), who holds all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from workbench import jsonutil
from workbench.auth import Principal
from workbench.config import Settings
from workbench.errors import ConflictError, InputError, InvalidFields, NotFoundError, PermissionDenied
from workbench.scheduler.triggers import (
    SCHEDULE_TYPES,
    WEEKDAYS,
    crontab_trigger,
    daily_trigger,
    interval_trigger,
    once_trigger,
    parse_time_of_day,
    resolve_wall_time,
    upcoming,
    zone,
)
from workbench.services.executions import check_inputs
from workbench.services.graphs import GraphService
from workbench.store.schedules import (
    ActiveLimitReached,
    ScheduleRecord,
    ScheduleRepository,
    ScheduleRunRecord,
)

DEFAULT_GRACE_SECONDS = 60
MAX_GRACE_SECONDS = 7 * 86400
MAX_INT = 2**31 - 1
NEXT_RUNS = 5
TIMING = (
    "schedule_type",
    "cron_expression",
    "interval_seconds",
    "run_at",
    "time_of_day",
    "weekdays",
    "timezone",
)
TARGET = ("graph_id", "graph_version", "inputs", "credentials")
FIELDS = (*TARGET, *TIMING, "name", "misfire_grace_seconds")
"""What a caller may set (create and PATCH)."""
_TYPE_FIELDS = {
    "ONCE": {"run_at"},
    "INTERVAL": {"interval_seconds", "run_at"},
    "CRON": {"cron_expression"},
    "DAILY": {"time_of_day"},
    "WEEKLY": {"time_of_day", "weekdays"},
}
_REQUIRED = {
    "ONCE": ("run_at",),
    "INTERVAL": ("interval_seconds",),
    "CRON": ("cron_expression",),
    "DAILY": ("time_of_day",),
    "WEEKLY": ("time_of_day", "weekdays"),
}
_TIMING_OPTIONAL = ("cron_expression", "interval_seconds", "run_at", "time_of_day", "weekdays")
RUN_SCOPES = ("graphs:write", "graphs:execute")
"""What creating, changing or resuming a schedule needs: it runs the graph on the caller's behalf."""
EDIT_SCOPES = ("graphs:write",)
"""What pausing or deleting a schedule needs (it stops runs, never starts one)."""
CRON_HORIZON = timedelta(days=2)
"""How far ahead a CRON schedule's fire times are compared with the minimum interval (its minute and
hour fields repeat daily; a gap across midnight shows within two days)."""


class ScheduleInputError(InvalidFields):
    """Bad schedule fields: ``problems`` lists (field, message) for every one of them."""


def trigger_for(values: Mapping[str, Any]) -> BaseTrigger:
    """The trigger of a schedule (stored or validated values by column name)."""
    tz = zone(values["timezone"])
    kind = values["schedule_type"]
    if kind == "ONCE":
        return once_trigger(values["run_at"])
    if kind == "INTERVAL":
        return interval_trigger(values["interval_seconds"], values["run_at"])
    if kind == "CRON":
        return crontab_trigger(values["cron_expression"], tz)
    if kind == "DAILY":
        return daily_trigger(values["time_of_day"], tz)
    if kind == "WEEKLY":
        return daily_trigger(values["time_of_day"], tz, values["weekdays"])
    raise ValueError(f"unknown schedule type {kind!r}")


def next_runs(
    schedule: ScheduleRecord, count: int = NEXT_RUNS, after: datetime | None = None
) -> list[datetime]:
    """The schedule's next ``count`` fire times from now (UTC); none unless it is active. (A fire
    that is overdue, because no scheduler was running, shows in ``next_run_at`` only.)"""
    if not schedule.is_enabled:
        return []
    return upcoming(trigger_for(schedule.values()), after or datetime.now(UTC), count)


def next_fire(values: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the schedule fires next: its ``run_at`` for ONCE, else the first fire time from now."""
    if values["schedule_type"] == "ONCE":
        return values["run_at"]
    found = upcoming(trigger_for(values), now, 1)
    return found[0] if found else None


def _now() -> datetime:
    return datetime.now(UTC)


def _caller(user: str | Principal, scopes: tuple[str, ...]) -> str:
    """The user id of the caller, after checking that a principal holds ``scopes`` (a bare user id is
    the in-process owner, who holds every scope)."""
    if isinstance(user, str):
        return user
    for scope in scopes:
        try:
            user.require(scope)
        except PermissionDenied as exc:
            if scopes != RUN_SCOPES:
                raise
            raise PermissionDenied(
                f"{exc}: a schedule runs its graph on your behalf, so creating, changing or resuming "
                "one needs graphs:write and graphs:execute"
            ) from None
    return user.user_id


def shortest_gap(trigger: BaseTrigger, after: datetime, below: int) -> int | None:
    """The shortest time in seconds between two consecutive fires of ``trigger`` in the
    ``CRON_HORIZON`` after ``after`` if it is under ``below`` seconds, else None (it stops at the
    first gap under ``below``)."""
    end = after + CRON_HORIZON
    previous: datetime | None = None
    now = after
    while True:
        nxt = trigger.get_next_fire_time(previous, now)
        if nxt is None or nxt > end:
            return None
        if previous is not None:
            gap = (nxt - previous).total_seconds()
            if gap < below:
                return int(gap)
            if nxt <= previous:
                return None
        previous, now = nxt, nxt + timedelta(microseconds=1)


class ScheduleService:
    """Everything about schedules but firing them (that is ``workbench.scheduler``)."""

    def __init__(
        self,
        repo: ScheduleRepository,
        graphs: GraphService,
        clock: Callable[[], datetime] = _now,
        *,
        min_interval: int = 60,
        max_active: int = 100,
    ) -> None:
        self.repo = repo
        self.graphs = graphs
        self.clock = clock
        self.min_interval = min_interval
        """Fewest seconds between two fires of an INTERVAL or CRON schedule."""
        self.max_active = max_active
        """Most active schedules of one user."""

    @classmethod
    def of(cls, wb: Any, settings: Settings | None = None) -> ScheduleService:
        """The service of a durable Workbench (schedules are stored), with the limits of its settings."""
        if wb.db is None:
            raise RuntimeError("schedules need a database: this workbench is ephemeral")
        settings = settings or wb.settings
        return cls(
            ScheduleRepository(wb.db.pool),
            wb.graphs,
            min_interval=settings.schedule_min_interval,
            max_active=settings.max_schedules_per_user,
        )

    # ---- reading ---------------------------------------------------------------------------------

    async def get(self, schedule_id: str, user_id: str) -> ScheduleRecord:
        """A schedule of the user; NotFoundError otherwise."""
        found = await self.repo.get(schedule_id, user_id) if _is_uuid(schedule_id) else None
        if found is None:
            raise NotFoundError(f"schedule {schedule_id} not found")
        return found

    async def list(
        self, user_id: str, *, graph_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[ScheduleRecord], int]:
        """The user's schedules (of one graph, if given), newest first, with the total count."""
        if graph_id is not None and not _is_uuid(graph_id):
            return [], 0
        return await self.repo.list(user_id, graph_id=graph_id, limit=limit, offset=offset)

    async def runs(
        self, schedule_id: str, user_id: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[ScheduleRunRecord], int]:
        """The fires of a schedule of the user, latest first."""
        schedule = await self.get(schedule_id, user_id)
        return await self.repo.runs(schedule.id, limit=limit, offset=offset)

    def next_runs(self, schedule: ScheduleRecord, count: int = NEXT_RUNS) -> list[datetime]:
        """The schedule's next fire times."""
        return next_runs(schedule, count, self.clock())

    async def preview(
        self, user_id: str, fields: Mapping[str, Any], count: int = NEXT_RUNS
    ) -> list[datetime]:
        """The next ``count`` fire times (UTC) of a schedule with these timing fields if it were
        created now, with the checks :meth:`create` makes on them (nothing is stored; the graph and
        inputs are not looked at). ScheduleInputError names each bad timing field."""
        now = self.clock()
        values: dict[str, Any] = {name: fields.get(name) for name in TIMING}
        if values["timezone"] is None:
            values["timezone"] = await self.repo.user_timezone(user_id) or "UTC"
            try:
                zone(values["timezone"])
            except ValueError:
                values["timezone"] = "UTC"
        problems: list[tuple[str, str]] = []
        out: dict[str, Any] = {}
        self._check_timing(values, set(TIMING), now, problems, out)
        if problems:
            raise ScheduleInputError(problems)
        return upcoming(trigger_for(out), now, count)

    # ---- writing ---------------------------------------------------------------------------------

    async def create(self, user: str | Principal, fields: Mapping[str, Any]) -> ScheduleRecord:
        """Validate and store a new, active schedule (``graphs:write`` and ``graphs:execute``)."""
        user_id = _caller(user, RUN_SCOPES)
        _refuse_unknown(fields)
        now = self.clock()
        values: dict[str, Any] = {name: fields.get(name) for name in FIELDS}
        if values["timezone"] is None:
            values["timezone"] = await self.repo.user_timezone(user_id) or "UTC"
            try:
                zone(values["timezone"])
            except ValueError:
                values["timezone"] = "UTC"  # the account's setting is not a zone we know
        checked = await self._check(user_id, values, set(FIELDS), now)
        checked["is_enabled"] = True
        checked["paused_at"] = None
        checked["next_run_at"] = next_fire(checked, now)
        try:
            return await self.repo.insert(user_id, checked, max_active=self.max_active)
        except ActiveLimitReached as exc:
            raise self._too_many(exc) from None

    async def update(
        self, schedule_id: str, user: str | Principal, changes: Mapping[str, Any]
    ) -> ScheduleRecord:
        """Change some fields (PATCH): the result is validated as a whole. Changing the type clears
        the timing fields of the old type that are not given; changing when it runs recomputes the
        next run from now; a completed ONCE schedule given a new ``run_at`` runs again. Needs what
        creating needs (``graphs:write`` and ``graphs:execute``): the graph, inputs, credentials and
        time of a schedule are what it runs."""
        user_id = _caller(user, RUN_SCOPES)
        current = await self.get(schedule_id, user_id)
        _refuse_unknown(changes)
        now = self.clock()
        values = current.values()
        changed = set(changes)
        kind = changes.get("schedule_type")
        if isinstance(kind, str) and kind.upper() != current.schedule_type:
            for name in _TIMING_OPTIONAL:
                if name not in changes:
                    values[name] = None
                    changed.add(name)
        if current.schedule_type == "INTERVAL" and "interval_seconds" in changes and "run_at" not in changes:
            values["run_at"] = None  # a new interval starts one interval from now
            changed.add("run_at")
        values.update({k: changes[k] for k in changes})
        checked = await self._check(user_id, values, changed, now)
        # A completed ONCE schedule given a (validated, future) time again, or made recurring, runs again.
        again = current.status == "completed" and (
            checked["schedule_type"] != "ONCE" or bool(changed & {"run_at", "schedule_type"})
        )
        if again:
            checked["is_enabled"], checked["paused_at"] = True, None
        if again or changed & set(TIMING):
            enabled = again or current.is_enabled
            checked["next_run_at"] = next_fire(checked, now) if enabled else None
        return await self._store(current.id, user_id, checked, activates=again)

    async def pause(self, schedule_id: str, user: str | Principal) -> ScheduleRecord:
        """Stop firing until resumed (pausing a paused schedule changes nothing); ``graphs:write``."""
        user_id = _caller(user, EDIT_SCOPES)
        current = await self.get(schedule_id, user_id)
        if current.status == "paused":
            return current
        if current.status == "completed":
            raise ConflictError(
                f"schedule {schedule_id} has completed (a ONCE schedule that ran); nothing to pause"
            )
        return await self._store(
            current.id, user_id, {"is_enabled": False, "paused_at": self.clock(), "next_run_at": None}
        )

    async def resume(self, schedule_id: str, user: str | Principal) -> ScheduleRecord:
        """Fire again, from now on: runs that fell due while paused are not made up. Needs
        ``graphs:write`` and ``graphs:execute``, a target that is still valid, timing within the
        minimum interval and room under the user's limit of active schedules."""
        user_id = _caller(user, RUN_SCOPES)
        current = await self.get(schedule_id, user_id)
        if current.status == "active":
            return current
        now = self.clock()
        values = current.values()
        problems: list[tuple[str, str]] = []
        if current.schedule_type == "ONCE" and (current.run_at is None or current.run_at <= now):
            problems.append(("run_at", "has passed: PATCH a new run_at in the future to run this schedule"))
        else:
            self._check_frequency(values, now, problems)
            await self._check_target(user_id, values, problems)
        if problems:
            raise ScheduleInputError(problems)
        values["is_enabled"] = True
        return await self._store(
            current.id,
            user_id,
            {"is_enabled": True, "paused_at": None, "next_run_at": next_fire(values, now)},
            activates=True,
        )

    async def delete(self, schedule_id: str, user: str | Principal) -> None:
        """Delete a schedule and the record of its runs (executions it started stay); ``graphs:write``."""
        user_id = _caller(user, EDIT_SCOPES)
        if not _is_uuid(schedule_id) or not await self.repo.delete(schedule_id, user_id):
            raise NotFoundError(f"schedule {schedule_id} not found")

    async def _store(
        self, schedule_id: str, user_id: str, values: dict[str, Any], *, activates: bool = False
    ) -> ScheduleRecord:
        """Write ``values``; ``activates``: the schedule becomes active, within the user's limit."""
        try:
            stored = await self.repo.update(
                schedule_id, user_id, values, max_active=self.max_active if activates else None
            )
        except ActiveLimitReached as exc:
            raise self._too_many(exc) from None
        if stored is None:  # deleted meanwhile
            raise NotFoundError(f"schedule {schedule_id} not found")
        return stored

    def _too_many(self, exc: ActiveLimitReached) -> ConflictError:
        return ConflictError(
            f"you have {exc.active} active schedules, the most one user may have "
            f"(WORKBENCH_MAX_SCHEDULES_PER_USER={self.max_active}): pause or delete one first"
        )

    # ---- validation ------------------------------------------------------------------------------

    async def _check(
        self, user_id: str, values: dict[str, Any], changed: set[str], now: datetime
    ) -> dict[str, Any]:
        """Normalize and validate ``values`` (the whole schedule); fields in ``changed`` get the checks
        that depend on the moment or on other data (a ONCE time in the future, the graph, credentials)."""
        problems: list[tuple[str, str]] = []
        out: dict[str, Any] = {}

        name = values.get("name")
        if name is None:
            name = ""
        if not isinstance(name, str) or len(name) > 200 or "\x00" in name:
            problems.append(("name", "must be text of at most 200 characters"))
        out["name"] = name

        grace = values.get("misfire_grace_seconds")
        if grace is None:
            grace = DEFAULT_GRACE_SECONDS
        if not _is_int(grace) or not 0 <= grace <= MAX_GRACE_SECONDS:
            problems.append(
                ("misfire_grace_seconds", f"must be a whole number of seconds from 0 to {MAX_GRACE_SECONDS}")
            )
        out["misfire_grace_seconds"] = grace

        self._check_timing(values, changed, now, problems, out)

        out["graph_id"] = values.get("graph_id")
        out["graph_version"] = values.get("graph_version")
        out["inputs"] = values.get("inputs") if values.get("inputs") is not None else {}
        out["credentials"] = values.get("credentials") if values.get("credentials") is not None else {}
        if changed & set(TARGET):
            await self._check_target(user_id, out, problems)
        if problems:
            raise ScheduleInputError(problems)
        return out

    def _check_timing(
        self,
        values: dict[str, Any],
        changed: set[str],
        now: datetime,
        problems: list[tuple[str, str]],
        out: dict[str, Any],
    ) -> None:
        kind = values.get("schedule_type")
        if isinstance(kind, str):
            kind = kind.upper()
        if kind not in SCHEDULE_TYPES:
            problems.append(("schedule_type", f"must be one of {', '.join(SCHEDULE_TYPES)}"))
            return
        out["schedule_type"] = kind
        tz_name = values.get("timezone")
        try:
            tz: Any = zone(tz_name)  # type: ignore[arg-type]
        except ValueError as exc:
            problems.append(("timezone", str(exc)))
            tz = None
        out["timezone"] = tz_name
        zone_ok = tz is not None
        tz = tz or UTC  # with a bad zone, the other fields are checked all the same
        allowed = _TYPE_FIELDS[kind]
        for name in _TIMING_OPTIONAL:
            if name not in allowed and values.get(name) is not None:
                users = [k for k, v in _TYPE_FIELDS.items() if name in v]
                problems.append((name, f"is for {' and '.join(users)} schedules, not {kind}"))
            out[name] = None
        for name in _REQUIRED[kind]:
            if values.get(name) is None and not (kind == "INTERVAL" and name == "run_at"):
                problems.append((name, f"is required for a {kind} schedule"))
        if any(p[0] in _REQUIRED[kind] and "required" in p[1] for p in problems):
            return
        before = len(problems)

        if "run_at" in allowed:
            run_at = values.get("run_at")
            if run_at is not None:
                try:
                    out["run_at"] = _instant(run_at, tz)
                except ValueError as exc:
                    problems.append(("run_at", str(exc)))
        once_at = out.get("run_at") if kind == "ONCE" and changed & {"run_at", "schedule_type"} else None
        if once_at is not None and once_at <= now:
            problems.append(
                (
                    "run_at",
                    f"must be in the future (it is {once_at.isoformat()}, now {now:%Y-%m-%dT%H:%M:%S}Z)",
                )
            )
        if kind == "INTERVAL":
            seconds = values.get("interval_seconds")
            if not _is_int(seconds) or not 0 < seconds <= MAX_INT:
                problems.append(
                    ("interval_seconds", f"must be a whole number of seconds, at least 1 (at most {MAX_INT})")
                )
            else:
                out["interval_seconds"] = seconds
                if values.get("run_at") is None:
                    out["run_at"] = now.replace(microsecond=0) + timedelta(seconds=seconds)
        if kind == "CRON":
            expression = values.get("cron_expression")
            try:
                if not isinstance(expression, str):
                    raise ValueError("must be text")
                crontab_trigger(expression, tz)
                out["cron_expression"] = " ".join(expression.split())
            except ValueError as exc:
                problems.append(
                    (
                        "cron_expression",
                        f"{exc} (a 5-field crontab: minute hour day-of-month month day-of-week)",
                    )
                )
        if kind in ("DAILY", "WEEKLY"):
            at = values.get("time_of_day")
            try:
                if isinstance(at, time):
                    if at.tzinfo is not None:
                        raise ValueError(
                            "must be a wall-clock time without a UTC offset (the schedule has a timezone)"
                        )
                    out["time_of_day"] = at.replace(microsecond=0)
                else:
                    out["time_of_day"] = parse_time_of_day(at)  # type: ignore[arg-type]
            except ValueError as exc:
                problems.append(("time_of_day", str(exc)))
        if kind == "WEEKLY":
            days = values.get("weekdays")
            try:
                out["weekdays"] = _weekdays(days)
            except ValueError as exc:
                problems.append(("weekdays", str(exc)))
        if zone_ok and len(problems) == before and kind != "ONCE" and next_fire(out, now) is None:
            field = {"CRON": "cron_expression"}.get(kind, "schedule_type")
            problems.append((field, "never fires"))
        elif zone_ok and len(problems) == before:
            self._check_frequency(out, now, problems)

    def _check_frequency(
        self, values: Mapping[str, Any], now: datetime, problems: list[tuple[str, str]]
    ) -> None:
        """An INTERVAL or CRON schedule fires at most every ``min_interval`` seconds (the setting
        ``WORKBENCH_SCHEDULE_MIN_INTERVAL``): a schedule must not outrun the API's rate limits."""
        least = self.min_interval
        kind = values.get("schedule_type")
        if kind == "INTERVAL":
            seconds = values.get("interval_seconds")
            if _is_int(seconds) and seconds < least:
                problems.append(
                    (
                        "interval_seconds",
                        f"must be at least {least} seconds (WORKBENCH_SCHEDULE_MIN_INTERVAL), got {seconds}",
                    )
                )
        elif kind == "CRON" and least > 60 and values.get("cron_expression"):
            try:
                trigger = trigger_for(values)
            except ValueError:
                return  # reported by the timing checks
            gap = shortest_gap(trigger, now, least)
            if gap is not None:
                problems.append(
                    (
                        "cron_expression",
                        f"fires {gap} seconds apart; schedules may fire at most every {least} seconds "
                        "(WORKBENCH_SCHEDULE_MIN_INTERVAL)",
                    )
                )

    async def _check_target(
        self, user_id: str, values: dict[str, Any], problems: list[tuple[str, str]]
    ) -> None:
        """The graph (the user's), its version, the inputs against its inputs, the credentials."""
        graph_id, version = values.get("graph_id"), values.get("graph_version")
        inputs, credentials = values.get("inputs"), values.get("credentials")
        ok = True
        if not isinstance(graph_id, (str, uuid.UUID)) or not _is_uuid(str(graph_id)):
            problems.append(("graph_id", "must be the id (a UUID) of one of your graphs"))
            ok = False
        else:
            values["graph_id"] = graph_id = str(uuid.UUID(str(graph_id)))
        if version is not None and (not _is_int(version) or not 1 <= version <= MAX_INT):
            problems.append(
                ("graph_version", "must be a version number (1 or more), or null for the active version")
            )
            ok = False
        if not isinstance(inputs, dict):
            problems.append(("inputs", "must be an object of graph inputs by name"))
            ok = False
        elif (where := jsonutil.nul_path(inputs, "inputs")) is not None:
            # As for a run's inputs: stored as given or refused, never silently altered.
            problems.append((where, "contains a NUL character (U+0000), which cannot be stored"))
            ok = False
        if not isinstance(credentials, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in credentials.items()
        ):
            problems.append(("credentials", "must be an object of credential ids by credentials field name"))
        elif credentials:
            ids = {k: v for k, v in credentials.items() if _is_uuid(v)}
            owned = await self.repo.owned_credentials(user_id, list(ids.values())) if ids else set()
            for key, cred_id in credentials.items():
                if key not in ids or str(uuid.UUID(cred_id)) not in owned:
                    problems.append((f"credentials.{key}", f"credential {cred_id} not found"))
        if not ok:
            return
        repo = self.graphs.repo
        if repo is None:
            raise RuntimeError("schedules need a database: this workbench is ephemeral")
        if await repo.owned_version(graph_id, user_id, None) is None:
            problems.append(("graph_id", f"graph {graph_id} not found"))
            return
        try:
            plan = await self.graphs.stored_plan(graph_id, user_id, version)
        except NotFoundError:
            problems.append(("graph_version", f"graph {graph_id} has no version {version}"))
            return
        try:
            check_inputs(plan, inputs)  # type: ignore[arg-type]
        except InputError as exc:
            problems.append(("inputs", str(exc)))


def _refuse_unknown(fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ScheduleInputError([(name, "is not a schedule field") for name in unknown])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _instant(value: Any, tz: Any) -> datetime:
    """A datetime (or ISO 8601 text) as a UTC instant, whole seconds; a time without a UTC offset is
    wall-clock time in the schedule's timezone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise ValueError("must be a date and time (ISO 8601)")
    try:
        if value.tzinfo is None:
            value = resolve_wall_time(value, tz)[0]
        return value.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError):
        raise ValueError("is out of range") from None


def _weekdays(days: Any) -> list[str]:
    """Weekday names (``mon`` .. ``sun``, or full names), in week order, each once."""
    if not isinstance(days, (list, tuple)) or not days or len(days) > len(WEEKDAYS):
        raise ValueError("must be a non-empty list of at most 7 weekdays (mon, tue, wed, thu, fri, sat, sun)")
    found = set()
    for day in days:
        name = day.strip().lower() if isinstance(day, str) else None
        if name not in WEEKDAYS and name not in _FULL_DAYS:
            raise ValueError(f"{day!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
        found.add(name[:3])  # type: ignore[index]
    return [d for d in WEEKDAYS if d in found]


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
