"""The local transport: the platform's services in this process, on the embedded database.

With no ``DATABASE_URL`` the data lives under ``WORKBENCH_HOME`` (by default the per-user data folder),
the same database and data folder ``make run``'s server uses: both processes join one embedded
PostgreSQL, so graphs and runs made here show up in the server, and the server's here. Blocks defined
in this process (``@block`` in a notebook cell) run here at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from workbench.app import Workbench
from workbench.auth import LOCAL_USER_ID, Principal
from workbench.block.registry import BlockRegistry, default_registry
from workbench.client.base import AsyncClient, GraphLike, GraphRef, as_graph, graph_ref
from workbench.client.files import LocalFiles
from workbench.client.types import (
    AgentToolInfo,
    BlockInfo,
    CredentialInfo,
    DeliveryInfo,
    DocumentInfo,
    GraphInfo,
    KnowledgeBaseInfo,
    NotificationChannelInfo,
    NotificationInfo,
    ReviewInfo,
    ScheduleInfo,
    ScheduleRun,
    SearchResult,
    TemplateInfo,
    TriggerInfo,
)
from workbench.config import Settings
from workbench.drafting import AgentDrafter, Proposal
from workbench.errors import NotFoundError
from workbench.graph.model import Graph
from workbench.knowledge import KnowledgeService, hit_to_dict
from workbench.knowledge.chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from workbench.knowledge.embedders import DEFAULT_MODEL
from workbench.knowledge.search import SearchMode
from workbench.runtime.events import ExecutionEvent
from workbench.services.dbmanager.retention import RetentionService
from workbench.services.executions import BlockRun, ExecutionResult
from workbench.services.marketplace import Marketplace, template_dict
from workbench.services.notifications.service import NotificationService
from workbench.services.reviews import UNCHANGED
from workbench.services.schedules import ScheduleService
from workbench.services.triggers import TriggerService, hook_path
from workbench.store.schedules import ScheduleRecord
from workbench.store.triggers import TriggerRecord


class LocalClient(AsyncClient):
    """The client on services running in this process (see the module documentation)."""

    kind: Literal["local", "remote"] = "local"

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        settings: Settings | None = None,
        registry: BlockRegistry | None = None,
        scheduler: bool = False,
        user_id: str = LOCAL_USER_ID,
    ) -> None:
        """``home`` overrides ``WORKBENCH_HOME``; ``scheduler=True`` also fires schedules from this
        process (one scheduler leads among all processes on the database, so it is safe next to a server)."""
        settings = settings or Settings.from_env()
        if home is not None:
            settings = settings.with_(home=Path(home).expanduser())
        self.settings = settings
        self.wb = Workbench(settings, registry=registry or default_registry())
        self.user_id = user_id
        self.files = LocalFiles(self)
        self._want_scheduler = scheduler
        self.scheduler: Any = None
        self._schedules: ScheduleService | None = None

    def _mcp_settings(self) -> Settings:
        """This client's settings (its outbound guard and MCP settings)."""
        return self.settings

    @property
    def where(self) -> str:
        """The data folder (or database) in use."""
        if self.wb.db is not None:
            return self.wb.db.describe()
        return str(self.settings.home)

    async def start(self) -> LocalClient:
        """Start the services (joining the embedded PostgreSQL if another process runs it)."""
        await self.wb.start()
        self._schedules = ScheduleService.of(self.wb)
        if self._want_scheduler and self.scheduler is None:
            from workbench.scheduler.runtime import Scheduler

            self.scheduler = await Scheduler(self.wb).start()
        return self

    async def close(self) -> None:
        """Stop the scheduler and the services."""
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        await self.wb.stop()

    def _schedule_service(self) -> ScheduleService:
        if self._schedules is None:
            raise RuntimeError("LocalClient.start() has not been called")
        return self._schedules

    # ---- blocks ----------------------------------------------------------------------------------

    async def blocks(self, search: str | None = None, category: str | None = None) -> list[BlockInfo]:
        """The catalogue of this process (built-ins, installed packages, blocks defined here)."""
        found = [BlockInfo.from_dict(b.describe()) for b in self.wb.registry]
        return sorted((b for b in found if b.matches(search, category)), key=lambda b: b.name)

    async def block(self, ref: str) -> BlockInfo:
        """One block by id, class name or display name."""
        return BlockInfo.from_dict(self.wb.registry.find(ref).describe())

    # ---- graphs ----------------------------------------------------------------------------------

    async def graphs(self, search: str | None = None) -> list[GraphInfo]:
        """Stored graphs, newest first."""
        items, _ = await self.wb.graphs.list(self.user_id, search=search, limit=500)
        return [GraphInfo.from_dict(g.to_dict()) for g in items]

    async def create_graph(self, graph: GraphLike) -> Graph:
        """Store a new graph."""
        return await self.wb.graphs.create(as_graph(graph), self.user_id)

    async def update_graph(self, graph_id: str, graph: GraphLike) -> Graph:
        """Store a new version."""
        return await self.wb.graphs.update(graph_id, as_graph(graph), self.user_id)

    async def save_graph(self, graph: GraphLike) -> Graph:
        """Store unless unchanged."""
        return await self.wb.graphs.save(as_graph(graph), self.user_id)

    async def load_graph(self, graph_id: str, version: int | None = None) -> Graph:
        """A stored graph version."""
        return await self.wb.graphs.get(graph_id, self.user_id, version)

    async def export_graph(self, graph_id: str, version: int | None = None) -> dict[str, Any]:
        """The AutoGPT-format document."""
        return await self.wb.graphs.export(graph_id, self.user_id, version)

    async def delete_graph(self, graph_id: str) -> None:
        """Delete a graph with its versions and executions (ConflictError while a run of it is queued
        or running: cancel it first)."""
        await self.wb.graphs.delete(graph_id, self.user_id)

    @property
    def _principal(self) -> Principal:
        return Principal(self.user_id, via="local")

    async def agent_tools(self) -> list[AgentToolInfo]:
        """Your agents served as MCP tools (``workbench mcp`` serves them on this data folder)."""
        return [AgentToolInfo.from_dict(t.to_dict()) for t in await self.wb.agent_tools.list(self._principal)]

    async def serve_as_tool(self, graph_id: str, enabled: bool | None = True) -> AgentToolInfo | None:
        """Serve a graph as an MCP tool, or not (None: the default, which is served here)."""
        tool = await self.wb.agent_tools.set_served(graph_id, self._principal, enabled)
        return AgentToolInfo.from_dict(tool.to_dict()) if tool is not None else None

    # ---- runs ------------------------------------------------------------------------------------

    async def submit(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
        safe_mode: bool = True,
    ) -> str:
        """Start a run here."""
        return await self.wb.executions.submit(
            graph_ref(graph),
            inputs,
            user_id=self.user_id,
            version=version,
            credentials=credentials,
            safe_mode=safe_mode,
        )

    async def wait(self, execution_id: str, timeout: float | None = None) -> ExecutionResult:
        """Wait for the end of a run (of this process, or of another on the same database)."""
        return await self.wb.executions.wait(execution_id, timeout=timeout, user_id=self.user_id)

    async def events(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
    ) -> AsyncIterator[ExecutionEvent]:
        """Start a run and yield its events until the final one."""
        async for event in self.wb.executions.stream(
            graph_ref(graph), inputs, user_id=self.user_id, version=version, credentials=credentials
        ):
            yield event

    async def cancel(self, execution_id: str) -> str:
        """Stop a run wherever it runs."""
        return await self.wb.executions.cancel(execution_id, self.user_id)

    async def delete_execution(self, execution_id: str) -> None:
        """Delete a finished run (ConflictError while it is queued or running: cancel it first)."""
        await self.wb.executions.delete(execution_id, self.user_id)

    async def run_block(
        self, block: str, inputs: dict[str, Any] | None = None, *, credentials: dict[str, str] | None = None
    ) -> BlockRun:
        """Run one block (by id or name) outside a graph and return what it yielded."""
        found = self.wb.registry.find(block)
        return await self.wb.executions.run_block(
            found.id, dict(inputs or {}), user_id=self.user_id, credentials=credentials
        )

    async def execution(self, execution_id: str) -> ExecutionResult:
        """A run with its node executions."""
        return await self.wb.executions.get(execution_id, self.user_id)

    async def executions(
        self, graph_id: str | None = None, *, status: str | None = None, limit: int = 20
    ) -> list[ExecutionResult]:
        """Stored runs, newest first (without node executions)."""
        records, _ = await self.wb.executions.list(
            self.user_id, graph_id=graph_id, status=status, limit=limit, offset=0
        )
        return [ExecutionResult.from_record(r) for r in records]

    async def retention(self) -> dict[str, Any]:
        """Your retention bounds, the server's and the effective ones."""
        return (await RetentionService.of(self.wb).get(self.user_id)).document()

    async def set_retention(self, *, days: int | None = None, per_agent: int | None = None) -> dict[str, Any]:
        """Replace your own retention bounds."""
        return (await RetentionService.of(self.wb).set(self.user_id, days, per_agent)).document()

    # ---- human reviews ---------------------------------------------------------------------------

    async def reviews(
        self, execution_id: str | None = None, *, status: str | None = "WAITING", limit: int = 50
    ) -> list[ReviewInfo]:
        """Reviews, newest first (by default those waiting for you)."""
        items, _ = await self.wb.reviews.list(
            self.user_id, status=status, execution_id=execution_id, limit=limit
        )
        return [ReviewInfo.from_dict(r.to_dict()) for r in items]

    async def review(self, review_id: str) -> ReviewInfo:
        """One review (no link: that is a server's)."""
        return ReviewInfo.from_dict((await self.wb.reviews.get(review_id, self.user_id)).to_dict())

    async def decide_review(
        self,
        review_id: str,
        decision: Literal["approve", "reject"],
        *,
        data: Any = UNCHANGED,
        message: str | None = None,
    ) -> ReviewInfo:
        """Answer a review; the run goes on (here, with the in-process queue)."""
        rec = await self.wb.reviews.decide(
            review_id, self.user_id, decision, data=data, message=message, via="client"
        )
        return ReviewInfo.from_dict(rec.to_dict())

    # ---- schedules -------------------------------------------------------------------------------

    def _schedule(self, rec: ScheduleRecord) -> ScheduleInfo:
        doc = {**rec.values(), "id": rec.id, "status": rec.status}
        doc["time_of_day"] = rec.time_of_day.isoformat() if rec.time_of_day is not None else None
        doc.update(
            next_run_at=rec.next_run_at,
            last_run_at=rec.last_run_at,
            next_runs=self._schedule_service().next_runs(rec) if rec.status == "active" else [],
        )
        return ScheduleInfo.from_dict(doc)

    async def create_schedule(
        self,
        graph_id: str,
        schedule_type: str,
        *,
        inputs: dict[str, Any] | None = None,
        name: str = "",
        **timing: Any,
    ) -> ScheduleInfo:
        """Store a schedule (every bad field is named in the error)."""
        fields = {"graph_id": graph_id, "schedule_type": schedule_type, "name": name, **timing}
        fields["inputs"] = inputs or {}
        return self._schedule(await self._schedule_service().create(self.user_id, fields))

    async def schedules(self, graph_id: str | None = None) -> list[ScheduleInfo]:
        """Schedules, newest first."""
        items, _ = await self._schedule_service().list(self.user_id, graph_id=graph_id, limit=500)
        return [self._schedule(s) for s in items]

    async def update_schedule(self, schedule_id: str, **changes: Any) -> ScheduleInfo:
        """Change some fields."""
        return self._schedule(await self._schedule_service().update(schedule_id, self.user_id, changes))

    async def pause_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Pause."""
        return self._schedule(await self._schedule_service().pause(schedule_id, self.user_id))

    async def resume_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Resume."""
        return self._schedule(await self._schedule_service().resume(schedule_id, self.user_id))

    async def schedule_runs(self, schedule_id: str) -> list[ScheduleRun]:
        """Fires, latest first."""
        items, _ = await self._schedule_service().runs(schedule_id, self.user_id, limit=500)
        return [ScheduleRun(r.id, r.fire_time, r.execution_id, r.status, r.error) for r in items]

    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule."""
        await self._schedule_service().delete(schedule_id, self.user_id)

    # ---- webhook triggers ------------------------------------------------------------------------

    @staticmethod
    def _trigger(rec: TriggerRecord, secret: str | None = None) -> TriggerInfo:
        doc = {**rec.values(), "id": rec.id, "enabled": rec.is_enabled, "path": hook_path(rec.id)}
        doc.update(fire_count=rec.fire_count, last_fired_at=rec.last_fired_at, created_at=rec.created_at)
        return TriggerInfo.from_dict({**doc, "secret": secret})

    async def create_trigger(
        self,
        graph_id: str,
        *,
        name: str = "",
        auth_mode: Literal["hmac", "bearer", "github"] = "hmac",
        input_mapping: dict[str, str] | None = None,
        rate_limit_per_minute: int | None = None,
        graph_version: int | None = None,
        credentials: dict[str, str] | None = None,
    ) -> TriggerInfo:
        """Store a trigger; its secret is in the result, this once."""
        fields = {
            "graph_id": graph_id,
            "name": name,
            "auth_mode": auth_mode,
            "input_mapping": input_mapping,
            "rate_limit_per_minute": rate_limit_per_minute,
            "graph_version": graph_version,
            "credentials": credentials,
        }
        issued = await TriggerService.of(self.wb).create(self.user_id, fields)
        return self._trigger(issued.trigger, issued.secret)

    async def triggers(self, graph_id: str | None = None) -> list[TriggerInfo]:
        """Triggers, newest first."""
        items, _ = await TriggerService.of(self.wb).list(self.user_id, graph_id=graph_id, limit=500)
        return [self._trigger(t) for t in items]

    async def rotate_trigger_secret(self, trigger_id: str) -> TriggerInfo:
        """A new secret (in the result, this once)."""
        issued = await TriggerService.of(self.wb).rotate_secret(trigger_id, self.user_id)
        return self._trigger(issued.trigger, issued.secret)

    async def delete_trigger(self, trigger_id: str) -> None:
        """Delete a trigger."""
        await TriggerService.of(self.wb).delete(trigger_id, self.user_id)

    # ---- notifications ---------------------------------------------------------------------------

    def _notifications(self) -> NotificationService:
        return NotificationService.of(self.wb)

    async def notifications(self, *, unread: bool = False, limit: int = 50) -> list[NotificationInfo]:
        """Your in-app notifications, newest first."""
        items = await self._notifications().inbox(self.user_id, unread=unread, limit=limit)
        return [NotificationInfo.from_dict(n.to_dict()) for n in items]

    async def unread_count(self) -> int:
        """How many are unread."""
        return await self._notifications().unread_count(self.user_id)

    async def mark_read(self, ids: list[str] | None = None, *, read: bool = True) -> int:
        """Mark notifications read (or unread)."""
        return await self._notifications().mark_read(self.user_id, ids, read=read)

    async def notification_preferences(self) -> dict[str, Any]:
        """Your preferences, defaults filled in."""
        return (await self._notifications().preferences(self.user_id)).document()

    async def set_notification_preferences(
        self, preferences: dict[str, Any] | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Replace or change your preferences."""
        service = self._notifications()
        if preferences is not None:
            prefs = await service.set_preferences(self.user_id, {**preferences, **changes})
        else:
            prefs = await service.update_preferences(self.user_id, changes)
        if self.wb.notifier is not None:
            self.wb.notifier.forget(self.user_id)
        return prefs.document()

    async def add_notification_channel(self, kind: str, name: str, target: str) -> NotificationChannelInfo:
        """Add a channel (a webhook's secret in the result, this once)."""
        issued = await self._notifications().add_channel(self.user_id, kind, name, target)
        return NotificationChannelInfo.from_dict(issued.to_dict())

    async def notification_channels(self) -> list[NotificationChannelInfo]:
        """Your channels."""
        found = await self._notifications().channels(self.user_id)
        return [NotificationChannelInfo.from_dict(c.to_dict()) for c in found]

    async def delete_notification_channel(self, channel_id: str) -> None:
        """Remove a channel."""
        await self._notifications().delete_channel(channel_id, self.user_id)

    async def notification_deliveries(
        self, *, status: str | None = None, limit: int = 50
    ) -> list[DeliveryInfo]:
        """The delivery log."""
        found = await self._notifications().deliveries(self.user_id, status=status, limit=limit)
        return [DeliveryInfo.from_dict(d.to_dict()) for d in found]

    async def notify(self, title: str, text: str = "", *, channel: str | None = None) -> str:
        """Send yourself a message through the notifier."""
        return self._notifications().notify(self.user_id, title, text, channel=channel)

    # ---- credentials -----------------------------------------------------------------------------

    def _vault(self) -> Any:
        if self.wb.credentials is None:
            raise NotFoundError("credentials need a database: this workbench is ephemeral")
        return self.wb.credentials

    async def add_credential(
        self, provider: str, secret: dict[str, Any], *, type: str = "api_key", title: str | None = None
    ) -> CredentialInfo:
        """Encrypt and store a secret."""
        meta = await self._vault().create(self.user_id, provider, type, secret, title)
        return CredentialInfo.from_dict(meta.to_dict())

    async def credentials(self, provider: str | None = None) -> list[CredentialInfo]:
        """Credentials' metadata."""
        return [
            CredentialInfo.from_dict(m.to_dict()) for m in await self._vault().list(self.user_id, provider)
        ]

    async def delete_credential(self, credential_id: str) -> None:
        """Delete a credential."""
        await self._vault().delete(self.user_id, credential_id)

    # ---- drafting by chat ------------------------------------------------------------------------

    async def draft(
        self,
        request: str,
        base: GraphLike | None = None,
        *,
        history: Sequence[Mapping[str, str]] = (),
        credential_id: str | None = None,
        model: str | None = None,
    ) -> Proposal:
        """The drafting assistant's proposal, from this process."""
        return await AgentDrafter(self.wb).propose(
            self.user_id,
            request,
            base=as_graph(base) if base is not None else None,
            history=history,
            credential_id=credential_id,
            model=model,
        )

    # ---- marketplace -------------------------------------------------------------------------------

    def _marketplace(self) -> Marketplace:
        return Marketplace.of(self.wb)

    async def publish_template(
        self,
        graph_id: str,
        *,
        description: str | None = None,
        version: int | None = None,
        name: str | None = None,
    ) -> TemplateInfo:
        """Publish a graph as a template."""
        found = await self._marketplace().publish(self.user_id, graph_id, version, description, name)
        return TemplateInfo.from_dict(template_dict(found))

    async def templates(
        self, search: str | None = None, *, mine: bool = False, limit: int = 50, offset: int = 0
    ) -> list[TemplateInfo]:
        """Templates, newest first."""
        items, _ = await self._marketplace().search(
            search, limit=limit, offset=offset, publisher_id=self.user_id if mine else None
        )
        return [TemplateInfo.from_dict(template_dict(t)) for t in items]

    async def template(self, template_id: str) -> TemplateInfo:
        """One template."""
        return TemplateInfo.from_dict(template_dict(await self._marketplace().get(template_id)))

    async def template_graph(self, template_id: str) -> Graph:
        """A template's graph."""
        return (await self._marketplace().detail(template_id)).graph

    async def fork_template(self, template_id: str, *, name: str | None = None) -> Graph:
        """Fork a template into the library."""
        return await self._marketplace().fork(self.user_id, template_id, name)

    async def unpublish_template(self, template_id: str) -> None:
        """Unpublish a template."""
        await self._marketplace().unpublish(self.user_id, template_id)

    # ---- knowledge bases -------------------------------------------------------------------------

    def _knowledge_service(self) -> KnowledgeService:
        return KnowledgeService.of(self.wb)

    async def create_knowledge_base(
        self,
        name: str,
        *,
        description: str = "",
        embedding_model: str = DEFAULT_MODEL,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        language: str = "english",
        metadata: dict[str, Any] | None = None,
        dimension: int | None = None,
    ) -> KnowledgeBaseInfo:
        """Create a knowledge base (every bad field is named in the error)."""
        created = await self._knowledge_service().create(
            self.user_id,
            name,
            description=description,
            embedding_model=embedding_model,
            dimension=dimension,
            language=language,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            metadata=metadata,
        )
        return KnowledgeBaseInfo.from_dict(dataclasses.asdict(created))

    async def knowledge_bases(self) -> list[KnowledgeBaseInfo]:
        """Knowledge bases, newest first."""
        found: list[KnowledgeBaseInfo] = []
        while True:
            items, total = await self._knowledge_service().list(self.user_id, limit=500, offset=len(found))
            found += [KnowledgeBaseInfo.from_dict(dataclasses.asdict(k)) for k in items]
            if not items or len(found) >= total:
                return found

    async def knowledge_base(self, knowledge_base: str) -> KnowledgeBaseInfo:
        """One knowledge base by id or name."""
        found = await self._knowledge_service().get(knowledge_base, self.user_id)
        return KnowledgeBaseInfo.from_dict(dataclasses.asdict(found))

    async def delete_knowledge_base(self, knowledge_base: str) -> None:
        """Delete a knowledge base."""
        await self._knowledge_service().delete(knowledge_base, self.user_id)

    async def add_document(
        self,
        knowledge_base: str,
        content: str | Path,
        *,
        title: str | None = None,
        source: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> DocumentInfo:
        """Read, chunk, embed and store a document (a Path is read as a file)."""
        raw: str | bytes = content
        filename = None
        if isinstance(content, Path):
            raw, filename = content.read_bytes(), content.name
        added = await self._knowledge_service().add_document(
            knowledge_base,
            self.user_id,
            raw,
            content_type=content_type,
            filename=filename,
            title=title,
            source=source,
            metadata=metadata,
        )
        return DocumentInfo.from_dict(dataclasses.asdict(added.document))

    async def documents(self, knowledge_base: str) -> list[DocumentInfo]:
        """Documents, newest first."""
        service = self._knowledge_service()
        found: list[DocumentInfo] = []
        while True:
            items, total = await service.list_documents(
                knowledge_base, self.user_id, limit=500, offset=len(found)
            )
            found += [DocumentInfo.from_dict(dataclasses.asdict(d)) for d in items]
            if not items or len(found) >= total:
                return found

    async def delete_document(self, knowledge_base: str, document_id: str) -> None:
        """Delete a document."""
        await self._knowledge_service().delete_document(knowledge_base, document_id, self.user_id)

    async def search(
        self,
        knowledge_base: str,
        query: str,
        *,
        mode: SearchMode = "hybrid",
        top_k: int = 5,
        filter: dict[str, Any] | None = None,
    ) -> list[SearchResult]:
        """Search a knowledge base."""
        hits = await self._knowledge_service().search(
            knowledge_base, self.user_id, query, mode=mode, top_k=top_k, metadata_filter=filter or None
        )
        return [SearchResult.from_dict(hit_to_dict(h)) for h in hits]
