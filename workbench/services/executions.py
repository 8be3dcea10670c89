"""Execution service: start runs (durable or ephemeral), await them, stream events, cancel, resume.

Runs are dispatched in this process (an asyncio task each). The database is the source of truth:
a durable run is inserted QUEUED and owned by this process (``executor_key``); if the process dies,
the next process to start claims it and resumes it from what is stored, replaying completed nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.engine.context import BlockServices, SubgraphRunner
from workbench.engine.plan import Plan
from workbench.engine.recorder import NullRecorder, Recorder, Replay
from workbench.engine.run import GraphRun, RunSpec
from workbench.engine.state import ExecutionStatus, NodeExec, fast_uuid
from workbench.errors import BlockError, GraphValidationError, InputError, NotFoundError
from workbench.graph.model import Graph
from workbench.runtime.bus import EventBus, Subscription
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.runtime.queue import DeadLetter, ExecutionQueue, Job
from workbench.services.graphs import GraphService
from workbench.store.executions import ExecutionRecord, ExecutionRepository
from workbench.store.run_limits import take_subgraph_run
from workbench.store.writer import StoreRecorder, WriteBehind

log = logging.getLogger(__name__)
from workbench.auth import LOCAL_USER_ID  # noqa: E402

EXECUTOR_LOCK_CLASS = 0x57424558  # "WBEX"
POLL_INTERVAL = 0.1
FOLLOW_IDLE = 1.0
"""Seconds without an event after which :meth:`ExecutionService.follow` checks storage."""
MAX_ATTEMPTS = 5
"""How many times executors may take a run before it is given up (poison message)."""
PRIORITY_NAMES = {1: "high", 0: "normal", -1: "low"}
RECENT_EPHEMERAL = 1000


@dataclass(slots=True)
class ExecutionResult:
    """The outcome of a run: status, outputs by name (rule E7), the error, and node details."""

    execution_id: str
    graph_id: str
    graph_version: int
    status: ExecutionStatus
    outputs: dict[str, list[Any]]
    error: str | None = None
    error_node_id: str | None = None
    node_executions: list[dict[str, Any]] = field(default_factory=list)
    started_at: float | None = None
    ended_at: float | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    created_at: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the run COMPLETED."""
        return self.status == ExecutionStatus.COMPLETED

    def output(self, name: str) -> Any:
        """The last value of output ``name`` (KeyError if it produced none)."""
        return self.outputs[name][-1]

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` document."""
        return {
            "execution_id": self.execution_id,
            "status": str(self.status),
            "outputs": self.outputs,
            "error": self.error,
        }


def _result_from_run(run: GraphRun) -> ExecutionResult:
    return ExecutionResult(
        execution_id=run.spec.execution_id,
        graph_id=run.spec.graph_id,
        graph_version=run.spec.graph_version,
        status=run.status,
        outputs=run.outputs,
        error=run.error,
        error_node_id=run.error_node_id,
        node_executions=[_node_view(ne) for ne in run.node_execs],
        started_at=run.started_at,
        ended_at=run.ended_at,
        inputs=run.spec.inputs,
        user_id=run.spec.user_id,
        created_at=run.started_at,
    )


def _node_view(ne: NodeExec) -> dict[str, Any]:
    return {
        "id": ne.id,
        "node_id": ne.node.id,
        "block_id": ne.node.block.id,
        "block_name": ne.node.block.name,
        "seq": ne.seq,
        "status": str(ne.status),
        "inputs": ne.data if ne.data is not None else ne.inputs,
        "outputs": [list(o) for o in ne.outputs],
        "error": ne.error,
        "attempts": ne.attempts,
        "started_at": ne.started_at,
        "ended_at": ne.ended_at,
        "stats": dict(ne.stats) if ne.stats else {},
    }


def _events_from_result(
    result: ExecutionResult, seen: set[str], *, final: bool = True
) -> list[ExecutionEvent]:
    """The NODE_EXECUTED events of a finished run not in ``seen`` (and its final event), from storage."""
    events = []
    base = (result.execution_id, result.graph_id, result.graph_version, result.user_id or "")
    for n in result.node_executions:
        if n["id"] in seen or not ExecutionStatus(n["status"]).is_final:
            continue
        seen.add(n["id"])
        data = {
            "seq": n["seq"],
            "inputs": n["inputs"],
            "outputs": n["outputs"],
            "error": n["error"],
            "started_at": _epoch(n["started_at"]),
            "ended_at": _epoch(n["ended_at"]),
        }
        if "block_name" in n:
            data["block_name"] = n["block_name"]
        events.append(
            ExecutionEvent(
                EventType.NODE_EXECUTED,
                *base,
                n["status"],
                node_id=n["node_id"],
                node_execution_id=n["id"],
                block_id=n["block_id"],
                data=data,
            )
        )
    if final:
        kind = EventType.EXECUTION_COMPLETED if result.status == "COMPLETED" else EventType.EXECUTION_FAILED
        data = {"outputs": result.outputs, "error": result.error, "error_node_id": result.error_node_id}
        events.append(ExecutionEvent(kind, *base, str(result.status), data=data))
    return events


def _epoch(value: float | str | None) -> float | None:
    """A timestamp as epoch seconds, whether live (float) or stored (ISO text)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return value


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _result_from_record(rec: ExecutionRecord) -> ExecutionResult:
    return ExecutionResult(
        execution_id=rec.id,
        graph_id=rec.graph_id,
        graph_version=rec.graph_version,
        status=ExecutionStatus(rec.status),
        outputs=rec.outputs,
        error=rec.error,
        error_node_id=rec.error_node_id,
        node_executions=[n.to_dict() for n in rec.nodes],
        started_at=_ts(rec.started_at),
        ended_at=_ts(rec.ended_at),
        inputs=rec.inputs,
        user_id=rec.user_id,
        created_at=_ts(rec.created_at),
    )


class SubgraphLimitExceeded(BlockError):
    """A sub-graph run was refused: too deep (``WORKBENCH_MAX_SUBGRAPH_DEPTH``) or one too many for
    its top-level execution (``WORKBENCH_MAX_CHILD_RUNS``). Every run above it fails with the same
    message, so the top-level error names the limit and the setting."""


class ExecutionService:
    """Starts, tracks and resumes graph runs."""

    def __init__(
        self,
        settings: Settings,
        registry: BlockRegistry,
        graphs: GraphService,
        bus: EventBus,
        repo: ExecutionRepository | None = None,
        writer: WriteBehind | None = None,
        executor_key: int | None = None,
        queue: ExecutionQueue | None = None,
        block_services: BlockServices | None = None,
    ) -> None:
        self.settings = settings
        self.block_services = block_services or BlockServices()
        """Vault, database pool and named services the running blocks may use."""
        self.queue = queue
        """None: runs are dispatched in this process. Otherwise published for executor processes."""
        self.registry = registry
        self.graphs = graphs
        self.bus = bus
        self.repo = repo
        self.writer = writer
        self.executor_key = executor_key
        self.limiter = asyncio.Semaphore(settings.process_concurrency)
        self._tasks: dict[str, asyncio.Task[GraphRun]] = {}
        self._runs: dict[str, GraphRun] = {}
        self._claiming: set[str] = set()
        self._recent: OrderedDict[str, ExecutionResult] = OrderedDict()
        """Results of finished ephemeral runs (nothing else remembers them), newest last."""
        self._child_runs: dict[str, int] = {}
        """Sub-graph runs started under each running ephemeral top-level run (durable ones: stored)."""
        self._limit_hit: dict[str, str] = {}
        """The sub-graph limit a running top-level run's tree ran into, by top-level execution id."""

    @property
    def durable(self) -> bool:
        """Whether runs can be stored (a database is attached)."""
        return self.repo is not None

    # ---- inputs --------------------------------------------------------------------------------

    @staticmethod
    def check_inputs(plan: Plan, inputs: dict[str, Any]) -> dict[str, Any]:
        """Refuse unknown input names and missing required inputs, naming them and the valid ones."""
        schema = plan.input_schema()
        known = schema["properties"]
        unknown = [k for k in inputs if k not in known]
        problems = []
        if unknown:
            valid = ", ".join(sorted(known)) or "(this graph takes no inputs)"
            problems.append(
                f"unknown input(s) {', '.join(map(repr, unknown))}; the graph's inputs are: {valid}"
            )
        missing = [k for k in schema["required"] if inputs.get(k) is None]
        if missing:
            where = {
                n.defaults.get("name"): n.id for n in plan.input_nodes if n.defaults.get("name") in missing
            }
            problems.append(
                "missing required input(s): " + ", ".join(f"{k!r} (node {where.get(k)!r})" for k in missing)
            )
        if problems:
            raise InputError("; ".join(problems))
        return inputs

    # ---- starting runs -------------------------------------------------------------------------

    async def submit(
        self,
        graph: Graph | str,
        inputs: dict[str, Any] | None = None,
        *,
        user_id: str = LOCAL_USER_ID,
        version: int | None = None,
        ephemeral: bool = False,
        priority: int = 0,
        execution_id: str | None = None,
        credentials: dict[str, str] | None = None,
    ) -> str:
        """Start a run and return its execution id at once."""
        inputs = dict(inputs or {})
        stored = self.durable and not ephemeral
        if isinstance(graph, str):
            if stored:
                plan = await self.graphs.stored_plan(graph, user_id, version)
            else:
                plan = self.graphs.plan(await self.graphs.get(graph, user_id, version), stored=True)
        elif stored:
            plan = self.graphs.plan(await self.graphs.save(graph, user_id), stored=True)
        else:
            _, plan = await self.graphs.checked_plan(graph, user_id if self.durable else None)
        graph = plan.graph
        self.check_inputs(plan, inputs)
        spec = RunSpec(
            execution_id or fast_uuid(),
            graph.id,
            graph.version,
            user_id,
            inputs,
            credentials=dict(credentials or {}),
        )
        if not stored:
            self._start(plan, spec, NullRecorder())
            return spec.execution_id
        assert self.repo is not None and self.writer is not None
        distributed = self.queue is not None
        await self.repo.create(
            spec.execution_id,
            graph.id,
            graph.version,
            user_id,
            inputs,
            priority=priority,
            executor_key=None if distributed else self.executor_key,
            credentials=spec.credentials,
        )
        if not distributed:
            self._start(plan, spec, StoreRecorder(self.writer, spec.execution_id))
            return spec.execution_id
        assert self.queue is not None
        try:
            await self.queue.publish(spec.execution_id, PRIORITY_NAMES.get(priority, "normal"))
        except Exception as exc:
            # The run is stored QUEUED; the sweeper of an executor publishes it again.
            log.warning(
                "publishing execution %s failed (%s); it will be published again", spec.execution_id, exc
            )
            await self.repo.mark_unpublished(spec.execution_id)
        return spec.execution_id

    # ---- executor side (distributed) -----------------------------------------------------------

    async def handle(self, job: Job) -> None:
        """Run the execution a queue message names; return once its final state is stored.

        Redelivery is harmless: a finished run, or one a live executor holds, is left alone. A run
        taken more than MAX_ATTEMPTS times (it keeps killing its executors) ends FAILED and its
        message goes to the dead-letter queue.
        """
        assert self.repo is not None and self.writer is not None and self.executor_key is not None
        if job.execution_id in self._runs or job.execution_id in self._claiming:
            return  # a duplicate of a message whose run is going on here; that one will be acked
        self._claiming.add(job.execution_id)  # before any await: two deliveries at once claim once
        try:
            await self._claim_and_run(job)
        finally:
            self._claiming.discard(job.execution_id)

    async def _claim_and_run(self, job: Job) -> None:
        assert self.repo is not None and self.writer is not None and self.executor_key is not None
        rec = await self.repo.claim(job.execution_id, self.executor_key, EXECUTOR_LOCK_CLASS)
        if rec is None:
            return
        attempts = int(rec.stats.get("attempts", 1))
        if attempts > MAX_ATTEMPTS:
            reason = (
                f"given up after {attempts - 1} attempts: every executor that took this run stopped mid-run"
            )
            await self.repo.fail(rec.id, reason)
            raise DeadLetter(reason)
        try:
            plan = await self.graphs.execution_plan(rec.graph_id, rec.user_id, rec.graph_version)
        except GraphValidationError as exc:  # e.g. blocks this executor lacks: the message names the nodes
            await self.repo.fail(rec.id, str(exc))
            return
        except NotFoundError:
            await self.repo.fail(rec.id, f"graph {rec.graph_id} version {rec.graph_version} no longer exists")
            return
        replay = await self.repo.load_replay(rec.id) if attempts > 1 or rec.status == "RUNNING" else None
        spec = RunSpec(
            rec.id, rec.graph_id, rec.graph_version, rec.user_id, rec.inputs, credentials=rec.credentials
        )
        run = self._start(plan, spec, StoreRecorder(self.writer, rec.id), replay)
        task = self._tasks[rec.id]
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            run.abandon()  # shutting down: leave it RUNNING for another executor (the message is nacked)
            with contextlib.suppress(BaseException):
                await task
            raise

    async def republish_stuck(self, stale_seconds: float = 60.0) -> int:
        """Publish again the runs whose message was lost or whose executor died; returns how many."""
        if self.repo is None or self.queue is None:
            return 0
        count = 0
        for execution_id, priority in await self.repo.to_republish(EXECUTOR_LOCK_CLASS, stale_seconds):
            try:
                await self.queue.publish(execution_id, PRIORITY_NAMES.get(priority, "normal"))
                count += 1
            except Exception as exc:
                log.warning("republishing %s failed (%s)", execution_id, exc)
                await self.repo.mark_unpublished(execution_id)
        return count

    def _new_run(self, plan: Plan, spec: RunSpec, recorder: Recorder, replay: Replay | None) -> GraphRun:
        """A GraphRun wired to this service's settings, bus, limiter and sub-graph runner."""
        return GraphRun(
            plan,
            spec,
            settings=self.settings,
            recorder=recorder,
            bus=self.bus,
            limiter=self.limiter,
            replay=replay,
            subgraph_runner=self._subgraph_runner,
            services=self.block_services,
        )

    def _start(self, plan: Plan, spec: RunSpec, recorder: Recorder, replay: Replay | None = None) -> GraphRun:
        run = self._new_run(plan, spec, recorder, replay)
        self._runs[spec.execution_id] = run
        task = asyncio.get_running_loop().create_task(self._drive(run), name=f"run-{spec.execution_id}")
        self._tasks[spec.execution_id] = task
        return run

    async def _drive(self, run: GraphRun) -> GraphRun:
        try:
            return await run.run()
        except Exception:
            log.exception("run %s crashed", run.spec.execution_id)
            raise
        finally:
            if not run.recorder.durable and run.status.is_final:
                self._recent[run.spec.execution_id] = _result_from_run(run)
                while len(self._recent) > RECENT_EPHEMERAL:
                    self._recent.popitem(last=False)
            self._tasks.pop(run.spec.execution_id, None)
            self._runs.pop(run.spec.execution_id, None)
            self._child_runs.pop(run.spec.execution_id, None)
            self._limit_hit.pop(run.spec.execution_id, None)

    async def run(
        self,
        graph: Graph | str,
        inputs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> ExecutionResult:
        """Start a run and wait for its result."""
        execution_id = await self.submit(graph, inputs, **kwargs)
        return await self.wait(execution_id, timeout=timeout, user_id=kwargs.get("user_id", LOCAL_USER_ID))

    async def stream(
        self, graph: Graph | str, inputs: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[ExecutionEvent]:
        """Start a run and yield its events until the final one."""
        execution_id = kwargs.pop("execution_id", None) or fast_uuid()
        sub = self.bus.subscribe(execution_id=execution_id)
        try:
            await self.submit(graph, inputs, execution_id=execution_id, **kwargs)
        except BaseException:
            sub.close()
            raise
        async for event in self._follow(sub, execution_id, kwargs.get("user_id", LOCAL_USER_ID)):
            yield event

    async def follow(
        self, execution_id: str, *, user_id: str | None = LOCAL_USER_ID, idle: float = FOLLOW_IDLE
    ) -> AsyncIterator[ExecutionEvent]:
        """Yield the events of a run until its final one, wherever the run executes.

        Events come from the bus as they happen. The database fills in whatever the bus cannot
        promise: a run already finished yields its stored node executions and final event at once;
        a run in another process whose events do not reach this one (no shared bus, or Redis down for
        a while) is checked in storage after ``idle`` quiet seconds; and a final event from another
        process is preceded by the NODE_EXECUTED events that never arrived. NotFoundError when the
        run does not exist (or is not ``user_id``'s).
        """
        sub = self.bus.subscribe(execution_id=execution_id)
        async for event in self._follow(sub, execution_id, user_id, idle, check_first=True):
            yield event

    async def _follow(
        self,
        sub: Subscription,
        execution_id: str,
        user_id: str | None,
        idle: float = FOLLOW_IDLE,
        *,
        check_first: bool = False,
    ) -> AsyncIterator[ExecutionEvent]:
        seen: set[str] = set()
        try:
            if check_first and execution_id not in self._runs:
                if self.repo is None:
                    recent = self._recent.get(execution_id)
                    if recent is None or (user_id is not None and recent.user_id != user_id):
                        raise NotFoundError(f"execution {execution_id} not found")
                    for event in _events_from_result(recent, seen):
                        yield event
                    return
                rec = await self.repo.get(execution_id, user_id)
                if rec is None:
                    raise NotFoundError(f"execution {execution_id} not found")
                if ExecutionStatus(rec.status).is_final:
                    for event in _events_from_result(_result_from_record(rec), seen):
                        yield event
                    return
            while True:
                try:
                    event = await sub.get(timeout=idle)
                except TimeoutError:
                    if execution_id in self._runs or self.repo is None:
                        continue  # runs here: its events reach this process's subscribers
                    rec = await self.repo.get(execution_id, user_id)
                    if rec is not None and ExecutionStatus(rec.status).is_final:
                        for missed in _events_from_result(_result_from_record(rec), seen):
                            yield missed
                        return
                    continue
                if user_id is not None and event.user_id != user_id:
                    continue
                if event.is_final and execution_id not in self._runs and self.repo is not None:
                    rec = await self.repo.get(execution_id, user_id)
                    if rec is not None:
                        for missed in _events_from_result(_result_from_record(rec), seen, final=False):
                            yield missed
                elif event.type == EventType.NODE_EXECUTED and event.node_execution_id:
                    seen.add(event.node_execution_id)
                yield event
                if event.is_final:
                    return
        finally:
            sub.close()

    async def wait(
        self, execution_id: str, *, timeout: float | None = None, user_id: str | None = LOCAL_USER_ID
    ) -> ExecutionResult:
        """Wait for a run to end; TimeoutError after ``timeout`` seconds (the run goes on)."""
        task = self._tasks.get(execution_id)
        run = self._runs.get(execution_id)
        if task is not None and run is not None and (user_id is None or run.spec.user_id == user_id):
            await asyncio.wait_for(asyncio.shield(task), timeout)
            return self._recent.get(execution_id) or _result_from_run(run)
        recent = self._recent.get(execution_id)
        if recent is not None and (user_id is None or recent.user_id == user_id):
            return recent
        if self.repo is None:
            raise NotFoundError(f"execution {execution_id} not found")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            rec = await self.repo.get(execution_id, user_id, with_nodes=False)
            if rec is None:
                raise NotFoundError(f"execution {execution_id} not found")
            if ExecutionStatus(rec.status).is_final:
                full = await self.repo.get(execution_id, user_id)
                assert full is not None
                return _result_from_record(full)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"execution {execution_id} still {rec.status} after {timeout}s")
            await asyncio.sleep(POLL_INTERVAL)  # another process runs it: its final state is in the database

    # ---- sub-graphs ----------------------------------------------------------------------------

    def _refuse_subgraph(self, root_id: str, message: str) -> SubgraphLimitExceeded:
        """The refusal of a sub-graph run; remembered so that every run above fails with it."""
        self._limit_hit.setdefault(root_id, message)
        return SubgraphLimitExceeded(message)

    async def _count_subgraph_run(self, root_id: str, durable: bool) -> None:
        """Count one more sub-graph run of the top-level execution ``root_id``, or refuse it past
        ``WORKBENCH_MAX_CHILD_RUNS`` (stored for durable runs: the count survives a resume)."""
        cap = self.settings.max_child_runs
        if durable:
            assert self.repo is not None
            room = await take_subgraph_run(self.repo.pool, root_id, cap) is not None
        else:
            count = self._child_runs.get(root_id, 0)
            room = count < cap
            if room:
                self._child_runs[root_id] = count + 1
        if not room:
            raise self._refuse_subgraph(
                root_id,
                f"this execution has started {cap} sub-graph runs, the most one execution may start "
                f"(WORKBENCH_MAX_CHILD_RUNS={cap})",
            )

    def _subgraph_runner(self, parent: GraphRun, ne: NodeExec) -> SubgraphRunner:
        async def run_subgraph(
            graph_id: str, version: int | None, inputs: dict[str, Any]
        ) -> AsyncIterator[tuple[str, Any]]:
            root_id = parent.spec.root_id
            depth = parent.spec.depth + 1
            max_depth = self.settings.max_subgraph_depth
            if depth > max_depth:
                raise self._refuse_subgraph(
                    root_id,
                    f"sub-graph runs may nest {max_depth} levels deep (does a graph run itself?); "
                    f"this one would be level {depth} (WORKBENCH_MAX_SUBGRAPH_DEPTH={max_depth})",
                )
            graph = next(
                (
                    g
                    for g in parent.plan.graph.sub_graphs
                    if g.id == graph_id and (version is None or g.version == version)
                ),
                None,
            )
            durable = isinstance(parent.recorder, StoreRecorder)
            if graph is None:
                if graph_id == parent.plan.graph.id and (
                    version is None or version == parent.plan.graph.version
                ):
                    graph = parent.plan.graph
                elif self.graphs.repo is not None:
                    graph = await self.graphs.get(graph_id, parent.spec.user_id, version)
                else:
                    raise BlockError(f"sub-graph {graph_id} is not included in the graph's sub_graphs")
            plan = self.graphs.plan(graph, stored=durable)
            replay = None
            child_id = fast_uuid()
            if durable:
                assert self.repo is not None and self.writer is not None
                existing = await self.repo.child_of(ne.id)
                if existing is not None:
                    child_id = existing.id  # resumed: counted when it was created
                    replay = await self.repo.load_replay(child_id)
                else:
                    await self._count_subgraph_run(root_id, durable=True)
                    await self.repo.create(
                        child_id,
                        graph.id,
                        graph.version,
                        parent.spec.user_id,
                        inputs,
                        parent_execution_id=parent.spec.execution_id,
                        parent_node_execution_id=ne.id,
                        executor_key=self.executor_key,
                    )
                recorder: Recorder = StoreRecorder(self.writer, child_id)
            else:
                await self._count_subgraph_run(root_id, durable=False)
                recorder = NullRecorder()
            spec = RunSpec(
                child_id,
                graph.id,
                graph.version,
                parent.spec.user_id,
                inputs,
                parent.spec.execution_id,
                depth=depth,
                root_execution_id=root_id,
            )
            child = self._new_run(plan, spec, recorder, replay)
            await child.run()
            if child.status != ExecutionStatus.COMPLETED:
                limit = self._limit_hit.get(root_id)
                if limit is not None and limit in (child.error or ""):
                    raise SubgraphLimitExceeded(limit)  # the same message at every level up
                raise BlockError(f"sub-graph {graph.name!r} {str(child.status).lower()}: {child.error}")
            for name, values in child.outputs.items():
                for value in values:
                    yield name, value

        return run_subgraph

    # ---- control -------------------------------------------------------------------------------

    async def cancel(self, execution_id: str, user_id: str | None = LOCAL_USER_ID) -> str:
        """Cancel a run wherever it is; returns its status after the request."""
        run = self._runs.get(execution_id)
        if run is not None and (user_id is None or run.spec.user_id == user_id):
            run.cancel()
            task = self._tasks.get(execution_id)
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), 10)
            return str(run.status)
        if self.repo is None:
            raise NotFoundError(f"execution {execution_id} not found")
        status = await self.repo.request_cancel(execution_id, user_id)
        if status is None:
            raise NotFoundError(f"execution {execution_id} not found")
        return status

    async def get(self, execution_id: str, user_id: str | None = LOCAL_USER_ID) -> ExecutionResult:
        """A run's current state (live for local runs, else as stored)."""
        run = self._runs.get(execution_id)
        if run is not None and (user_id is None or run.spec.user_id == user_id):
            return _result_from_run(run)
        recent = self._recent.get(execution_id)
        if recent is not None and (user_id is None or recent.user_id == user_id):
            return recent
        if self.repo is None:
            raise NotFoundError(f"execution {execution_id} not found")
        rec = await self.repo.get(execution_id, user_id)
        if rec is None:
            raise NotFoundError(f"execution {execution_id} not found")
        return _result_from_record(rec)

    async def list(self, user_id: str = LOCAL_USER_ID, **filters: Any) -> tuple[list[ExecutionRecord], int]:
        """Stored runs of the user, newest first."""
        if self.repo is None:
            return [], 0
        return await self.repo.list(user_id, **filters)

    async def resume_interrupted(self) -> list[str]:
        """Claim and resume runs whose owning process died; returns their ids."""
        if self.repo is None or self.executor_key is None:
            return []
        resumed = []
        for rec in await self.repo.claim_orphans(EXECUTOR_LOCK_CLASS, self.executor_key):
            try:
                graph = await self.graphs.get(rec.graph_id, rec.user_id, rec.graph_version)
            except NotFoundError:
                continue
            plan = self.graphs.plan(graph, stored=True)
            replay = await self.repo.load_replay(rec.id)
            spec = RunSpec(
                rec.id, rec.graph_id, rec.graph_version, rec.user_id, rec.inputs, credentials=rec.credentials
            )
            assert self.writer is not None
            self._start(plan, spec, StoreRecorder(self.writer, rec.id), replay)
            resumed.append(rec.id)
            log.info("resuming interrupted execution %s", rec.id)
        return resumed

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Let runs finish for up to ``timeout`` seconds; stop the rest unrecorded (they resume later)."""
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for run in list(self._runs.values()):
            if self.durable:
                run.abandon()
            else:
                run.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
