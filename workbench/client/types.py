"""What the client returns, the same for both transports: blocks, graph summaries, schedules, webhook
triggers, credentials, knowledge bases, their documents and search results.

Runs come back as :class:`~workbench.services.executions.ExecutionResult` (node executions as typed
:class:`~workbench.services.executions.NodeExecution` records, timings as aware datetimes) and events
as :class:`~workbench.runtime.events.ExecutionEvent`, the types the services themselves use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def when(value: Any) -> datetime | None:
    """A timestamp as a datetime (ISO strings parsed)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class PinInfo:
    """One input or output pin of a block."""

    name: str
    type: str
    required: bool = False
    description: str = ""


def _pins(schema: dict[str, Any]) -> list[PinInfo]:
    required = set(schema.get("required") or [])
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") or "/".join(
            str(p.get("type", "any")) for p in prop.get("anyOf", []) if isinstance(p, dict)
        )
        out.append(PinInfo(name, str(kind or "any"), name in required, prop.get("description") or ""))
    return out


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A catalogue entry: what a block is called, what it takes and what it yields."""

    id: str
    name: str
    description: str
    categories: list[str]
    block_type: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    static_output: bool = False

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BlockInfo:
        """From ``Block.describe()`` or the API's catalogue entry."""
        return cls(
            id=doc["id"],
            name=doc["name"],
            description=doc.get("description") or "",
            categories=list(doc.get("categories") or []),
            block_type=str(doc.get("block_type") or "STANDARD"),
            input_schema=doc.get("input_schema") or {},
            output_schema=doc.get("output_schema") or {},
            static_output=bool(doc.get("static_output")),
        )

    @property
    def inputs(self) -> list[PinInfo]:
        """Input pins, in declaration order."""
        return _pins(self.input_schema)

    @property
    def outputs(self) -> list[PinInfo]:
        """Output pins, in declaration order."""
        return _pins(self.output_schema)

    def matches(self, search: str | None = None, category: str | None = None) -> bool:
        """Whether the name or description contains ``search`` and the block is in ``category``."""
        if category and category.upper() not in {c.upper() for c in self.categories}:
            return False
        if search:
            needle = search.lower()
            return needle in self.name.lower() or needle in self.description.lower()
        return True


@dataclass(frozen=True, slots=True)
class GraphInfo:
    """A stored graph version, without its nodes and links."""

    id: str
    version: int
    name: str
    description: str
    is_active: bool
    node_count: int
    created_at: datetime | None
    updated_at: datetime | None
    mcp_tool: bool | None = None
    """Served as an MCP tool: True, False, or None for the server's default."""

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> GraphInfo:
        """From ``GraphSummary.to_dict()`` or the API's listing."""
        return cls(
            id=str(doc["id"]),
            version=int(doc["version"]),
            name=doc["name"],
            description=doc.get("description") or "",
            is_active=bool(doc.get("is_active", True)),
            node_count=int(doc.get("node_count") or 0),
            created_at=when(doc.get("created_at")),
            updated_at=when(doc.get("updated_at")),
            mcp_tool=doc.get("mcp_tool"),
        )


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule with its next run times."""

    id: str
    graph_id: str
    graph_version: int | None
    name: str
    schedule_type: str
    status: str
    inputs: dict[str, Any]
    timing: dict[str, Any]
    """The timing fields that are set (``interval_seconds``, ``cron_expression``, ``timezone``...)."""
    next_run_at: datetime | None
    next_runs: list[datetime] = field(default_factory=list)
    last_run_at: datetime | None = None

    TIMING = ("cron_expression", "interval_seconds", "run_at", "time_of_day", "weekdays", "timezone")

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ScheduleInfo:
        """From the API's schedule document (the local transport builds the same document)."""
        timing = {k: doc.get(k) for k in cls.TIMING if doc.get(k) is not None}
        if isinstance(timing.get("run_at"), str):
            timing["run_at"] = when(timing["run_at"])
        return cls(
            id=str(doc["id"]),
            graph_id=str(doc["graph_id"]),
            graph_version=doc.get("graph_version"),
            name=doc.get("name") or "",
            schedule_type=doc["schedule_type"],
            status=doc["status"],
            inputs=doc.get("inputs") or {},
            timing=timing,
            next_run_at=when(doc.get("next_run_at")),
            next_runs=[w for w in (when(x) for x in doc.get("next_runs") or []) if w is not None],
            last_run_at=when(doc.get("last_run_at")),
        )


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One fire of a schedule: when, and the execution it started (or why none was)."""

    id: str
    fire_time: datetime | None
    execution_id: str | None
    status: str
    error: str | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ScheduleRun:
        """From the API's schedule-run document."""
        return cls(
            id=str(doc["id"]),
            fire_time=when(doc.get("fire_time")),
            execution_id=doc.get("execution_id"),
            status=doc["status"],
            error=doc.get("error"),
        )


@dataclass(frozen=True, slots=True)
class TriggerInfo:
    """A webhook trigger: where it is called, how calls prove themselves, what it starts. ``secret``
    is set only on what creating the trigger or rotating its secret returned: save it then."""

    id: str
    graph_id: str
    graph_version: int | None
    name: str
    auth_mode: str
    enabled: bool
    input_mapping: dict[str, str] | None
    rate_limit_per_minute: int
    path: str
    """Where a server takes its calls: ``/api/v1/hooks/<id>``."""
    url: str | None = None
    """The full URL, when a server said it (the local transport has no server)."""
    fire_count: int = 0
    last_fired_at: datetime | None = None
    created_at: datetime | None = None
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TriggerInfo:
        """From the API's trigger document (the local transport builds the same document)."""
        return cls(
            id=str(doc["id"]),
            graph_id=str(doc["graph_id"]),
            graph_version=doc.get("graph_version"),
            name=doc.get("name") or "",
            auth_mode=doc["auth_mode"],
            enabled=bool(doc["enabled"]),
            input_mapping=doc.get("input_mapping"),
            rate_limit_per_minute=int(doc["rate_limit_per_minute"]),
            path=doc["path"],
            url=doc.get("url"),
            fire_count=int(doc.get("fire_count") or 0),
            last_fired_at=when(doc.get("last_fired_at")),
            created_at=when(doc.get("created_at")),
            secret=doc.get("secret"),
        )


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """A stored credential's metadata (the secret never comes back)."""

    id: str
    provider: str
    type: str
    title: str | None
    created_at: datetime | None
    expires_at: datetime | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CredentialInfo:
        """From ``CredentialMeta.to_dict()`` or the API's document."""
        return cls(
            id=str(doc["id"]),
            provider=doc["provider"],
            type=doc["type"],
            title=doc.get("title"),
            created_at=when(doc.get("created_at")),
            expires_at=when(doc.get("expires_at")),
        )


@dataclass(frozen=True, slots=True)
class KnowledgeBaseInfo:
    """A knowledge base: its embedding model, chunking settings, and how many documents and chunks it holds."""

    id: str
    name: str
    description: str
    embedding_model: str
    dimension: int
    language: str
    chunk_size: int
    chunk_overlap: int
    metadata: dict[str, Any]
    document_count: int
    chunk_count: int
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> KnowledgeBaseInfo:
        """From a ``KnowledgeBaseRecord``'s fields or the API's document."""
        return cls(
            id=str(doc["id"]),
            name=doc["name"],
            description=doc.get("description") or "",
            embedding_model=doc["embedding_model"],
            dimension=int(doc["dimension"]),
            language=doc["language"],
            chunk_size=int(doc["chunk_size"]),
            chunk_overlap=int(doc["chunk_overlap"]),
            metadata=doc.get("metadata") or {},
            document_count=int(doc.get("document_count") or 0),
            chunk_count=int(doc.get("chunk_count") or 0),
            created_at=when(doc.get("created_at")),
            updated_at=when(doc.get("updated_at")),
        )


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document of a knowledge base (its text lives in its chunks)."""

    id: str
    knowledge_base_id: str
    title: str
    source: str
    content_type: str
    metadata: dict[str, Any]
    sha256: str
    char_count: int
    chunk_count: int
    created_at: datetime | None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DocumentInfo:
        """From a ``DocumentRecord``'s fields or the API's document."""
        return cls(
            id=str(doc["id"]),
            knowledge_base_id=str(doc["knowledge_base_id"]),
            title=doc.get("title") or "",
            source=doc.get("source") or "",
            content_type=doc["content_type"],
            metadata=doc.get("metadata") or {},
            sha256=doc["sha256"],
            char_count=int(doc["char_count"]),
            chunk_count=int(doc["chunk_count"]),
            created_at=when(doc.get("created_at")),
        )


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One passage a knowledge-base search found, best first by ``rank`` (1-based).

    ``score``: the cosine similarity (vector mode), the ``ts_rank`` (keyword) or the reciprocal-rank
    fusion score (hybrid); ``vector_rank`` and ``keyword_rank`` tell where each list placed it.
    """

    chunk_id: int
    document_id: str
    title: str
    source: str
    chunk_index: int
    heading: str
    page: int | None
    content: str
    metadata: dict[str, Any]
    score: float
    rank: int
    vector_rank: int | None = None
    keyword_rank: int | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SearchResult:
        """From ``hit_to_dict`` or the API's search result."""
        return cls(
            chunk_id=int(doc["chunk_id"]),
            document_id=str(doc["document_id"]),
            title=doc.get("title") or "",
            source=doc.get("source") or "",
            chunk_index=int(doc["chunk_index"]),
            heading=doc.get("heading") or "",
            page=doc.get("page"),
            content=doc["content"],
            metadata=doc.get("metadata") or {},
            score=float(doc["score"]),
            rank=int(doc["rank"]),
            vector_rank=doc.get("vector_rank"),
            keyword_rank=doc.get("keyword_rank"),
        )


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    """A marketplace template: a published agent, what it needs, who published it (display name)."""

    id: str
    name: str
    description: str
    publisher: str
    graph_id: str
    graph_version: int
    block_ids: list[str]
    credentials: list[dict[str, Any]]
    """What it needs: ``{"provider", "blocks", "models"}`` per credential provider."""
    node_count: int
    fork_count: int
    published_at: datetime | None
    updated_at: datetime | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TemplateInfo:
        """From ``template_dict`` (workbench.services.marketplace) or the API's document."""
        return cls(
            id=str(doc["id"]),
            name=doc["name"],
            description=doc.get("description") or "",
            publisher=doc.get("publisher") or "",
            graph_id=str(doc["graph_id"]),
            graph_version=int(doc["graph_version"]),
            block_ids=list(doc.get("block_ids") or []),
            credentials=[dict(c) for c in doc.get("credentials") or []],
            node_count=int(doc.get("node_count") or 0),
            fork_count=int(doc.get("fork_count") or 0),
            published_at=when(doc.get("published_at")),
            updated_at=when(doc.get("updated_at")),
        )

    @property
    def providers(self) -> list[str]:
        """The credential providers it needs."""
        return [str(c["provider"]) for c in self.credentials]


@dataclass
class AgentToolInfo:
    """One of your agents as an MCP tool: its name at ``/mcp`` and what it takes and gives."""

    name: str
    graph_id: str
    graph_version: int
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> AgentToolInfo:
        """From the API's document (``GET /mcp/tools``)."""
        return cls(
            name=doc["name"],
            graph_id=str(doc["graph_id"]),
            graph_version=int(doc["graph_version"]),
            title=doc.get("title") or doc["name"],
            description=doc.get("description") or "",
            input_schema=dict(doc.get("input_schema") or {}),
            output_schema=dict(doc.get("output_schema") or {}),
        )

    def __repr__(self) -> str:
        inputs = ", ".join(self.input_schema.get("properties") or {}) or "no inputs"
        return f"<AgentToolInfo {self.name} ({inputs}) graph {self.graph_id} v{self.graph_version}>"


@dataclass(frozen=True, slots=True)
class NotificationInfo:
    """One notification of your inbox."""

    id: str
    kind: str
    """What it is about: ``run_failed``, ``run_completed``, ``schedule_missed``, ``custom``…"""
    title: str
    text: str
    data: dict[str, Any]
    read: bool
    created_at: datetime | None
    graph_id: str | None = None
    execution_id: str | None = None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> NotificationInfo:
        """From the API's notification document."""
        return cls(
            id=str(doc["id"]),
            kind=doc["kind"],
            title=doc["title"],
            text=doc.get("text") or "",
            data=dict(doc.get("data") or {}),
            read=bool(doc.get("read")),
            created_at=when(doc.get("created_at")),
            graph_id=doc.get("graph_id"),
            execution_id=doc.get("execution_id"),
        )


@dataclass(frozen=True, slots=True)
class NotificationChannelInfo:
    """Where notifications may go besides the inbox. ``secret`` (a webhook's signing secret) is set
    only on what adding the channel or rotating its secret returned: save it then."""

    id: str
    kind: str
    name: str
    target: str
    """The email address, or the URL cut to its origin."""
    enabled: bool
    secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> NotificationChannelInfo:
        """From the API's channel document."""
        return cls(
            id=str(doc["id"]),
            kind=doc["kind"],
            name=doc["name"],
            target=doc["target"],
            enabled=bool(doc["enabled"]),
            secret=doc.get("secret"),
        )


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """A delivery of a notification on an outside channel (a row of the delivery log)."""

    id: str
    notification_id: str
    event: str
    channel: str
    target: str
    status: str
    """``pending``, ``sending``, ``delivered``, ``failed`` or ``suppressed``."""
    reason: str | None
    attempts: int
    reports: list[dict[str, Any]]
    created_at: datetime | None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DeliveryInfo:
        """From the API's delivery document."""
        return cls(
            id=str(doc["id"]),
            notification_id=str(doc["notification_id"]),
            event=doc["event"],
            channel=doc["channel"],
            target=doc["target"],
            status=doc["status"],
            reason=doc.get("reason"),
            attempts=int(doc.get("attempts") or 0),
            reports=list(doc.get("reports") or []),
            created_at=when(doc.get("created_at")),
        )


@dataclass(frozen=True, slots=True)
class ReviewInfo:
    """A human review: a node waiting for (or given) a person's decision about its ``data``."""

    id: str
    execution_id: str
    """The top-level run that waits (status REVIEW while it does)."""
    node_id: str
    name: str
    """What the data is."""
    data: Any
    editable: bool
    status: str
    """``WAITING``, ``APPROVED``, ``REJECTED`` or ``TIMED_OUT``."""
    run_status: str
    default_decision: str
    decision: str | None = None
    reviewed_data: Any = None
    """The data passed on after the decision (the reviewer's edit, else the data as asked)."""
    message: str | None = None
    agent: str = ""
    timeout_seconds: float = 0
    created_at: datetime | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    decided_via: str | None = None
    sub_execution_id: str | None = None
    """The sub-graph run the node belongs to, when it is inside one."""
    link: str | None = field(default=None, repr=False)
    """A signed link to answer it in a browser (a server's answer for one review, while it waits)."""

    @property
    def waiting(self) -> bool:
        """Whether it still waits for an answer that can take effect."""
        return self.status == "WAITING" and self.run_status in ("QUEUED", "RUNNING", "REVIEW")

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ReviewInfo:
        """From the API's review document (the local transport builds the same document)."""
        return cls(
            id=str(doc["id"]),
            execution_id=str(doc["execution_id"]),
            node_id=str(doc["node_id"]),
            name=doc.get("name") or "",
            data=doc.get("data"),
            editable=bool(doc.get("editable")),
            status=doc["status"],
            run_status=doc.get("run_status") or "",
            default_decision=doc.get("default_decision") or "reject",
            decision=doc.get("decision"),
            reviewed_data=doc.get("reviewed_data"),
            message=doc.get("message"),
            agent=doc.get("agent") or "",
            timeout_seconds=float(doc.get("timeout_seconds") or 0),
            created_at=when(doc.get("created_at")),
            decided_at=when(doc.get("decided_at")),
            expires_at=when(doc.get("expires_at")),
            decided_via=doc.get("decided_via"),
            sub_execution_id=doc.get("sub_execution_id"),
            link=doc.get("link"),
        )
