"""What a running block can see: its place in the run, the user, and services it may call.

Blocks reach platform services only through their :class:`RunContext`:

- ``await context.get_credential("openai", ref)`` decrypts a credential from the vault (only while
  the block runs; never logged or stored in outputs);
- ``context.pool`` is the platform's PostgreSQL pool (knowledge bases live there);
- ``context.service("knowledge")`` returns a named service the application registered;
- ``context.stream(pin, chunk)`` sends a partial output (LLM tokens) to the event bus as a
  ``NODE_STREAM`` event, not stored;
- ``context.add_stats(tokens_in=..., cost_usd=...)`` adds numbers to the node execution's stats
  (stored with the node execution and summed into the run's stats).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.config import Settings
from workbench.errors import CredentialsError, ServiceUnavailable

if TYPE_CHECKING:
    import asyncpg

    from workbench.engine.plan import Plan
    from workbench.runtime.shared_state import SharedState
    from workbench.services.credentials import Credential, CredentialVault

SubgraphRunner = Callable[..., AsyncIterator[tuple[str, Any]]]
StreamSink = Callable[[str, Any], None]


@dataclass(slots=True)
class BlockServices:
    """The platform services blocks may use, shared by every run of one application."""

    vault: CredentialVault | None = None
    pool: asyncpg.Pool | None = None
    shared: SharedState | None = None
    """Presence and the block result cache (blocks with ``cache_ttl``)."""
    named: dict[str, Any] = field(default_factory=dict)
    """Further services by name (``"knowledge"``...), registered by the application."""


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
    plan: Plan | None = None
    """The compiled graph being run (SmartDecisionMaker reads the blocks its tool links lead to)."""

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
        is used; without that, the user's only credential for ``provider``. Anything else is a
        :class:`CredentialsError` that says how to add or choose one.
        """
        vault = self.services.vault if self.services is not None else None
        if vault is None:
            raise CredentialsError(f"no credentials vault in this run; cannot get {provider} credentials")
        cred_id = ref.get("id") if isinstance(ref, dict) else ref
        cred_id = cred_id or self.credentials.get(field_name)
        if cred_id:
            cred = await vault.resolve(self.user_id, str(cred_id))
            if cred.meta.provider != provider:
                raise CredentialsError(
                    f"credential {cred.meta.id} is for provider {cred.meta.provider!r}, "
                    f"this block needs {provider!r}"
                )
            return cred
        found = await vault.list(self.user_id, provider)
        if len(found) == 1:
            return await vault.resolve(self.user_id, found[0].id)
        if not found:
            raise CredentialsError(
                f"no {provider!r} credentials: add one (POST /api/v1/credentials "
                "or client.credentials.add in a notebook) and run again"
            )
        ids = ", ".join(c.id for c in found)
        raise CredentialsError(
            f"several {provider!r} credentials ({ids}); choose one in the node's "
            f"{field_name!r} input or the execution's credentials"
        )

    def stream(self, pin: str, chunk: Any) -> None:
        """Send a partial output of ``pin`` (a token, a progress note) to watchers; not stored."""
        if self.stream_sink is not None:
            self.stream_sink(pin, chunk)

    def add_stats(self, **numbers: float) -> None:
        """Add numbers to this node execution's stats (summed when reported several times)."""
        stats = self.stats
        for key, value in numbers.items():
            stats[key] = stats.get(key, 0) + value
