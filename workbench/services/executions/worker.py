"""The executor's side of a stored run, in three named steps: claim it, run it, settle it.

A queue delivery (in-process or RabbitMQ) says only "work on execution X"; the database holds the
rest. :meth:`Worker.handle` claims the run (it must be QUEUED or RUNNING and not held by a live
executor; the attempt is counted), runs it (replaying what an earlier attempt finished) and returns
once its final state is stored, so the delivery is acknowledged only then. Redelivery is harmless. A
run taken more than ``MAX_ATTEMPTS`` times (it keeps killing its executors) ends FAILED and its
message is dead-lettered. A run that pauses for a human review ends its attempt in REVIEW: stored,
settled and acknowledged like a finished one, held by no executor (``on_review`` then queues it again
at once if a person answered while it was pausing).

:class:`Sweeper` is the safety net for lost messages: it publishes again the runs whose publish
failed or whose executor died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from workbench.engine.plan import Plan
from workbench.engine.recorder import Replay
from workbench.engine.run import RunSpec
from workbench.engine.state import ExecutionStatus
from workbench.errors import GraphValidationError, NotFoundError
from workbench.runtime.queue import DeadLetter, ExecutionQueue, Job
from workbench.services.executions.live import LiveRuns
from workbench.services.graphs import GraphService
from workbench.store.executions import ExecutionRecord, ExecutionRepository
from workbench.store.writer import StoreRecorder, WriteBehind

log = logging.getLogger(__name__)

EXECUTOR_LOCK_CLASS = 0x57424558  # "WBEX": advisory lock class of executor leases
MAX_ATTEMPTS = 5
"""How many times executors may take a run before it is given up (poison message)."""
PRIORITY_NAMES = {1: "high", 0: "normal", -1: "low"}
SWEEP_INTERVAL = 10.0
STALE_SECONDS = 60.0


def spec_of(rec: ExecutionRecord) -> RunSpec:
    """The engine's description of a stored top-level run."""
    return RunSpec(
        rec.id,
        rec.graph_id,
        rec.graph_version,
        rec.user_id,
        rec.inputs,
        credentials=rec.credentials,
        safe_mode=rec.safe_mode,
    )


class Worker:
    """Claims, runs and settles stored runs for this process (its executor lease is ``executor_key``)."""

    def __init__(
        self,
        graphs: GraphService,
        live: LiveRuns,
        repo: ExecutionRepository,
        writer: WriteBehind,
        executor_key: int,
    ) -> None:
        self.graphs = graphs
        self.live = live
        self.repo = repo
        self.writer = writer
        self.executor_key = executor_key
        self.on_review: Callable[[str], Awaitable[object]] | None = None
        """Called (awaited) with the id of a run whose attempt ended in REVIEW, once that is stored:
        the review service queues it again if a decision came meanwhile."""
        self._claiming: set[str] = set()

    async def handle(self, job: Job) -> None:
        """The queue's handler: claim, run and settle the run ``job`` names."""
        execution_id = job.execution_id
        if execution_id in self.live or execution_id in self._claiming:
            return  # a duplicate of a delivery whose run goes on here; that one will be acknowledged
        self._claiming.add(execution_id)  # before any await: two deliveries at once claim once
        try:
            claimed = await self.claim(job)
            if claimed is None:
                return
            plan, rec, replay = claimed
            self.run(plan, rec, replay)
        finally:
            self._claiming.discard(execution_id)
            self.live.arrived(execution_id)  # started, or nothing to start: readers stop waiting
        await self.settle(execution_id)

    async def claim(self, job: Job) -> tuple[Plan, ExecutionRecord, Replay | None] | None:
        """Step 1: take the run for this executor and load what running it needs. None when there is
        nothing to do (finished, unknown, held by a live executor, or failed here for a reason)."""
        rec = await self.repo.claim(job.execution_id, self.executor_key, EXECUTOR_LOCK_CLASS)
        if rec is None:
            return None
        attempts = int(rec.stats.get("attempts", 1))
        if attempts > MAX_ATTEMPTS:
            reason = (
                f"given up after {attempts - 1} attempts: every executor that took this run stopped mid-run"
            )
            await self.repo.fail(rec.id, reason)
            raise DeadLetter(reason)
        plan = job.plan if job.plan is not None and attempts == 1 else None
        if plan is None:
            plan = await self._plan(rec)
            if plan is None:
                return None
        # An earlier attempt left state to replay: it crashed (RUNNING, attempts) or paused for a
        # review (started before, queued again by the decision).
        started = attempts > 1 or rec.status == "RUNNING" or rec.started_at is not None
        replay = await self.repo.load_replay(rec.id) if started else None
        return plan, rec, replay

    async def _plan(self, rec: ExecutionRecord) -> Plan | None:
        """The run's plan, or None after failing the run with the reason it cannot be planned."""
        try:
            return await self.graphs.execution_plan(rec.graph_id, rec.user_id, rec.graph_version)
        except GraphValidationError as exc:  # e.g. blocks this executor lacks: the message names the nodes
            await self.repo.fail(rec.id, str(exc))
        except NotFoundError:
            await self.repo.fail(rec.id, f"graph {rec.graph_id} version {rec.graph_version} no longer exists")
        return None

    def run(self, plan: Plan, rec: ExecutionRecord, replay: Replay | None) -> None:
        """Step 2: start the claimed run here, recording into storage."""
        run = self.live.start(plan, spec_of(rec), StoreRecorder(self.writer, rec.id), replay)
        if rec.started_at is not None:  # resumed: its time counts from its first start
            run.started_at = rec.started_at.timestamp()

    async def settle(self, execution_id: str) -> None:
        """Step 3: return once the run has ended, or paused for a review, and its state is stored
        (cancelled: the run is handed back, still resumable)."""
        run = self.live.get(execution_id, None)
        if run is not None:
            await self.live.settle(run)
            if run.status == ExecutionStatus.REVIEW and self.on_review is not None:
                try:
                    await self.on_review(execution_id)
                except Exception as exc:  # the sweep queues it again later
                    log.warning("checking the reviews of %s failed (%s)", execution_id, exc)

    async def resume_interrupted(self) -> list[str]:
        """Claim the runs whose owning process died and run them here; returns their ids."""
        resumed = []
        for rec in await self.repo.claim_orphans(EXECUTOR_LOCK_CLASS, self.executor_key):
            plan = await self._plan(rec)
            if plan is None:
                continue
            self.run(plan, rec, await self.repo.load_replay(rec.id))
            resumed.append(rec.id)
            log.info("resuming interrupted execution %s", rec.id)
        return resumed


class Sweeper:
    """Every ``interval`` seconds, publish again the runs whose message was lost or whose executor died."""

    def __init__(self, repo: ExecutionRepository, queue: ExecutionQueue, interval: float = SWEEP_INTERVAL):
        self.repo = repo
        self.queue = queue
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, stale_seconds: float = STALE_SECONDS) -> int:
        """One pass; returns how many runs were published again."""
        count = 0
        for execution_id, priority in await self.repo.to_republish(EXECUTOR_LOCK_CLASS, stale_seconds):
            try:
                await self.queue.publish(execution_id, PRIORITY_NAMES.get(priority, "normal"))
                count += 1
            except Exception as exc:
                log.warning("republishing %s failed (%s)", execution_id, exc)
                await self.repo.mark_unpublished(execution_id)
        return count

    def start(self) -> None:
        """Sweep in the background until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="workbench-sweeper")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                count = await self.sweep()
                if count:
                    log.info("republished %d stuck executions", count)
            except Exception:
                log.exception("sweeping stuck executions failed")
