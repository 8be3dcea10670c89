"""The runs going on in this process: each a ``GraphRun`` driven by an asyncio task.

Everything that runs a graph here (the worker for stored runs, the service for ephemeral ones, the
sub-graph runner for children) starts it through :class:`LiveRuns`, so one registry answers "is it
running here?", cancels, counts and shuts down. Results of finished ephemeral runs (stored nowhere
else) are remembered, newest last, up to ``RECENT_EPHEMERAL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable

from workbench.block.context import BlockServices, SubgraphRunner
from workbench.config import Settings
from workbench.engine.plan import Plan
from workbench.engine.recorder import Recorder, Replay
from workbench.engine.run import GraphRun, RunSpec
from workbench.engine.state import NodeExec
from workbench.runtime.bus import EventBus
from workbench.services.executions.results import ExecutionResult
from workbench.telemetry import metrics, tracing
from workbench.telemetry.context import CURRENT_EXECUTION

log = logging.getLogger(__name__)
RECENT_EPHEMERAL = 1000

SubgraphRunnerFactory = Callable[[GraphRun, NodeExec], SubgraphRunner]


class LiveRuns:
    """Starts runs as tasks and keeps them findable while they run."""

    def __init__(self, settings: Settings, bus: EventBus, services: BlockServices) -> None:
        self.settings = settings
        self.bus = bus
        self.services = services
        self.limiter = asyncio.Semaphore(settings.process_concurrency)
        """Nodes of all runs of this process running at once."""
        self.subgraph_runner: SubgraphRunnerFactory | None = None
        """Set by the sub-graph orchestration once it exists (it starts its children through us)."""
        self.on_finished: list[Callable[[GraphRun], None]] = []
        """Called when a top-level run started here ends (bookkeeping of other modules)."""
        self._runs: dict[str, GraphRun] = {}
        self._tasks: dict[str, asyncio.Task[GraphRun]] = {}
        self._recent: OrderedDict[str, ExecutionResult] = OrderedDict()
        self._expected: dict[str, asyncio.Future[None]] = {}
        """Runs queued in this process and not started yet: resolved when they start (or will not)."""
        self._every: weakref.WeakSet[GraphRun] = weakref.WeakSet()
        """Every run made here, sub-graph runs included, while it exists: a stop reaches them all."""

    def new(self, plan: Plan, spec: RunSpec, recorder: Recorder, replay: Replay | None = None) -> GraphRun:
        """A run wired to this process's settings, bus, node limiter, services and sub-graph runner."""
        run = GraphRun(
            plan,
            spec,
            settings=self.settings,
            recorder=recorder,
            bus=self.bus,
            limiter=self.limiter,
            replay=replay,
            subgraph_runner=self.subgraph_runner,
            services=self.services,
        )
        self._every.add(run)
        return run

    def start(self, plan: Plan, spec: RunSpec, recorder: Recorder, replay: Replay | None = None) -> GraphRun:
        """Start a top-level run as a task; it is findable at once."""
        run = self.new(plan, spec, recorder, replay)
        self._runs[spec.execution_id] = run
        task = asyncio.get_running_loop().create_task(self._drive(run), name=f"run-{spec.execution_id}")
        self._tasks[spec.execution_id] = task
        self.arrived(spec.execution_id)
        return run

    def expect(self, execution_id: str) -> None:
        """A run was just queued in this process: readers may wait for it to start here."""
        self._expected[execution_id] = asyncio.get_running_loop().create_future()

    def arrived(self, execution_id: str) -> None:
        """The expected run started here, or its delivery ended without starting it."""
        future = self._expected.pop(execution_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def until_started(self, execution_id: str, timeout: float | None) -> bool:
        """Wait until a run queued in this process has been taken by its worker; False when no such
        run is expected (TimeoutError after ``timeout`` seconds)."""
        future = self._expected.get(execution_id)
        if future is None:
            return False
        await asyncio.wait_for(asyncio.shield(future), timeout)
        return True

    async def _drive(self, run: GraphRun) -> GraphRun:
        execution_id = run.spec.execution_id
        CURRENT_EXECUTION.set(execution_id)  # this task's own context: log lines of the run name it
        try:
            if tracing.ENABLED:
                attributes = {
                    "workbench.execution_id": execution_id,
                    "workbench.graph_id": run.spec.graph_id,
                    "workbench.graph_version": run.spec.graph_version,
                }
                with tracing.span(f"execution {run.plan.graph.name}", attributes) as span:
                    await run.run()
                    tracing.set_attributes(span, {"workbench.status": str(run.status)})
                    return run
            return await run.run()
        except Exception:
            log.exception("run %s crashed", execution_id)
            raise
        finally:
            if run.status.is_final:
                took = run.ended_at - run.started_at if run.ended_at and run.started_at else None
                metrics.execution_done(str(run.status), run.spec.graph_id, took)
            if not run.recorder.durable and run.status.is_final:
                self._recent[execution_id] = ExecutionResult.from_run(run)
                while len(self._recent) > RECENT_EPHEMERAL:
                    self._recent.popitem(last=False)
            self._tasks.pop(execution_id, None)
            self._runs.pop(execution_id, None)
            for callback in self.on_finished:
                callback(run)

    # ---- lookups --------------------------------------------------------------------------------

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._runs

    def get(self, execution_id: str, user_id: str | None) -> GraphRun | None:
        """The run going on here, when it is ``user_id``'s (any user's for None)."""
        run = self._runs.get(execution_id)
        if run is None or (user_id is not None and run.spec.user_id != user_id):
            return None
        return run

    def recent(self, execution_id: str, user_id: str | None) -> ExecutionResult | None:
        """The result of an ephemeral run that ended here, when it is ``user_id``'s."""
        result = self._recent.get(execution_id)
        if result is None or (user_id is not None and result.user_id != user_id):
            return None
        return result

    def count(self) -> int:
        """How many top-level runs are going on here."""
        return len(self._runs)

    # ---- waiting and stopping --------------------------------------------------------------------

    async def wait(self, execution_id: str, timeout: float | None) -> GraphRun | None:
        """Wait for a run going on here to end (TimeoutError after ``timeout``; the run goes on);
        None when it is not running here."""
        task = self._tasks.get(execution_id)
        if task is None:
            return None
        return await asyncio.wait_for(asyncio.shield(task), timeout)

    async def settle(self, run: GraphRun) -> None:
        """Wait until a run started here has ended and its final state is recorded. If the waiter is
        cancelled (the process shuts down), the run is abandoned: it stays resumable."""
        task = self._tasks.get(run.spec.execution_id)
        if task is None:
            return
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self._abandon_tree(run.spec.root_id)
            with contextlib.suppress(BaseException):
                await task
            raise

    async def cancel(self, run: GraphRun, grace: float = 10.0) -> None:
        """Cancel a run going on here and wait (up to ``grace`` seconds) for it to end."""
        run.cancel()
        task = self._tasks.get(run.spec.execution_id)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), grace)

    def _abandon_tree(self, root_id: str) -> None:
        """Abandon a stored run and every sub-graph run under it, all at once: none records an end
        (a child cancelled by its parent would otherwise record CANCELLED, one level after another),
        so the whole tree stays resumable."""
        for run in list(self._every):
            if run.spec.root_id == root_id and run.recorder.durable:
                run.abandon()

    def stop_all(self) -> None:
        """Stop every run of this process at once: stored ones (sub-graph runs included) abandoned,
        so they stay RUNNING and resume later; ephemeral ones cancelled."""
        for run in list(self._every):
            if run.status.is_final:
                continue
            if run.recorder.durable:
                run.abandon()
            else:
                run.cancel()

    async def shutdown(self, grace: float = 5.0, stop_wait: float = 5.0) -> None:
        """Let runs finish for up to ``grace`` seconds, then :meth:`stop_all` and wait up to
        ``stop_wait`` seconds for them to end. Returns within ``grace + stop_wait`` whatever the runs
        do; a run still going then (a block that ignores cancellation) is left to the process's exit,
        its stored state resumable like after a crash."""
        tasks = list(self._tasks.values())
        pending: set[asyncio.Task[GraphRun]] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, grace))
        self.stop_all()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=max(0.0, stop_wait))
            if stuck:
                log.warning(
                    "%d run(s) did not stop within %.1f s; leaving them (they resume later)",
                    len(stuck),
                    stop_wait,
                )
