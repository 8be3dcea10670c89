"""What changed between two versions of a graph: nodes, links, defaults, name and description.

Positions (``metadata.position``) are left out: moving a node is not a change of the agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench import jsonutil
from workbench.graph.model import Graph, Link


@dataclass(frozen=True, slots=True)
class DefaultChange:
    """One input default of a node that differs: ``before``/``after`` are None when unset."""

    node_id: str
    pin: str
    before: Any
    after: Any


@dataclass(slots=True)
class GraphDiff:
    """The differences from graph ``a`` (older) to graph ``b`` (newer)."""

    added_nodes: list[str] = field(default_factory=list)
    removed_nodes: list[str] = field(default_factory=list)
    changed_blocks: list[tuple[str, str, str]] = field(default_factory=list)
    """(node id, block id before, block id after)."""
    added_links: list[Link] = field(default_factory=list)
    removed_links: list[Link] = field(default_factory=list)
    defaults: list[DefaultChange] = field(default_factory=list)
    renamed: tuple[str, str] | None = None
    description_changed: bool = False

    @property
    def empty(self) -> bool:
        """Whether the two graphs are the same agent."""
        return not (
            self.added_nodes
            or self.removed_nodes
            or self.changed_blocks
            or self.added_links
            or self.removed_links
            or self.defaults
            or self.renamed
            or self.description_changed
        )

    def lines(self, names: dict[str, str] | None = None) -> list[str]:
        """One readable line per change; ``names`` maps block ids to block names."""
        names = names or {}
        out: list[str] = []
        if self.renamed:
            out.append(f"renamed {self.renamed[0]!r} -> {self.renamed[1]!r}")
        if self.description_changed:
            out.append("description changed")
        out += [f"+ node {node}" for node in self.added_nodes]
        out += [f"- node {node}" for node in self.removed_nodes]
        for node, before, after in self.changed_blocks:
            out.append(f"~ node {node}: block {names.get(before, before)} -> {names.get(after, after)}")
        out += [f"+ link {_link(link)}" for link in self.added_links]
        out += [f"- link {_link(link)}" for link in self.removed_links]
        for change in self.defaults:
            out.append(f"~ {change.node_id}.{change.pin}: {_short(change.before)} -> {_short(change.after)}")
        return out


def _link(link: Link) -> str:
    static = " (static)" if link.is_static else ""
    return f"{link.source_id}.{link.source_name} -> {link.sink_id}.{link.sink_name}{static}"


def _short(value: Any, limit: int = 60) -> str:
    if value is None:
        return "(unset)"
    text = jsonutil.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _link_key(link: Link) -> tuple[str, str, str, str, bool]:
    return (link.source_id, link.source_name, link.sink_id, link.sink_name, link.is_static)


def diff(a: Graph, b: Graph) -> GraphDiff:
    """The changes from ``a`` to ``b`` (nodes matched by id, links by their endpoints)."""
    out = GraphDiff()
    before = {node.id: node for node in a.nodes}
    after = {node.id: node for node in b.nodes}
    out.added_nodes = [node_id for node_id in after if node_id not in before]
    out.removed_nodes = [node_id for node_id in before if node_id not in after]
    for node_id, old in before.items():
        new = after.get(node_id)
        if new is None:
            continue
        if old.block_id != new.block_id:
            out.changed_blocks.append((node_id, old.block_id, new.block_id))
        for pin in sorted(set(old.input_default) | set(new.input_default)):
            was, now = old.input_default.get(pin), new.input_default.get(pin)
            if jsonutil.normalize(was) != jsonutil.normalize(now):
                out.defaults.append(DefaultChange(node_id, pin, was, now))
    for node_id in out.added_nodes:
        for pin, value in sorted(after[node_id].input_default.items()):
            if value is not None:
                out.defaults.append(DefaultChange(node_id, pin, None, value))
    old_links = {_link_key(link): link for link in a.links}
    new_links = {_link_key(link): link for link in b.links}
    out.added_links = [link for key, link in new_links.items() if key not in old_links]
    out.removed_links = [link for key, link in old_links.items() if key not in new_links]
    if a.name != b.name:
        out.renamed = (a.name, b.name)
    out.description_changed = a.description != b.description
    return out
