"""What the Marketplace page reads and does, as the logged-in user, through the services: templates
(search, one with its graph, fork, publish, unpublish), the user's agents, and the block catalogue
(each block's pins and an example).

A database that cannot be reached comes out as :class:`~workbench.errors.StoreUnavailable` naming
what was being done (``reaching_database``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from workbench.block.base import Block
from workbench.block.registry import BlockRegistry
from workbench.client.types import BlockInfo, PinInfo
from workbench.graph.model import Graph
from workbench.services.marketplace import Marketplace, TemplateDetail
from workbench.store.database import reaching_database
from workbench.store.graphs import GraphSummary
from workbench.store.templates import TemplateRecord
from workbench.ui.context import UiContext

PAGE_SIZE = 50
PLACEHOLDERS: dict[str, Any] = {
    "string": "text",
    "integer": 1,
    "number": 1.0,
    "boolean": False,
    "array": [],
    "object": {},
}
"""A minimal value per JSON Schema type, for a block that declares no example."""


@dataclass(frozen=True, slots=True)
class BlockDoc:
    """One block as the catalogue shows it."""

    id: str
    name: str
    description: str
    categories: list[str]
    inputs: list[PinInfo]
    outputs: list[PinInfo]
    example_input: str
    example_output: str | None
    """The block's own test output (None when the example input is generated)."""
    example_runs: int = 1
    """How many runs its own test makes (the example input is then their list)."""


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, default=_shown, ensure_ascii=False)


def _shown(value: Any) -> str:
    """What JSON cannot hold: a test's checking function, or another object, described."""
    return "(a value its test function accepts)" if callable(value) else repr(value)


MAX_EXAMPLE_RUNS = 3
MAX_EXAMPLE_OUTPUTS = 10


def example_of(block: Block, info: BlockInfo) -> tuple[str, str | None]:
    """The block's own test: its input (a list when it tests several runs) and what it yields (as
    ``pin: value`` lines, in order); else a generated minimal input and None."""
    given = block.test_input
    runs = given if isinstance(given, list) else [given] if isinstance(given, dict) else []
    if runs:
        shown_input = _pretty(runs[0] if len(runs) == 1 else runs[:MAX_EXAMPLE_RUNS])
        outputs = list(block.test_output or [])
        lines = [
            f"{name}: {_shown(value) if callable(value) else json.dumps(value, default=_shown, ensure_ascii=False)}"
            for name, value in outputs
        ]
        if len(lines) > MAX_EXAMPLE_OUTPUTS:
            lines = [*lines[:MAX_EXAMPLE_OUTPUTS], f"… and {len(lines) - MAX_EXAMPLE_OUTPUTS} more"]
        return shown_input, "\n".join(lines) or None
    minimal = {p.name: PLACEHOLDERS.get(p.type.split("/")[0], "…") for p in info.inputs if p.required}
    return _pretty(minimal), None


def catalogue(registry: BlockRegistry, search: str = "", category: str = "") -> list[BlockDoc]:
    """The blocks matching ``search`` (name or description) and ``category``, by name."""
    found = []
    for block in registry:
        info = BlockInfo.from_dict(block.describe())
        if not info.matches(search or None, category or None):
            continue
        example_input, example_output = example_of(block, info)
        runs = len(block.test_input) if isinstance(block.test_input, list) else 1
        found.append(
            BlockDoc(
                id=info.id,
                name=info.name,
                description=info.description,
                categories=info.categories,
                inputs=info.inputs,
                outputs=info.outputs,
                example_input=example_input,
                example_output=example_output,
                example_runs=runs,
            )
        )
    return sorted(found, key=lambda b: b.name.lower())


def categories(registry: BlockRegistry) -> list[str]:
    """Every category a block of the registry is in, sorted."""
    return sorted({str(c) for block in registry for c in block.categories})


class MarketplaceStore:
    """The page's reads and actions, each as ``ctx.user_id``."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.user_id = ctx.user_id
        self.market = Marketplace.of(ctx.wb)
        self.registry = ctx.wb.registry

    def block_name(self, block_id: str) -> str:
        """A block's name (its id when this server lacks it)."""
        return self.registry.get(block_id).name if block_id in self.registry else block_id

    async def templates(self, search: str = "") -> tuple[list[TemplateRecord], int]:
        """Everyone's templates matching ``search``, newest first (one page)."""
        async with reaching_database("read the templates"):
            return await self.market.search(search or None, limit=PAGE_SIZE)

    async def detail(self, template_id: str) -> TemplateDetail:
        """One template with its graph."""
        async with reaching_database("read the template"):
            return await self.market.detail(template_id)

    async def missing(self, rec: TemplateRecord) -> list[str]:
        """The providers of ``rec`` the user has no credential for."""
        async with reaching_database("read your credentials"):
            return [n["provider"] for n in await self.market.missing_credentials(self.user_id, rec)]

    async def fork(self, template_id: str) -> Graph:
        """Fork a template into the user's library."""
        async with reaching_database("fork the template"):
            return await self.market.fork(self.user_id, template_id)

    async def agents(self) -> list[GraphSummary]:
        """The user's agents (active versions), newest first."""
        async with reaching_database("read your agents"):
            items, _ = await self.ctx.wb.graphs.list(self.user_id, limit=500)
        return items

    async def mine(self) -> list[TemplateRecord]:
        """The user's own templates, newest first."""
        async with reaching_database("read your templates"):
            items, _ = await self.market.search(None, limit=500, publisher_id=self.user_id)
        return items

    async def publish(self, graph_id: str, description: str) -> TemplateRecord:
        """Publish (or replace) the user's template of one of their agents."""
        async with reaching_database("publish the template"):
            return await self.market.publish(self.user_id, graph_id, description=description)

    async def unpublish(self, template_id: str) -> None:
        """Unpublish one of the user's templates."""
        async with reaching_database("unpublish the template"):
            await self.market.unpublish(self.user_id, template_id)
