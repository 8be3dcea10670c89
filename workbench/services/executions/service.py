"""The executions service: what every front door (API, client, CLI, notebook, pages) calls about runs.

Submitting a stored run always means the same thing, whatever the deployment: store it QUEUED, then
hand it to the queue port; a worker (in this process through the in-process queue, or in a
``workbench executor`` through RabbitMQ) claims, runs and settles it. An ephemeral run is the one
variant that stores nothing: it starts here at once. The rules about runs (valid inputs, whose
credentials, what may be deleted when) live here, so every front door agrees.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from workbench.auth import LOCAL_USER_ID
from workbench.block.context import BlockServices
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.engine.plan import Plan
from workbench.engine.recorder import NullRecorder
from workbench.engine.run import RunSpec
from workbench.engine.state import ExecutionStatus, fast_uuid
from workbench.errors import ConflictError, InputError, NotFoundError
from workbench.graph.model import Graph
from workbench.graph.validate import pin_value_problem
from workbench.runtime.bus import EventBus
from workbench.runtime.events import ExecutionEvent
from workbench.runtime.queue import ExecutionQueue, Job, LocalQueue
from workbench.services.executions.live import LiveRuns
from workbench.services.executions.one_block import BlockRun, run_block
from workbench.services.executions.readmodel import FOLLOW_IDLE, ReadModel
from workbench.services.executions.results import ExecutionResult
from workbench.services.executions.subgraphs import SubgraphRuns
from workbench.services.executions.worker import PRIORITY_NAMES, Sweeper, Worker
from workbench.services.graphs import GraphService
from workbench.store.executions import ExecutionRecord, ExecutionRepository
from workbench.store.writer import WriteBehind

log = logging.getLogger(__name__)
FINISH_SHARE = 0.75
"""The part of a shutdown's time runs get to finish; the rest is for stopping those that did not."""


def check_inputs(plan: Plan, inputs: Mapping[str, Any]) -> None:
    """Refuse unknown input names, missing required inputs and values an input cannot take (a date
    input given "19/03/2025"), naming them, their nodes and the valid ones."""
    schema = plan.input_schema()
    known = schema["properties"]
    unknown = [k for k in inputs if k not in known]
    problems = []
    if unknown:
        valid = ", ".join(sorted(known)) or "(this graph takes no inputs)"
        problems.append(f"unknown input(s) {', '.join(map(repr, unknown))}; the graph's inputs are: {valid}")
    missing = [k for k in schema["required"] if inputs.get(k) is None]
    if missing:
        where = {n.defaults.get("name"): n.id for n in plan.input_nodes if n.defaults.get("name") in missing}
        problems.append(
            "missing required input(s): " + ", ".join(f"{k!r} (node {where.get(k)!r})" for k in missing)
        )
    for node in plan.input_nodes:
        name = node.defaults.get("name")
        if name in inputs and name not in unknown:
            problem = pin_value_problem(node.block, "value", inputs[name], node.defaults)
            if problem:
                problems.append(f"input {name!r} (node {node.id!r}): {problem}")
    if problems:
        raise InputError("; ".join(problems))


class ExecutionService:
    """Starts, reads, follows, cancels and deletes runs; its worker runs the stored ones."""

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
        self._settings = settings
        self.registry = registry
        self.graphs = graphs
        self.bus = bus
        self.repo = repo
        self.queue = queue
        """Where stored runs go to be run (in-process or RabbitMQ); None only without a database."""
        self.executor_key = executor_key
        self.block_services = block_services or BlockServices()
        """Vault, database pool and named services the running blocks may use."""
        self.live = LiveRuns(settings, bus, self.block_services)
        self.subgraphs = SubgraphRuns(settings, graphs, self.live, repo, writer, executor_key)
        self.reads = ReadModel(self.live, bus, repo)
        self.worker: Worker | None = None
        """Claims, runs and settles stored runs (a process with an executor lease)."""
        self.sweeper: Sweeper | None = None
        if repo is not None and writer is not None and executor_key is not None:
            self.worker = Worker(graphs, self.live, repo, writer, executor_key)
        if repo is not None and queue is not None:
            self.sweeper = Sweeper(repo, queue)
        self._own_queue: LocalQueue | None = None
        if repo is not None and queue is None:
            # No queue given: stored runs go through an in-process queue this service consumes.
            self._own_queue = LocalQueue()
            self.queue = self._own_queue

    @property
    def settings(self) -> Settings:
        """The settings runs start with (limits, outbound HTTP policy); setting them applies to the next
        runs and sub-graph runs."""
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value
        self.live.settings = value
        self.subgraphs.settings = value

    @property
    def durable(self) -> bool:
        """Whether runs can be stored (a database is attached)."""
        return self.repo is not None

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
        safe_mode: bool = True,
    ) -> str:
        """Start a run and return its execution id at once: stored and queued, or (``ephemeral``, or
        without a database) started here storing nothing. Without ``safe_mode`` blocks that ask for
        a human review (``HumanInTheLoopBlock``) are approved at once."""
        inputs = dict(inputs or {})
        credentials = dict(credentials or {})
        stored = self.durable and not ephemeral
        plan = await self._plan(graph, user_id, version, stored=stored)
        check_inputs(plan, inputs)
        await self._check_credentials(user_id, credentials)
        graph = plan.graph
        spec = RunSpec(
            execution_id or fast_uuid(),
            graph.id,
            graph.version,
            user_id,
            inputs,
            credentials=credentials,
            safe_mode=safe_mode,
        )
        if not stored:
            self.live.start(plan, spec, NullRecorder())
            return spec.execution_id
        assert self.repo is not None and self.queue is not None
        await self._consume_own_queue()
        in_process = self.queue.in_process
        await self.repo.create(
            spec.execution_id,
            graph.id,
            graph.version,
            user_id,
            inputs,
            priority=priority,
            # A run queued in this process is this process's from the start: if it dies before the
            # run is claimed, the next start finds it with the orphans.
            executor_key=self.executor_key if in_process else None,
            credentials=credentials,
            safe_mode=safe_mode,
        )
        job = Job(
            spec.execution_id, PRIORITY_NAMES.get(priority, "normal"), plan=plan if in_process else None
        )
        if in_process:
            self.live.expect(spec.execution_id)
        try:
            await self.queue.publish_job(job)
        except Exception as exc:
            # The run is stored QUEUED; a sweeper publishes it again.
            log.warning(
                "publishing execution %s failed (%s); it will be published again", spec.execution_id, exc
            )
            await self.repo.mark_unpublished(spec.execution_id)
        return spec.execution_id

    def requeue_owner(self) -> int | None:
        """The executor key a stored run queued again from here gets: this process's with the
        in-process queue (it runs here, and is found with the orphans if this process dies before),
        none with a shared queue (any executor may take it)."""
        return self.executor_key if self.queue is not None and self.queue.in_process else None

    async def publish(self, execution_id: str, priority: int = 0) -> None:
        """Hand a stored QUEUED run to the queue again (after a pause for a review); a failed publish
        is left to the sweeper."""
        assert self.repo is not None and self.queue is not None
        await self._consume_own_queue()
        try:
            await self.queue.publish_job(Job(execution_id, PRIORITY_NAMES.get(priority, "normal")))
        except Exception as exc:
            log.warning("publishing execution %s failed (%s); it will be published again", execution_id, exc)
            await self.repo.mark_unpublished(execution_id)

    async def _consume_own_queue(self) -> None:
        own = self._own_queue
        if own is not None and not own.consuming:
            await own.consume(self.handle, concurrency=self.settings.executor_concurrency)

    async def _plan(self, graph: Graph | str, user_id: str, version: int | None, *, stored: bool) -> Plan:
        if isinstance(graph, str):
            if stored:
                return await self.graphs.stored_plan(graph, user_id, version)
            return self.graphs.plan(await self.graphs.get(graph, user_id, version), stored=True)
        if stored:
            return self.graphs.plan(await self.graphs.save(graph, user_id), stored=True)
        return (await self.graphs.checked_plan(graph, user_id if self.durable else None))[1]

    async def _check_credentials(self, user_id: str, credentials: Mapping[str, str]) -> None:
        """Credentials a run names must be the user's own (NotFoundError naming the field otherwise)."""
        if not credentials:
            return
        vault = self.block_services.vault
        if vault is None:
            raise InputError(
                "credentials: this workbench has no credential store (it runs without a database)"
            )
        for field, credential_id in credentials.items():
            await vault.check_owned(user_id, [credential_id], where=f"credentials.{field}")

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
        async for event in self.reads.follow(sub, execution_id, kwargs.get("user_id", LOCAL_USER_ID)):
            yield event

    async def run_block(
        self,
        block_id: str,
        inputs: dict[str, Any],
        *,
        user_id: str = LOCAL_USER_ID,
        credentials: dict[str, str] | None = None,
    ) -> BlockRun:
        """Run one block outside a graph, as ``user_id``, and return what it yielded."""
        block = self.registry.get(block_id)
        credentials = dict(credentials or {})
        await self._check_credentials(user_id, credentials)
        return await run_block(block, inputs, self.settings, self.block_services, user_id, credentials)

    # ---- reading -------------------------------------------------------------------------------

    async def follow(
        self, execution_id: str, *, user_id: str | None = LOCAL_USER_ID, idle: float = FOLLOW_IDLE
    ) -> AsyncIterator[ExecutionEvent]:
        """Yield the events of a run until its final one, wherever the run executes (NotFoundError
        when it does not exist or is not ``user_id``'s)."""
        sub = self.bus.subscribe(execution_id=execution_id)
        async for event in self.reads.follow(sub, execution_id, user_id, idle, check_first=True):
            yield event

    async def wait(
        self, execution_id: str, *, timeout: float | None = None, user_id: str | None = LOCAL_USER_ID
    ) -> ExecutionResult:
        """Wait for a run to end; TimeoutError after ``timeout`` seconds (the run goes on)."""
        return await self.reads.wait(execution_id, timeout, user_id)

    async def get(self, execution_id: str, user_id: str | None = LOCAL_USER_ID) -> ExecutionResult:
        """A run's current state, with its node executions."""
        return await self.reads.get(execution_id, user_id)

    async def list(self, user_id: str = LOCAL_USER_ID, **filters: Any) -> tuple[list[ExecutionRecord], int]:
        """Stored runs of the user, newest first, and how many match in all."""
        if self.repo is None:
            return [], 0
        return await self.repo.list(user_id, **filters)

    def running_count(self) -> int:
        """How many top-level runs are going on in this process."""
        return self.live.count()

    # ---- control -------------------------------------------------------------------------------

    async def cancel(self, execution_id: str, user_id: str | None = LOCAL_USER_ID) -> str:
        """Cancel a run wherever it is; returns its status after the request."""
        run = self.live.get(execution_id, user_id)
        if run is not None:
            await self.live.cancel(run)
            if run.status != ExecutionStatus.REVIEW:
                return str(run.status)
            # It was pausing for a review as the cancel came: what is stored decides (below).
        if self.repo is None:
            ended = self.live.recent(execution_id, user_id)
            if ended is None:
                raise NotFoundError(f"execution {execution_id} not found")
            return str(ended.status)
        status = await self.repo.request_cancel(execution_id, user_id)
        if status is None:
            raise NotFoundError(f"execution {execution_id} not found")
        return status

    async def delete(self, execution_id: str, user_id: str = LOCAL_USER_ID) -> None:
        """Delete a finished run and its node executions; ConflictError while it is queued, running or
        waiting for a review."""
        result = await self.get(execution_id, user_id)
        if not result.status.is_final:
            raise ConflictError(f"execution {execution_id} is {result.status}: cancel it first")
        if self.repo is None:
            raise NotFoundError(
                f"execution {execution_id} is not stored (an ephemeral run): nothing to delete"
            )
        if not await self.repo.delete(execution_id, user_id):
            raise NotFoundError(f"execution {execution_id} not found")

    # ---- the worker's side ---------------------------------------------------------------------

    async def handle(self, job: Job) -> None:
        """The queue consumer: claim, run and settle the run ``job`` names."""
        if self.worker is None:
            raise RuntimeError("this workbench has no executor lease: it cannot run stored executions")
        await self.worker.handle(job)

    async def resume_interrupted(self) -> list[str]:
        """Claim and resume runs whose owning process died; returns their ids."""
        return await self.worker.resume_interrupted() if self.worker is not None else []

    async def republish_stuck(self) -> int:
        """Publish again the runs whose message was lost or whose executor died; returns how many."""
        return await self.sweeper.sweep() if self.sweeper is not None else 0

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop taking work; let runs finish for up to :data:`FINISH_SHARE` of ``timeout`` seconds,
        then stop the rest (stored ones, sub-graph runs included, are abandoned: they stay RUNNING
        and resume later; ephemeral ones are cancelled) and wait for them to end with what is left.
        Returns within ``timeout`` whatever the runs do."""
        deadline = time.monotonic() + timeout
        stopping = None
        if self._own_queue is not None:
            # Takes no new job from now on; its handlers return as their runs end or are abandoned.
            stopping = asyncio.get_running_loop().create_task(self._own_queue.stop(grace=timeout))
        await self.live.shutdown(timeout * FINISH_SHARE, stop_wait=max(0.0, deadline - time.monotonic()))
        if stopping is not None:
            _, late = await asyncio.wait({stopping}, timeout=max(0.0, deadline - time.monotonic()))
            if late:
                log.warning("the in-process queue did not stop within %.1f s; leaving it", timeout)
