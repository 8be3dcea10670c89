"""Graph service: validate, save (versioned), load, list, activate, delete and export graphs."""

from __future__ import annotations

import hashlib
from typing import Any

from workbench import jsonutil
from workbench.block.base import BlockType
from workbench.block.registry import BlockRegistry
from workbench.config import Settings
from workbench.engine.plan import Plan
from workbench.errors import ConflictError, GraphValidationError, NotFoundError, Problem
from workbench.graph.autogpt import parse_graph
from workbench.graph.model import Graph
from workbench.graph.validate import normalize, unknown_block, validate_graph
from workbench.store.graphs import GraphRepository, GraphSummary

PLAN_CACHE_SIZE = 256


class BlocksNotInstalled(GraphValidationError, NotFoundError):
    """A stored graph uses blocks this process lacks; ``problems`` names each node. Also a
    NotFoundError, which an executor taking a queued run of such a graph treats as unrunnable."""


class GraphService:
    """Everything about graphs; ``repo`` is None for an ephemeral (storage-less) workbench."""

    def __init__(self, registry: BlockRegistry, settings: Settings, repo: GraphRepository | None) -> None:
        self.registry = registry
        self.settings = settings
        self.repo = repo
        self._plans: dict[tuple[str, int], Plan] = {}
        self._checked: dict[tuple[bytes, str | None], tuple[Graph, Plan]] = {}

    def _require_repo(self) -> GraphRepository:
        if self.repo is None:
            raise RuntimeError("this workbench is ephemeral: it stores no graphs")
        return self.repo

    # ---- validation ----------------------------------------------------------------------------

    async def _referenced(self, graph: Graph, user_id: str | None) -> dict[tuple[str, int | None], Graph]:
        """Stored graphs that agent executor nodes of ``graph`` refer to."""
        found: dict[tuple[str, int | None], Graph] = {}
        if self.repo is None or user_id is None:
            return found
        for g in [graph, *graph.sub_graphs]:
            for node in g.nodes:
                if (
                    node.block_id in self.registry
                    and self.registry.get(node.block_id).block_type == BlockType.AGENT
                ):
                    gid = node.input_default.get("graph_id")
                    ver = node.input_default.get("graph_version")
                    if isinstance(gid, str) and (gid, ver) not in found:
                        try:
                            sub = await self.repo.get(gid, user_id, ver if isinstance(ver, int) else None)
                        except Exception:  # a malformed id is reported by validation
                            sub = None
                        if sub is not None:
                            found[(gid, ver)] = sub
        return found

    async def problems(self, graph: Graph, user_id: str | None = None) -> list[Problem]:
        """Every located problem of ``graph`` (empty when valid)."""
        known = await self._referenced(graph, user_id)
        problems = validate_graph(graph, self.registry, lambda gid, ver: known.get((gid, ver)))
        if self.repo is not None and user_id is not None:
            problems += await self._foreign_sub_graphs(graph, user_id)
        return problems

    async def _foreign_sub_graphs(self, graph: Graph, user_id: str) -> list[Problem]:
        """Sub-graphs whose id belongs to another user's graph.

        Sub-graphs are stored under their own ids, as versions of those graphs: one with the id of
        someone else's graph would become a version of it. The top-level graph gets a fresh id in
        that case; a sub-graph cannot, since agent nodes refer to it by id.
        """
        assert self.repo is not None
        problems: list[Problem] = []
        seen: set[str] = set()
        pending = [(graph, sub) for sub in graph.sub_graphs]
        while pending:
            parent, sub = pending.pop()
            pending.extend((sub, inner) for inner in sub.sub_graphs)
            if sub.id in seen:
                continue
            seen.add(sub.id)
            owner = await self.repo.owner(sub.id)
            if owner is not None and owner != user_id:
                users = [n.id for n in parent.nodes if n.input_default.get("graph_id") == sub.id]
                problems.append(
                    Problem(
                        f"sub-graph {sub.id}: this id is taken; give the sub-graph a new id "
                        "(and the agent nodes that run it)",
                        node_id=users[0] if users else None,
                        pin="graph_id" if users else None,
                        code="sub_graph_id_taken",
                    )
                )
        return problems

    async def check(self, graph: Graph, user_id: str | None = None) -> Graph:
        """Validate and normalize (rule E1); raise GraphValidationError with every problem."""
        problems = await self.problems(graph, user_id)
        if problems:
            raise GraphValidationError(problems)
        return normalize(graph, self.registry)

    # ---- storage -------------------------------------------------------------------------------

    async def create(self, graph: Graph, user_id: str, *, note: str = "") -> Graph:
        """Store a new graph (version 1 unless the document says otherwise), with its sub-graphs.

        A graph id that another user already owns gets a fresh id. One the caller owns is the stored
        graph when the content is the same (posting a file twice is harmless), else a ConflictError
        pointing to :meth:`update` (``PUT /api/v1/graphs/{id}``): creating never adds a version
        silently. The stored version is the active one whatever the document says (an AutoGPT
        export of a version that was not active there says ``"is_active": false``).
        """
        repo = self._require_repo()
        graph = await self.check(graph.model_copy(update={"is_active": True}), user_id)
        owner = await repo.owner(graph.id)
        if owner is not None and owner != user_id:
            graph = graph.model_copy(update={"id": _new_id()})
            owner = None
        if owner is not None:
            current = await repo.get(graph.id, user_id, None)
            if current is not None and _same_content(current, graph):
                return current
            raise _exists(graph.id)
        return await self._store(graph, user_id, keep_version=True, dedupe=False, new=True, note=note)

    async def update(self, graph_id: str, graph: Graph, user_id: str, *, note: str = "") -> Graph:
        """Store ``graph`` as the next version of ``graph_id`` and make it active; ``note`` says what
        changed (shown with the version)."""
        repo = self._require_repo()
        if await repo.owner(graph_id) != user_id:
            raise NotFoundError(f"graph {graph_id} not found")
        graph = graph.model_copy(update={"id": graph_id, "is_active": True})
        graph = await self.check(graph, user_id)
        return await self._store(graph, user_id, keep_version=False, dedupe=False, note=note)

    async def save(self, graph: Graph, user_id: str) -> Graph:
        """Store ``graph`` unless its active version is identical; a changed graph becomes a new version.

        Safe when several callers save the same graph at once: one stores it, the others get it back.
        """
        repo = self._require_repo()
        owner = await repo.owner(graph.id)
        if owner is not None and owner != user_id:
            return await self.create(graph, user_id)
        graph = await self.check(graph.model_copy(update={"is_active": True}), user_id)
        return await self._store(graph, user_id, keep_version=owner is None, dedupe=True)

    async def _store(
        self,
        graph: Graph,
        user_id: str,
        *,
        keep_version: bool,
        dedupe: bool,
        new: bool = False,
        note: str = "",
    ) -> Graph:
        """Insert ``graph`` (and missing sub-graphs) under per-graph locks; return what is stored.

        With ``new``, a graph stored meanwhile under the same id (a concurrent create) is a conflict.
        """
        repo = self._require_repo()
        async with repo.pool.acquire() as conn, conn.transaction():
            for graph_id in sorted({graph.id, *(sub.id for sub in graph.sub_graphs)}):
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", graph_id)
            for sub in graph.sub_graphs:
                exists = await conn.fetchval(
                    "SELECT 1 FROM graphs WHERE id = $1 AND version = $2", sub.id, sub.version
                )
                if not exists:
                    plan = Plan(normalize(sub, self.registry), self.registry, self.settings.node_timeout)
                    await repo.insert(conn, sub, user_id, plan.input_schema(), plan.output_schema())
            if dedupe:
                current = await repo.get(graph.id, user_id, None, conn)
                if current is not None and _same_content(current, graph):
                    return current
            latest = await repo.latest_version(conn, graph.id)
            if new and latest:
                raise _exists(graph.id)
            if not keep_version or graph.version <= latest:
                graph.version = latest + 1
            plan = Plan(graph, self.registry, self.settings.node_timeout)
            await repo.insert(conn, graph, user_id, plan.input_schema(), plan.output_schema(), note)
        self._remember(plan)  # committed: this version never changes, and running it is likely next
        return graph

    async def get(self, graph_id: str, user_id: str, version: int | None = None) -> Graph:
        """A stored graph version (the active one by default); NotFoundError otherwise."""
        graph = await self._require_repo().get(graph_id, user_id, version)
        if graph is None:
            what = f"graph {graph_id}" + (f" version {version}" if version is not None else "")
            raise NotFoundError(f"{what} not found")
        return graph

    async def list(
        self, user_id: str, *, search: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[GraphSummary], int]:
        """The user's graphs (active versions), newest first, with the total count."""
        return await self._require_repo().list(user_id, search=search, limit=limit, offset=offset)

    async def versions(self, graph_id: str, user_id: str) -> list[GraphSummary]:
        """Every version of a graph."""
        found = await self._require_repo().versions(graph_id, user_id)
        if not found:
            raise NotFoundError(f"graph {graph_id} not found")
        return found

    async def set_active(self, graph_id: str, version: int, user_id: str) -> None:
        """Make a version the active one."""
        if not await self._require_repo().set_active(graph_id, version, user_id):
            raise NotFoundError(f"graph {graph_id} version {version} not found")

    async def delete(self, graph_id: str, user_id: str) -> None:
        """Delete a graph with all its versions and executions."""
        if not await self._require_repo().delete(graph_id, user_id):
            raise NotFoundError(f"graph {graph_id} not found")

    async def export(self, graph_id: str, user_id: str, version: int | None = None) -> dict[str, Any]:
        """The AutoGPT-format document, with the stored sub-graphs it uses included."""
        graph = await self.get(graph_id, user_id, version)
        subs = await self._referenced(graph, user_id)
        graph.sub_graphs = [g for g in subs.values() if g.id != graph.id]
        return graph.export()

    # ---- plans ---------------------------------------------------------------------------------

    async def checked_plan(self, graph: Graph, user_id: str | None) -> tuple[Graph, Plan]:
        """Validate and compile a graph that is not stored (ephemeral runs), cached by content.

        Running the same graph again costs one fingerprint of its JSON (~1 us per node) instead of
        a validation and a compile; any change to the graph changes the fingerprint. The first run
        checks a private copy, parsed back from the JSON just fingerprinted (a few times cheaper
        than a deep copy), so that later changes to the caller's object never reach a cached plan.
        """
        document = graph.model_dump_json().encode()
        key = (hashlib.blake2b(document, digest_size=16).digest(), user_id)
        hit = self._checked.get(key)
        if hit is not None:
            return hit
        checked = await self.check(parse_graph(document), user_id)
        entry = (checked, Plan(checked, self.registry, self.settings.node_timeout))
        if len(self._checked) >= PLAN_CACHE_SIZE:
            self._checked.pop(next(iter(self._checked)))
        self._checked[key] = entry
        return entry

    async def stored_plan(self, graph_id: str, user_id: str, version: int | None = None) -> Plan:
        """The plan of a stored graph version the user owns: one small query when the plan is cached."""
        repo = self._require_repo()
        found = await repo.owned_version(graph_id, user_id, version)
        if found is None:
            what = f"graph {graph_id}" + (f" version {version}" if version is not None else "")
            raise NotFoundError(f"{what} not found")
        cached = self._plans.get((graph_id, found))
        if cached is not None:
            return cached
        return self.plan(await self.get(graph_id, user_id, found), stored=True)

    async def execution_plan(self, graph_id: str, user_id: str, version: int) -> Plan:
        """The plan of the graph version a stored execution runs, for its executor.

        No ownership query when the plan is cached: the execution row exists only for its owner's
        graph (checked at submission) and its foreign key keeps that version alive while it does.
        """
        cached = self._plans.get((graph_id, version))
        if cached is not None:
            return cached
        return await self.stored_plan(graph_id, user_id, version)

    def plan(self, graph: Graph, *, stored: bool) -> Plan:
        """The compiled graph; stored versions are immutable, so their plans are cached.

        A stored graph may use blocks this process lacks (saved by a notebook that defined them, on
        the same database): that is a GraphValidationError naming each such node, not a bare
        "unknown block id"."""
        if not stored:
            return self._compile(graph)
        plan = self._plans.get((graph.id, graph.version))
        if plan is None:
            plan = self._remember(self._compile(graph))
        return plan

    def _remember(self, plan: Plan) -> Plan:
        """Cache the plan of a stored graph version (the oldest entry goes when the cache is full)."""
        if len(self._plans) >= PLAN_CACHE_SIZE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[(plan.graph.id, plan.graph.version)] = plan
        return plan

    def _compile(self, graph: Graph) -> Plan:
        missing = [unknown_block(n) for n in graph.nodes if n.block_id not in self.registry]
        if missing:
            raise BlocksNotInstalled(missing)
        return Plan(graph, self.registry, self.settings.node_timeout)


def _exists(graph_id: str) -> ConflictError:
    return ConflictError(
        f"graph {graph_id} already exists: to save a new version, PUT /api/v1/graphs/{graph_id} "
        "(update_graph in the Python client); to keep both, give this one another id"
    )


def _new_id() -> str:
    from workbench.graph.model import new_id

    return new_id()


def _content(graph: Graph) -> Any:
    doc = graph.model_dump(mode="json", exclude={"version", "is_active", "sub_graphs"})
    return jsonutil.normalize(doc)


def _same_content(a: Graph, b: Graph) -> bool:
    return _content(a) == _content(b)
