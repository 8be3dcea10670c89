"""What publishing and forking do to a graph: strip private data, compute the credentials it needs,
give a fork fresh ids.

Blocks declare credentials as input pins named ``credentials`` (or ``*_credentials``). Which provider
such a pin is for comes, in order, from the pin's ``json_schema_extra`` (``credentials_provider`` or
``provider``), from the block module's ``PROVIDER`` (the GitHub and PostgreSQL blocks), or, for LLM
blocks (a ``model`` pin), from the node's model (``claude-*``: ``anthropic``, else ``openai``). An LLM
need names its models: the server's environment may serve them without a credential of the user's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from workbench.block.base import Block, BlockType
from workbench.block.registry import BlockRegistry
from workbench.errors import GraphValidationError, Problem
from workbench.graph.model import Graph, Node
from workbench.llm.config import model_family

GraphKey = tuple[str, int]
"""A stored graph version: (id, version)."""


def is_credentials_pin(name: str) -> bool:
    """Whether an input pin carries a credential reference."""
    return name == "credentials" or name.endswith("_credentials")


def is_agent(block: Block) -> bool:
    """Whether a block runs another graph (AgentExecutorBlock)."""
    return block.block_type == BlockType.AGENT


def _looks_like_credential(value: Any) -> bool:
    """AutoGPT's credential reference ``{"id", "provider", ...}``, or a list of them (the decision
    maker's ``mcp_servers``)."""
    if isinstance(value, list):
        return bool(value) and all(_looks_like_credential(v) for v in value)
    return isinstance(value, dict) and "provider" in value and "id" in value


def stripped(graph: Graph, registry: BlockRegistry) -> Graph:
    """A copy of ``graph`` without the publisher's private data: credential references (the values of
    credentials pins, and anything shaped like one) and the exporting user's id on agent nodes."""
    copy = graph.model_copy(deep=True)
    for node in copy.nodes:
        block = registry.get(node.block_id) if node.block_id in registry else None
        keep: dict[str, Any] = {}
        for name, value in node.input_default.items():
            if is_credentials_pin(name) or _looks_like_credential(value):
                continue
            if block is not None and is_agent(block) and name == "user_id":
                continue
            keep[name] = value
        node.input_default = keep
    copy.sub_graphs = [stripped(sub, registry) for sub in copy.sub_graphs]
    return copy


def missing_blocks(graphs: Iterable[Graph], registry: BlockRegistry) -> None:
    """GraphValidationError naming every node whose block this process does not have."""
    problems = [
        Problem(
            f"block {node.block_id} (in {g.name!r}) is not installed on this server",
            node_id=node.id,
            pin=None,
            code="unknown_block",
        )
        for g in graphs
        for node in g.nodes
        if node.block_id not in registry
    ]
    if problems:
        raise GraphValidationError(problems)


def _pin_provider(block: Block, pin: str) -> str | None:
    field = block.Input.model_fields.get(pin)
    extra = field.json_schema_extra if field is not None else None
    if isinstance(extra, dict):
        for key in ("credentials_provider", "provider"):
            if isinstance(extra.get(key), str) and extra[key]:
                return str(extra[key])
    module = sys.modules.get(type(block).__module__)
    provider = getattr(module, "PROVIDER", None)
    return provider if isinstance(provider, str) and provider else None


def _node_model(block: Block, node: Node) -> str | None:
    pin = block.input_pins.get("model")
    if pin is None:
        return None
    value = node.input_default.get("model", pin.default)
    return value if isinstance(value, str) and value else None


def credential_needs(graphs: Iterable[Graph], registry: BlockRegistry) -> list[dict[str, Any]]:
    """The credentials the graphs' blocks need, one entry per provider, sorted by provider:
    ``{"provider", "blocks": [block names], "models": [LLM models, when an LLM block needs it]}``."""
    needs: dict[str, dict[str, set[str]]] = {}
    for graph in graphs:
        for node in graph.nodes:
            if node.block_id not in registry:
                continue
            block = registry.get(node.block_id)
            for pin in block.input_pins:
                if not is_credentials_pin(pin):
                    continue
                provider = _pin_provider(block, pin)
                model = _node_model(block, node) if provider is None else None
                if provider is None and model is not None:
                    provider = model_family(model)
                if provider is None:
                    continue  # a credentials pin of unknown provider: nothing to check it against
                entry = needs.setdefault(provider, {"blocks": set(), "models": set()})
                entry["blocks"].add(block.name)
                if model is not None:
                    entry["models"].add(model)
    return [
        {"provider": p, "blocks": sorted(e["blocks"]), "models": sorted(e["models"])}
        for p, e in sorted(needs.items())
    ]


def agent_targets(graph: Graph, registry: BlockRegistry) -> list[tuple[Node, str, int | None]]:
    """The agent executor nodes of ``graph`` with the (graph id, version) each runs."""
    found = []
    for node in graph.nodes:
        if node.block_id in registry and is_agent(registry.get(node.block_id)):
            gid = node.input_default.get("graph_id")
            ver = node.input_default.get("graph_version")
            if isinstance(gid, str) and gid:
                found.append((node, gid, ver if isinstance(ver, int) else None))
    return found


def fork_order(top: Graph, subs: list[Graph], registry: BlockRegistry) -> list[Graph]:
    """``subs`` then ``top``, each after the sub-graphs it runs (so each is stored once what it runs
    is); sub-graphs in a loop of their own keep their given order."""
    by_key = {(s.id, s.version): s for s in subs}
    done: list[Graph] = []
    seen: set[GraphKey] = set()

    def visit(graph: Graph, path: set[GraphKey]) -> None:
        key = (graph.id, graph.version)
        if key in seen or key in path:
            return
        for _node, gid, ver in agent_targets(graph, registry):
            target = by_key.get((gid, ver)) if ver is not None else None
            if target is None:
                target = next((s for s in subs if s.id == gid), None)
            if target is not None:
                visit(target, path | {key})
        seen.add(key)
        done.append(graph)

    for sub in subs:
        visit(sub, set())
    visit(top, set())
    return done


def with_fresh_ids(top: Graph, subs: list[Graph], registry: BlockRegistry, new_id: Any) -> list[Graph]:
    """Copies of ``subs`` and ``top`` (last) under fresh ids (``new_id()``), version 1, their agent
    nodes re-pointed at the copies; in the order they must be stored."""
    ids: dict[GraphKey, str] = {(g.id, g.version): new_id() for g in [*subs, top]}
    by_id: dict[str, str] = {}
    for (gid, _ver), fresh in ids.items():
        by_id.setdefault(gid, fresh)
    by_id[top.id] = ids[(top.id, top.version)]
    copies: dict[GraphKey, Graph] = {}
    for graph in [*subs, top]:
        copy = graph.model_copy(deep=True, update={"sub_graphs": [], "is_active": True})
        for node, gid, ver in agent_targets(copy, registry):
            fresh = ids.get((gid, ver)) if ver is not None else None
            fresh = fresh or by_id.get(gid)
            if fresh is not None:
                node.input_default = {**node.input_default, "graph_id": fresh, "graph_version": 1}
        copies[(graph.id, graph.version)] = copy
    ordered = fork_order(top, subs, registry)
    result = []
    for graph in ordered:
        copy = copies[(graph.id, graph.version)]
        result.append(copy.model_copy(update={"id": ids[(graph.id, graph.version)], "version": 1}))
    return result
