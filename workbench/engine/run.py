"""One graph execution in memory: data-flow scheduling by the contract's rules E2-E7.

A node execution starts when each linked input pin holds a value; every value a block yields travels
each link from that pin (fan-out, loops); static links keep their last value for later executions of
their sink. Ready node executions are taken by a small set of worker coroutines: one while work is
sequential, more (up to ``execution_concurrency``) while a running node leaves others waiting, so a
chain costs no task per node and independent slow nodes still overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from workbench import jsonutil
from workbench.block import pins
from workbench.block.base import BlockType
from workbench.block.context import BlockServices, RunContext, SubgraphRunner, ToolResult
from workbench.block.review import AwaitingReview, ReviewAnswer, ReviewQuestion, ReviewRequest
from workbench.config import Settings
from workbench.engine.context import node_tools
from workbench.engine.plan import Plan, PlannedNode
from workbench.engine.recorder import Recorder, Replay
from workbench.engine.state import ExecutionStatus, NodeExec
from workbench.errors import BlockError, RetryableError, ServiceUnavailable
from workbench.runtime.bus import EventBus
from workbench.runtime.events import EventType, ExecutionEvent
from workbench.runtime.shared_state import result_key
from workbench.telemetry import metrics, tracing
from workbench.telemetry.context import CURRENT_NODE

log = logging.getLogger("workbench.engine")
S = ExecutionStatus
YIELD_EVERY = 64
"""A worker gives the event loop a turn after this many nodes, so long chains never starve it."""
SLOW_NODE = 0.001
"""A node that ran longer than this (seconds) asks the recorder for a prompt write."""


@dataclass(slots=True)
class RunSpec:
    """What to run: identity of the execution and its inputs."""

    execution_id: str
    graph_id: str
    graph_version: int
    user_id: str
    inputs: dict[str, Any]
    parent_execution_id: str | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    """Credential ids by credentials field name (resolved by the vault when a block needs one)."""
    depth: int = 0
    """How deep this run sits below its top-level execution (0: it is one; 1: its sub-graph run...)."""
    root_execution_id: str | None = None
    """The top-level execution of a sub-graph run (None: this run is top-level)."""
    safe_mode: bool = True
    """Whether blocks asking for a human review wait for one (off: approved at once)."""

    @property
    def root_id(self) -> str:
        """The top-level execution this run belongs to (its own id when it is one)."""
        return self.root_execution_id or self.execution_id


_NO_LIMIT = contextlib.nullcontext()


class _Abort(Exception):
    """Stops the workers of a run (failure or cancellation)."""


class _Deadline:
    """A node's time limit, counted from its creation and armed only when the block first waits."""

    __slots__ = ("_timeout", "when")

    def __init__(self, seconds: float | None) -> None:
        self.when = None if seconds is None else asyncio.get_running_loop().time() + seconds
        self._timeout: asyncio.Timeout | None = None

    def arm(self) -> asyncio.Timeout:
        """The ``async with`` context that enforces the limit from now on."""
        self._timeout = asyncio.timeout_at(self.when)
        return self._timeout

    def expired(self) -> bool:
        """Whether the limit interrupted the block."""
        return self._timeout is not None and self._timeout.expired()


class _Resumed:
    """Awaits the rest of an awaitable whose first step already ran and is ``waiting_on`` something."""

    __slots__ = ("_step", "_waiting_on")

    def __init__(self, step: Generator[Any, Any, Any], waiting_on: Any) -> None:
        self._step = step
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        step, waiting_on = self._step, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # cancellation and the like go to the block, as await would
                try:
                    waiting_on = step.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
            try:
                waiting_on = step.send(sent)
            except StopIteration as done:
                return done.value


def format_validation_error(exc: ValidationError) -> str:
    """``pin 'x': message; pin 'y': message`` from a pydantic error."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "input"
        parts.append(f"pin {loc!r}: {err['msg']}")
    return "; ".join(parts)


class GraphRun:
    """Executes one graph run to a final status."""

    def __init__(
        self,
        plan: Plan,
        spec: RunSpec,
        *,
        settings: Settings,
        recorder: Recorder,
        bus: EventBus,
        limiter: asyncio.Semaphore,
        replay: Replay | None = None,
        subgraph_runner: Callable[[GraphRun, NodeExec], SubgraphRunner] | None = None,
        services: BlockServices | None = None,
    ) -> None:
        self.plan = plan
        self.spec = spec
        self.settings = settings
        self.recorder = recorder
        self.bus = bus
        self.limiter = limiter
        self.replay = replay
        self.subgraph_runner = subgraph_runner
        self.services = services
        self.status = S.QUEUED
        self.node_execs: list[NodeExec] = []
        self.outputs: dict[str, list[Any]] = {}
        self.error: str | None = None
        self.error_node_id: str | None = None
        self.waiting: dict[str, dict[str, Any]] = {}
        """Node executions paused for a human review (REVIEW), by id: what watchers are told of each."""
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._incomplete: dict[str, list[NodeExec]] = {}
        self._static_values: dict[str, dict[str, Any]] = {}
        self._seq: dict[str, int] = {}
        self._ready: deque[NodeExec] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._running: set[NodeExec] = set()
        self._spawn_scheduled = False
        self._stopping = False
        self._cancelled = False
        self._abandoned = False
        self._done: asyncio.Future[None] | None = None

    # ---- public --------------------------------------------------------------------------------

    async def run(self) -> GraphRun:
        """Run to a final status (COMPLETED, FAILED or CANCELLED), or to REVIEW when nothing is left
        to do but node executions waiting for a person, and return self."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.status = S.RUNNING
        self.started_at = self.started_at or time.time()  # a resumed run may keep its first start
        await self.recorder.run_started(self)
        self._publish_run(EventType.EXECUTION_STARTED)
        outer_cancelled = False
        try:
            try:
                self._seed()
            except _Abort:
                pass
            if self._ready and not self._stopping:
                self._spawn()
                self._spawn_scheduled = True
                loop.call_soon(self._maybe_spawn)
                await asyncio.shield(self._done)
        except asyncio.CancelledError:
            # The task running this graph was cancelled (e.g. the parent of a sub-graph run).
            outer_cancelled = self._cancelled = True
            await self._stop_workers()
        if self._abandoned:
            # Shutting down: leave the stored state RUNNING so a later start resumes the run.
            raise asyncio.CancelledError
        self._finish_statuses()
        await self.recorder.run_finished(self)
        if self.status == S.REVIEW:
            self._publish_run(EventType.EXECUTION_UPDATED)
        else:
            self._publish_run(
                EventType.EXECUTION_COMPLETED if self.status == S.COMPLETED else EventType.EXECUTION_FAILED
            )
        if outer_cancelled:
            raise asyncio.CancelledError
        return self

    def cancel(self) -> None:
        """Stop the run: running nodes are cancelled, the run ends CANCELLED."""
        if self.status.is_final or self._cancelled:
            return
        self._cancelled = True
        self._stopping = True
        for task in list(self._workers):
            task.cancel()
        if not self._workers and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def abandon(self) -> None:
        """Stop without recording an end (process shutdown): the stored run stays resumable."""
        self._abandoned = True
        self.cancel()

    # ---- seeding (E2) --------------------------------------------------------------------------

    def _seed(self) -> None:
        inputs = self.spec.inputs
        for node in self.plan.starting:
            ne = self._new_exec(node)
            if node.block_type == BlockType.INPUT:
                name = node.defaults.get("name")
                if isinstance(name, str) and name in inputs:
                    ne.inputs["value"] = inputs[name]
            self._incomplete.setdefault(node.id, []).append(ne)
            self._check_ready(ne)
            if self._stopping:
                return
        if not self.plan.starting:
            self._abort_run("No starting nodes found for the graph: every node has an inbound link", None)

    # ---- delivery (E3, E4) ---------------------------------------------------------------------

    def _new_exec(self, node: PlannedNode) -> NodeExec:
        seq = self._seq.get(node.id, 0)
        self._seq[node.id] = seq + 1
        if len(self.node_execs) >= self.settings.max_node_executions:
            self._abort_run(
                f"the run made more than {self.settings.max_node_executions} node executions "
                "(a loop that never ends?); raise WORKBENCH_MAX_NODE_EXECUTIONS if this is intended",
                node.id,
            )
            raise _Abort
        exec_id = self.replay.id_for(node.id, seq) if self.replay is not None else None
        ne = NodeExec(node, seq, exec_id)
        self.node_execs.append(ne)
        return ne

    def _deliver(self, sink: PlannedNode, pin: str, value: Any, is_static: bool) -> None:
        execs = self._incomplete.get(sink.id)
        if execs is None:
            execs = self._incomplete[sink.id] = []
        target = None
        for ne in execs:
            if pin not in ne.inputs:
                target = ne
                break
        if target is None:
            target = self._new_exec(sink)
            execs.append(target)
        target.inputs[pin] = value
        others: list[NodeExec] = []
        if sink.static_in:
            statics = self._static_values.setdefault(sink.id, {})
            if is_static:
                statics[pin] = value
                for other in execs:
                    if other is not target and pin not in other.inputs:
                        other.inputs[pin] = value
                        others.append(other)
            for spin in sink.static_in:
                if spin not in target.inputs and spin in statics:
                    target.inputs[spin] = statics[spin]
        # The target first, then the others in creation order, so executions queue in item order.
        self._check_ready(target)
        for other in others:
            self._check_ready(other)

    def _check_ready(self, ne: NodeExec) -> None:
        if ne.status is not S.INCOMPLETE:
            return
        inputs = ne.inputs
        for pin in ne.node.linked:
            if pin not in inputs:
                if self.recorder.durable:
                    self.recorder.node_changed(ne)
                return
        block = ne.node.block
        if block.custom_wait and block.waiting_for({**ne.node.defaults, **inputs}) is not None:
            if self.recorder.durable:
                self.recorder.node_changed(ne)
            return
        waiting = self._incomplete[ne.node.id]
        waiting.remove(ne)
        if not waiting:
            del self._incomplete[ne.node.id]
        if self._prepare(ne):
            ne.status = S.QUEUED
            ne.queued_at = time.time()
            self._ready.append(ne)
            if self._workers and not self._spawn_scheduled:
                self._spawn_scheduled = True
                asyncio.get_running_loop().call_soon(self._maybe_spawn)

    # ---- validation (E5) -----------------------------------------------------------------------

    def _prepare(self, ne: NodeExec) -> bool:
        node = ne.node
        block = node.block
        data = dict(node.defaults)
        data.update(ne.inputs)
        if node.dynamic_in:
            try:
                data = pins.merge_dynamic(data)
            except pins.PinError as exc:
                self._fail_validation(ne, data, str(exc))
                return False
        if node.block_type == BlockType.AGENT:
            data = self._agent_input(node, data)
        clean = {k: v for k, v in data.items() if v is not None}
        block.coerce_inputs(clean)
        try:
            ne.input_obj = block.Input.model_validate(clean)
        except ValidationError as exc:
            self._fail_validation(ne, data, format_validation_error(exc))
            return False
        ne.data = data
        return True

    def _agent_input(self, node: PlannedNode, data: dict[str, Any]) -> dict[str, Any]:
        """Agent executor nodes receive sub-graph inputs on their pins; gather them under ``inputs``."""
        own = node.block.input_pins
        given = dict(node.defaults.get("inputs") or {})
        linked = data.get("inputs")
        if isinstance(linked, dict):  # links into ``inputs_#_<name>`` (merged into ``inputs``) win
            given.update(linked)
        for key, value in data.items():
            if key not in own and not pins.is_dynamic(key):
                given[key] = value
        out = {k: v for k, v in data.items() if k in own}
        out["inputs"] = given
        return out

    def _fail_validation(self, ne: NodeExec, data: dict[str, Any], message: str) -> None:
        ne.data = data
        ne.started_at = ne.ended_at = time.time()
        self._node_failed(ne, f"invalid input: {message}")

    # ---- workers -------------------------------------------------------------------------------

    def _spawn(self) -> None:
        task = asyncio.get_running_loop().create_task(self._worker())
        self._workers.add(task)
        task.add_done_callback(self._worker_exited)

    def _worker_exited(self, task: asyncio.Task[None]) -> None:
        """A worker ended (or was cancelled before it ever ran, so no code of its own runs): the last
        one starts another for work still ready, or ends the run."""
        self._workers.discard(task)
        if not self._workers:
            if self._ready and not self._stopping:
                self._spawn()
            elif self._done is not None and not self._done.done():
                self._done.set_result(None)

    def _maybe_spawn(self) -> None:
        self._spawn_scheduled = False
        if self._stopping:
            return
        idle_needed = len(self._ready)
        room = self.settings.execution_concurrency - len(self._workers)
        for _ in range(min(idle_needed, room)):
            self._spawn()

    async def _worker(self) -> None:
        count = 0
        try:
            while self._ready and not self._stopping:
                ne = self._ready.popleft()
                await self._execute(ne)
                count += 1
                if count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except _Abort:
            pass

    async def _stop_workers(self) -> None:
        self._stopping = True
        tasks = list(self._workers)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ---- running one node (E6) -----------------------------------------------------------------

    async def _execute(self, ne: NodeExec) -> None:
        """Run one node execution, telling the telemetry about it: the node's id on every log line
        meanwhile, its duration by block (Prometheus), a span when tracing is on."""
        token = CURRENT_NODE.set(ne.node.id)
        try:
            if tracing.ENABLED:
                with tracing.span(
                    f"node {ne.node.block.name}",
                    {"workbench.node_id": ne.node.id, "workbench.block_id": ne.node.block.id},
                ) as span:
                    await self._execute_node(ne)
                    tracing.set_attributes(span, {"workbench.status": str(ne.status)})
            else:
                await self._execute_node(ne)
        finally:
            CURRENT_NODE.reset(token)
            if ne.ended_at is not None and ne.started_at is not None and not ne.replayed:
                metrics.node_done(ne.node.block.name, str(ne.status), ne.ended_at - ne.started_at)

    async def _execute_node(self, ne: NodeExec) -> None:
        if self.replay is not None and self._replay(ne):
            return
        node = ne.node
        block = node.block
        ne.status = S.RUNNING
        ne.started_at = time.time()
        self.recorder.node_changed(ne)
        if self.bus.active:
            self._publish_node(EventType.EXECUTION_UPDATED, ne)
        self._running.add(ne)
        if block.cache_ttl and await self._from_cache(ne):
            return
        kwargs: dict[str, Any] = {"context": self._context(ne)}
        # A sub-graph's nodes take their own slots; holding one here could deadlock nested agents. A
        # tool call runs in its caller's slot. A human review may wait a long time: it holds none.
        waits = node.block_type in (BlockType.AGENT, BlockType.HUMAN_IN_THE_LOOP)
        limiter = self.limiter if not waits and ne.called_by is None else _NO_LIMIT
        deadline: _Deadline | None = None
        try:
            async with limiter:
                while True:
                    ne.attempts += 1
                    try:
                        deadline = _Deadline(node.timeout)
                        await self._run_block(ne, kwargs, deadline)
                        break
                    except RetryableError as exc:
                        if ne.outputs or ne.attempts > block.max_retries:
                            raise
                        delay = block.retry_backoff * (2 ** (ne.attempts - 1))
                        log.info("retrying node %s in %.2fs: %s", node.id, delay, exc)
                        await asyncio.sleep(delay)
        except asyncio.CancelledError:
            ne.status = S.CANCELLED
            ne.ended_at = time.time()
            self._running.discard(ne)
            self.recorder.node_changed(ne)
            raise
        except TimeoutError as exc:
            self._running.discard(ne)
            ne.ended_at = time.time()
            # Only the node's own time limit is reported as such; a block's TimeoutError is its error.
            expired = deadline is not None and deadline.expired()
            self._node_failed(ne, f"timed out after {node.timeout:g}s" if expired else _message(exc))
            return
        except _Abort:
            self._running.discard(ne)
            raise
        except AwaitingReview as paused:
            self._running.discard(ne)
            if ne.outputs:  # yielded, then paused: after the pause it would yield the same again
                ne.ended_at = time.time()
                self._node_failed(ne, "the block asked for a human review after yielding outputs")
                return
            self._node_paused(ne, paused)
            return
        except Exception as exc:
            self._running.discard(ne)
            ne.ended_at = time.time()
            self._node_failed(ne, _message(exc))
            return
        if block.cache_ttl:
            await self._to_cache(ne)
        self._node_completed(ne)

    async def _run_block(self, ne: NodeExec, kwargs: dict[str, Any], deadline: _Deadline) -> None:
        """Run the block and deliver what it yields, under its time limit.

        Each output is awaited by hand: a step that completes without waiting for anything (most
        blocks compute their outputs at once) is taken inline, and the time limit is armed only at
        the first step that waits, for the rest of the run. A timeout can only interrupt a waiting
        block, so the limit holds as if it had been armed from the start, at no cost to blocks that
        never wait.
        """
        stream = ne.node.block.run(ne.input_obj, **kwargs).__aiter__()
        while True:
            step = stream.__anext__().__await__()
            try:
                waiting_on = step.send(None)
            except StopIteration as done:
                name, value = done.value
                self._output(ne, name, value)
                continue
            except StopAsyncIteration:
                return
            async with deadline.arm():
                name, value = await _Resumed(step, waiting_on)
                self._output(ne, name, value)
                async for name, value in stream:
                    self._output(ne, name, value)
            return

    # ---- tool calls inside a node execution (agent mode) ----------------------------------------

    async def _call_tool(
        self, caller: NodeExec, sink: PlannedNode, linked: tuple[str, ...], arguments: Mapping[str, Any]
    ) -> ToolResult:
        """Run ``sink`` as a tool of the running ``caller``, at once, with ``arguments`` for its
        ``linked`` pins (:meth:`workbench.block.context.Tool.call`).

        The call is a node execution of ``sink`` like any other (counted against the node execution
        limit, recorded, published with ``called_by``, its stats summed, its outputs routed along its
        links, a stored finished one replayed on resume) except that it runs in the caller's task and
        slot, under its own time limit within the caller's, and that its failure is the caller's to
        handle (the result's ``error``) rather than the run's. Its input: the node's defaults, the last
        values of its static links, then the arguments, only for the linked pins. Raises ``_Abort`` past
        the node execution limit and ``CancelledError`` when the caller is cancelled or out of time.
        """
        ne = self._new_exec(sink)
        ne.called_by = caller.id
        statics = self._static_values.get(sink.id)
        if statics:
            ne.inputs.update(statics)
        for pin in linked:
            value = arguments.get(pin)
            if value is not None:
                ne.inputs[pin] = value
        ne.queued_at = time.time()
        if self._prepare(ne):
            async with self._slot_lent(caller, sink):
                await self._execute(ne)
        return ToolResult(ne.id, list(ne.outputs), ne.error if ne.status == S.FAILED else None)

    @contextlib.asynccontextmanager
    async def _slot_lent(self, caller: NodeExec, sink: PlannedNode) -> AsyncIterator[None]:
        """While a sub-graph tool runs, its child's nodes may use the caller's slot of the node limit:
        holding it while they wait for one could deadlock a full process, as for agent nodes."""
        if sink.block_type != BlockType.AGENT or caller.node.block_type == BlockType.AGENT:
            yield
            return
        self.limiter.release()
        try:
            yield
        finally:
            await self.limiter.acquire()

    def _output(self, ne: NodeExec, name: str, value: Any) -> None:
        if name == "error":
            raise BlockError(str(value))
        self._emit(ne, name, value)

    def _node_completed(self, ne: NodeExec) -> None:
        self._running.discard(ne)
        ne.input_obj = None  # validated once; the record keeps ``data``
        if not ne.stats:
            ne.stats = None  # fewer objects per finished node for the garbage collector to walk
        ne.status = S.COMPLETED
        ne.ended_at = time.time()
        assert ne.started_at is not None
        self.recorder.node_changed(ne, urgent=ne.ended_at - ne.started_at > SLOW_NODE)
        if self.bus.active:
            self._publish_node(EventType.NODE_EXECUTED, ne)

    # ---- the block result cache ----------------------------------------------------------------

    async def _from_cache(self, ne: NodeExec) -> bool:
        """Deliver cached outputs of a ``cache_ttl`` block for these inputs; False on a miss."""
        shared = self.services.shared if self.services is not None else None
        if shared is None:
            return False
        try:
            cached = await shared.cache_get(result_key(ne.node.block.id, ne.data))
        except Exception as exc:  # the cache is an optimisation: never a reason to fail a node
            log.debug("block cache read failed: %s", exc)
            return False
        block = ne.node.block
        if not isinstance(cached, list) or not all(
            isinstance(o, list) and len(o) == 2 and (o[0] in block.output_pins or block.dynamic_outputs)
            for o in cached
        ):
            return False  # a miss, or an entry an older version of the block wrote
        ne.stats = {"cache_hit": 1}
        try:
            for name, value in cached:
                self._emit(ne, name, value)
        except BlockError as exc:  # a stale entry from an older version of the block
            self._running.discard(ne)
            ne.ended_at = time.time()
            self._node_failed(ne, str(exc))
            return True
        self._node_completed(ne)
        return True

    async def _to_cache(self, ne: NodeExec) -> None:
        shared = self.services.shared if self.services is not None else None
        if shared is None or ne.node.block.cache_ttl is None:
            return
        try:
            key = result_key(ne.node.block.id, ne.data)
            await shared.cache_set(key, [list(o) for o in ne.outputs], ne.node.block.cache_ttl)
        except Exception as exc:
            log.debug("block cache write failed: %s", exc)

    def _emit(self, ne: NodeExec, name: str, value: Any) -> None:
        node = ne.node
        block = node.block
        if name not in block.output_pins and not block.dynamic_outputs and not name.startswith("tools_^_"):
            raise BlockError(f"{block.name} yielded unknown output {name!r}")
        validator = block.output_validators.get(name)
        if validator is not None:
            try:
                checked = validator.validate_python(value)
            except ValidationError as exc:
                raise BlockError(f"output {name!r} has the wrong type: {exc.errors()[0]['msg']}") from None
            # A whole number stays one on a float pin: JSON's "number" (AutoGPT checks outputs by
            # JSON Schema, which does not turn 2 into 2.0).
            if not (type(value) is int and type(checked) is float):
                value = checked
        ne.outputs.append((name, value))
        if name == "output" and node.block_type == BlockType.OUTPUT:
            out_name = (ne.data or {}).get("name") or node.defaults.get("name")
            self.outputs.setdefault(str(out_name), []).append(value)
        self._route(node, name, value)

    def _route(self, node: PlannedNode, name: str, value: Any) -> None:
        routes = node.exact_out.get(name)
        if routes:
            for r in routes:
                self._deliver(r.sink, r.sink_name, value, r.is_static)
        for r in node.selector_out:
            selected = pins.select(name, value, r.selector, r.sink.id, r.sink_name)
            if selected is not pins.NOTHING:
                self._deliver(r.sink, r.sink_name, selected, r.is_static)

    def _node_paused(self, ne: NodeExec, paused: AwaitingReview) -> None:
        """The node waits for a person: REVIEW, nothing routed; the run goes on with what else it can
        do and then ends its attempt in REVIEW (the node runs again once the person has answered)."""
        ne.input_obj = None
        ne.status = S.REVIEW
        self.waiting[ne.id] = paused.review
        self.recorder.node_changed(ne, urgent=True)
        if self.bus.active:
            self._publish_node(EventType.EXECUTION_UPDATED, ne)

    async def _ask_review(self, ne: NodeExec, question: ReviewQuestion) -> ReviewAnswer:
        """The review of the node execution ``ne`` (``RunContext.review``): the stored answer, or
        AwaitingReview (a stored run pauses); a run that stores nothing waits for it."""
        if ne.called_by is not None:
            raise BlockError(
                "a human review cannot be asked by a node called as a tool inside another node's "
                "execution: link the block into the graph instead"
            )
        desk = self.services.reviews if self.services is not None else None
        if desk is None:
            raise ServiceUnavailable("human reviews are not available in this run")
        spec = self.spec
        return await desk.ask(
            ReviewRequest(
                question=question,
                execution_id=spec.execution_id,
                root_execution_id=spec.root_id,
                node_id=ne.node.id,
                node_execution_id=ne.id,
                seq=ne.seq,
                user_id=spec.user_id,
                graph_id=spec.graph_id,
                graph_version=spec.graph_version,
                stored=self.recorder.durable,
                waiting=None if self.recorder.durable else functools.partial(self._waiting_in_memory, ne),
            )
        )

    def _waiting_in_memory(self, ne: NodeExec, review: dict[str, Any] | None) -> None:
        """A run that stores nothing waits for a review in the node's task: the node shows REVIEW
        meanwhile (the run stays RUNNING), then RUNNING again."""
        if review is not None:
            self.waiting[ne.id] = review
            ne.status = S.REVIEW
        else:
            self.waiting.pop(ne.id, None)
            if ne.status is S.REVIEW:
                ne.status = S.RUNNING
        if self.bus.active:
            self._publish_node(EventType.EXECUTION_UPDATED, ne)

    def _node_failed(self, ne: NodeExec, message: str) -> None:
        """Store the error as the node's ``error`` output and route it; fail the run if unlinked
        (a tool call's failure goes back to its caller instead)."""
        ne.status = S.FAILED
        ne.error = message
        log.info("node %s (%s) failed: %s", ne.node.id, ne.node.block.name, message[:500])
        ne.outputs.append(("error", message))
        self.recorder.node_changed(ne, urgent=True)
        if self.bus.active:
            self._publish_node(EventType.NODE_EXECUTED, ne)
        if ne.node.error_linked:
            self._route(ne.node, "error", message)
        elif ne.called_by is None:
            self._abort_run(f"node {ne.node.id!r} ({ne.node.block.name}) failed: {message}", ne.node.id)

    def _abort_run(self, message: str, node_id: str | None) -> None:
        if self.error is None:
            self.error = message
            self.error_node_id = node_id
        self._stopping = True
        current = asyncio.current_task()
        for task in list(self._workers):
            if task is not current:
                task.cancel()

    def _context(self, ne: NodeExec) -> RunContext:
        spec = self.spec
        ctx = RunContext(
            user_id=spec.user_id,
            graph_id=spec.graph_id,
            graph_version=spec.graph_version,
            graph_execution_id=spec.execution_id,
            node_id=ne.node.id,
            node_execution_id=ne.id,
            settings=self.settings,
            logger=log,
            services=self.services,
            credentials=spec.credentials,
            tools=node_tools(ne.node, functools.partial(self._call_tool, ne)) if ne.node.selector_out else (),
            node_seq=ne.seq,
            safe_mode=spec.safe_mode,
            review_gate=functools.partial(self._ask_review, ne),
        )
        ne.stats = ctx.stats
        if self.bus.active:
            ctx.stream_sink = lambda pin, chunk: self._publish_stream(ne, pin, chunk)
        if self.subgraph_runner is not None and ne.node.block_type == BlockType.AGENT:
            ctx.run_subgraph = self.subgraph_runner(self, ne)
        return ctx

    # ---- resume ---------------------------------------------------------------------------------

    def _replay(self, ne: NodeExec) -> bool:
        """Re-deliver the stored outputs of a node execution that already finished before a restart."""
        assert self.replay is not None
        stored = self.replay.match(ne.node.id, ne.seq, jsonutil.normalize(ne.data))
        if stored is None:
            return False
        ne.id = stored.id
        ne.replayed = True
        ne.status = S(stored.status)
        ne.error = stored.error
        ne.started_at = ne.ended_at = time.time()
        for name, value in stored.outputs:
            ne.outputs.append((name, value))
            if name == "error":
                continue
            if name == "output" and ne.node.block_type == BlockType.OUTPUT:
                out_name = (ne.data or {}).get("name") or ne.node.defaults.get("name")
                self.outputs.setdefault(str(out_name), []).append(value)
            self._route(ne.node, name, value)
        if ne.status == S.FAILED:
            if ne.node.error_linked:
                self._route(ne.node, "error", ne.error)
            elif ne.called_by is None:
                self._abort_run(f"node {ne.node.id!r} ({ne.node.block.name}) failed: {ne.error}", ne.node.id)
        return True

    # ---- finishing ------------------------------------------------------------------------------

    def _finish_statuses(self) -> None:
        self.ended_at = time.time()
        if self._cancelled:
            self.status = S.CANCELLED
            if self.error is None:
                self.error = "cancelled"
        elif self.error is not None:
            self.status = S.FAILED
        elif self.waiting:
            self.status = S.REVIEW  # not ended: resumed once a person has answered
            self.ended_at = None
            return
        else:
            self.status = S.COMPLETED
        for ne in self.node_execs:
            if ne.status in (S.QUEUED, S.RUNNING, S.REVIEW):
                ne.status = S.CANCELLED
                ne.ended_at = self.ended_at
                self.recorder.node_changed(ne)

    def _publish_run(self, kind: EventType) -> None:
        if not self.bus.active:
            return
        spec = self.spec
        data: dict[str, Any] = {}
        if self.status.is_final:
            data = {"outputs": self.outputs, "error": self.error, "error_node_id": self.error_node_id}
        elif self.status == S.REVIEW:
            data = {"reviews": list(self.waiting.values())}
        self.bus.publish(
            ExecutionEvent(
                kind,
                spec.execution_id,
                spec.graph_id,
                spec.graph_version,
                spec.user_id,
                str(self.status),
                data=data,
            )
        )

    def _publish_node(self, kind: EventType, ne: NodeExec) -> None:
        data: dict[str, Any] = {"seq": ne.seq, "block_name": ne.node.block.name}
        if ne.called_by is not None:
            data["called_by"] = ne.called_by
        if ne.status is S.REVIEW:
            data["review"] = self.waiting.get(ne.id)
        if kind == EventType.NODE_EXECUTED:
            data.update(
                inputs=ne.data,
                outputs=[list(o) for o in ne.outputs],
                error=ne.error,
                started_at=ne.started_at,
                ended_at=ne.ended_at,
            )
        self._publish_node_event(kind, ne, data)

    def _publish_stream(self, ne: NodeExec, pin: str, chunk: Any) -> None:
        self._publish_node_event(EventType.NODE_STREAM, ne, {"pin": pin, "chunk": chunk, "seq": ne.seq})

    def _publish_node_event(self, kind: EventType, ne: NodeExec, data: dict[str, Any]) -> None:
        spec = self.spec
        self.bus.publish(
            ExecutionEvent(
                kind,
                spec.execution_id,
                spec.graph_id,
                spec.graph_version,
                spec.user_id,
                str(ne.status),
                node_id=ne.node.id,
                node_execution_id=ne.id,
                block_id=ne.node.block.id,
                data=data,
            )
        )


def _message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, BlockError | ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
