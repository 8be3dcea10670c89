"""The client API both transports implement: blocks, graphs, runs, executions, schedules, webhook
triggers, credentials, knowledge bases; and, from this process, the tools of MCP servers.

``LocalClient`` runs the services in this process on the embedded database (the one ``make run``
uses); ``RemoteClient`` talks to a server over HTTP and WebSocket. Same methods, same return types::

    async with LocalClient() as wb:               # or RemoteClient(url, api_key=...)
        result = await wb.run(graph, {"name": "Ada"})
        async for event in wb.events(graph, {"name": "Bo"}):
            print(event.type, event.node_id)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from workbench.client.files import AsyncFiles
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
from workbench.drafting import DraftNotAccepted, Proposal
from workbench.errors import InputError
from workbench.graph.autogpt import load_graph_file, parse_graph
from workbench.graph.builder import GraphBuilder
from workbench.graph.model import Graph
from workbench.knowledge.chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from workbench.knowledge.embedders import DEFAULT_MODEL
from workbench.knowledge.search import SearchMode
from workbench.mcp.client import McpServer, McpTool
from workbench.runtime.events import ExecutionEvent
from workbench.services.executions import BlockRun, ExecutionResult
from workbench.services.reviews import UNCHANGED

GraphLike = Graph | GraphBuilder | dict[str, Any] | Path
"""What graph-taking methods accept: a Graph, a builder (built and validated), an AutoGPT export as a
dict, or the path of an export file."""
GraphRef = GraphLike | str
"""For running: also a stored graph's id."""


def as_graph(graph: GraphLike) -> Graph:
    """The Graph a graph-like argument stands for."""
    if isinstance(graph, Graph):
        return graph
    if isinstance(graph, GraphBuilder):
        return graph.build()
    if isinstance(graph, dict):
        return parse_graph(graph)
    if isinstance(graph, Path):
        return load_graph_file(graph)
    raise InputError(
        f"expected a Graph, a GraphBuilder, an AutoGPT export (dict) or a Path, got {type(graph).__name__}"
    )


def graph_ref(graph: GraphRef) -> Graph | str:
    """A stored graph's id (str) as is; anything else as a Graph."""
    return graph if isinstance(graph, str) else as_graph(graph)


class AsyncClient(ABC):
    """The workbench client API; use as ``async with`` (or call :meth:`start` and :meth:`close`)."""

    kind: Literal["local", "remote"]
    files: AsyncFiles
    """Your files in the file store: ``upload``, ``list``, ``get``, ``download``, ``delete``."""

    @abstractmethod
    async def start(self) -> AsyncClient:
        """Connect (start the local services, or check the server is reachable)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; local runs still going are finished or handed back."""

    async def __aenter__(self) -> AsyncClient:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the platform is (data folder or URL), for display."""

    # ---- blocks ----------------------------------------------------------------------------------

    @abstractmethod
    async def blocks(self, search: str | None = None, category: str | None = None) -> list[BlockInfo]:
        """The block catalogue, by name; filtered by part of the name or description and a category."""

    @abstractmethod
    async def block(self, ref: str) -> BlockInfo:
        """One block by id or name."""

    # ---- graphs ----------------------------------------------------------------------------------

    @abstractmethod
    async def graphs(self, search: str | None = None) -> list[GraphInfo]:
        """Your stored graphs (their active versions), newest first."""

    @abstractmethod
    async def create_graph(self, graph: GraphLike) -> Graph:
        """Store a new graph (an id you already own becomes a new version)."""

    @abstractmethod
    async def update_graph(self, graph_id: str, graph: GraphLike) -> Graph:
        """Store ``graph`` as the next version of ``graph_id`` and make it active."""

    @abstractmethod
    async def save_graph(self, graph: GraphLike) -> Graph:
        """Store ``graph`` unless its active version is the same; a changed graph becomes a new version."""

    @abstractmethod
    async def load_graph(self, graph_id: str, version: int | None = None) -> Graph:
        """A stored graph (the active version unless ``version`` is given)."""

    @abstractmethod
    async def export_graph(self, graph_id: str, version: int | None = None) -> dict[str, Any]:
        """The AutoGPT-format document of a stored graph, with the sub-graphs it uses."""

    @abstractmethod
    async def delete_graph(self, graph_id: str) -> None:
        """Delete a graph, every version and its executions."""

    @abstractmethod
    async def agent_tools(self) -> list[AgentToolInfo]:
        """Your agents served as MCP tools (what an MCP client on ``/mcp`` or ``workbench mcp`` sees)."""

    @abstractmethod
    async def serve_as_tool(self, graph_id: str, enabled: bool | None = True) -> AgentToolInfo | None:
        """Serve a graph as an MCP tool (True), stop (False), or follow the default (None: served in
        the local no-login mode, not with accounts); the tool it now is, or None."""

    # ---- runs ------------------------------------------------------------------------------------

    @abstractmethod
    async def submit(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
        safe_mode: bool = True,
    ) -> str:
        """Start a run (a graph object is saved first) and return its execution id at once. Without
        ``safe_mode``, human reviews (``HumanInTheLoopBlock``) are approved at once."""

    @abstractmethod
    async def wait(self, execution_id: str, timeout: float | None = None) -> ExecutionResult:
        """Wait for a run to end; TimeoutError after ``timeout`` seconds (the run goes on)."""

    async def run(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
        safe_mode: bool = True,
    ) -> ExecutionResult:
        """Run a graph and wait for its result (with every node execution). A run that waits for a
        human review (status REVIEW) has not ended: this waits for the answer too."""
        execution_id = await self.submit(
            graph, inputs, version=version, credentials=credentials, safe_mode=safe_mode
        )
        return await self.wait(execution_id, timeout)

    @abstractmethod
    def events(
        self,
        graph: GraphRef,
        inputs: dict[str, Any] | None = None,
        *,
        version: int | None = None,
        credentials: dict[str, str] | None = None,
    ) -> AsyncIterator[ExecutionEvent]:
        """Start a run and yield its events as they happen, until the final one."""

    @abstractmethod
    async def cancel(self, execution_id: str) -> str:
        """Stop a run; returns its status after the request."""

    @abstractmethod
    async def delete_execution(self, execution_id: str) -> None:
        """Delete a finished run (ConflictError while it is queued or running: cancel it first)."""

    @abstractmethod
    async def run_block(
        self, block: str, inputs: dict[str, Any] | None = None, *, credentials: dict[str, str] | None = None
    ) -> BlockRun:
        """Run one block (by id or name) outside a graph, as you, and return what it yielded."""

    @abstractmethod
    async def execution(self, execution_id: str) -> ExecutionResult:
        """A run's state, outputs and node executions (inputs, outputs, timings, errors)."""

    @abstractmethod
    async def executions(
        self, graph_id: str | None = None, *, status: str | None = None, limit: int = 20
    ) -> list[ExecutionResult]:
        """Your stored runs, newest first, without their node executions (see :meth:`execution`)."""

    @abstractmethod
    async def retention(self) -> dict[str, Any]:
        """How long your runs are kept: your own bounds (``days``, ``per_agent``; None: the server's),
        the ``server``'s, and the ``effective`` ones (the stricter of the two)."""

    @abstractmethod
    async def set_retention(self, *, days: int | None = None, per_agent: int | None = None) -> dict[str, Any]:
        """Replace your own retention bounds (None: follow the server's): runs older than ``days``
        days, and beyond the ``per_agent`` newest of each agent, are removed by the next retention
        pass (never runs still going on, nor chat history, files or knowledge bases)."""

    # ---- human reviews ---------------------------------------------------------------------------

    @abstractmethod
    async def reviews(
        self, execution_id: str | None = None, *, status: str | None = "WAITING", limit: int = 50
    ) -> list[ReviewInfo]:
        """Your human reviews, newest first: by default those waiting for you (``status=None``: all);
        those of one run with ``execution_id``."""

    @abstractmethod
    async def review(self, review_id: str) -> ReviewInfo:
        """One review (from a server, with a signed link to answer it in a browser while it waits)."""

    @abstractmethod
    async def decide_review(
        self,
        review_id: str,
        decision: Literal["approve", "reject"],
        *,
        data: Any = UNCHANGED,
        message: str | None = None,
    ) -> ReviewInfo:
        """Answer a review; the run goes on. ``data`` (an approval of an editable review) replaces the
        data passed on; ``message`` reaches the block's ``review_message``. ConflictError when it was
        answered already or its run ended; InputError naming ``data`` when it cannot be changed."""

    async def approve_review(
        self, review_id: str, *, data: Any = UNCHANGED, message: str | None = None
    ) -> ReviewInfo:
        """Approve a review (see :meth:`decide_review`)."""
        return await self.decide_review(review_id, "approve", data=data, message=message)

    async def reject_review(self, review_id: str, *, message: str | None = None) -> ReviewInfo:
        """Reject a review (see :meth:`decide_review`)."""
        return await self.decide_review(review_id, "reject", message=message)

    # ---- schedules -------------------------------------------------------------------------------

    @abstractmethod
    async def create_schedule(
        self,
        graph_id: str,
        schedule_type: str,
        *,
        inputs: dict[str, Any] | None = None,
        name: str = "",
        **timing: Any,
    ) -> ScheduleInfo:
        """Run a stored graph on time: ``ONCE`` (``run_at``), ``INTERVAL`` (``interval_seconds``),
        ``CRON`` (``cron_expression``), ``DAILY`` (``time_of_day``), ``WEEKLY`` (+ ``weekdays``)."""

    @abstractmethod
    async def schedules(self, graph_id: str | None = None) -> list[ScheduleInfo]:
        """Your schedules, newest first."""

    @abstractmethod
    async def update_schedule(self, schedule_id: str, **changes: Any) -> ScheduleInfo:
        """Change some fields of a schedule."""

    @abstractmethod
    async def pause_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Stop firing until resumed."""

    @abstractmethod
    async def resume_schedule(self, schedule_id: str) -> ScheduleInfo:
        """Fire again from now on."""

    @abstractmethod
    async def schedule_runs(self, schedule_id: str) -> list[ScheduleRun]:
        """The fires of a schedule, latest first."""

    @abstractmethod
    async def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule (the executions it started stay)."""

    # ---- webhook triggers ------------------------------------------------------------------------

    @abstractmethod
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
        """A webhook that starts a stored graph (``POST /api/v1/hooks/{id}`` on a server); the result
        carries its ``secret``, this once. ``input_mapping``: input names to paths into the payload."""

    @abstractmethod
    async def triggers(self, graph_id: str | None = None) -> list[TriggerInfo]:
        """Your webhook triggers, newest first (without their secrets)."""

    @abstractmethod
    async def rotate_trigger_secret(self, trigger_id: str) -> TriggerInfo:
        """A new secret for a trigger (in the result, this once); the old one stops working."""

    @abstractmethod
    async def delete_trigger(self, trigger_id: str) -> None:
        """Delete a trigger (the executions it started stay)."""

    # ---- notifications ---------------------------------------------------------------------------

    @abstractmethod
    async def notifications(self, *, unread: bool = False, limit: int = 50) -> list[NotificationInfo]:
        """Your in-app notifications, newest first."""

    @abstractmethod
    async def unread_count(self) -> int:
        """How many of your in-app notifications are unread."""

    @abstractmethod
    async def mark_read(self, ids: list[str] | None = None, *, read: bool = True) -> int:
        """Mark notifications read (all of yours when ``ids`` is None), or unread again; how many changed."""

    @abstractmethod
    async def notification_preferences(self) -> dict[str, Any]:
        """Which events go on which channels, per-agent overrides, quiet hours, the daily cap, the summary."""

    @abstractmethod
    async def set_notification_preferences(
        self, preferences: dict[str, Any] | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Replace your preferences with ``preferences``, or change only the given fields
        (``events`` and ``agents`` merge key by key); returns the whole document."""

    @abstractmethod
    async def add_notification_channel(self, kind: str, name: str, target: str) -> NotificationChannelInfo:
        """A destination (``email``, ``webhook``, ``slack``, ``discord``); a webhook's signing secret is
        in the result, this once."""

    @abstractmethod
    async def notification_channels(self) -> list[NotificationChannelInfo]:
        """Your notification channels."""

    @abstractmethod
    async def delete_notification_channel(self, channel_id: str) -> None:
        """Remove a channel."""

    @abstractmethod
    async def notification_deliveries(
        self, *, status: str | None = None, limit: int = 50
    ) -> list[DeliveryInfo]:
        """The delivery log: your notifications' deliveries on outside channels, newest first."""

    @abstractmethod
    async def notify(self, title: str, text: str = "", *, channel: str | None = None) -> str:
        """Send yourself a message through the notifier (``channel``: a kind or one of your channels'
        names; None: where your preferences send ``custom`` events); returns its key."""

    # ---- credentials -----------------------------------------------------------------------------

    @abstractmethod
    async def add_credential(
        self, provider: str, secret: dict[str, Any], *, type: str = "api_key", title: str | None = None
    ) -> CredentialInfo:
        """Store a secret, encrypted; only its metadata comes back."""

    @abstractmethod
    async def credentials(self, provider: str | None = None) -> list[CredentialInfo]:
        """Your credentials' metadata."""

    @abstractmethod
    async def delete_credential(self, credential_id: str) -> None:
        """Delete a credential."""

    # ---- drafting by chat ------------------------------------------------------------------------

    @abstractmethod
    async def draft(
        self,
        request: str,
        base: GraphLike | None = None,
        *,
        history: Sequence[Mapping[str, str]] = (),
        credential_id: str | None = None,
        model: str | None = None,
    ) -> Proposal:
        """Ask the drafting assistant to build (or, given ``base``, change) a graph: its proposal,
        accepted or not, with its reply, the changes and the validator's problems. ``history`` is the
        conversation so far (``[{"role": "user" | "assistant", "text": ...}]``); the model is your
        credential ``credential_id``, else your only LLM credential, else the server's environment."""

    async def draft_agent(
        self,
        request: str,
        base: GraphLike | None = None,
        *,
        history: Sequence[Mapping[str, str]] = (),
        credential_id: str | None = None,
        model: str | None = None,
    ) -> Graph:
        """The graph the drafting assistant builds for ``request`` (see :meth:`draft`); a graph it
        could not make valid raises :class:`~workbench.drafting.DraftNotAccepted` (a
        GraphValidationError with the problems and the assistant's reply)."""
        proposal = await self.draft(request, base, history=history, credential_id=credential_id, model=model)
        if not proposal.accepted:
            raise DraftNotAccepted(proposal)
        return proposal.graph

    # ---- marketplace -------------------------------------------------------------------------------

    @abstractmethod
    async def publish_template(
        self,
        graph_id: str,
        *,
        description: str | None = None,
        version: int | None = None,
        name: str | None = None,
    ) -> TemplateInfo:
        """Publish one of your graphs (``version``, default the active one) as a marketplace template,
        or replace your template of it; credential references in its nodes are not published."""

    @abstractmethod
    async def templates(
        self, search: str | None = None, *, mine: bool = False, limit: int = 50, offset: int = 0
    ) -> list[TemplateInfo]:
        """Everyone's templates (only yours with ``mine``), newest first, matching ``search`` in name
        or description."""

    @abstractmethod
    async def template(self, template_id: str) -> TemplateInfo:
        """One template: its description, the blocks and credentials it needs."""

    @abstractmethod
    async def template_graph(self, template_id: str) -> Graph:
        """A template's graph, read-only (with the sub-graphs it runs)."""

    @abstractmethod
    async def fork_template(self, template_id: str, *, name: str | None = None) -> Graph:
        """Copy a template into your library as a new graph (fresh ids); refused, naming each
        provider, when you lack a credential it needs."""

    @abstractmethod
    async def unpublish_template(self, template_id: str) -> None:
        """Remove one of your templates (forks made from it stay)."""

    # ---- knowledge bases -------------------------------------------------------------------------
    # A knowledge base is named by its id or its name (names are unique per user), as blocks name it.

    @abstractmethod
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
        """A new, empty knowledge base. ``embedding_model`` is fixed for its life (default: the offline
        all-MiniLM-L6-v2); ``language`` is a PostgreSQL text search configuration (english, simple...);
        chunks hold at most ``chunk_size`` characters, ``chunk_overlap`` shared with their neighbour.
        Every bad field is named in the error (:class:`~workbench.knowledge.KnowledgeInputError`)."""

    @abstractmethod
    async def knowledge_bases(self) -> list[KnowledgeBaseInfo]:
        """Your knowledge bases, newest first."""

    @abstractmethod
    async def knowledge_base(self, knowledge_base: str) -> KnowledgeBaseInfo:
        """One knowledge base by id or name, with its document and chunk counts."""

    @abstractmethod
    async def delete_knowledge_base(self, knowledge_base: str) -> None:
        """Delete a knowledge base with its documents and chunks."""

    @abstractmethod
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
        """Add a document: a ``str`` is the text itself (plain, Markdown or HTML), a ``Path`` a file
        (text, Markdown, HTML or PDF; its type guessed from its name unless ``content_type`` is given).
        It is chunked, embedded and stored; ``metadata`` can filter searches later."""

    @abstractmethod
    async def documents(self, knowledge_base: str) -> list[DocumentInfo]:
        """The documents of a knowledge base, newest first."""

    @abstractmethod
    async def delete_document(self, knowledge_base: str, document_id: str) -> None:
        """Delete a document and its chunks."""

    @abstractmethod
    async def search(
        self,
        knowledge_base: str,
        query: str,
        *,
        mode: SearchMode = "hybrid",
        top_k: int = 5,
        filter: dict[str, Any] | None = None,
    ) -> list[SearchResult]:
        """The ``top_k`` passages that best answer ``query``, best first. ``mode``: ``vector`` (meaning),
        ``keyword`` (full-text, web search syntax) or ``hybrid`` (both, fused by reciprocal rank);
        ``filter`` keeps documents whose metadata contains it."""

    # ---- MCP servers -----------------------------------------------------------------------------

    def _mcp_settings(self) -> Settings:
        """The settings the MCP calls of this client follow (the environment's)."""
        return Settings.from_env()

    async def mcp_tools(
        self,
        url: str | McpServer,
        token: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        allow_private: bool | None = None,
        timeout: float | None = None,
    ) -> list[McpTool]:
        """The tools of the MCP server at ``url`` (streamable HTTP): name, description, input schema.

        ``token`` is sent as ``Authorization: Bearer``, ``headers`` as they are. The connection is
        made from this process, through the same outbound guard as blocks: a private or loopback
        address is refused unless ``WORKBENCH_HTTP_ALLOW``/``WORKBENCH_HTTP_ALLOW_PRIVATE`` allow it
        or you pass ``allow_private=True`` (a server on your own machine). An
        :class:`~workbench.mcp.client.McpServer` may stand for the URL (a stdio one needs
        ``WORKBENCH_MCP_ALLOW_COMMANDS=1``). ``timeout``: seconds for connecting and each answer
        (default ``WORKBENCH_MCP_TIMEOUT``).
        """
        from workbench.mcp.client import list_tools

        server = url if isinstance(url, McpServer) else McpServer.http(url, token=token, headers=headers)
        return await list_tools(server, self._mcp_settings(), allow_private=allow_private, timeout=timeout)
