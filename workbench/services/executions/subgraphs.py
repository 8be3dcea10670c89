"""Sub-graph runs: a node (the AgentExecutor block) running another graph inside its parent's run.

A child runs in the parent's task (it is not queued); a stored parent stores its children, linked to
the node execution that started them, so a resumed parent finds and resumes the same child instead
of starting it again. Two limits stop runaway recursion: ``WORKBENCH_MAX_SUBGRAPH_DEPTH`` levels and
``WORKBENCH_MAX_CHILD_RUNS`` children per top-level execution (counted in storage for stored runs,
so the count survives a resume). A refusal fails every run above with the same message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from workbench.block.context import SubgraphRunner
from workbench.block.review import AwaitingReview
from workbench.config import Settings
from workbench.engine.recorder import NullRecorder, Recorder
from workbench.engine.run import GraphRun, RunSpec
from workbench.engine.state import ExecutionStatus, NodeExec, fast_uuid
from workbench.errors import BlockError
from workbench.graph.model import Graph
from workbench.services.executions.live import LiveRuns
from workbench.services.graphs import GraphService
from workbench.store.executions import ExecutionRepository
from workbench.store.run_limits import take_subgraph_run
from workbench.store.writer import StoreRecorder, WriteBehind


class SubgraphLimitExceeded(BlockError):
    """A sub-graph run was refused: too deep (``WORKBENCH_MAX_SUBGRAPH_DEPTH``) or one too many for
    its top-level execution (``WORKBENCH_MAX_CHILD_RUNS``). Every run above it fails with the same
    message, so the top-level error names the limit and the setting."""


class SubgraphRuns:
    """Runs children of running graphs, within the limits."""

    def __init__(
        self,
        settings: Settings,
        graphs: GraphService,
        live: LiveRuns,
        repo: ExecutionRepository | None = None,
        writer: WriteBehind | None = None,
        executor_key: int | None = None,
    ) -> None:
        self.settings = settings
        self.graphs = graphs
        self.live = live
        self.repo = repo
        self.writer = writer
        self.executor_key = executor_key
        self._child_runs: dict[str, int] = {}
        """Sub-graph runs started under each running ephemeral top-level run (stored ones: counted in storage)."""
        self._limit_hit: dict[str, str] = {}
        """The limit a running top-level run's tree ran into, by top-level execution id."""
        live.subgraph_runner = self.runner
        live.on_finished.append(self._forget)

    def _forget(self, run: GraphRun) -> None:
        self._child_runs.pop(run.spec.execution_id, None)
        self._limit_hit.pop(run.spec.execution_id, None)

    def _refuse(self, root_id: str, message: str) -> SubgraphLimitExceeded:
        """The refusal of a sub-graph run; remembered so that every run above fails with it."""
        self._limit_hit.setdefault(root_id, message)
        return SubgraphLimitExceeded(message)

    async def _count(self, root_id: str, durable: bool) -> None:
        """Count one more sub-graph run of the top-level execution ``root_id``, or refuse it."""
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
            raise self._refuse(
                root_id,
                f"this execution has started {cap} sub-graph runs, the most one execution may start "
                f"(WORKBENCH_MAX_CHILD_RUNS={cap})",
            )

    async def _graph(self, parent: GraphRun, graph_id: str, version: int | None) -> Graph:
        """The child graph: bundled with the parent, the parent itself (recursion), or stored."""
        for g in parent.plan.graph.sub_graphs:
            if g.id == graph_id and (version is None or g.version == version):
                return g
        own = parent.plan.graph
        if graph_id == own.id and (version is None or version == own.version):
            return own
        if self.graphs.repo is not None:
            return await self.graphs.get(graph_id, parent.spec.user_id, version)
        raise BlockError(f"sub-graph {graph_id} is not included in the graph's sub_graphs")

    def runner(self, parent: GraphRun, ne: NodeExec) -> SubgraphRunner:
        """The function the node ``ne`` of ``parent`` calls to run a sub-graph and get its outputs."""

        async def run_subgraph(
            graph_id: str, version: int | None, inputs: dict[str, Any]
        ) -> AsyncIterator[tuple[str, Any]]:
            root_id = parent.spec.root_id
            depth = parent.spec.depth + 1
            max_depth = self.settings.max_subgraph_depth
            if depth > max_depth:
                raise self._refuse(
                    root_id,
                    f"sub-graph runs may nest {max_depth} levels deep (does a graph run itself?); "
                    f"this one would be level {depth} (WORKBENCH_MAX_SUBGRAPH_DEPTH={max_depth})",
                )
            graph = await self._graph(parent, graph_id, version)
            durable = isinstance(parent.recorder, StoreRecorder)
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
                    await self._count(root_id, durable=True)
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
                await self._count(root_id, durable=False)
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
                safe_mode=parent.spec.safe_mode,
            )
            child = self.live.new(plan, spec, recorder, replay)
            await child.run()
            if child.status == ExecutionStatus.REVIEW:
                # A node of the child waits for a person: this node waits with it. Run again after
                # the answer, it finds the same child (stored, linked to this node execution) and
                # resumes it, and the child's node gets the answer.
                first = next(iter(child.waiting.values()))
                raise AwaitingReview(str(first.get("review_id")), first)
            if child.status != ExecutionStatus.COMPLETED:
                limit = self._limit_hit.get(root_id)
                if limit is not None and limit in (child.error or ""):
                    raise SubgraphLimitExceeded(limit)  # the same message at every level up
                raise BlockError(f"sub-graph {graph.name!r} {str(child.status).lower()}: {child.error}")
            for name, values in child.outputs.items():
                for value in values:
                    yield name, value

        return run_subgraph
