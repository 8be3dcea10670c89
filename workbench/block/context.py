"""What a running block can see: its place in the run, the user, its tools and the services it may call.

This is part of the block contract: the engine builds a :class:`RunContext` for every node execution and
passes it to ``Block.run`` as the ``context`` keyword argument. Blocks reach the platform only through it:

- ``await context.get_credential("openai", ref)`` decrypts a credential from the vault (only while
  the block runs; never logged or stored in outputs); ``await context.update_credential(id, secret)``
  stores a secret the block renewed (a refreshed OAuth2 access token);
- ``context.pool`` is the platform's PostgreSQL pool (knowledge bases live there);
- ``context.service("knowledge")`` returns a named service the application registered;
- ``context.tools`` lists the nodes this node may call as tools (a SmartDecisionMaker's linked
  blocks and sub-graphs), each a :class:`Tool`; ``await tool.call({pin: value})`` runs one inside
  this node execution and gives its outputs (a :class:`ToolResult`);
- ``context.stream(pin, chunk)`` sends a partial output (LLM tokens) to the event bus as a
  ``NODE_STREAM`` event, not stored;
- ``context.add_stats(tokens_in=..., cost_usd=...)`` adds numbers to the node execution's stats
  (stored with the node execution and summed into the run's stats);
- ``context.idempotency_key`` names this node execution's effect: the same on every attempt and on
  every executor (a node that was running when its executor died runs again with the same key), so a
  block sends it where the other side deduplicates (the ``Idempotency-Key`` header).
- ``await context.review(name, data, ...)`` asks a person to approve, reject or change ``data``
  (:mod:`workbench.block.review`): a stored run pauses until they answer, and the answer is what the
  call returns when the node runs again; without safe mode it approves at once.

The vault and the shared state are described by what a block needs of them (protocols), so the block
contract depends on no service, store or engine module.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from workbench.block.review import (
    AUTO_APPROVED,
    DECISIONS,
    Decision,
    ReviewAnswer,
    ReviewDesk,
    ReviewGate,
    ReviewQuestion,
)
from workbench.config import Settings
from workbench.errors import BlockError, CredentialsError, NotFoundError, ServiceUnavailable

if TYPE_CHECKING:
    import asyncpg

    from workbench.runtime.shared_state import SharedState

SubgraphRunner = Callable[..., AsyncIterator[tuple[str, Any]]]
"""``run_subgraph(graph_id, version, inputs)``: yields ``(output name, value)`` of a child run."""
StreamSink = Callable[[str, Any], None]
"""Receives ``(pin, chunk)`` for every partial output a block streams."""
ToolCall = Callable[[Mapping[str, Any]], list[tuple[str, Any]]]
"""Given a tool's arguments by input pin, the ``(output pin, value)`` pairs that call it."""
ToolRunner = Callable[[Mapping[str, Any]], Awaitable["ToolResult"]]
"""Given a tool's arguments by input pin, runs the tool's node and gives what it produced."""
IDEMPOTENCY_NAMESPACE = uuid.UUID("5f0b6c1e-7d4a-4f7e-9b0e-6b1d2a9c4e17")
"""The UUIDv5 namespace of node execution idempotency keys (fixed: keys must not change)."""


class CredentialInfo(Protocol):
    """What a block may know about a credential without its secret."""

    @property
    def id(self) -> str:
        """The credential's id."""
        ...

    @property
    def provider(self) -> str:
        """The provider it is for (``"openai"``, ``"github"``...)."""
        ...


class Credential(Protocol):
    """A credential with its decrypted secret, handed to a running block."""

    @property
    def meta(self) -> CredentialInfo:
        """Id and provider."""
        ...

    @property
    def secret(self) -> dict[str, Any]:
        """The decrypted secret (``api_key``, ``base_url``...)."""
        ...


class CredentialSource(Protocol):
    """Where a run's credentials come from: the platform's vault."""

    async def resolve(self, user_id: str, credential_id: str) -> Credential:
        """The user's credential ``credential_id``, decrypted; NotFoundError when the user has none
        with that id."""
        ...

    async def list(self, user_id: str, provider: str | None = None) -> Sequence[CredentialInfo]:
        """The user's credentials (for ``provider`` when given), without secrets."""
        ...

    async def update_secret(self, user_id: str, credential_id: str, secret: dict[str, Any]) -> None:
        """Replace the secret of the user's credential ``credential_id`` (a refreshed OAuth2 token)."""
        ...


async def _resolve_known(vault: CredentialSource, user_id: str, credential_id: str) -> Credential | None:
    """The user's credential ``credential_id``, or None when the vault has no such id (ids that are
    not UUIDs, as other platforms may write, are never in it)."""
    try:
        uuid.UUID(credential_id)
    except ValueError:
        return None
    try:
        return await vault.resolve(user_id, credential_id)
    except NotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one call of a tool produced: the outputs of the tool's node execution, or its error."""

    node_execution_id: str
    """The node execution that ran the tool (stored and streamed like every other)."""
    outputs: list[tuple[str, Any]]
    """``(output pin, value)`` in the order the tool yielded them (``error`` included when it failed)."""
    error: str | None = None
    """Why the tool failed (invalid input, the block's error, its time limit); None when it ran."""

    @property
    def ok(self) -> bool:
        """Whether the tool ran without error."""
        return self.error is None

    def by_pin(self) -> dict[str, list[Any]]:
        """The values of each output pin (``error`` left out), in the order they came."""
        found: dict[str, list[Any]] = {}
        for pin, value in self.outputs:
            if pin != "error":
                found.setdefault(pin, []).append(value)
        return found


@dataclass(frozen=True, slots=True)
class Tool:
    """A node this block may call as a tool: what a model needs to know about it, and how to call it.

    Two ways to call it. Through the graph: yield the pairs :attr:`invoke` returns; the engine routes
    each value to the tool's input pin along the link that joins them, and the tool runs later as a
    node of the graph. Or at once: ``await tool.call(arguments)`` runs the tool's node inside the
    calling node's execution (its own defaults and static links fill the other pins) and returns
    what it produced; the call is recorded as a node execution of the tool's node, with its events
    and stats, within the run's limits.
    """

    name: str
    """The tool's display name (the node's customized name, the agent's or the block's name)."""
    description: str
    input_schema: dict[str, Any]
    """A JSON Schema object: one property per linked input pin, self-contained (no ``$ref``)."""
    invoke: ToolCall
    """``invoke({pin: value, ...})``: the ``(output pin, value)`` pairs to yield to call the tool."""
    runner: ToolRunner | None = None
    """Runs the tool inside the calling node's execution; set by the engine in a graph run."""

    async def call(self, arguments: Mapping[str, Any]) -> ToolResult:
        """Run the tool now with ``arguments`` by input pin (only its linked pins are taken).

        A tool that fails gives a result with its ``error``; a run that must stop (cancelled, out
        of node executions, past its time limit) raises.
        """
        if self.runner is None:
            raise BlockError(f"the tool {self.name!r} can be called only inside a graph run")
        return await self.runner(arguments)


@dataclass(slots=True)
class BlockServices:
    """The platform services blocks may use, shared by every run of one application."""

    vault: CredentialSource | None = None
    pool: asyncpg.Pool | None = None
    shared: SharedState | None = None
    """Presence and the block result cache (blocks with ``cache_ttl``); used by the engine."""
    named: dict[str, Any] = field(default_factory=dict)
    """Further services by name (``"knowledge"``...), registered by the application."""
    reviews: ReviewDesk | None = None
    """Where human reviews are asked (``RunContext.review``); None: blocks cannot ask for one."""


@dataclass(slots=True)
class RunContext:
    """Passed to ``Block.run`` as the ``context`` keyword argument."""

    user_id: str
    graph_id: str
    graph_version: int
    graph_execution_id: str
    node_id: str
    node_execution_id: str
    settings: Settings
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("workbench.block"))
    run_subgraph: SubgraphRunner | None = None
    """``run_subgraph(graph_id, version, inputs)`` yields ``(output name, value)`` of a child run."""
    user_timezone: str = "UTC"
    extra: dict[str, Any] = field(default_factory=dict)
    services: BlockServices | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    """Credential ids chosen for this run, by credentials field name (from the execution request)."""
    stats: dict[str, float] = field(default_factory=dict)
    """Numbers this node execution reports (tokens, cost); stored with the node execution."""
    stream_sink: StreamSink | None = None
    tools: Sequence[Tool] = ()
    """The nodes linked from this node's tool pins, in link order (empty for most blocks)."""
    node_seq: int | None = None
    """Which execution of this node in the run this is (0, 1, ... in delivery order; a resumed run
    replays the same numbers); None outside a graph run."""
    safe_mode: bool = True
    """Whether human reviews are asked (the run's safe mode); off, ``review`` approves at once."""
    review_gate: ReviewGate | None = None
    """Asks for this node execution's review (set by the engine in a graph run)."""
    _idempotency_key: str | None = field(default=None, init=False, repr=False)

    @property
    def idempotency_key(self) -> str:
        """Names this node execution's outside effect for servers that deduplicate (``Idempotency-Key``).

        In a graph run: :meth:`idempotency_key_for` the execution, the node and its sequence number,
        the same on every attempt and every executor; outside one (a single block, a self-test): a
        random key, the same for the life of this context. Computed on first use (most blocks never
        ask).
        """
        if self._idempotency_key is None:
            if self.graph_execution_id and self.node_seq is not None:
                key = self.idempotency_key_for(self.graph_execution_id, self.node_id, self.node_seq)
            else:
                key = str(uuid.uuid4())
            self._idempotency_key = key
        return self._idempotency_key

    @staticmethod
    def idempotency_key_for(execution_id: str, node_id: str, seq: int) -> str:
        """The idempotency key of one node execution: a UUIDv5 of (execution, node, sequence number).

        A resumed run replays its data flow with the same sequence numbers, so the key is the same on
        every attempt and every executor, and different for every other node execution.
        """
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{execution_id}/{node_id}/{seq}"))

    @classmethod
    def for_test(cls, settings: Settings | None = None, services: BlockServices | None = None) -> RunContext:
        """A context for running a block outside a graph (self-tests, single-block execution)."""
        return cls(
            user_id="00000000-0000-0000-0000-000000000001",
            graph_id="",
            graph_version=0,
            graph_execution_id="",
            node_id="",
            node_execution_id="",
            settings=settings or Settings.from_env(),
            services=services,
        )

    @property
    def pool(self) -> asyncpg.Pool:
        """The platform's PostgreSQL pool; ServiceUnavailable when the block runs without one."""
        pool = self.services.pool if self.services is not None else None
        if pool is None:
            raise ServiceUnavailable("this block needs the platform database, which this run does not have")
        return pool

    def service(self, name: str) -> Any:
        """A named platform service; ServiceUnavailable with the name when it is not registered."""
        found = self.services.named.get(name) if self.services is not None else None
        if found is None:
            raise ServiceUnavailable(f"the {name!r} service is not available in this run")
        return found

    async def get_credential(
        self, provider: str, ref: Any = None, *, field_name: str = "credentials"
    ) -> Credential:
        """The decrypted credential a block asked for.

        ``ref`` is what the node's credentials input holds: AutoGPT's ``{"id", "provider", ...}``
        object or a bare id. Without one, the id chosen for ``field_name`` in the execution request
        is used; without that, or when that id is not in the user's vault (an agent imported from
        AutoGPT names credentials of the platform it came from), the user's only credential for
        ``provider``. Anything else is a :class:`CredentialsError` that says how to add or choose one.
        """
        vault = self.services.vault if self.services is not None else None
        if vault is None:
            raise CredentialsError(f"no credentials vault in this run; cannot get {provider} credentials")
        cred_id = ref.get("id") if isinstance(ref, dict) else ref
        cred_id = cred_id or self.credentials.get(field_name)
        unknown = ""
        if cred_id:
            cred = await _resolve_known(vault, self.user_id, str(cred_id))
            if cred is not None:
                if cred.meta.provider != provider:
                    raise CredentialsError(
                        f"credential {cred.meta.id} is for provider {cred.meta.provider!r}, "
                        f"this block needs {provider!r}"
                    )
                return cred
            unknown = f"credential {str(cred_id)[:64]} is not in your vault, and "
        found = await vault.list(self.user_id, provider)
        if len(found) == 1:
            return await vault.resolve(self.user_id, found[0].id)
        if not found:
            raise CredentialsError(
                f"{unknown}no {provider!r} credentials: add one (POST /api/v1/credentials "
                "or client.credentials.add in a notebook) and run again"
            )
        ids = ", ".join(c.id for c in found)
        raise CredentialsError(
            f"{unknown}several {provider!r} credentials ({ids}); choose one in the node's "
            f"{field_name!r} input or the execution's credentials"
        )

    async def update_credential(self, credential_id: str, secret: dict[str, Any]) -> None:
        """Store a new secret for the user's credential ``credential_id``, e.g. an OAuth2 access token
        the block refreshed, so later runs use it; CredentialsError when the run has no vault."""
        vault = self.services.vault if self.services is not None else None
        if vault is None:
            raise CredentialsError(
                f"no credentials vault in this run; cannot update credential {credential_id}"
            )
        await vault.update_secret(self.user_id, credential_id, secret)

    async def review(
        self,
        name: str,
        data: Any,
        *,
        editable: bool = True,
        timeout_seconds: float = 0,
        default_decision: Decision = "reject",
    ) -> ReviewAnswer:
        """A person's decision about ``data`` (``name`` says what it is).

        In a stored run the first call pauses the run (the node execution and the run show REVIEW)
        until someone answers, or ``timeout_seconds`` pass (0: never) and ``default_decision``
        applies; the node then runs again and this call returns the answer. A run that stores
        nothing waits here. Without safe mode the answer is an approval at once, saying so.
        """
        if default_decision not in DECISIONS:
            raise BlockError(f"default_decision must be 'approve' or 'reject', got {default_decision!r}")
        if not self.safe_mode:
            return ReviewAnswer(approved=True, data=data, message=AUTO_APPROVED)
        if self.review_gate is None:
            raise ServiceUnavailable("a human review can be asked only inside a graph run")
        question = ReviewQuestion(name, data, editable, max(0.0, float(timeout_seconds)), default_decision)
        return await self.review_gate(question)

    def stream(self, pin: str, chunk: Any) -> None:
        """Send a partial output of ``pin`` (a token, a progress note) to watchers; not stored."""
        if self.stream_sink is not None:
            self.stream_sink(pin, chunk)

    def add_stats(self, **numbers: float) -> None:
        """Add numbers to this node execution's stats (summed when reported several times)."""
        stats = self.stats
        for key, value in numbers.items():
            stats[key] = stats.get(key, 0) + value
