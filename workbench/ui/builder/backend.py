"""What the Builder asks of the platform, for one user: the services the REST API uses, so the rules
(ownership, validation, versions, credentials) are the same on every front door.

The page builds one per browser session; the notebook's ``%wb build`` builds one on the local
client's workbench and calls it from the kernel's loop through a loop-bound stand-in
(:class:`kernel_ext.monitor_view.LoopBoundService`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.errors import NotFoundError
from workbench.graph.model import Graph
from workbench.runtime.events import ExecutionEvent
from workbench.store.graphs import GraphSummary
from workbench.ui.schema_form import CredentialChoice

if TYPE_CHECKING:
    from workbench.app import Workbench
    from workbench.services.drafting import Proposal

AGENTS_LISTED = 500


class BuilderBackend:
    """The user's graphs, versions, runs, credentials and drafting assistant."""

    def __init__(self, wb: Workbench, user_id: str) -> None:
        self.wb = wb
        self.user_id = user_id

    @property
    def registry(self) -> Any:
        """The block catalogue."""
        return self.wb.registry

    @property
    def stores(self) -> bool:
        """Whether graphs can be saved (False on an ephemeral workbench)."""
        return self.wb.graphs.repo is not None

    async def agents(self) -> list[GraphSummary]:
        """The user's agents (active versions), newest first."""
        found, _ = await self.wb.graphs.list(self.user_id, limit=AGENTS_LISTED)
        return found

    async def load(self, graph_id: str, version: int | None = None) -> Graph:
        """A stored version of one of the user's agents (the active one by default)."""
        return await self.wb.graphs.get(graph_id, self.user_id, version)

    async def versions(self, graph_id: str) -> list[GraphSummary]:
        """Every version of an agent, newest first (empty when it is not stored yet)."""
        try:
            return await self.wb.graphs.versions(graph_id, self.user_id)
        except NotFoundError:
            return []

    async def save(self, graph: Graph, note: str = "") -> Graph:
        """Store ``graph``: a new agent, or the next version (made active) of one of the user's."""
        if await self.versions(graph.id):
            return await self.wb.graphs.update(graph.id, graph, self.user_id, note=note)
        return await self.wb.graphs.create(graph, self.user_id, note=note)

    async def activate(self, graph_id: str, version: int) -> None:
        """Make a version the one runs use."""
        await self.wb.graphs.set_active(graph_id, version, self.user_id)

    async def input_schema(self, graph_id: str, version: int) -> dict[str, Any]:
        """The JSON Schema of a stored version's inputs (its input nodes)."""
        plan = await self.wb.graphs.stored_plan(graph_id, self.user_id, version)
        return plan.input_schema()

    async def run(
        self, graph_id: str, version: int, inputs: Mapping[str, Any]
    ) -> AsyncIterator[ExecutionEvent]:
        """Run a stored version and yield its events until the last."""
        async for event in self.wb.executions.stream(
            graph_id, dict(inputs), user_id=self.user_id, version=version
        ):
            yield event

    async def upload(self, name: str, data: bytes, content_type: str = "") -> str:
        """Keep a file the person picked for a file input (the file service: stored, then scanned for
        viruses when scanning is on); its ``workspace://`` reference."""
        from workbench.services.files import FileService

        record = await FileService.of(self.wb).put(self.user_id, data, name=name, content_type=content_type)
        return record.ref

    async def cancel(self, execution_id: str) -> None:
        """Stop a run."""
        await self.wb.executions.cancel(execution_id, self.user_id)

    async def credentials(self) -> list[CredentialChoice]:
        """The user's credentials (metadata only), for credential fields."""
        vault = getattr(self.wb, "credentials", None)
        if vault is None:
            return []
        return [
            CredentialChoice(id=c.id, provider=c.provider, title=c.title or c.provider)
            for c in await vault.list(self.user_id)
        ]

    async def propose(
        self, request: str, base: Graph, history: Sequence[Mapping[str, str]], credential_id: str | None
    ) -> Proposal:
        """Ask the drafting assistant to change ``base`` as ``request`` says."""
        from workbench.services.drafting import AgentDrafter

        return await AgentDrafter(self.wb).propose(
            self.user_id, request, base=base, history=history, credential_id=credential_id
        )
