"""The scheduler runtime: fires schedules on time, as APScheduler jobs rebuilt from the schedules table.

**Source of truth.** The ``schedules`` table. The leader loads every enabled schedule into an
APScheduler ``AsyncIOScheduler`` job and keeps them in step: a change made through the service sends
NOTIFY (picked up at once), and every ``poll_interval`` seconds the leader compares each schedule's
``updated_at`` with its jobs anyway (changes made in SQL, a lost notification).

**One leader.** Any number of schedulers may run (``workbench scheduler`` processes, API processes);
only the one holding the PostgreSQL session advisory lock (SCHEDULER_LOCK_CLASS, SCHEDULER_LOCK_KEY),
on a connection of its own, fires. The others are standbys that try to take the lock every
``retry_interval`` (1 s); when the leader dies its session ends, the lock is released, and a standby
takes over within about a second or two. The leader checks its lock connection every poll and steps
down at once when it is lost.

**Each fire exactly once.** A fire is first recorded in ``schedule_runs``, whose UNIQUE (schedule_id,
fire_time) lets exactly one scheduler claim it even if two ever fire together (fire times are a pure
function of the schedule, so they agree to the second). The claim carries the id the execution will
have, and moves ``next_run_at`` on in the same transaction; then the execution is created with that
id (``ExecutionService.submit``) and the run marked SUBMITTED. A scheduler that dies between the two
leaves a PENDING run that the next leader completes with the same id; an execution id can be created
only once, so this cannot run it twice either.

**Missed runs: coalesce, with a grace period.** Fire times that passed while no scheduler was
running (or leading, or while the database was unreachable) are coalesced: the latest of them fires
once, if it is no more than the schedule's ``misfire_grace_seconds`` late (default 60, plus one
second of scheduling slack); otherwise none fires and the run is recorded MISSED. Either way the
``schedule_runs`` row records in ``coalesced`` how many fire times it stands for, so every fire time
is accounted for exactly once. Runs that fell due while a schedule was paused are not made up. A
ONCE schedule is done (disabled) once it has fired or been missed.

**Executions** are created with the schedule's inputs and credentials by the user who owns the
schedule, on the pinned ``graph_version`` or the graph's active version. Where they run is the
Workbench's business: in this process without ``AMQP_URL``, on the executors with it. A fire whose
execution cannot be created (inputs no longer valid) is recorded FAILED with the reason; when the
graph is gone, the schedule is also paused. On taking over, the new leader resumes the runs that a
dead process left behind (without a queue nobody else would).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    stop_any,
    wait_fixed,
)

from workbench.engine.state import fast_uuid
from workbench.errors import NotFoundError, UserError
from workbench.runtime.notify_queue import NotifyEvent
from workbench.services.schedules import trigger_for
from workbench.store.schedules import CHANNEL, ScheduleRecord, ScheduleRepository

log = logging.getLogger(__name__)

SCHEDULER_LOCK_CLASS = 0x57425343  # "WBSC"
SCHEDULER_LOCK_KEY = 1
SLACK = 1.0
"""Seconds a fire may be late on top of its grace period (timer and event loop jitter)."""
MAX_ENUMERATED = 10_000
"""Missed fire times counted one by one before the rest are skipped (a long outage of a frequent
schedule); ``coalesced`` of the MISSED run then says at least this many."""
REPAIR_AFTER = 30.0
"""Seconds after which a PENDING run of this leader's is presumed stuck and submitted again."""
DB_HICCUP = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, TimeoutError)
"""What a database that is briefly unreachable raises (worth retrying)."""
CLAIM_RETRY = 1.0
"""Seconds between attempts to record a fire while the database hiccups."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Job:
    schedule: ScheduleRecord
    trigger: BaseTrigger | None
    """None: the schedule cannot be scheduled (it is left alone until it changes)."""


class _FireExecutor(BaseExecutor):
    """Hands each due job, with all its due fire times, to the Scheduler (APScheduler's own
    executors do not tell the job which fire time it runs for)."""

    def __init__(self, owner: Scheduler) -> None:
        super().__init__()
        self._owner = owner
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._loop = scheduler._eventloop

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._owner._fire(job.id, list(run_times)), name=f"fire-{job.id}")
        self._owner._inflight.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._owner._inflight.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                self._run_job_error(job.id, exc, exc.__traceback__ if exc else None)
            else:
                self._run_job_success(job.id, [])

        task.add_done_callback(done)


class Scheduler:
    """Leader election, jobs, fires. ``start`` returns at once (as a standby); ``stop`` steps down."""

    def __init__(
        self,
        wb: Any,
        *,
        poll_interval: float = 2.0,
        retry_interval: float = 1.0,
        lock_key: int = SCHEDULER_LOCK_KEY,
        elect: bool = True,
    ) -> None:
        """``wb`` is a started, durable Workbench. ``elect=False`` fires without taking the lock
        (only for tests of what happens when two schedulers fire together)."""
        self.wb = wb
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.lock_key = lock_key
        self.elect = elect
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{fast_uuid()[:8]}"
        self.role = "stopped"
        """``standby``, ``leader``, ``disconnected`` (the database is unreachable) or ``stopped``."""
        self.role_since = time.time()
        self.leader_terms = 0
        self.fires = 0
        self.missed = 0
        self.failed = 0
        self.taken_elsewhere = 0
        """Fires this scheduler found recorded already (by another scheduler): they did not run twice."""
        self.last_fire_at: datetime | None = None
        self.last_error: str | None = None
        self._repo: ScheduleRepository | None = None
        self._task: asyncio.Task[None] | None = None
        self._aps: AsyncIOScheduler | None = None
        self._jobs: dict[str, _Job] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._stopping = False
        self._errors_logged = 0

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> Scheduler:
        """Start campaigning for leadership in the background."""
        if self._task is not None:
            return self
        if self.wb.db is None:
            raise RuntimeError("the scheduler needs a database: this workbench is ephemeral")
        self._repo = ScheduleRepository(self.wb.db.pool)
        aps_log = logging.getLogger("apscheduler")
        if aps_log.level == logging.NOTSET:
            aps_log.setLevel(logging.WARNING)  # "Added job ..." for every schedule is noise
        self._stopping = False
        self._set_role("standby")
        self._task = asyncio.get_running_loop().create_task(self._campaign(), name="workbench-scheduler")
        return self

    async def stop(self) -> None:
        """Stop firing and release leadership (a standby takes over at once)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        self._set_role("stopped")

    async def __aenter__(self) -> Scheduler:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def is_leader(self) -> bool:
        """Whether this scheduler is the one that fires."""
        return self.role == "leader"

    def status(self) -> dict[str, Any]:
        """What ``/health`` of a scheduler process reports."""
        return {
            "role": self.role,
            "since": datetime.fromtimestamp(self.role_since, UTC).isoformat(),
            "identity": self.identity,
            "jobs": len(self._aps.get_jobs()) if self._aps is not None and self.is_leader else 0,
            "leader_terms": self.leader_terms,
            "fires": self.fires,
            "missed": self.missed,
            "failed": self.failed,
            "taken_elsewhere": self.taken_elsewhere,
            "last_fire_at": self.last_fire_at.isoformat() if self.last_fire_at else None,
            "last_error": self.last_error,
        }

    def _set_role(self, role: str) -> None:
        if role != self.role:
            log.info("scheduler %s: %s -> %s", self.identity, self.role, role)
            self.role, self.role_since = role, time.time()

    # ---- leadership ------------------------------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        url = self.wb.db.url
        # Keepalives make a leader whose network vanished lose its session (and so the lock) in
        # seconds rather than hours; a process that dies closes its socket and loses it at once.
        return await asyncpg.connect(
            url,
            timeout=10,
            server_settings={
                "application_name": "workbench-scheduler",
                "tcp_keepalives_idle": "5",
                "tcp_keepalives_interval": "2",
                "tcp_keepalives_count": "3",
            },
        )

    async def _campaign(self) -> None:
        """Stand for leader, lead, and stand again every ``retry_interval`` after losing the lock
        connection (until stopped: ``stop`` cancels this task)."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_fixed(self.retry_interval),
            before_sleep=self._term_ended,
        )
        await retrying(self._term)

    async def _term(self) -> None:
        """One connection's term: a standby until it holds the lock, then the leader until the
        connection fails (which raises)."""
        conn: asyncpg.Connection | None = None
        try:
            conn = await self._connect()
            self._set_role("standby")
            await self._acquire(conn)
            self._errors_logged = 0
            await self._lead(conn)
        finally:
            await self._step_down()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)
                if not conn.is_closed():
                    conn.terminate()

    def _term_ended(self, state: RetryCallState) -> None:
        """Record why a term ended; the first failure is a warning, the same outage repeating every
        second is not news."""
        exc = state.outcome.exception() if state.outcome is not None else None
        self.last_error = f"{type(exc).__name__}: {exc}"
        level = logging.WARNING if self._errors_logged == 0 else logging.DEBUG
        log.log(level, "scheduler %s: %s; retrying", self.identity, self.last_error)
        self._errors_logged += 1
        self._set_role("disconnected")

    async def _acquire(self, conn: asyncpg.Connection) -> None:
        """Return once this scheduler holds the leader lock (a standby meanwhile)."""
        while True:
            if not self.elect or await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", SCHEDULER_LOCK_CLASS, self.lock_key
            ):
                return
            await asyncio.sleep(self.retry_interval)

    async def _lead(self, conn: asyncpg.Connection) -> None:
        """Fire until the lock connection fails (the caller steps down and campaigns again)."""
        self.leader_terms += 1
        self._set_role("leader")
        self._changed.clear()
        await conn.add_listener(CHANNEL, self._notified)
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            executors={"default": _FireExecutor(self)},
            job_defaults={"coalesce": False, "max_instances": 1000, "misfire_grace_time": None},
        )
        self._aps.start()
        await self._repair(older_than=0.0)
        await self._resume_orphans()
        last_repair = time.monotonic()
        while True:
            await self._sync()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.poll_interval)
            self._changed.clear()
            # Still connected means still holding the (session) lock.
            await asyncio.wait_for(conn.fetchval("SELECT 1"), 10)
            if time.monotonic() - last_repair > REPAIR_AFTER:
                await self._repair(older_than=REPAIR_AFTER)
                last_repair = time.monotonic()

    def _notified(self, *args: object) -> None:
        self._changed.set()

    async def _step_down(self) -> None:
        aps, self._aps = self._aps, None
        if aps is not None:
            with contextlib.suppress(Exception):
                aps.remove_all_jobs()
                aps.shutdown(wait=False)
        self._jobs.clear()
        if self._inflight:  # fires under way finish (they are claimed already)
            await asyncio.wait(list(self._inflight), timeout=10)

    async def _resume_orphans(self) -> None:
        """Without a shared queue (runs go through each process's own in-process queue), the runs a
        dead scheduler process started are nobody's: resume them."""
        executions = self.wb.executions
        queue = getattr(executions, "queue", None)
        if queue is not None and not queue.in_process:
            return  # a shared queue (RabbitMQ): the executors' sweepers look after theirs
        try:
            resumed = await executions.resume_interrupted()
            if resumed:
                log.info("scheduler: resumed %d interrupted executions", len(resumed))
        except Exception:
            log.exception("scheduler: resuming interrupted executions failed")

    # ---- jobs ------------------------------------------------------------------------------------

    async def _sync(self) -> None:
        """Make the jobs match the enabled schedules."""
        assert self._repo is not None and self._aps is not None
        versions = await self._repo.enabled_versions()
        for schedule_id in [s for s in self._jobs if s not in versions]:
            self._drop(schedule_id)
        stale = [
            s for s, at in versions.items() if s not in self._jobs or self._jobs[s].schedule.updated_at != at
        ]
        if not stale:
            return
        for schedule in await self._repo.load(stale):
            try:
                await self._add(schedule)
            except Exception as exc:
                log.error("scheduler: cannot schedule %s: %s", schedule.id, exc)
                self._drop(schedule.id)
                self._jobs[schedule.id] = _Job(schedule, None)  # not again until it changes

    def _drop(self, schedule_id: str) -> None:
        self._jobs.pop(schedule_id, None)
        if self._aps is not None:
            with contextlib.suppress(Exception):
                self._aps.remove_job(schedule_id)

    async def _add(self, schedule: ScheduleRecord) -> None:
        """(Re)build the job of a schedule, from where its fires stopped."""
        assert self._aps is not None and self._repo is not None
        trigger = trigger_for(schedule.values())
        now = _utcnow()
        start = schedule.next_run_at
        if schedule.last_fire_time is not None and (start is None or start <= schedule.last_fire_time):
            start = trigger.get_next_fire_time(schedule.last_fire_time, schedule.last_fire_time)
        if start is None and schedule.last_fire_time is None:
            start = trigger.get_next_fire_time(None, now)
        # Fire times older than the grace period are missed whatever happens: count them now (as one
        # MISSED run), so that APScheduler only ever sees a short list of due times.
        horizon = now - timedelta(seconds=schedule.misfire_grace_seconds + SLACK)
        if start is not None and start.astimezone(UTC) < horizon:
            missed = [start.astimezone(UTC)]
            while len(missed) < MAX_ENUMERATED:
                nxt = trigger.get_next_fire_time(missed[-1], missed[-1])
                if nxt is None or nxt.astimezone(UTC) >= horizon:
                    break
                missed.append(nxt.astimezone(UTC))
            following = trigger.get_next_fire_time(missed[-1], missed[-1])
            if len(missed) >= MAX_ENUMERATED:
                following = trigger.get_next_fire_time(None, horizon)
            await self._record_missed(schedule, missed[-1], len(missed), following, now)
            start = following
        self._jobs[schedule.id] = _Job(schedule, trigger)
        if start is None:  # nothing more to fire
            with contextlib.suppress(Exception):
                self._aps.remove_job(schedule.id)
            return
        self._aps.add_job(
            _never_called,
            trigger=trigger,
            id=schedule.id,
            name=schedule.name or schedule.id,
            next_run_time=start,
            replace_existing=True,
        )

    # ---- fires -----------------------------------------------------------------------------------

    async def _fire(self, schedule_id: str, run_times: list[datetime]) -> None:
        """A job fell due: claim its latest due fire time (coalescing the others), then start the run."""
        job = self._jobs.get(schedule_id)
        if job is None or job.trigger is None or not run_times:
            return
        schedule, trigger = job.schedule, job.trigger
        now = _utcnow()
        fire_time = run_times[-1].astimezone(UTC)
        following = trigger.get_next_fire_time(fire_time, fire_time)
        if (now - fire_time).total_seconds() > schedule.misfire_grace_seconds + SLACK:
            await self._record_missed(schedule, fire_time, len(run_times), following, now)
            return
        execution_id = fast_uuid()
        run_id = await self._claim(
            schedule,
            fire_time,
            execution_id=execution_id,
            status="PENDING",
            coalesced=len(run_times),
            next_run_at=following,
        )
        if run_id is None:
            self.taken_elsewhere += 1
            return  # fired already (another scheduler), or paused or deleted meanwhile
        await self._submit(run_id, schedule, execution_id)

    async def _record_missed(
        self,
        schedule: ScheduleRecord,
        fire_time: datetime,
        count: int,
        following: datetime | None,
        now: datetime,
    ) -> None:
        late = (now - fire_time).total_seconds()
        reason = (
            f"{count} fire time(s) missed, the latest {late:.0f}s ago: more than the grace period "
            f"({schedule.misfire_grace_seconds}s)"
        )
        run_id = await self._claim(
            schedule,
            fire_time,
            execution_id=None,
            status="MISSED",
            coalesced=count,
            next_run_at=following,
            error=reason,
        )
        if run_id:
            self.missed += 1
            log.warning("schedule %s: %s", schedule.id, reason)
            self._tell_notifier(schedule, run_id)

    async def _claim(self, schedule: ScheduleRecord, fire_time: datetime, **kwargs: Any) -> str | None:
        """Record the fire (once), retrying while the database hiccups, for up to the grace period."""
        assert self._repo is not None

        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning(
                "schedule %s: recording the fire at %s failed (%s); retrying", schedule.id, fire_time, exc
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(DB_HICCUP),
            stop=stop_any(stop_after_delay(max(schedule.misfire_grace_seconds, 5)), lambda _: self._stopping),
            wait=wait_fixed(CLAIM_RETRY),
            before_sleep=failed,
            reraise=True,
        )
        return await retrying(self._repo.claim, schedule, fire_time, fired_by=self.identity, **kwargs)

    async def _submit(self, run_id: str, schedule: ScheduleRecord, execution_id: str) -> None:
        """Create the run's execution with the id it was given; mark the run with the outcome."""
        assert self._repo is not None
        try:
            await self.wb.executions.submit(
                schedule.graph_id,
                schedule.inputs,
                user_id=schedule.user_id,
                version=schedule.graph_version,
                credentials=schedule.credentials or None,
                execution_id=execution_id,
            )
        except asyncpg.UniqueViolationError:
            pass  # created already, under this id, by another attempt: the same run
        except UserError as exc:
            self.failed += 1
            graph_gone = isinstance(exc, NotFoundError) and not await self._graph_exists(schedule)
            reason = f"{exc} (the schedule is paused)" if graph_gone else str(exc)
            log.warning("schedule %s: cannot start its run: %s", schedule.id, reason)
            await self._repo.finish(run_id, "FAILED", reason)
            self._tell_notifier(schedule, run_id)
            if graph_gone:
                await self.wb.db.pool.execute(
                    """UPDATE schedules SET is_enabled = false, paused_at = now(), next_run_at = NULL,
                           updated_at = now() WHERE id = $1 AND is_enabled""",
                    schedule.id,
                )
                self._changed.set()
            return
        except Exception as exc:
            # The database or the queue failed: the run stays PENDING and is submitted again later.
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "schedule %s: starting run %s failed (%s); it will be retried", schedule.id, run_id, exc
            )
            return
        await self._repo.finish(run_id, "SUBMITTED")
        self.fires += 1
        self.last_fire_at = _utcnow()
        log.info("schedule %s fired: execution %s", schedule.id, execution_id)

    def _tell_notifier(self, schedule: ScheduleRecord, run_id: str) -> None:
        """A fire was missed or could not start a run: the notifier tells the user (it never waits)."""
        queue = self.wb.notify_queue
        if queue is not None:
            queue.publish(
                NotifyEvent(
                    "schedule_fire", schedule.user_id, f"schedule_fire:{run_id}", {"schedule_run_id": run_id}
                )
            )

    async def _graph_exists(self, schedule: ScheduleRecord) -> bool:
        repo = self.wb.graphs.repo
        return (
            repo is not None
            and await repo.owned_version(schedule.graph_id, schedule.user_id, None) is not None
        )

    async def _repair(self, older_than: float) -> None:
        """Complete the PENDING runs of schedulers that died (or failed) between claim and submit."""
        assert self._repo is not None
        try:
            pending = await self._repo.pending(older_than)
        except Exception as exc:
            log.warning("scheduler: listing pending runs failed: %s", exc)
            return
        for run, schedule in pending:
            if run.execution_id is None:
                continue
            if await self._repo.execution_exists(run.execution_id):
                await self._repo.finish(run.id, "SUBMITTED")
            elif schedule is not None:
                log.info("schedule %s: completing run %s (fire at %s)", schedule.id, run.id, run.fire_time)
                await self._submit(run.id, schedule, run.execution_id)


def _never_called(*args: object) -> None:  # pragma: no cover - the fire executor runs jobs itself
    raise RuntimeError("scheduler jobs are run by the fire executor")
