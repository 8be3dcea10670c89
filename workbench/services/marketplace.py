"""Marketplace: publish an agent as a template, browse and search everyone's, look at one's graph,
fork one into your own library.

A template is an immutable snapshot of one version of its publisher's graph, with the sub-graphs its
agent executor nodes run (each pinned to the version they ran at publish). Publishing strips what is
private to the publisher (credential references in node inputs, the exporting user's id of agent
nodes: :mod:`workbench.services.template_snapshot`) and records what the template needs: its blocks
and the credential providers those blocks declare. Publishing the same graph again replaces the
publisher's template of it (same template id); only one's own graph can be published, and only the
publisher can unpublish (another user's template is "not found", as everywhere else).

Forking copies the snapshot into the forker's library as new graphs with fresh ids (sub-graphs
too, agent nodes re-pointed at the copies), stored through :class:`GraphService`, so validation
applies. It is refused, with nothing stored, when the forker lacks a credential the template needs:
:class:`MissingCredentials` names each provider, the blocks that need it and where to add it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from workbench.block.registry import BlockRegistry
from workbench.errors import InputError, NotFoundError
from workbench.graph.model import Graph, new_id
from workbench.llm.config import config_from_env
from workbench.services.credentials import CredentialVault
from workbench.services.graphs import GraphService
from workbench.services.template_snapshot import (
    agent_targets,
    credential_needs,
    missing_blocks,
    stripped,
    with_fresh_ids,
)
from workbench.store.templates import TemplateRecord, TemplateRepository

MAX_DESCRIPTION = 10_000
MAX_SUB_GRAPHS = 100
"""Most distinct sub-graph versions a published agent may run (a bound on the snapshot's size)."""
PROFILE_PAGE = "/profile"
WHAT_TO_ADD = {
    "github": "an api_key credential holding a GitHub token",
    "postgres": "a credential with the database's host, port, user, password and database",
    "openai": "an api_key credential for OpenAI or an OpenAI-compatible server (api_key, base_url)",
    "anthropic": "an api_key credential for Anthropic",
}
"""What to add, per provider, in the message of a refused fork."""


class MissingCredentials(InputError):
    """A fork refused: the forker has no credential for providers the template needs (422 at the
    API). ``missing`` lists the needs, as the template records them (provider, blocks, models)."""

    def __init__(self, missing: list[dict[str, Any]]) -> None:
        self.missing = missing
        parts = []
        for need in missing:
            provider = need["provider"]
            what = WHAT_TO_ADD.get(provider, f"a {provider!r} credential")
            parts.append(f"{provider!r}, for {', '.join(need['blocks'])}: add {what}")
        super().__init__(
            "this template needs credentials you have not added: "
            + "; ".join(parts)
            + f". Add them on your Profile page ({PROFILE_PAGE}) or with POST /api/v1/credentials, "
            "then fork again (nothing was stored)."
        )

    @property
    def providers(self) -> list[str]:
        """The providers missing, sorted."""
        return [need["provider"] for need in self.missing]


@dataclass(frozen=True, slots=True)
class TemplateDetail:
    """A template with its graph (the read-only snapshot, sub-graphs included)."""

    template: TemplateRecord
    graph: Graph


def template_dict(rec: TemplateRecord) -> dict[str, Any]:
    """JSON-ready form of a template (without its snapshot; never the publisher's email)."""
    return {
        "id": rec.id,
        "name": rec.name,
        "description": rec.description,
        "publisher": rec.publisher,
        "graph_id": rec.graph_id,
        "graph_version": rec.graph_version,
        "block_ids": list(rec.block_ids),
        "credentials": [dict(c) for c in rec.credentials],
        "node_count": rec.node_count,
        "fork_count": rec.fork_count,
        "published_at": rec.published_at.isoformat(),
        "updated_at": rec.updated_at.isoformat(),
    }


def _uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        raise NotFoundError(f"{what} {value} not found") from None


class Marketplace:
    """Templates: publish, unpublish, search, get, fork."""

    def __init__(
        self,
        repo: TemplateRepository,
        graphs: GraphService,
        registry: BlockRegistry,
        vault: CredentialVault | None,
    ) -> None:
        self.repo = repo
        self.graphs = graphs
        self.registry = registry
        self.vault = vault

    @classmethod
    def of(cls, wb: Any) -> Marketplace:
        """The marketplace of a started, durable Workbench (templates are stored)."""
        if wb.db is None or wb.db.pool is None:
            raise RuntimeError("the marketplace needs a database: this workbench is ephemeral or not started")
        return cls(TemplateRepository(wb.db.pool), wb.graphs, wb.registry, wb.credentials)

    # ---- publishing ------------------------------------------------------------------------------

    async def publish(
        self,
        user_id: str,
        graph_id: str,
        version: int | None = None,
        description: str | None = None,
        name: str | None = None,
    ) -> TemplateRecord:
        """Publish a version (default: the active one) of one of the user's graphs as a template, or
        replace the user's template of that graph. ``description`` defaults to the graph's."""
        graph = await self.graphs.get(_uuid(graph_id, "graph"), user_id, version)
        text = (graph.description if description is None else description).strip()
        if len(text) > MAX_DESCRIPTION:
            raise InputError(f"description: at most {MAX_DESCRIPTION} characters (got {len(text)})")
        title = (graph.name if name is None else name).strip()
        if not title or len(title) > 500:
            raise InputError("name: must have 1 to 500 characters")
        subs = await self._sub_graphs(graph, user_id)
        missing_blocks([graph, *subs], self.registry)
        clean = stripped(graph, self.registry)
        clean.sub_graphs = [stripped(s, self.registry) for s in subs]
        everything = [clean, *clean.sub_graphs]
        template_id = await self.repo.upsert(
            user_id=user_id,
            graph_id=graph.id,
            graph_version=graph.version,
            name=title,
            description=text,
            block_ids=sorted({n.block_id for g in everything for n in g.nodes}),
            credentials=credential_needs(everything, self.registry),
            graph=clean.model_dump(mode="json"),
            node_count=len(clean.nodes),
        )
        found = await self.repo.get(template_id)
        assert found is not None
        return found

    async def _sub_graphs(self, graph: Graph, user_id: str) -> list[Graph]:
        """Every graph version the agent nodes of ``graph`` run, at any depth, each pinned (the agent
        nodes of ``graph`` and of the copies name the version they run at publish)."""
        found: dict[tuple[str, int], Graph] = {}
        pending = [graph]
        while pending:
            current = pending.pop()
            for node, gid, ver in agent_targets(current, self.registry):
                if gid == graph.id and ver in (None, graph.version):
                    node.input_default = {**node.input_default, "graph_version": graph.version}
                    continue
                try:
                    sub = await self.graphs.get(_uuid(gid, "graph"), user_id, ver)
                except NotFoundError:
                    raise InputError(
                        f"node {node.id!r} of {current.name!r}, pin 'graph_id': it runs graph {gid}"
                        + (f" version {ver}" if ver is not None else "")
                        + ", which is not one of your stored graphs"
                    ) from None
                node.input_default = {**node.input_default, "graph_version": sub.version}
                key = (sub.id, sub.version)
                if key not in found:
                    if len(found) >= MAX_SUB_GRAPHS:
                        raise InputError(f"the agent runs more than {MAX_SUB_GRAPHS} sub-graphs")
                    found[key] = sub
                    pending.append(sub)
        return list(found.values())

    async def unpublish(self, user_id: str, template_id: str) -> None:
        """Remove one of the user's templates (forks made from it stay); another's is not found."""
        if not await self.repo.delete(_uuid(template_id, "template"), user_id):
            raise NotFoundError(f"template {template_id} not found")

    # ---- reading ---------------------------------------------------------------------------------

    async def search(
        self,
        search: str | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        publisher_id: str | None = None,
    ) -> tuple[list[TemplateRecord], int]:
        """Everyone's templates (or one publisher's), newest first, matching ``search`` in name or
        description, with the total count of matches."""
        if limit < 1 or limit > 500:
            raise InputError("limit: must be between 1 and 500")
        if offset < 0:
            raise InputError("offset: must not be negative")
        text = search.strip() if search else None
        return await self.repo.search(search=text or None, user_id=publisher_id, limit=limit, offset=offset)

    async def get(self, template_id: str) -> TemplateRecord:
        """One template (anyone's), without its graph."""
        found = await self.repo.get(_uuid(template_id, "template"))
        if found is None:
            raise NotFoundError(f"template {template_id} not found")
        return found

    async def detail(self, template_id: str) -> TemplateDetail:
        """One template with its graph (read-only: the snapshot, sub-graphs included)."""
        found = await self.repo.get(_uuid(template_id, "template"), with_graph=True)
        if found is None or found.graph is None:
            raise NotFoundError(f"template {template_id} not found")
        return TemplateDetail(found, Graph.model_validate(found.graph))

    async def of_graph(self, user_id: str, graph_id: str) -> TemplateRecord | None:
        """The user's template of one of their graphs, if published."""
        return await self.repo.of_graph(_uuid(graph_id, "graph"), user_id)

    # ---- forking ---------------------------------------------------------------------------------

    async def missing_credentials(self, user_id: str, rec: TemplateRecord) -> list[dict[str, Any]]:
        """The template's needs the user cannot meet: no credential of theirs for the provider (an LLM
        need is also met when this server's environment configures a provider for its models)."""
        missing = []
        for need in rec.credentials:
            provider = str(need["provider"])
            if self.vault is not None and await self.vault.list(user_id, provider):
                continue
            models = list(need.get("models") or [])
            if models and all(config_from_env(model=m) is not None for m in models):
                continue
            missing.append(need)
        return missing

    async def fork(self, user_id: str, template_id: str, name: str | None = None) -> Graph:
        """Copy a template into the user's library: new graphs with fresh ids (sub-graphs first),
        named after the template (``"<name> (fork)"`` when the user has an agent of that name).
        MissingCredentials, with nothing stored, when the user lacks a credential it needs."""
        detail = await self.detail(template_id)
        rec, snapshot = detail.template, detail.graph
        subs = list(snapshot.sub_graphs)
        missing_blocks([snapshot, *subs], self.registry)
        missing = await self.missing_credentials(user_id, rec)
        if missing:
            raise MissingCredentials(missing)
        title = (name or "").strip() or await self._free_name(user_id, rec.name)
        top = snapshot.model_copy(
            update={"name": title, "description": rec.description or snapshot.description}
        )
        copies = with_fresh_ids(top, subs, self.registry, new_id)
        stored: list[Graph] = []
        try:
            for copy in copies:
                stored.append(await self.graphs.create(copy, user_id))
        except BaseException:
            for graph in reversed(stored):  # leave nothing half-forked behind
                try:
                    await self.graphs.delete(graph.id, user_id)
                except Exception:  # already gone: nothing more to undo
                    pass
            raise
        await self.repo.count_fork(rec.id)
        return stored[-1]

    async def _free_name(self, user_id: str, name: str) -> str:
        """``name``, or ``"<name> (fork)"``, ``"<name> (fork 2)"``... when the user has an agent by that name."""
        items, _ = await self.graphs.list(user_id, search=name, limit=500)
        taken = {g.name for g in items}
        if name not in taken:
            return name
        candidate, n = f"{name} (fork)", 2
        while candidate in taken:
            candidate, n = f"{name} (fork {n})", n + 1
        return candidate[:500]
